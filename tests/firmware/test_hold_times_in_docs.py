"""The button's hold times have one source, firmware/lib/clicks.py: every doc that quotes one agrees with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from provisioning import wiring

ROOT = Path(__file__).resolve().parents[2]
SIM_DOC = ROOT / "docs" / "sim-board.md"  # quotes the sim board's canned press lengths, not thresholds
DOCS = sorted({*(ROOT / "docs").glob("*.md"), *(ROOT / "docs" / "wiring").glob("*.svg"),
               ROOT / "README.md", ROOT / "firmware" / "README.md"} - {SIM_DOC})
# "6 s hold", "15 s button hold", "hold for 6 s", "held > 1.5 s", "a setup hold is 6 s"
HOLD = re.compile(r"(?P<a>\d+(?:\.\d+)?) ?s\b[^.|\n\d]{0,12}\bhold\b"
                  r"|\b(?:hold|held)\b[^.|\n\d]{0,30}?(?P<b>\d+(?:\.\d+)?) ?s\b", re.IGNORECASE)
KEYWORDS = re.compile(r"setup|factory|long", re.IGNORECASE)


def thresholds() -> dict[str, float]:
    """What each hold means, in seconds, as clicks.py decides it."""
    return {word: wiring.firmware_const(name) / 1000
            for word, name in (("setup", "_SETUP_MS"), ("factory", "_FACTORY_MS"), ("long", "_LONG_MS"))}


def hold_mentions(text: str) -> list[tuple[int, float, str | None]]:
    """(line, seconds, meaning) of each hold time in a text; the meaning is the nearest of setup/factory/long."""
    found = []
    for m in HOLD.finditer(text):
        seconds = float(m.group("a") or m.group("b"))
        lo = max(0, m.start() - 120)
        words = [(min(abs(k.start() + lo - m.start()), abs(k.start() + lo - m.end())), k.group().lower())
                 for k in KEYWORDS.finditer(text[lo: m.end() + 120])]
        found.append((text.count("\n", 0, m.start()) + 1, seconds, min(words)[1] if words else None))
    return found


def test_every_hold_time_in_the_docs_is_the_firmware_one() -> None:
    limits = thresholds()
    wrong, setup_docs = [], set()
    for path in DOCS:
        for line, seconds, meaning in hold_mentions(path.read_text()):
            where = f"{path.relative_to(ROOT)}:{line}"
            if meaning is None:
                if seconds not in limits.values():
                    wrong.append(f"{where}: {seconds:g} s is no hold time of clicks.py {limits}")
            elif seconds != limits[meaning]:
                wrong.append(f"{where}: {meaning} hold {seconds:g} s, clicks.py says {limits[meaning]:g} s")
            elif meaning == "setup":
                setup_docs.add(path.name)
    assert not wrong, "\n".join(wrong)
    # Not vacuous: the maker's guide, the security notes and the diagrams all quote the setup hold.
    assert {"hardware.md", "security.md", "dash_button.svg"} <= setup_docs


def test_the_checker_catches_a_wrong_setup_hold() -> None:
    limits = thresholds()
    text = "The device opens no port (setup mode is an explicit 7 s hold). A 15 s button hold is a factory reset."
    assert [(s, m) for _, s, m in hold_mentions(text)] == [(7.0, "setup"), (15.0, "factory")]
    assert 7.0 != limits["setup"]


def sim_presses() -> dict[str, tuple[int, ...]]:
    """board_sim's canned presses: name -> hold times in ms."""
    m = re.search(r"clicks = (\{[^}]*\})", (ROOT / "firmware" / "lib" / "board_sim.py").read_text())
    assert m, "board_sim.py: no clicks = {...} table"
    presses: dict[str, tuple[int, ...]] = ast.literal_eval(m.group(1))
    return presses


def test_the_sim_boards_presses_are_the_lengths_the_docs_give_and_fall_in_their_windows() -> None:
    """board_sim's canned presses (docs/sim-board.md) must be classified as what they are named."""
    presses = sim_presses()
    limits = thresholds()
    assert limits["long"] < presses["long"][0] / 1000 < limits["setup"]
    assert limits["setup"] <= presses["setup"][0] / 1000 < limits["factory"]
    assert presses["factory"][0] / 1000 >= limits["factory"]
    text = SIM_DOC.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `press click="))
    for kind in ("long", "setup"):
        assert f"{kind} {presses[kind][0] / 1000:g} s" in row, f"sim-board.md: {kind} press length"
    lengths = {ms / 1000 for seq in presses.values() for ms in seq}
    for line, seconds, _ in hold_mentions(text):
        assert seconds in lengths, f"sim-board.md:{line}: a {seconds:g} s hold is none of board_sim's presses"
