"""device logins NATS can check: a bcrypt hash of each device secret next to its argon2 hash

Revision ID: 0011_nats_credentials
Revises: 0010_push_channels

nats-server verifies bcrypt but not argon2, so `device.nats_secret_hash` holds a low-cost bcrypt hash of the
same random secret. Existing devices have none (their secret exists only in their config bundle): they stay
out of the NATS logins until re-keyed (`restock device rekey`); the mosquitto and embedded brokers are unaffected.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_nats_credentials"
down_revision = "0010_push_channels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("device") as batch_op:
        batch_op.add_column(sa.Column("nats_secret_hash", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device") as batch_op:
        batch_op.drop_column("nats_secret_hash")
