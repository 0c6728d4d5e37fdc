"""Form parsing with one message per field; the raw text is kept so a re-rendered form loses nothing."""

from __future__ import annotations

from hub.domain.money import Money, MoneyError


class Form:
    """Submitted text values plus the errors found while reading them."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = {key: value.strip() for key, value in values.items()}
        self.errors: dict[str, str] = {}

    @property
    def ok(self) -> bool:
        """Whether every field was valid."""
        return not self.errors

    def text(self, name: str, label: str, *, max_length: int, required: bool = True) -> str:
        """A text field."""
        value = self.values.get(name, "")
        if required and not value:
            self.errors[name] = f"{label} is required."
        elif len(value) > max_length:
            self.errors[name] = f"{label} can be at most {max_length} characters."
        return value

    def integer(self, name: str, label: str, lo: int, hi: int, *, required: bool = True) -> int | None:
        """A whole number within [lo, hi]; empty gives None when not required."""
        raw = self.values.get(name, "")
        if not raw:
            if required:
                self.errors[name] = f"{label} is required."
            return None
        try:
            value = int(raw)
        except ValueError:
            self.errors[name] = f"{label} must be a whole number."
            return None
        if not lo <= value <= hi:
            self.errors[name] = f"{label} must be between {lo} and {hi}."
            return None
        return value

    def number(
        self, name: str, label: str, lo: float, hi: float, *, required: bool = True, above_lo: bool = False
    ) -> float | None:
        """A decimal number such as "2.5" or "2,5" within [lo, hi] (or (lo, hi] with `above_lo`)."""
        raw = self.values.get(name, "").replace(",", ".")
        if not raw:
            if required:
                self.errors[name] = f"{label} is required."
            return None
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite: not a number to store
            self.errors[name] = f"{label} must be a number like 5 or 2.5."
            return None
        if (value <= lo if above_lo else value < lo) or value > hi:
            bound = "more than" if above_lo else "at least"
            self.errors[name] = f"{label} must be {bound} {lo:g} and at most {hi:g}."
            return None
        return value

    def amount(self, name: str, label: str, currency: str) -> int | None:
        """An optional money amount such as "25" or "25.50"; empty means no limit (None)."""
        raw = self.values.get(name, "").replace(",", ".")
        if not raw:
            return None
        try:
            return Money.parse(raw, currency).amount_minor
        except MoneyError:
            self.errors[name] = f"{label} must be an amount like 25 or 25.50 (or empty for no limit)."
            return None

    def choice(self, name: str, label: str, options: tuple[str, ...]) -> str:
        """One of a fixed set of values."""
        value = self.values.get(name, "")
        if value not in options:
            self.errors[name] = f"Choose a {label.lower()}."
        return value
