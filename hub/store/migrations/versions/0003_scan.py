"""scan to cart: household-scoped GTIN mappings, Open Food Facts lookup on inbox entries

Revision ID: 0003_scan
Revises: 0001
Create Date: 2026-11-24 10:00:00

`productgtin` was keyed by the GTIN alone, so one household mapping a barcode decided it for every
household. It gets a surrogate key and a nullable `household_id` (NULL = the shared catalog), unique per
(gtin, household) plus a partial unique index for the shared mapping. The table is rebuilt (read, drop,
create, insert) rather than altered, because changing a primary key in place differs between SQLite and
PostgreSQL and the catalog is small. Existing mappings to a household's own product become that
household's mappings; the rest stay shared.

Branches from 0001 next to 0002 (provisioning); the hub upgrades to `heads`.
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0003_scan"
down_revision = "0001"
branch_labels = None
depends_on = None

_SHARED_WHERE = sa.text("household_id IS NULL")


def _create_productgtin() -> sa.Table:
    table = op.create_table(
        "productgtin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gtin", AutoString(length=14), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gtin", "household_id", name="uq_productgtin_gtin_household"),
    )
    op.create_index("ix_productgtin_product_id", "productgtin", ["product_id"])
    op.create_index("ix_productgtin_household_id", "productgtin", ["household_id"])
    op.create_index(
        "uq_productgtin_shared_gtin",
        "productgtin",
        ["gtin"],
        unique=True,
        sqlite_where=_SHARED_WHERE,
        postgresql_where=_SHARED_WHERE,
    )
    assert table is not None
    return table


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT g.gtin, g.product_id, p.household_id FROM productgtin g JOIN product p ON p.id = g.product_id"
        )
    ).all()
    op.drop_index("ix_productgtin_product_id", table_name="productgtin")
    op.drop_table("productgtin")
    table = _create_productgtin()
    if rows:
        op.bulk_insert(table, [{"gtin": r[0], "product_id": r[1], "household_id": r[2]} for r in rows])

    with op.batch_alter_table("inboxentry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suggestion", AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("lookup_status", AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column("lookup_detail", AutoString(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inboxentry", schema=None) as batch_op:
        batch_op.drop_column("lookup_detail")
        batch_op.drop_column("lookup_status")
        batch_op.drop_column("suggestion")

    conn = op.get_bind()
    # Shared mappings first, so a GTIN keeps its shared meaning when households mapped it too.
    rows = conn.execute(
        sa.text(
            "SELECT gtin, product_id FROM productgtin"
            " ORDER BY CASE WHEN household_id IS NULL THEN 0 ELSE 1 END, id"
        )
    ).all()
    op.drop_index("uq_productgtin_shared_gtin", table_name="productgtin")
    op.drop_index("ix_productgtin_household_id", table_name="productgtin")
    op.drop_index("ix_productgtin_product_id", table_name="productgtin")
    op.drop_table("productgtin")
    table = op.create_table(
        "productgtin",
        sa.Column("gtin", AutoString(length=14), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"]),
        sa.PrimaryKeyConstraint("gtin"),
    )
    op.create_index("ix_productgtin_product_id", "productgtin", ["product_id"])
    seen: set[str] = set()
    keep = []
    for gtin, product_id in rows:
        if gtin not in seen:
            seen.add(gtin)
            keep.append({"gtin": gtin, "product_id": product_id})
    if keep and table is not None:
        op.bulk_insert(table, keep)
