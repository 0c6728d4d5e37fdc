"""Barcode normalisation: EAN-8, EAN-13, UPC-A, UPC-E and GTIN-14 to one GTIN-14 key.

Every retail code of the EAN/UPC family is a GTIN: left-padding it with zeros to 14 digits gives the
same trade item, and because GS1 weights run from the right, the check digit survives the padding.
The hub stores and compares only the 14-digit form; the symbology is kept as provenance.

Eight digits are ambiguous: a wand that sends raw digits may have read an EAN-8 or a UPC-E symbol.
`normalise` takes the symbology as a hint when the device knows it; without a hint it applies the rule
documented on `normalise`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

Symbology = Literal["EAN-8", "EAN-13", "UPC-A", "UPC-E", "GTIN-14"]
SYMBOLOGIES: tuple[Symbology, ...] = get_args(Symbology)

_DIGITS = frozenset("0123456789")
_LENGTHS: dict[Symbology, int] = {"EAN-8": 8, "UPC-E": 8, "UPC-A": 12, "EAN-13": 13, "GTIN-14": 14}
_BY_LENGTH: dict[int, Symbology] = {12: "UPC-A", 13: "EAN-13", 14: "GTIN-14"}
# All zeros passes mod-10 but GS1 never allocates it; it only turns up as a placeholder.
_ZEROS = "0" * 14
_ZEROS_DETAIL = "all zeros is not a GTIN"


class BarcodeError(ValueError):
    """A scanned code that is not a valid GTIN; `reason` is the wire code, `detail` is for humans."""

    reason = "bad_barcode"

    def __init__(self, detail: str) -> None:
        self.detail = detail[:120]
        super().__init__(self.detail)


@dataclass(frozen=True, slots=True)
class Gtin:
    """A validated GTIN-14; equality and hashing use the digits only, not how they were scanned."""

    digits: str
    # The same trade item scanned as UPC-A or as EAN-13 must be one key, so symbology is not compared.
    symbology: Symbology = field(default="GTIN-14", compare=False)

    def __post_init__(self) -> None:
        # Gtin is also rebuilt from storage; refuse anything that normalise could not have produced.
        if len(self.digits) != 14 or not _is_digits(self.digits):
            raise BarcodeError("GTIN-14 must be 14 digits")
        if self.digits == _ZEROS:
            raise BarcodeError(_ZEROS_DETAIL)
        _verify(self.digits, "GTIN-14")

    def __str__(self) -> str:
        return self.digits


def _is_digits(text: str) -> bool:
    # str.isdigit() accepts non-ASCII digits such as "²" or Arabic-Indic digits; a GTIN never has them.
    return bool(text) and set(text) <= _DIGITS


def check_digit(body: str) -> int:
    """GS1 mod-10 check digit for `body` (all digits before the check digit)."""
    if not _is_digits(body):
        raise BarcodeError("not digits")
    # Weights 3,1,3,1,… from the rightmost body digit, so zero-padding on the left changes nothing.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return -total % 10


def _verify(code: str, symbology: str) -> None:
    expected = check_digit(code[:-1])
    got = int(code[-1])
    if expected != got:
        raise BarcodeError(f"check digit should be {expected}, got {got} ({symbology})")


def expand_upce(code8: str) -> str:
    """Expand an 8-digit UPC-E (number system 0 or 1) to its 12-digit UPC-A; the check digit is copied."""
    if len(code8) != 8 or not _is_digits(code8):
        raise BarcodeError("8 digits expected for UPC-E")
    ns, d, check = code8[0], code8[1:7], code8[7]
    if ns not in "01":
        raise BarcodeError(f"UPC-E number system must be 0 or 1, got {ns}")
    last = d[5]
    # Zero suppression: the sixth digit says where the manufacturer number's zeros were removed.
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    return ns + body + check


def compress_upca(code12: str) -> str | None:
    """Canonical 8-digit UPC-E for a 12-digit UPC-A, or None where no UPC-E form exists."""
    if len(code12) != 12 or not _is_digits(code12):
        raise BarcodeError("12 digits expected for UPC-A")
    ns, m, p, check = code12[0], code12[1:6], code12[6:11], code12[11]
    if ns not in "01":
        return None
    # The four cases partition manufacturer numbers, so at most one applies and the result is unique.
    if m[2] in "012" and m[3:] == "00" and p[:2] == "00":
        six = m[:2] + p[2:] + m[2]
    elif m[3:] == "00" and p[:3] == "000":
        six = m[:3] + p[3:] + "3"
    elif m[4] == "0" and p[:4] == "0000":
        six = m[:4] + p[4] + "4"
    elif p[:4] == "0000" and p[4] in "56789":
        six = m + p[4]
    else:
        return None
    return ns + six + check


def _as(code: str, symbology: Symbology) -> Gtin:
    """Validate `code` as exactly `symbology` and return its GTIN-14."""
    expected_len = _LENGTHS[symbology]
    if len(code) != expected_len:
        raise BarcodeError(f"{expected_len} digits expected for {symbology}, got {len(code)}")
    if symbology == "UPC-E":
        upca = expand_upce(code)
        # The UPC-E check digit is the check digit of its UPC-A expansion, not of the eight digits.
        _verify(upca, "UPC-E")
        return Gtin("00" + upca, "UPC-E")
    _verify(code, symbology)
    return Gtin(code.rjust(14, "0"), symbology)


def _eight(code: str) -> Gtin:
    """Resolve an unhinted 8-digit code: UPC-E first when it can be one, else EAN-8."""
    # Rule: number system 0/1 and a valid UPC-E check digit -> UPC-E; otherwise EAN-8.
    # Why UPC-E wins the overlap (about one in ten such codes passes both checks): an EAN-8 starting
    # with 0 is an RCN-8, a retailer-internal number that no merchant can sell to us anyway, while
    # UPC-E with number system 0 is how small North American packages carry real trade items
    # (number system 1 is rare on both sides and follows the same rule for simplicity).
    # Either way the rule is deterministic, so the same scan always yields the same key and a
    # household mapping made once keeps working.
    if code[0] in "01":
        try:
            return _as(code, "UPC-E")
        except BarcodeError as upce_error:
            try:
                return _as(code, "EAN-8")
            except BarcodeError as ean_error:
                raise BarcodeError(f"{ean_error.detail}; {upce_error.detail}") from None
    return _as(code, "EAN-8")


def normalise(code: str, symbology: str | None = None) -> Gtin:
    """Validate a scanned EAN-8/EAN-13/UPC-A/UPC-E/GTIN-14 code and return it as a GTIN-14.

    Only surrounding whitespace is stripped. `symbology` is an optional hint from the device; with
    it, the code must be exactly that symbology. Without it, 12/13/14 digits are UPC-A/EAN-13/GTIN-14
    and 8 digits are UPC-E when the first digit is 0 or 1 and the UPC-E check digit holds, else EAN-8
    (see `_eight` for why).

    Error detection: mod-10 catches every single-digit substitution in EAN-8, UPC-A, EAN-13 and
    GTIN-14, and every adjacent transposition except of two digits that differ by 5. Two gaps are
    inherent to the codes, not to this function: in UPC-E, changing the sixth digit across the groups
    0-2 / 3 / 4 / 5-9 moves several expanded digits at once, and about 7% of misreads of that digit
    pass the check; and unhinted 8-digit codes lose the single-substitution guarantee because a misread EAN-8 can be
    a valid UPC-E and vice versa. Devices that know the symbology should send it.
    UPC-E codes outside GS1's canonical zero suppression still expand unambiguously and are accepted,
    as scanners do.
    """
    text = code.strip()
    if not text:
        raise BarcodeError("empty barcode")
    if not _is_digits(text):
        raise BarcodeError("not digits")
    if text.strip("0") == "":
        raise BarcodeError(_ZEROS_DETAIL)
    if symbology is not None:
        # Looking the hint up in SYMBOLOGIES turns a wire string into the typed Literal.
        hint = next((s for s in SYMBOLOGIES if s == symbology), None)
        if hint is None:
            raise BarcodeError(f"unknown symbology {symbology[:20]!r}")
        return _as(text, hint)
    if len(text) == 8:
        return _eight(text)
    detected = _BY_LENGTH.get(len(text))
    if detected is None:
        raise BarcodeError(f"8, 12, 13 or 14 digits expected, got {len(text)}")
    return _as(text, detected)
