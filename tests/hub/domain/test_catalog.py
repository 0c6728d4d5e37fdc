"""Catalog CSV validation: exact line numbers, duplicates, quoting, encodings and value rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.barcode import Gtin
from hub.domain.catalog import CatalogParse, ProductRow, RowError, parse_catalog
from hub.domain.money import Money

HEADER = "sku,name,price,gtins,currency,pack_size,unit,stock"


def csv_text(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def only_error(result: CatalogParse) -> RowError:
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


def test_valid_file_gives_rows_with_defaults() -> None:
    result = parse_catalog(
        csv_text(
            HEADER,
            "COF-1,Coffee beans,12.99,4006381333931|036000291452,EUR,500,g,3",
            "MILK,Milk,1,,,,,",
        )
    )
    assert result.ok and result.errors == []
    assert result.rows == [
        ProductRow(
            line=2,
            sku="COF-1",
            name="Coffee beans",
            gtins=(Gtin("04006381333931"), Gtin("00036000291452")),
            price=Money(1299, "EUR"),
            pack_size=Decimal(500),
            unit="g",
            stock=3,
        ),
        ProductRow(3, "MILK", "Milk", (), Money(100, "EUR"), Decimal(1), "piece", None),
    ]


def test_only_required_columns_in_any_order() -> None:
    result = parse_catalog(csv_text("price,name,sku", "2.50,Tea,T1"), default_currency="CHF")
    assert result.ok
    assert result.rows == [ProductRow(2, "T1", "Tea", (), Money(250, "CHF"), Decimal(1), "piece", None)]


def test_bad_row_in_the_middle_reported_with_its_line() -> None:
    result = parse_catalog(
        csv_text(
            "sku,name,price",
            "A,Apples,1.00",
            "B,Bread,2.00",
            "C,Cheese,3.555",
            "D,Dates,4.00",
        )
    )
    assert not result.ok
    assert only_error(result) == RowError(4, "price", "at most 2 decimals for EUR, got 3")
    assert [row.sku for row in result.rows] == ["A", "B", "D"]
    assert str(result.errors[0]) == "line 4, price: at most 2 decimals for EUR, got 3"


def test_line_numbers_count_blank_lines_and_newlines_inside_quotes() -> None:
    text = csv_text(
        "sku,name,price",  # 1
        "",  # 2
        'A,"two',  # 3: a quoted name spanning lines 3-4
        'lines",1.00',  # 4
        "   ",  # 5: whitespace only, skipped
        ",,",  # 6: spreadsheet's empty row, skipped
        "B,Bread,x",  # 7
    )
    result = parse_catalog(text)
    assert result.errors[0] == RowError(3, "name", "name contains control characters")
    assert result.errors[1].line == 7 and result.errors[1].column == "price"
    assert len(result.errors) == 2


def test_header_after_blank_lines_keeps_editor_line_numbers() -> None:
    result = parse_catalog("\n\nsku,name,price\nA,Apple,oops\n")
    assert only_error(result).line == 4


def test_quoted_fields_with_commas_and_quotes() -> None:
    result = parse_catalog(csv_text("sku,name,price", '"X,1","Beans, ""fine"" roast","3.10"'))
    assert result.ok
    assert (result.rows[0].sku, result.rows[0].name) == ("X,1", 'Beans, "fine" roast')


@pytest.mark.parametrize(
    "text",
    [
        "\ufeffsku,name,price\r\nA,Apple,1.00\r\n\r\nB,Bread,2.00\r\n",
        "sku,name,price\rA,Apple,1.00\r\rB,Bread,2.00",
        "\ufeffsku,name,price\nA,Apple,1.00\n\nB,Bread,2.00",
    ],
    ids=["bom-crlf", "cr-no-final-newline", "bom-lf"],
)
def test_bom_and_line_endings(text: str) -> None:
    result = parse_catalog(text)
    assert result.ok, result.errors
    assert [(row.line, row.sku, row.price.amount_minor) for row in result.rows] == [
        (2, "A", 100),
        (4, "B", 200),
    ]


def test_duplicate_sku_reported_on_the_later_line() -> None:
    result = parse_catalog(csv_text("sku,name,price", "A,Apple,1", "B,Bread,2", "A,Apricot,3"))
    assert only_error(result) == RowError(4, "sku", "duplicate sku 'A', first on line 2")


def test_duplicate_gtin_across_spellings_and_within_a_row() -> None:
    result = parse_catalog(
        csv_text(
            "sku,name,price,gtins",
            "A,Apple,1,4006381333931",
            "B,Bread,2,04006381333931",  # same GTIN, written as GTIN-14
            "C,Cheese,3,96385074 96385074",  # twice on one line
            "D,Dates,4,036000291452|036000291452|4006381333931",
        )
    )
    assert result.errors == [
        RowError(3, "gtins", "duplicate gtin 04006381333931, first on line 2"),
        RowError(4, "gtins", "duplicate gtin 00000096385074, first on line 4"),
        RowError(5, "gtins", "duplicate gtin 00036000291452, first on line 5"),
        RowError(5, "gtins", "duplicate gtin 04006381333931, first on line 2"),
    ]
    assert [row.sku for row in result.rows] == ["A"]


def test_gtin_separators_and_bad_gtin() -> None:
    result = parse_catalog(
        csv_text("sku,name,price,gtins", "A,Apple,1, 4006381333931 | 96385074  036000291452 ", "B,B,1,123")
    )
    assert [g.digits for g in result.rows[0].gtins] == ["04006381333931", "00000096385074", "00036000291452"]
    error = only_error(result)
    assert (error.line, error.column) == (3, "gtins")
    assert "'123'" in error.reason and "digits expected" in error.reason


def test_duplicates_found_even_on_rows_with_other_errors() -> None:
    result = parse_catalog(csv_text("sku,name,price", "A,Apple,bad", "A,Apple,1"))
    assert [(e.line, e.column) for e in result.errors] == [(2, "price"), (3, "sku")]


@pytest.mark.parametrize(
    ("price", "minor"),
    [("1", 100), ("1.5", 150), ("12.99", 1299), ("0", 0), (" 2.00 ", 200)],
)
def test_price_accepted(price: str, minor: int) -> None:
    result = parse_catalog(csv_text("sku,name,price", f'A,Apple,"{price}"'))
    assert result.ok, result.errors
    assert result.rows[0].price == Money(minor, "EUR")


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        ("1.555", "at most 2 decimals"),
        ("-1", "negative"),
        ("abc", "not a decimal"),
        ("1,50", "not a decimal"),
        ("1e2", "not a decimal"),
        ("", "price is required"),
    ],
)
def test_price_rejected(price: str, reason: str) -> None:
    error = only_error(parse_catalog(csv_text("sku,name,price", f'A,Apple,"{price}"')))
    assert (error.line, error.column) == (2, "price")
    assert reason in error.reason


def test_currency_column_and_default() -> None:
    result = parse_catalog(csv_text("sku,name,price,currency", "A,Apple,1.5,USD", "B,Bread,300,JPY", "C,C,1,"))
    assert [row.price for row in result.rows] == [Money(150, "USD"), Money(300, "JPY"), Money(100, "EUR")]
    bad = parse_catalog(csv_text("sku,name,price,currency", "A,Apple,1,eur", "B,Bread,1,EURO"))
    assert [(e.line, e.column) for e in bad.errors] == [(2, "currency"), (3, "currency")]


def test_bad_default_currency_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="default_currency"):
        parse_catalog("sku,name,price\n", default_currency="euro")


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("sku", "", "sku is required"),
        ("sku", "x" * 65, "longer than 64"),
        ("name", "", "name is required"),
        ("name", "n" * 201, "longer than 200"),
        ("pack_size", "0", "must be positive"),
        ("pack_size", "-2", "not a positive number"),
        ("pack_size", "1.2345", "not a positive number"),
        ("pack_size", "abc", "not a positive number"),
        ("unit", "kg", "must be one of piece, g, ml, count"),
        ("unit", "Piece", "must be one of"),
        ("stock", "-1", "not a non-negative whole number"),
        ("stock", "1.5", "not a non-negative whole number"),
    ],
)
def test_column_rules(column: str, value: str, reason: str) -> None:
    values = {"sku": "A", "name": "Apple", "price": "1", "pack_size": "", "unit": "", "stock": ""}
    values[column] = value
    result = parse_catalog(csv_text(",".join(values), ",".join(values.values())))
    error = only_error(result)
    assert (error.line, error.column) == (2, column)
    assert reason in error.reason


def test_limits_are_inclusive() -> None:
    values = f"{'s' * 64},{'n' * 200},1,0.125,ml,0"
    row = parse_catalog(csv_text("sku,name,price,pack_size,unit,stock", values)).rows[0]
    assert (len(row.sku), len(row.name), row.pack_size, row.unit, row.stock) == (64, 200, Decimal("0.125"), "ml", 0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("sku,name,price,colour", [RowError(1, None, "unknown column 'colour'")]),
        ("sku,name", [RowError(1, "price", "required column missing")]),
        ("sku,name,price,sku", [RowError(1, "sku", "column appears twice")]),
        ("sku,name,price,", [RowError(1, None, "unknown column '(empty)'")]),
    ],
)
def test_header_errors_stop_before_rows(header: str, expected: list[RowError]) -> None:
    result = parse_catalog(csv_text(header, "A,Apple,1,x"))
    assert [(e.line, e.column) for e in result.errors] == [(e.line, e.column) for e in expected]
    assert expected[0].reason in result.errors[0].reason
    assert result.rows == []


def test_header_names_ignore_case_and_spaces() -> None:
    assert parse_catalog(csv_text(" SKU , Name,PRICE", "A,Apple,1")).ok


def test_wrong_field_count() -> None:
    result = parse_catalog(csv_text("sku,name,price", "A,Apple", "B,Bread,1,extra"))
    assert result.errors == [
        RowError(2, None, "2 fields, but the header has 3"),
        RowError(3, None, "4 fields, but the header has 3"),
    ]


@pytest.mark.parametrize("text", ["", "\ufeff", "\n\n", " , \n"])
def test_empty_file(text: str) -> None:
    assert only_error(parse_catalog(text)) == RowError(1, None, "empty file: a header row is required")


def test_header_only_is_an_empty_valid_catalog() -> None:
    result = parse_catalog("sku,name,price\n")
    assert result.ok and result.rows == []


def test_unterminated_quote_reported_at_its_line() -> None:
    result = parse_catalog(csv_text("sku,name,price", "A,Apple,1", 'B,"Bread,2'))
    error = only_error(result)
    assert (error.line, error.column) == (3, None)
    assert error.reason.startswith("CSV syntax error")


@given(st.lists(st.sampled_from(["good", "bad", "blank"]), max_size=30))
def test_each_bad_row_reported_once_at_its_line(kinds: list[str]) -> None:
    lines = ["sku,name,price"]
    bad_lines = []
    for n, kind in enumerate(kinds):
        if kind == "blank":
            lines.append("")
            continue
        lines.append(f"S{n},Item {n},{'1.99' if kind == 'good' else '1.999'}")
        if kind == "bad":
            bad_lines.append(len(lines))
    result = parse_catalog("\r\n".join(lines))
    assert [e.line for e in result.errors] == bad_lines
    assert result.ok == (not bad_lines)
    assert len(result.rows) == kinds.count("good")
