"""provisioning: claim codes, claim and revocation times on devices

Revision ID: 0002_provisioning
Revises: 0001
Create Date: 2026-11-24 09:00:00

A device registered without a household gets a claim code; only its SHA-256 is stored
(`claim_code_hash`, unique, so a code finds exactly one device). `claimed_at` records the redemption
(a second redemption answers 409), `revoked_at` the revocation (`active` turns False in the same step).

Branches from 0001 next to 0003 (scan); the hub upgrades to `heads`.
"""

import sqlalchemy as sa
from alembic import op

import hub.store.types

revision = "0002_provisioning"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_code_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", hub.store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", hub.store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_device_claim_code_hash"), ["claim_code_hash"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_claim_code_hash"))
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claim_code_hash")
