"""orders after the press: webhook merchants, callbacks, substitutes, returns, notification outbox

Revision ID: 0004_orders
Revises: 0001
Create Date: 2026-11-24 12:00:00

`merchantaccount` is a household's own shop reached over HTTP (URL and shared HMAC secret);
`merchantcallback` keeps the event id of every accepted callback so a replay is refused. Orders get the
attempt counter of the request in flight to a remote merchant, a revision (bumped by a substitution and
part of the idempotency key), the carrier and a return reason. Order events get `notified`: existing
steps count as notified (server default true), so upgrading does not send old news; the model inserts
new steps with false. Notifications and their per-channel deliveries form the outbox.

Branches from 0001 next to 0002 (provisioning) and 0003 (scan); the hub upgrades to `heads`.
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import hub.store.types

revision = "0004_orders"
down_revision = "0001"
branch_labels = None
depends_on = None

_UNNOTIFIED = sa.text("NOT notified")


def upgrade() -> None:
    op.create_table(
        "merchantaccount",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("name", AutoString(length=40), nullable=False),
        sa.Column("kind", AutoString(length=20), nullable=False),
        sa.Column("url", AutoString(length=500), nullable=False),
        sa.Column("secret", AutoString(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_merchantaccount_household_id", "merchantaccount", ["household_id"])
    op.create_table(
        "merchantcallback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant", AutoString(length=40), nullable=False),
        sa.Column("event_id", AutoString(length=100), nullable=False),
        sa.Column("order_id", AutoString(length=20), nullable=False),
        sa.Column("status", AutoString(length=20), nullable=False),
        sa.Column("received_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("merchant", "event_id", name="uq_merchantcallback_event"),
    )
    op.create_table(
        "notifychannel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("kind", AutoString(length=10), nullable=False),
        sa.Column("target", AutoString(length=500), nullable=False),
        sa.Column("secret", AutoString(length=100), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notifychannel_household_id", "notifychannel", ["household_id"])
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("kind", AutoString(length=40), nullable=False),
        sa.Column("key", AutoString(length=120), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("household_id", "key", name="uq_notification_key"),
    )
    op.create_index("ix_notification_household_id", "notification", ["household_id"])
    op.create_table(
        "notificationdelivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("status", AutoString(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", AutoString(length=200), nullable=True),
        sa.Column("sent_at", hub.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["channel_id"], ["notifychannel.id"]),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_delivery_status_next", "notificationdelivery", ["status", "next_at"])
    op.create_index("ix_notificationdelivery_channel_id", "notificationdelivery", ["channel_id"])
    op.create_index("ix_notificationdelivery_notification_id", "notificationdelivery", ["notification_id"])

    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("binding_allow_substitutes", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("binding_substitute_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_device_binding_substitute", "product", ["binding_substitute_id"], ["id"])
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("carrier", AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column("return_reason", AutoString(length=200), nullable=True))
    with op.batch_alter_table("orderevent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notified", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_index(
        "ix_orderevent_unnotified",
        "orderevent",
        ["id"],
        sqlite_where=_UNNOTIFIED,
        postgresql_where=_UNNOTIFIED,
    )


def downgrade() -> None:
    op.drop_index("ix_orderevent_unnotified", table_name="orderevent")
    with op.batch_alter_table("orderevent", schema=None) as batch_op:
        batch_op.drop_column("notified")
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.drop_column("return_reason")
        batch_op.drop_column("carrier")
        batch_op.drop_column("revision")
        batch_op.drop_column("attempts")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_constraint("fk_device_binding_substitute", type_="foreignkey")
        batch_op.drop_column("binding_substitute_id")
        batch_op.drop_column("binding_allow_substitutes")
    op.drop_index("ix_notificationdelivery_notification_id", table_name="notificationdelivery")
    op.drop_index("ix_notificationdelivery_channel_id", table_name="notificationdelivery")
    op.drop_index("ix_delivery_status_next", table_name="notificationdelivery")
    op.drop_table("notificationdelivery")
    op.drop_index("ix_notification_household_id", table_name="notification")
    op.drop_table("notification")
    op.drop_index("ix_notifychannel_household_id", table_name="notifychannel")
    op.drop_table("notifychannel")
    op.drop_table("merchantcallback")
    op.drop_index("ix_merchantaccount_household_id", table_name="merchantaccount")
    op.drop_table("merchantaccount")
