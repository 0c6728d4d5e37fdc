"""Money: exact parsing of major-unit strings, display, and currency-checked arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.money import MAX_MINOR, CurrencyMismatchError, Money, MoneyError, minor_digits


@pytest.mark.parametrize(
    ("text", "minor"),
    [("1", 100), ("1.5", 150), ("1.50", 150), ("12.99", 1299), ("0", 0), ("0.01", 1), ("007.10", 710)],
)
def test_parse_major_units_to_minor(text: str, minor: int) -> None:
    assert Money.parse(text, "EUR") == Money(minor, "EUR")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.555", "at most 2 decimals"),
        ("-1", "negative"),
        ("-0.50", "negative"),
        ("abc", "not a decimal"),
        ("", "not a decimal"),
        ("1.", "not a decimal"),
        (".5", "not a decimal"),
        ("+1", "not a decimal"),
        ("1e3", "not a decimal"),
        ("1,50", "not a decimal"),
        (" 1", "not a decimal"),
        ("nan", "not a decimal"),
        ("١٢", "not a decimal"),  # Arabic-Indic digits pass str.isdigit() but are not prices
        # Must not reach int(), which refuses strings over 4300 digits.
        pytest.param("1" * 5000, "too large", id="5000-digits"),
        ("10000000000000.01", "too large"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        Money.parse(text, "EUR")


def test_currency_exponent_follows_iso4217() -> None:
    assert Money.parse("1000", "JPY") == Money(1000, "JPY")
    assert Money.parse("1.234", "KWD") == Money(1234, "KWD")
    with pytest.raises(MoneyError, match="at most 0 decimals"):
        Money.parse("1.5", "JPY")
    assert minor_digits("EUR") == 2


@pytest.mark.parametrize("currency", ["eur", "EU", "EURO", "€", "", "E1R"])
def test_bad_currency_rejected(currency: str) -> None:
    with pytest.raises(MoneyError, match="three uppercase"):
        Money(100, currency)
    with pytest.raises(MoneyError, match="three uppercase"):
        Money.parse("1", currency)


def test_amount_must_be_int() -> None:
    with pytest.raises(MoneyError):
        Money(True, "EUR")
    with pytest.raises(MoneyError):
        Money(1.5, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("money", "shown"),
    [
        (Money(1299, "EUR"), "12.99 EUR"),
        (Money(5, "EUR"), "0.05 EUR"),
        (Money(0, "USD"), "0.00 USD"),
        (Money(-50, "EUR"), "-0.50 EUR"),
        (Money(1000, "JPY"), "1000 JPY"),
        (Money(1234, "KWD"), "1.234 KWD"),
    ],
)
def test_format(money: Money, shown: str) -> None:
    assert money.format() == shown
    assert str(money) == shown


@given(st.integers(min_value=0, max_value=MAX_MINOR), st.sampled_from(["EUR", "JPY", "KWD"]))
def test_format_parse_round_trip(amount: int, currency: str) -> None:
    money = Money(amount, currency)
    assert Money.parse(money.format().split(" ")[0], currency) == money


def test_add_and_multiply() -> None:
    price = Money(1299, "EUR")
    assert price + Money(1, "EUR") == Money(1300, "EUR")
    assert price * 3 == Money(3897, "EUR")
    assert 3 * price == Money(3897, "EUR")
    assert sum([price, price], Money.zero("EUR")) == Money(2598, "EUR")


def test_add_across_currencies_fails() -> None:
    with pytest.raises(CurrencyMismatchError, match="USD"):
        Money(1, "EUR") + Money(1, "USD")


def test_multiply_only_by_int() -> None:
    with pytest.raises(TypeError):
        Money(1, "EUR") * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(1, "EUR") * True


@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12), st.integers(0, 1000))
def test_arithmetic_is_exact(a: int, b: int, qty: int) -> None:
    assert (Money(a, "EUR") + Money(b, "EUR")) * qty == Money((a + b) * qty, "EUR")
