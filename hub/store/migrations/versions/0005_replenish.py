"""sensor slots with their reorder policy; orders remember their slot; joins the parallel branches

Revision ID: 0005_replenish
Revises: 0002_provisioning, 0003_scan, 0004_orders
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.store.types

revision = "0005_replenish"
down_revision = ("0002_provisioning", "0003_scan", "0004_orders")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("pack_size", sa.Float(), nullable=True),
        sa.Column("lead_time_days", sa.Float(), nullable=False),
        sa.Column("safety_days", sa.Float(), nullable=False),
        sa.Column("target_days", sa.Float(), nullable=False),
        sa.Column("max_stock", sa.Float(), nullable=True),
        sa.Column("last_action", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("last_reason", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("run_out_at", hub.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notified_at", hub.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_id", "name"),
    )
    op.create_index(op.f("ix_slot_household_id"), "slot", ["household_id"], unique=False)
    with op.batch_alter_table("order") as batch_op:
        batch_op.add_column(sa.Column("slot_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_order_slot_id"), ["slot_id"], unique=False)
        batch_op.create_foreign_key("fk_order_slot_id_slot", "slot", ["slot_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("order") as batch_op:
        batch_op.drop_constraint("fk_order_slot_id_slot", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_order_slot_id"))
        batch_op.drop_column("slot_id")
    op.drop_index(op.f("ix_slot_household_id"), table_name="slot")
    op.drop_table("slot")
