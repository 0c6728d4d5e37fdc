"""orders remember the shop's promised delivery date

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import hub.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("order") as batch_op:
        batch_op.add_column(sa.Column("expected_delivery", hub.store.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order") as batch_op:
        batch_op.drop_column("expected_delivery")
