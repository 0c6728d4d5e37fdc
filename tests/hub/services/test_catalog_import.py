"""Catalog import, all or nothing: the `restock catalog import` command and POST /api/v1/catalog/import."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from hub.cli import app
from hub.store.db import make_engine
from hub.store.models import Product, ProductGtin
from tests.hub.scanning import new_home

GOOD = """sku,name,price,gtins,pack_size,unit,stock
OAT-1L,Oat drink 1 l,1.99,4006381333948,1000,ml,40
RICE-1KG,Basmati rice 1 kg,2.49,5901234123457|042100005264,1000,g,
TEA-20,Green tea 20 bags,3.10,,20,count,12
"""
# Line 3 is bad (a field missing; then price and unit), between two good rows.
BAD_MIDDLE = """sku,name,price,gtins,pack_size,unit
OAT-1L,Oat drink 1 l,1.99,4006381333948,1000,ml
RICE-1KG,Basmati rice 1 kg,2.49,1000,g
TEA-20,Green tea 20 bags,3.10,,20,count
"""
BAD_MIDDLE_FIXED_COLUMNS = """sku,name,price,gtins,pack_size,unit
OAT-1L,Oat drink 1 l,1.99,4006381333948,1000,ml
RICE-1KG,Basmati rice 1 kg,2.4.9,,1000,kg
TEA-20,Green tea 20 bags,3.10,,20,count
"""
SKUS = ("OAT-1L", "RICE-1KG", "TEA-20")


def run_import(database_url: str, path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["catalog", "import", str(path), *args],
        env={"RESTOCK_DATABASE_URL": database_url, "COLUMNS": "200"},
    )
    return result.exit_code, result.output


def catalog(database_url: str) -> dict[str, tuple[str, int, list[str]]]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            products = session.exec(select(Product)).all()
            gtins = session.exec(select(ProductGtin)).all()
            return {
                p.sku: (p.name, p.price, sorted(g.gtin for g in gtins if g.product_id == p.id)) for p in products
            }
    finally:
        engine.dispose()


def test_cli_bad_row_in_the_middle_imports_nothing(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text(BAD_MIDDLE)
    code, output = run_import(database_url, path)
    assert code == 1, output
    row = next(line for line in output.splitlines() if "fields, but" in line)
    assert "3" in row and "5 fields, but the header has 6" in row
    path.write_text(BAD_MIDDLE_FIXED_COLUMNS)
    code, output = run_import(database_url, path)
    assert code == 1, output
    rows = [line for line in output.splitlines() if "│" in line and "line" not in line]
    assert any("3" in r and "price" in r and "not a decimal amount" in r for r in rows), output
    assert any("3" in r and "unit" in r and "must be one of" in r for r in rows), output
    assert "nothing was imported" in output
    assert not set(SKUS) & set(catalog(database_url))


def test_cli_imports_all_rows_then_updates_idempotently(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text(GOOD)
    code, output = run_import(database_url, path, "--dry-run")
    assert (code, "would import 3 row(s)" in output) == (0, True), output
    assert not set(SKUS) & set(catalog(database_url))

    code, output = run_import(database_url, path)
    assert code == 0, output
    assert "3 created, 0 updated, 0 unchanged, 3 GTIN(s) added" in output
    assert {sku: v for sku, v in catalog(database_url).items() if sku in SKUS} == {
        "OAT-1L": ("Oat drink 1 l", 199, ["04006381333948"]),
        "RICE-1KG": ("Basmati rice 1 kg", 249, ["00042100005264", "05901234123457"]),
        "TEA-20": ("Green tea 20 bags", 310, []),
    }
    path.write_text(GOOD.replace("1.99", "2.19"))
    code, output = run_import(database_url, path)
    assert (code, "0 created, 1 updated, 2 unchanged, 0 GTIN(s) added" in output) == (0, True), output
    assert catalog(database_url)["OAT-1L"][1] == 219


def test_cli_gtin_of_another_product_is_an_error_and_nothing_changes(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text(GOOD)
    assert run_import(database_url, path)[0] == 0
    before = catalog(database_url)
    clash = "sku,name,price,gtins\nNEW-1,New thing,1.00,\nMILK-1,Milk,0.99,4006381333948\n"
    path.write_text(clash)
    code, output = run_import(database_url, path)
    assert code == 1, output
    row = next(line for line in output.splitlines() if "4006381333948" in line)
    assert "3" in row and "already belongs to sku 'OAT-1L'" in row
    assert catalog(database_url) == before


def test_cli_usage_errors_exit_2(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text(GOOD)
    assert run_import(database_url, tmp_path / "missing.csv")[0] == 2
    assert run_import(database_url, path, "--household", "999999")[0] == 2
    assert run_import(database_url, path, "--currency", "euro")[0] == 2


@pytest.mark.broker
def test_api_import_is_all_or_nothing_and_private_to_the_household(start_hub) -> None:
    server = start_hub()
    home, other = new_home(server, "Importers"), new_home(server, "Others")
    before = home.api.ok("GET", "/api/v1/products")

    csv_body = {"headers": {"Content-Type": "text/csv"}}
    bad = home.api.post("/api/v1/catalog/import", content=BAD_MIDDLE_FIXED_COLUMNS, **csv_body)
    assert bad.status_code == 422, bad.text
    detail = bad.json()["detail"]
    assert {(e["line"], e["column"]) for e in detail["errors"]} == {(3, "price"), (3, "unit")}
    assert "nothing was imported" in detail["message"]
    assert home.api.ok("GET", "/api/v1/products") == before

    shared_sku = "sku,name,price\nOWN-1,Mine,1.00\nCOF-1KG,My coffee,1.00\n"
    clash = home.api.post("/api/v1/catalog/import", content=shared_sku, headers={"Content-Type": "text/csv"})
    assert clash.status_code == 422
    assert clash.json()["detail"]["errors"] == [
        {"line": 3, "column": "sku", "reason": "sku 'COF-1KG' already belongs to the shared catalog"}
    ]

    ok = home.api.post("/api/v1/catalog/import", files={"file": ("products.csv", GOOD.encode(), "text/csv")})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"rows": 3, "created": 3, "updated": 0, "unchanged": 0, "gtins_added": 3, "dry_run": False}
    mine = {p["sku"] for p in home.api.ok("GET", "/api/v1/products")} - {p["sku"] for p in before}
    assert mine == set(SKUS)
    assert not set(SKUS) & {p["sku"] for p in other.api.ok("GET", "/api/v1/products")}

    wrong_type = home.api.post("/api/v1/catalog/import", json={"csv": GOOD})
    assert wrong_type.status_code == 415
