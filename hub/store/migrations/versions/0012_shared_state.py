"""state hub nodes share: rate-limiter keys and cluster-wide secrets

Revision ID: 0012_shared_state
Revises: 0010_push_channels

`sharedlimit` holds each key of the sign-in and claim-code limiters (JSON state, expiry), so attempts spread over
several hub nodes count as on one. `sharedsecret` holds secrets all nodes must agree on, such as the key that
signs one-tap action links, so a link made by one node is accepted by another.
"""

import sqlalchemy as sa
from alembic import op

import hub.store.types

revision = "0012_shared_state"
down_revision = "0011_nats_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sharedlimit",
        sa.Column("limiter", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("state", sa.Text(), nullable=False, server_default=""),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("limiter", "key"),
    )
    op.create_index("ix_sharedlimit_expires", "sharedlimit", ["expires"])
    op.create_table(
        "sharedsecret",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("sharedsecret")
    op.drop_index("ix_sharedlimit_expires", table_name="sharedlimit")
    op.drop_table("sharedlimit")
