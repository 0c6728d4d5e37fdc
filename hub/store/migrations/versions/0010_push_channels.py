"""push notifications: channels choose their events; one-tap action links are used once

Revision ID: 0010_push_channels
Revises: 0009_tradeoff_default

`notifychannel.events` lists the groups of notifications a channel receives (orders, supply, device); existing
channels keep receiving everything. `actionlinkuse` records each used cancel / approve / reject link from a
notification by its nonce, so a replayed link is refused.
"""

import sqlalchemy as sa
from alembic import op

import hub.store.types

revision = "0010_push_channels"
down_revision = "0009_tradeoff_default"
branch_labels = None
depends_on = None

ALL_EVENTS = "orders,supply,device"


def upgrade() -> None:
    with op.batch_alter_table("notifychannel") as batch_op:
        batch_op.add_column(sa.Column("events", sa.String(length=40), nullable=False, server_default=ALL_EVENTS))
    op.create_table(
        "actionlinkuse",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("used_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index("ix_actionlinkuse_household_id", "actionlinkuse", ["household_id"])


def downgrade() -> None:
    op.drop_index("ix_actionlinkuse_household_id", table_name="actionlinkuse")
    op.drop_table("actionlinkuse")
    with op.batch_alter_table("notifychannel") as batch_op:
        batch_op.drop_column("events")
