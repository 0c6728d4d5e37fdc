"""Validation of a product catalog CSV (`restock catalog import`): text in, rows and line-exact errors out.

Columns (header row required, any order, names case-insensitive):
sku (required), name (required), price (required, major units such as "12.99"), gtins, currency,
pack_size, unit, stock. Unknown or repeated columns are errors. Blank lines are skipped. Every problem
is reported with the line a text editor shows (header = line 1 when the file starts with it); whether a
file with errors imports anything is the caller's decision, `CatalogParse.ok` says whether it may.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, get_args

from hub.domain.barcode import BarcodeError, Gtin, normalise
from hub.domain.money import Money, MoneyError, is_currency

Unit = Literal["piece", "g", "ml", "count"]
UNITS: tuple[Unit, ...] = get_args(Unit)

REQUIRED = ("sku", "name", "price")
OPTIONAL = ("gtins", "currency", "pack_size", "unit", "stock")
COLUMNS = REQUIRED + OPTIONAL

SKU_MAX = 64
NAME_MAX = 200

_GTIN_SEPARATORS = re.compile(r"[|\s]+")
# Bounded patterns: pack sizes and stock are household-scale, and bounds keep int()/Decimal() cheap.
_PACK_SIZE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,3})?")
_STOCK = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True, slots=True)
class ProductRow:
    """One valid catalog line; `line` is where it starts in the file."""

    line: int
    sku: str
    name: str
    gtins: tuple[Gtin, ...]
    price: Money
    pack_size: Decimal
    unit: Unit
    stock: int | None


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem at a 1-based file line; `column` is None when it concerns the whole line or file."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class CatalogParse:
    """Outcome of parsing: the valid rows and every error found."""

    rows: list[ProductRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the whole file is valid and may be imported."""
        return not self.errors


def _records(text: str) -> list[tuple[int, list[str]]]:
    """CSV records with the file line each starts on; raises csv.Error with a line attached."""
    # newline="" keeps CRLF, CR and LF for the csv module, which also handles newlines inside quotes.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return records
        except csv.Error as exc:
            raise _CsvSyntaxError(start, str(exc)) from None
        # Spreadsheets export empty rows as ",,,,"; those are blank lines too.
        if any(f.strip() for f in fields):
            records.append((start, fields))


class _CsvSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


# Spreadsheets in locales with a decimal comma export "CSV" with semicolons, and some export tabs.
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs"}


def _delimiter_hint(line: int, fields: list[str]) -> RowError | None:
    """One clear error for a header that is one column only because the file uses another separator."""
    if len(fields) != 1:
        return None
    for sep, name in _OTHER_DELIMITERS.items():
        parts = [p.strip().lower() for p in fields[0].split(sep)]
        if len(parts) > 1 and any(p in COLUMNS for p in parts):
            return RowError(line, None, f"the columns are separated by {name}; restock reads comma-separated "
                                        "CSV: export or save the file with ',' as the separator")
    return None


def _header(line: int, fields: list[str]) -> tuple[list[str], list[RowError]]:
    hint = _delimiter_hint(line, fields)
    if hint is not None:
        return [], [hint]
    names = [f.strip().lower() for f in fields]
    errors: list[RowError] = []
    seen: set[str] = set()
    for name in names:
        if name not in COLUMNS:
            shown = name[:40] or "(empty)"
            errors.append(RowError(line, None, f"unknown column {shown!r}; allowed: {', '.join(COLUMNS)}"))
        elif name in seen:
            errors.append(RowError(line, name, "column appears twice"))
        seen.add(name)
    for name in REQUIRED:
        if name not in seen:
            errors.append(RowError(line, name, "required column missing"))
    return names, errors


def _text_value(value: str, column: str, limit: int, errors: list[str]) -> str:
    if not value:
        errors.append(f"{column} is required")
    elif len(value) > limit:
        errors.append(f"{column} longer than {limit} characters ({len(value)})")
    elif not value.isprintable():
        # A newline or tab inside a quoted name would break every display that shows it.
        errors.append(f"{column} contains control characters")
    return value


class _Row:
    """Collects one line's values and errors, column by column."""

    def __init__(self, line: int, values: dict[str, str]) -> None:
        self.line = line
        self.values = values
        self.errors: list[RowError] = []
        self.gtins: list[Gtin] = []

    def get(self, column: str) -> str:
        return self.values.get(column, "").strip()

    def fail(self, column: str | None, reason: str) -> None:
        self.errors.append(RowError(self.line, column, reason))


