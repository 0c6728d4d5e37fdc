"""battery voltage history of each device, read by the dashboard's battery-life forecast

Revision ID: 0007
Revises: 0005_replenish
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.store.types

revision = "0007"
down_revision = "0005_replenish"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batteryreading",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("millivolts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_batteryreading_device_at", "batteryreading", ["device_id", "at"], unique=False)
    # The voltage each device last reported starts its history.
    op.execute(
        "INSERT INTO batteryreading (device_id, at, millivolts) "
        "SELECT id, COALESCE(last_seen, created_at), battery_mv FROM device WHERE battery_mv IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_batteryreading_device_at", table_name="batteryreading")
    op.drop_table("batteryreading")
