"""a counter of changes to devices, households and products, kept by triggers

Revision ID: 0013_context_epoch
Revises: 0012_shared_state

Ingest keeps each device's context (the device, its household, its bound product) from one batch to the next
instead of loading it for every batch. Whatever changes one of those rows (the API, the web pages, a CLI, another
hub node) moves `contextepoch.n` on in the same transaction, through these triggers, so no writer has to
remember to; a batch that reads a new value loads the context again. What devices report about themselves
(`last_seen`, `online`, battery, signal, firmware, outbox) is left out: ingest writes those itself, and
nothing it decides reads them. `tests/hub/store/test_context_epoch.py` checks that every other column is covered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision = "0013_context_epoch"
down_revision = "0012_shared_state"
branch_labels = None
depends_on = None

# Device columns that do not move the counter: what a device reports about itself.
DEVICE_REPORTED = ("last_seen", "online", "battery_mv", "rssi", "firmware", "outbox")
# Every other column of each table, as of this revision (a later migration that adds one must recreate the
# trigger of its table; the test above fails until it does).
WATCHED: dict[str, Sequence[str]] = {
    "device": ("id", "household_id", "kind", "name", "secret_hash", "nats_secret_hash", "active",
               "binding_product_id", "binding_qty", "binding_mode", "binding_unit_price", "created_at",
               "claim_code_hash", "claimed_at", "revoked_at", "binding_allow_substitutes", "binding_substitute_id"),
    "household": (),  # every column
    "product": (),  # every column
}


def _columns(table: str) -> list[str]:
    watched = WATCHED[table]
    if watched:
        return list(watched)
    return [column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)]


def upgrade() -> None:
    op.create_table(
        "contextepoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO contextepoch (id, n) VALUES (1, 0)")
    bump = "UPDATE contextepoch SET n = n + 1 WHERE id = 1"
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(f"CREATE FUNCTION contextepoch_bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {bump}; "
                   "RETURN NULL; END $$")
    for table in WATCHED:
        columns = ", ".join(f'"{name}"' for name in _columns(table))
        if postgres:
            # Once per statement, not per row: a statement that changes many rows takes the counter's row lock once.
            op.execute(f'CREATE TRIGGER contextepoch_{table} AFTER INSERT OR DELETE OR UPDATE OF {columns} '
                       f'ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION contextepoch_bump()')
            continue
        for event in ("INSERT", "DELETE", f"UPDATE OF {columns}"):
            name = f"contextepoch_{table}_{event.split()[0].lower()}"
            op.execute(f'CREATE TRIGGER {name} AFTER {event} ON "{table}" BEGIN {bump}; END')


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        if postgres:
            op.execute(f'DROP TRIGGER IF EXISTS contextepoch_{table} ON "{table}"')
            continue
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS contextepoch_{table}_{event}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS contextepoch_bump()")
    op.drop_table("contextepoch")
