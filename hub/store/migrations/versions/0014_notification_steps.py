"""order notifications store their step, not a rendered payload

Revision ID: 0014_notification_steps
Revises: 0013_context_epoch

A notification of an order step used to store its whole payload (text, lines, one-tap links as JSON), built
next to ingest for every order. It now stores the step (`order_event_id`) and the payload is built when the
notification is read: listed, streamed to a dashboard, or sent on a channel. Notifications stored before keep
their payload; device and supply notifications still store theirs.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_notification_steps"
down_revision = "0013_context_epoch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification") as batch_op:
        batch_op.alter_column("payload", existing_type=sa.Text(), nullable=True)
        batch_op.add_column(sa.Column("order_event_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_notification_order_event", "orderevent", ["order_event_id"], ["id"])


def downgrade() -> None:
    # A step's notification gets a payload that says what it was; its full text cannot be rebuilt here.
    op.execute("UPDATE notification SET payload = '{\"kind\":\"' || kind || '\"}' WHERE payload IS NULL")
    with op.batch_alter_table("notification") as batch_op:
        batch_op.drop_constraint("fk_notification_order_event", type_="foreignkey")
        batch_op.drop_column("order_event_id")
        batch_op.alter_column("payload", existing_type=sa.Text(), nullable=False)
