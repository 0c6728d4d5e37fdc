"""Barcode normalisation: GS1 check digits, UPC-E expansion, GTIN-14 keys and error detection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.barcode import BarcodeError, Gtin, check_digit, compress_upca, expand_upce, normalise

LENGTH_OF = {"EAN-8": 8, "UPC-A": 12, "EAN-13": 13, "GTIN-14": 14}


def _weighted_sum(code: str) -> int:
    """GS1 sum written independently of check_digit: weight 1 on the last digit, 3 on the one before…"""
    weights = [3 if (len(code) - 1 - i) % 2 else 1 for i in range(len(code))]
    return sum(int(d) * w for d, w in zip(code, weights, strict=True))


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


def valid(n: int) -> st.SearchStrategy[str]:
    """A code of n digits with a correct check digit, not all zeros."""
    return digits(n - 1).filter(lambda b: b.strip("0") != "").map(lambda b: b + str(check_digit(b)))


@st.composite
def upce(draw: st.DrawFn) -> str:
    """A valid 8-digit UPC-E: number system 0/1, six data digits, check digit of the UPC-A expansion."""
    head = draw(st.sampled_from("01")) + draw(digits(6).filter(lambda d: d != "000000"))
    return head + str(check_digit(expand_upce(head + "0")[:-1]))


def is_canonical_upce(code: str) -> bool:
    """GS1 zero-suppression rules, stated on the UPC-E digits rather than on the UPC-A."""
    d3, d4, d5, d6 = code[3], code[4], code[5], code[6]
    if d6 in "012":
        return True
    if d6 == "3":
        return d3 >= "3"
    if d6 == "4":
        return d4 != "0"
    return d5 != "0"


def symbology_of(length: int) -> str:
    return {v: k for k, v in LENGTH_OF.items()}[length]


# --- check digit ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [("400638133393", 1), ("03600029145", 2), ("9638507", 4), ("1061414199999", 3), ("0", 0), ("1", 7)],
)
def test_check_digit_known_values(body: str, expected: int) -> None:
    assert check_digit(body) == expected


@given(st.text(alphabet="0123456789", min_size=1, max_size=17))
def test_check_digit_makes_weighted_sum_a_multiple_of_ten(body: str) -> None:
    assert _weighted_sum(body + str(check_digit(body))) % 10 == 0


@pytest.mark.parametrize("body", ["", "12a", " 12", "١٢٣"])
def test_check_digit_rejects_non_digits(body: str) -> None:
    with pytest.raises(BarcodeError, match="not digits"):
        check_digit(body)


# --- real-world codes (each verified by computing its check digit) -------------------------------


@pytest.mark.parametrize(
    ("code", "symbology", "gtin14"),
    [
        ("4006381333931", "EAN-13", "04006381333931"),  # Stabilo pen, the usual EAN-13 example
        ("5449000000996", "EAN-13", "05449000000996"),  # Coca-Cola 330 ml can
        ("9780306406157", "EAN-13", "09780306406157"),  # ISBN-13 as Bookland EAN
        ("036000291452", "UPC-A", "00036000291452"),
        ("96385074", "EAN-8", "00000096385074"),
        ("73513537", "EAN-8", "00000073513537"),
        ("04252614", "UPC-E", "00042100005264"),  # expands to UPC-A 042100005264
        ("01234565", "UPC-E", "00012345000065"),
        ("00614141999996", "GTIN-14", "00614141999996"),
        ("10614141999993", "GTIN-14", "10614141999993"),  # indicator 1: a case of the item above
    ],
)
def test_real_world_codes(code: str, symbology: str, gtin14: str) -> None:
    gtin = normalise(code)
    assert (gtin.digits, gtin.symbology) == (gtin14, symbology)
    assert _weighted_sum(gtin14) % 10 == 0
    # A UPC-E check digit belongs to its UPC-A expansion, so only the other codes check on their own.
    assert (_weighted_sum(code) % 10 == 0) or symbology == "UPC-E"
    assert normalise(code, symbology) == gtin


def test_surrounding_whitespace_is_stripped() -> None:
    assert normalise(" \t4006381333931\r\n").digits == "04006381333931"


@pytest.mark.parametrize(
    ("code", "detail"),
    [
        ("4006381333932", "check digit should be 1, got 2"),
        ("036000291453", "check digit should be 2, got 3"),
        ("", "empty barcode"),
        ("   ", "empty barcode"),
        ("4006381 333931", "not digits"),
        ("400638133393a", "not digits"),
        ("400638133393１", "not digits"),  # full-width digit one
        ("４００６３８１３３３９３１", "not digits"),
        ("-4006381333931", "not digits"),
        ("1234567", "8, 12, 13 or 14 digits expected, got 7"),
        ("123456789", "8, 12, 13 or 14 digits expected, got 9"),
        ("12345678901", "8, 12, 13 or 14 digits expected, got 11"),
        ("061414199999611", "8, 12, 13 or 14 digits expected, got 15"),
        ("0000000000000", "all zeros"),
        ("00000000", "all zeros"),
    ],
)
def test_rejections_say_why(code: str, detail: str) -> None:
    with pytest.raises(BarcodeError) as caught:
        normalise(code)
    assert detail in caught.value.detail
    assert caught.value.reason == "bad_barcode"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("code", ["00000000", "000000000000", "0000000000000", "00000000000000"])
def test_all_zeros_rejected_with_one_clear_detail(code: str) -> None:
    for hint in (None, "UPC-E", "EAN-8"):
        with pytest.raises(BarcodeError) as caught:
            normalise(code, hint)
        assert caught.value.detail == "all zeros is not a GTIN"


def test_detail_is_capped_for_the_wire() -> None:
    assert len(BarcodeError("x" * 500).detail) == 120


@pytest.mark.parametrize(
    ("code", "hint", "detail"),
    [
        ("036000291452", "EAN-13", "13 digits expected for EAN-13, got 12"),
        ("4006381333931", "UPC-A", "12 digits expected for UPC-A, got 13"),
        ("96385074", "UPC-E", "number system must be 0 or 1, got 9"),
        ("04252614", "EAN-8", "check digit should be 0, got 4"),
        ("4006381333931", "QR", "unknown symbology 'QR'"),
        ("4006381333931", "ean-13", "unknown symbology"),
    ],
)
def test_hint_is_binding(code: str, hint: str, detail: str) -> None:
    with pytest.raises(BarcodeError) as caught:
        normalise(code, hint)
    assert detail in caught.value.detail


@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=300)))
def test_any_input_either_normalises_or_fails_with_a_short_detail(code: str, hint: str | None) -> None:
    try:
        gtin = normalise(code, hint)
    except BarcodeError as exc:
        assert exc.reason == "bad_barcode"
        assert 0 < len(exc.detail) <= 120
    else:
        assert len(gtin.digits) == 14 and _weighted_sum(gtin.digits) % 10 == 0


# --- round trips and GTIN-14 equivalence ---------------------------------------------------------


@given(st.sampled_from([12, 13, 14]).flatmap(valid))
def test_valid_code_keeps_its_digits(code: str) -> None:
    gtin = normalise(code)
    assert gtin.digits == code.rjust(14, "0")
    assert gtin.symbology == symbology_of(len(code))
    assert str(gtin) == gtin.digits


@given(valid(8))
def test_valid_ean8_keeps_its_digits(code: str) -> None:
    gtin = normalise(code, "EAN-8")
    assert (gtin.digits, gtin.symbology) == (code.rjust(14, "0"), "EAN-8")


@given(valid(13))
def test_ean13_and_zero_padded_gtin14_are_one_key(code: str) -> None:
    a, b = normalise(code), normalise("0" + code)
    assert a == b and hash(a) == hash(b)
    assert (a.symbology, b.symbology) == ("EAN-13", "GTIN-14")


@given(valid(12))
def test_upca_and_zero_padded_ean13_are_one_key(code: str) -> None:
    a, b = normalise(code), normalise("0" + code)
    assert a == b and hash(a) == hash(b)
    assert (a.symbology, b.symbology) == ("UPC-A", "EAN-13")


@given(valid(8))
def test_ean8_and_zero_padded_ean13_are_one_key(code: str) -> None:
    assert normalise(code, "EAN-8") == normalise("00000" + code)


@given(upce())
def test_upce_expand_compress_expand(code: str) -> None:
    upca = expand_upce(code)
    compressed = compress_upca(upca)
    assert compressed is not None
    assert expand_upce(compressed) == upca
    assert (compressed == code) == is_canonical_upce(code)


@given(upce())
def test_upce_normalises_to_its_upca(code: str) -> None:
    gtin = normalise(code, "UPC-E")
    assert gtin.symbology == "UPC-E"
    assert gtin == normalise(expand_upce(code))


def _upce_preimages(upca: str) -> list[str]:
    """Every UPC-E (canonical or not) that expands to `upca`, found by trying each sixth digit."""
    ns, a, check = upca[0], upca, upca[11]
    if ns not in "01":
        return []
    found = []
    for last in "0123456789":
        # Read the six data digits back from where each expansion pattern would have put them.
        if last in "012":
            six = a[1:3] + a[8:11] + last
        elif last == "3":
            six = a[1:4] + a[9:11] + last
        elif last == "4":
            six = a[1:5] + a[10] + last
        else:
            six = a[1:6] + last
        if expand_upce(ns + six + check) == upca:
            found.append(ns + six + check)
    return found


@given(st.one_of(valid(12), upce().map(expand_upce)))
def test_compress_upca_finds_the_canonical_preimage(code: str) -> None:
    preimages = [p for p in _upce_preimages(code) if is_canonical_upce(p)]
    assert len(preimages) <= 1
    assert compress_upca(code) == (preimages[0] if preimages else None)


@pytest.mark.parametrize(
    ("code8", "code12"),
    [
        ("01234505", "012000003455"),
        ("11234522", "112200003452"),
        ("01234531", "012300000451"),
        ("01234543", "012340000053"),
        ("01234565", "012345000065"),
        ("04252614", "042100005264"),
    ],
)
def test_upce_expansion_table(code8: str, code12: str) -> None:
    assert expand_upce(code8) == code12


@pytest.mark.parametrize("code12", ["036000291452", "212345000065", "012345100065", "012340100005", "012345000045"])
def test_compress_none_where_no_upce_exists(code12: str) -> None:
    assert compress_upca(code12) is None


@pytest.mark.parametrize("bad", ["0123456", "012345678", "21234565", "0123456a"])
def test_expand_upce_rejects_bad_input(bad: str) -> None:
    with pytest.raises(BarcodeError):
        expand_upce(bad)


def test_compress_upca_rejects_wrong_length() -> None:
    with pytest.raises(BarcodeError, match="12 digits"):
        compress_upca("4006381333931")


# --- error detection -----------------------------------------------------------------------------


def _substitutions(code: str, positions: range | None = None) -> list[str]:
    return [
        code[:i] + d + code[i + 1 :]
        for i in (positions if positions is not None else range(len(code)))
        for d in "0123456789"
        if d != code[i]
    ]


def _rejected(code: str, hint: str | None) -> bool:
    try:
        normalise(code, hint)
    except BarcodeError:
        return True
    return False


@given(st.sampled_from(list(LENGTH_OF)), st.data())
def test_every_single_digit_substitution_is_caught(symbology: str, data: st.DataObject) -> None:
    code = data.draw(valid(LENGTH_OF[symbology]))
    assert not _rejected(code, symbology)
    for mutated in _substitutions(code):
        assert _rejected(mutated, symbology), mutated
        if symbology != "EAN-8":
            assert _rejected(mutated, None), mutated


@given(upce())
def test_upce_substitutions_caught_except_across_sixth_digit_groups(code: str) -> None:
    assert not _rejected(code, "UPC-E")
    for mutated in _substitutions(code, range(0, 6)) + _substitutions(code, range(7, 8)):
        assert _rejected(mutated, "UPC-E"), mutated

    # Within one group of the sixth digit the expansion pattern is the same, so one UPC-A digit changes.
    group = {d: "0-2" if d in "012" else d if d in "34" else "5-9" for d in "0123456789"}
    for mutated in _substitutions(code, range(6, 7)):
        if group[mutated[6]] == group[code[6]]:
            assert _rejected(mutated, "UPC-E"), mutated


def test_upce_sixth_digit_gap_is_real() -> None:
    # 0 12545 0 expands to 012000005459; changing the sixth digit to 3 gives 012500000459, which also
    # passes: the misread names another product. This is the documented limit of UPC-E, not a bug.
    assert normalise("01254509", "UPC-E").digits == "00012000005459"
    assert normalise("01254539", "UPC-E").digits == "00012500000459"


@given(st.sampled_from([8, 12, 13, 14]).flatmap(valid), st.data())
def test_adjacent_transpositions_caught_unless_digits_differ_by_five(code: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(code) - 2))
    a, b = code[i], code[i + 1]
    swapped = code[:i] + b + a + code[i + 2 :]
    hint = "EAN-8" if len(code) == 8 else None
    if a == b:
        assert not _rejected(swapped, hint)
    else:
        # Weights 3 and 1 alternate, so a swap shifts the sum by 2(a-b): invisible mod 10 iff |a-b| = 5.
        assert _rejected(swapped, hint) == (abs(int(a) - int(b)) != 5)


def test_transposition_of_digits_five_apart_is_missed() -> None:
    # 4006381333931 has 3 and 8 side by side; swapping them yields another valid EAN-13.
    assert normalise("4006831333931").digits == "04006831333931"
    assert _rejected("4006381333913", None)  # 3 and 1 swapped: caught


# --- the unhinted 8-digit rule -------------------------------------------------------------------


def test_eight_digits_valid_only_as_upce_are_upce() -> None:
    assert normalise("04252614").symbology == "UPC-E"


def test_eight_digits_valid_only_as_ean8_are_ean8() -> None:
    assert normalise("96385074").symbology == "EAN-8"
    assert normalise("00000017").symbology == "EAN-8"  # number system 0, but UPC-E check fails


def test_eight_digits_valid_as_both_are_upce_unless_hinted() -> None:
    assert normalise("00010054") == Gtin("00000100000054")
    assert normalise("00010054").symbology == "UPC-E"
    assert normalise("00010054", "EAN-8") == Gtin("00000000010054")


def test_eight_digits_invalid_as_both_report_both() -> None:
    with pytest.raises(BarcodeError) as caught:
        normalise("04252615")
    assert "(EAN-8)" in caught.value.detail and "(UPC-E)" in caught.value.detail


@given(st.one_of(digits(8), valid(8), upce()).filter(lambda c: c != "00000000"))
def test_unhinted_eight_digit_rule(code: str) -> None:
    as_upce = None if _rejected(code, "UPC-E") else normalise(code, "UPC-E")
    as_ean8 = None if _rejected(code, "EAN-8") else normalise(code, "EAN-8")
    expected = as_upce or as_ean8
    if expected is None:
        assert _rejected(code, None)
    else:
        got = normalise(code)
        assert (got, got.symbology) == (expected, expected.symbology)


def test_unhinted_eight_digits_lose_single_substitution_guarantee() -> None:
    # EAN-8 00000017 with its second digit misread as 2 is the valid UPC-E 02000017.
    assert normalise("00000017", "EAN-8").symbology == "EAN-8"
    assert normalise("02000017").symbology == "UPC-E"
    assert _rejected("02000017", "EAN-8")


# --- Gtin value ----------------------------------------------------------------------------------


@pytest.mark.parametrize("digits14", ["4006381333931", "04006381333932", "0400638133393a", "00000000000000"])
def test_gtin_refuses_invalid_digits(digits14: str) -> None:
    with pytest.raises(BarcodeError):
        Gtin(digits14)


def test_gtin_is_frozen() -> None:
    gtin = normalise("4006381333931")
    with pytest.raises(AttributeError):
        gtin.digits = "1"  # type: ignore[misc]
