"""sensor slots: new slots default to the domain's order-size setting (a quarter's use per order)

Revision ID: 0009_tradeoff_default
Revises: 0006_slot_tradeoff

`slot.order_tradeoff` was added with a server default of 0.5 (the middle of the household's slider); the
domain's default is now `hub.domain.order_size.DEFAULT_TRADEOFF` (0.8), and a slot created by plain SQL should
get the same value as one created through the model.

Existing rows are left alone: a slot at 0.5 may be one nobody touched or one whose household chose the middle of
the slider, and the table cannot tell them apart. Overwriting them would undo a household's choice.

The value is written out rather than imported, so that this revision keeps meaning what it meant when it was
written even if the domain default moves again (that would be a new revision).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_tradeoff_default"
down_revision = "0006_slot_tradeoff"
branch_labels = None
depends_on = None

NEW_DEFAULT = "0.8"
OLD_DEFAULT = "0.5"


def upgrade() -> None:
    with op.batch_alter_table("slot") as batch_op:
        batch_op.alter_column(
            "order_tradeoff", existing_type=sa.Float(), existing_nullable=False, server_default=NEW_DEFAULT
        )


def downgrade() -> None:
    with op.batch_alter_table("slot") as batch_op:
        batch_op.alter_column(
            "order_tradeoff", existing_type=sa.Float(), existing_nullable=False, server_default=OLD_DEFAULT
        )
