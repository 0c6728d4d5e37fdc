"""The wiring diagrams and connection tables stay true to the firmware's pin table (firmware/lib/board_esp32.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from provisioning import wiring

ROOT = Path(__file__).resolve().parents[2]
SVG_NS = "{http://www.w3.org/2000/svg}"


def _texts(svg: str) -> list[tuple[str, str]]:
    """(class, text) of every <text> element of an SVG document."""
    root = ET.fromstring(svg.encode())
    return [(t.get("class", ""), t.text or "") for t in root.iter(f"{SVG_NS}text")]


def test_committed_diagrams_and_tables_are_what_the_generator_makes() -> None:
    stale = [str(path.relative_to(ROOT)) for path, text in wiring.outputs().items()
             if not path.exists() or path.read_text() != text]
    assert not stale, f"out of date: {stale}; run: python -m provisioning.wiring"


def test_every_firmware_pin_is_drawn_with_its_gpio_number() -> None:
    pins = wiring.firmware_pins()
    drawn: set[str] = set()
    for device in wiring.DEVICES:
        texts = _texts((wiring.WIRING_DIR / f"{device.kind}.svg").read_text())
        wires = {t for cls, t in texts if cls == "sig"}  # the pin name written on each wire
        board = {t for cls, t in texts if cls == "pin"}  # the pin labels on the board
        for name in wires - {"3V3", "GND"}:
            assert name in pins, f"{device.kind}: wire {name!r} is not a pin of the firmware"
            assert f"GPIO{pins[name]}" in board, f"{device.kind}: {name} should be at GPIO{pins[name]}"
        assert {"3V3", "GND"} <= board, f"{device.kind}: the board's supply pins are not drawn"
        drawn |= wires
    missing = set(pins) - drawn
    assert not missing, f"pins of firmware/lib/board_esp32.py in no diagram: {sorted(missing)}"


def test_hardware_doc_tables_name_the_firmware_gpios() -> None:
    pins = wiring.firmware_pins()
    doc = wiring.HARDWARE_DOC.read_text()
    rows = set(re.findall(r"^\| GPIO (\d+) \| `(\w+)` \|", doc, re.MULTILINE))
    assert {(str(gpio), name) for name, gpio in pins.items()} <= rows
    # The hand-written tables name GPIOs too: every one must be a pin the firmware uses.
    stray = {int(n) for n in re.findall(r"GPIO ?(\d+)", doc)} - set(pins.values())
    assert not stray, f"GPIOs in hardware.md the firmware does not use: {sorted(stray)}"


def test_a_pin_moved_in_the_firmware_moves_in_the_diagram_and_the_table(tmp_path: Path) -> None:
    source = wiring.BOARD_FILE.read_text()
    moved = source.replace('"button": 33,', '"button": 4,')
    assert moved != source
    board = tmp_path / "board_esp32.py"
    board.write_text(moved)
    pins = wiring.firmware_pins(board)
    assert pins["button"] == 4
    out = wiring.outputs(pins)
    dash = out[wiring.WIRING_DIR / "dash_button.svg"]
    board_labels = {t for cls, t in _texts(dash) if cls == "pin"}
    assert "GPIO4" in board_labels and "GPIO33" not in board_labels
    assert "| GPIO 4 | `button` |" in out[wiring.HARDWARE_DOC]


def test_a_diagram_needing_a_pin_the_firmware_lacks_is_an_error(tmp_path: Path) -> None:
    board = tmp_path / "board_esp32.py"
    board.write_text(wiring.BOARD_FILE.read_text().replace('"scanner_en": 13,', ""))
    with pytest.raises(wiring.WiringError, match="scanner_en"):
        wiring.outputs(wiring.firmware_pins(board))
    board.write_text("import machine\n")
    with pytest.raises(wiring.WiringError, match="no PINS"):
        wiring.firmware_pins(board)


def test_diagrams_show_the_firmware_hold_times() -> None:
    setup_s = wiring.hold_seconds("_SETUP_MS")
    factory_s = wiring.hold_seconds("_FACTORY_MS")
    for device in wiring.DEVICES:
        notes = " ".join(t for cls, t in _texts((wiring.WIRING_DIR / f"{device.kind}.svg").read_text())
                         if cls == "note")
        assert f"hold {setup_s} s: setup mode" in notes and f"hold {factory_s} s: factory reset" in notes


def test_check_command_passes_on_the_committed_tree() -> None:
    done = subprocess.run([sys.executable, "-m", "provisioning.wiring", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
