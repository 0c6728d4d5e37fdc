"""Money as integer minor units plus an ISO 4217 currency code; no floats anywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CURRENCY = re.compile(r"[A-Z]{3}")
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?")

# ISO 4217 minor-unit digits where they differ from the usual 2, so "1000 JPY" is 1000 minor units.
_MINOR_DIGITS: dict[str, int] = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
    "UYW": 4,
}

# Far above any household order, far below a signed 64-bit column.
MAX_MINOR = 10**15


class MoneyError(ValueError):
    """An amount or currency that cannot be money."""


class CurrencyMismatchError(MoneyError):
    """Arithmetic across two currencies."""


def minor_digits(currency: str) -> int:
    """Number of decimals of the currency's minor unit (2 unless ISO 4217 says otherwise)."""
    return _MINOR_DIGITS.get(currency, 2)


def is_currency(code: str) -> bool:
    """Whether `code` has the shape of an ISO 4217 code (three uppercase ASCII letters)."""
    return _CURRENCY.fullmatch(code) is not None


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units (cents) of one currency."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        # bool is an int subclass; True cents is a bug, not an amount.
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise MoneyError("amount_minor must be an int")
        if not is_currency(self.currency):
            raise MoneyError(f"currency must be three uppercase letters, got {self.currency[:10]!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in `currency`, the start value for sums."""
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a non-negative major-unit decimal such as "12.99" exactly into minor units."""
        if not is_currency(currency):
            raise MoneyError(f"currency must be three uppercase letters, got {currency[:10]!r}")
        if text.startswith("-") and _AMOUNT.fullmatch(text[1:]):
            raise MoneyError("amount must not be negative")
        match = _AMOUNT.fullmatch(text)
        # fullmatch on [0-9] keeps out signs, exponents, spaces, "nan" and non-ASCII digits.
        if match is None:
            raise MoneyError(f"not a decimal amount: {text[:20]!r}")
        whole, fraction = match.group(1), match.group(2) or ""
        digits = minor_digits(currency)
        if len(fraction) > digits:
            raise MoneyError(f"at most {digits} decimals for {currency}, got {len(fraction)}")
        if len(whole) > 16:
            raise MoneyError("amount too large")
        amount = int(whole + fraction.ljust(digits, "0"))
        if amount > MAX_MINOR:
            raise MoneyError("amount too large")
        return cls(amount, currency)

    def format(self) -> str:
        """Display form with the currency's decimals, e.g. "12.99 EUR"."""
        digits = minor_digits(self.currency)
        sign = "-" if self.amount_minor < 0 else ""
        whole, fraction = divmod(abs(self.amount_minor), 10**digits)
        if digits == 0:
            return f"{sign}{whole} {self.currency}"
        return f"{sign}{whole}.{fraction:0{digits}d} {self.currency}"

    def __str__(self) -> str:
        return self.format()

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __mul__(self, qty: int) -> Money:
        if isinstance(qty, bool) or not isinstance(qty, int):
            return NotImplemented
        return Money(self.amount_minor * qty, self.currency)

    __rmul__ = __mul__


def display(amount: int, currency: str) -> str:
    """An amount as people read it ("12.99 EUR"); a stored amount that is no valid money (an unknown currency code
    kept from an old catalog, say) is shown as it is rather than hidden."""
    try:
        return Money(amount, currency).format()
    except MoneyError:
        return f"{amount} {currency}"