def _parse_row(row: _Row, default_currency: str) -> ProductRow | None:
    problems: dict[str, list[str]] = {c: [] for c in COLUMNS}
    sku = _text_value(row.get("sku"), "sku", SKU_MAX, problems["sku"])
    name = _text_value(row.get("name"), "name", NAME_MAX, problems["name"])

    for code in _GTIN_SEPARATORS.split(row.get("gtins")):
        if not code:
            continue
        try:
            row.gtins.append(normalise(code))
        except BarcodeError as exc:
            problems["gtins"].append(f"{code[:20]!r}: {exc.detail}")

    currency = row.get("currency") or default_currency
    price: Money | None = None
    if not is_currency(currency):
        problems["currency"].append(f"not an ISO 4217 code: {currency[:10]!r}")
    elif not row.get("price"):
        problems["price"].append("price is required")
    else:
        try:
            price = Money.parse(row.get("price"), currency)
        except MoneyError as exc:
            problems["price"].append(str(exc))

    pack_text = row.get("pack_size") or "1"
    pack_size = Decimal(1)
    if not _PACK_SIZE.fullmatch(pack_text):
        problems["pack_size"].append(f"not a positive number with at most 3 decimals: {pack_text[:20]!r}")
    else:
        pack_size = Decimal(pack_text)
        if pack_size <= 0:
            problems["pack_size"].append("must be positive")

    unit = next((u for u in UNITS if u == (row.get("unit") or "piece")), None)
    if unit is None:
        problems["unit"].append(f"must be one of {', '.join(UNITS)}, got {row.get('unit')[:20]!r}")

    stock: int | None = None
    stock_text = row.get("stock")
    if stock_text:
        if _STOCK.fullmatch(stock_text):
            stock = int(stock_text)
        else:
            problems["stock"].append(f"not a non-negative whole number: {stock_text[:20]!r}")

    for column, reasons in problems.items():
        for reason in reasons:
            row.fail(column, reason)
    if row.errors or price is None or unit is None:
        return None
    return ProductRow(row.line, sku, name, tuple(row.gtins), price, pack_size, unit, stock)


def parse_catalog(text: str, default_currency: str = "EUR") -> CatalogParse:
    """Validate catalog CSV text; every row is checked and every problem reported with its line."""
    if not is_currency(default_currency):
        raise ValueError(f"default_currency must be three uppercase letters, got {default_currency!r}")
    # A UTF-8 BOM from spreadsheet exports would otherwise become part of the first column name.
    text = text.removeprefix("\ufeff")
    result = CatalogParse()
    try:
        records = _records(text)
    except _CsvSyntaxError as exc:
        result.errors.append(RowError(exc.line, None, f"CSV syntax error: {exc.message}"))
        return result
    if not records:
        result.errors.append(RowError(1, None, "empty file: a header row is required"))
        return result

    header_line, header_fields = records[0]
    names, header_errors = _header(header_line, header_fields)
    if header_errors:
        # Without a trustworthy column map, row checks would only repeat the header problem per line.
        result.errors.extend(header_errors)
        return result

    sku_lines: dict[str, int] = {}
    gtin_lines: dict[Gtin, int] = {}
    for line, fields in records[1:]:
        if len(fields) != len(names):
            result.errors.append(RowError(line, None, f"{len(fields)} fields, but the header has {len(names)}"))
            continue
        row = _Row(line, dict(zip(names, fields, strict=True)))
        product = _parse_row(row, default_currency)

        # Duplicates are checked even on rows with other errors so one pass shows everything.
        sku = row.get("sku")
        if sku:
            first = sku_lines.setdefault(sku, line)
            if first != line:
                row.fail("sku", f"duplicate sku {sku[:64]!r}, first on line {first}")
        seen_here: set[Gtin] = set()
        for gtin in row.gtins:
            first = gtin_lines.setdefault(gtin, line)
            if first != line or gtin in seen_here:
                row.fail("gtins", f"duplicate gtin {gtin.digits}, first on line {first}")
            seen_here.add(gtin)

        result.errors.extend(row.errors)
        if product is not None and not row.errors:
            result.rows.append(product)
    return result
