"""A catalog exported with semicolons (or tabs) gets one error naming the separator, not four about columns."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.domain.catalog import parse_catalog


@pytest.mark.parametrize(("sep", "word"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_header_split_by_another_separator_is_one_error_naming_it(sep: str, word: str) -> None:
    text = sep.join(["sku", "name", "price", "pack_size"]) + "\n" + sep.join(["OAT-1L", "Oat drink", "1,99", "1"])
    parsed = parse_catalog(text)
    assert not parsed.rows
    assert len(parsed.errors) == 1, parsed.errors
    error = parsed.errors[0]
    assert error.line == 1 and error.column is None
    assert f"separated by {word}" in error.reason and "','" in error.reason


def test_an_unknown_single_column_is_still_reported_as_unknown() -> None:
    parsed = parse_catalog("article\nOAT-1L\n")
    assert any("unknown column 'article'" in e.reason for e in parsed.errors)
    assert not any("separated by" in e.reason for e in parsed.errors)


def test_cli_prints_the_separator_hint(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text("sku;name;price\nOAT-1L;Oat drink 1 l;1,99\n")
    result = CliRunner().invoke(app, ["catalog", "import", str(path)], env={
        "RESTOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'restock.db'}", "COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "1 problem(s)" in result.output
    assert "separated by semicolons" in result.output
    assert "required column missing" not in result.output
