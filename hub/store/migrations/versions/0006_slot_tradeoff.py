"""sensor slots: the deliveries-vs-cupboard setting and the learning-phase low level

Revision ID: 0006_slot_tradeoff
Revises: 0008

Numbered 0006 as reserved for it; it follows 0008 so the migrations stay one line with one head.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_slot_tradeoff"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slot") as batch_op:
        # Server defaults give the existing rows the model's defaults.
        batch_op.add_column(sa.Column("order_tradeoff", sa.Float(), nullable=False, server_default="0.5"))
        batch_op.add_column(sa.Column("learning_low", sa.Float(), nullable=False, server_default="0.25"))


def downgrade() -> None:
    with op.batch_alter_table("slot") as batch_op:
        batch_op.drop_column("learning_low")
        batch_op.drop_column("order_tradeoff")
