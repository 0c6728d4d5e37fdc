"""Wiring diagrams of the three devices, drawn as SVG from the firmware's own pin table.

The GPIO numbers come from `PINS` in firmware/lib/board_esp32.py, read as source text (that module imports
`machine`, which CPython has not), and the button's hold times from firmware/lib/clicks.py. The parts and
their values are the circuit blocks below, which follow docs/hardware.md. So a pin moved in the firmware
moves in the drawings the next time they are generated, and the test that regenerates them
(tests/provisioning/test_wiring.py) fails until the committed files are brought up to date with

    python -m provisioning.wiring          # writes docs/wiring/<device>.svg and the tables in docs/hardware.md
    python -m provisioning.wiring --check  # exit 1 and name the files that differ

The drawing is plain SVG text: no dependency, and the same input always gives the same bytes.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from provisioning.build import FIRMWARE_DIR

BOARD_FILE = FIRMWARE_DIR / "lib" / "board_esp32.py"
CLICKS_FILE = FIRMWARE_DIR / "lib" / "clicks.py"
DOCS_DIR = FIRMWARE_DIR.parent / "docs"
WIRING_DIR = DOCS_DIR / "wiring"
HARDWARE_DOC = DOCS_DIR / "hardware.md"


class WiringError(Exception):
    """The firmware's pin table or constants could not be read."""


# -- what the firmware says -----------------------------------------------------------------------
def firmware_pins(path: Path = BOARD_FILE) -> dict[str, int]:
    """The `PINS` dict of the ESP32 board module: firmware name -> GPIO number."""
    tree = ast.parse(path.read_text(), str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PINS" for t in node.targets):
            pins = ast.literal_eval(node.value)
            if not isinstance(pins, dict) or not all(
                isinstance(k, str) and isinstance(v, int) for k, v in pins.items()
            ):
                raise WiringError(f"{path}: PINS must map names to GPIO numbers")
            return pins
    raise WiringError(f"{path}: no PINS = {{...}} at module level")


def firmware_const(name: str, path: Path = CLICKS_FILE) -> int:
    """A MicroPython `NAME = const(N)` of a firmware module."""
    m = re.search(rf"^{re.escape(name)} = const\((\d+)\)", path.read_text(), re.MULTILINE)
    if m is None:
        raise WiringError(f"{path}: no {name} = const(...)")
    return int(m.group(1))


def hold_seconds(name: str, path: Path = CLICKS_FILE) -> str:
    """A hold threshold of clicks.py in seconds as the docs write it: 6000 -> '6', 1500 -> '1.5'."""
    return f"{firmware_const(name, path) / 1000:g}"


# -- SVG primitives -------------------------------------------------------------------------------
STYLE = """
text { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; font-size: 13px; fill: #1b1b1b; }
.title { font-size: 22px; font-weight: bold; }
.sub { font-size: 12px; fill: #555; }
.block { font-size: 14px; font-weight: bold; fill: #30507a; }
.part { font-size: 12px; }
.note { font-size: 11px; fill: #555; }
.pin { font-size: 13px; font-weight: bold; fill: #fff; }
.pinnote { font-size: 10px; fill: #cfe3d3; }
.sig { font-family: 'DejaVu Sans Mono', monospace; font-size: 12px; fill: #1f4fa0; }
.chip { fill: #f4f4f4; stroke: #333; stroke-width: 1.5; }
.chipname { font-size: 12px; font-weight: bold; }
.chippin { font-size: 11px; fill: #333; }
.frame { fill: none; stroke: #b9c6d6; stroke-width: 1; stroke-dasharray: 5 4; }
.board { fill: #1d5e3a; stroke: #0f3420; stroke-width: 2; }
.module { fill: #c9ccd1; stroke: #777; stroke-width: 1; }
.sym { fill: none; stroke: #1b1b1b; stroke-width: 2; }
.body { fill: #fff; stroke: #1b1b1b; stroke-width: 2; }
.w { fill: none; stroke-width: 2.2; stroke-linejoin: round; stroke-linecap: round; }
.w-sig { stroke: #1f4fa0; }
.w-3v3 { stroke: #c62828; }
.w-gnd { stroke: #1b1b1b; }
.w-vbat { stroke: #e07b00; }
.w-red { stroke: #d32f2f; }
.w-green { stroke: #2e9a3e; }
.w-blue { stroke: #1f5fd0; }
.w-uart { stroke: #7b3fa0; }
.w-white { stroke: #9a9a9a; }
.dot { stroke: none; }
"""
WIRE_COLOURS = {"sig": "#1f4fa0", "3v3": "#c62828", "gnd": "#1b1b1b", "vbat": "#e07b00", "red": "#d32f2f",
                "green": "#2e9a3e", "blue": "#1f5fd0", "uart": "#7b3fa0", "white": "#9a9a9a"}


def _n(v: float) -> str:
    return f"{v:g}"


class Svg:
    """An SVG document built from a few drawing calls; the text is fixed by the calls alone."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, element: str) -> None:
        self.parts.append(element)

    def wire(self, points: list[tuple[float, float]], kind: str = "sig") -> None:
        pts = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
        self.add(f'<polyline class="w w-{kind}" points="{pts}"/>')

    def line(self, x1: float, y1: float, x2: float, y2: float, cls: str = "sym") -> None:
        self.add(f'<line class="{cls}" x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}"/>')

    def rect(self, x: float, y: float, w: float, h: float, cls: str, rx: float = 0) -> None:
        r = f' rx="{_n(rx)}"' if rx else ""
        self.add(f'<rect class="{cls}" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}"{r}/>')

    def text(self, x: float, y: float, s: str, cls: str = "part", anchor: str = "start") -> None:
        a = "" if anchor == "start" else f' text-anchor="{anchor}"'
        self.add(f'<text class="{cls}" x="{_n(x)}" y="{_n(y)}"{a}>{escape(s)}</text>')

    def dot(self, x: float, y: float, kind: str = "sig") -> None:
        self.add(f'<circle class="dot" cx="{_n(x)}" cy="{_n(y)}" r="4" fill="{WIRE_COLOURS[kind]}"/>')

    def path(self, d: str, cls: str = "sym", fill: str | None = None) -> None:
        f = f" fill={quoteattr(fill)}" if fill else ""
        self.add(f'<path class="{cls}" d="{d}"{f}/>')

    def render(self, width: int, height: int, title: str) -> str:
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n"
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>\n'
        )
        return head + "\n".join(self.parts) + "\n</svg>\n"


# -- schematic symbols ----------------------------------------------------------------------------
def gnd(svg: Svg, x: float, y: float) -> None:
    """Ground symbol hanging below (x, y)."""
    svg.line(x, y, x, y + 8, "w w-gnd")
    svg.line(x - 11, y + 8, x + 11, y + 8)
    svg.line(x - 7, y + 13, x + 7, y + 13)
    svg.line(x - 3, y + 18, x + 3, y + 18)


def rail(svg: Svg, x: float, y: float, name: str = "3V3") -> None:
    """A supply net flag above (x, y): a bar with the net's name."""
    kind = "vbat" if name == "VBAT" else "3v3"
    svg.line(x, y, x, y - 10, f"w w-{kind}")
    svg.line(x - 11, y - 10, x + 11, y - 10, f"w w-{kind}")
    svg.text(x, y - 15, name, "chipname", "middle")


def resistor_v(svg: Svg, x: float, y1: float, y2: float, label: str, kind: str = "sig") -> None:
    """Vertical resistor between (x, y1) and (x, y2), labelled on its right."""
    mid = (y1 + y2) / 2
    svg.line(x, y1, x, mid - 18, f"w w-{kind}")
    svg.line(x, mid + 18, x, y2, f"w w-{kind}")
    svg.rect(x - 7, mid - 18, 14, 36, "body")
    svg.text(x + 13, mid + 4, label)


def resistor_h(svg: Svg, x1: float, x2: float, y: float, label: str, kind: str = "sig") -> None:
    """Horizontal resistor between (x1, y) and (x2, y), labelled above."""
    mid = (x1 + x2) / 2
    svg.line(x1, y, mid - 18, y, f"w w-{kind}")
    svg.line(mid + 18, y, x2, y, f"w w-{kind}")
    svg.rect(mid - 18, y - 7, 36, 14, "body")
    svg.text(mid, y - 12, label, "part", "middle")


def capacitor_v(svg: Svg, x: float, y1: float, y2: float, label: str, kind: str = "sig") -> None:
    """Vertical capacitor between (x, y1) and (x, y2)."""
    mid = (y1 + y2) / 2
    svg.line(x, y1, x, mid - 4, f"w w-{kind}")
    svg.line(x, mid + 4, x, y2, "w w-gnd")
    svg.line(x - 12, mid - 4, x + 12, mid - 4)
    svg.line(x - 12, mid + 4, x + 12, mid + 4)
    svg.text(x + 16, mid + 4, label)


def switch_v(svg: Svg, x: float, y1: float, y2: float, label: str, kinds: tuple[str, str] = ("sig", "gnd")) -> None:
    """Vertical push switch (normally open) between (x, y1) and (x, y2), labelled on its right."""
    mid = (y1 + y2) / 2
    svg.line(x, y1, x, mid - 12, f"w w-{kinds[0]}")
    svg.line(x, mid + 12, x, y2, f"w w-{kinds[1]}")
    svg.add(f'<circle class="body" cx="{_n(x)}" cy="{_n(mid - 12)}" r="3"/>')
    svg.add(f'<circle class="body" cx="{_n(x)}" cy="{_n(mid + 12)}" r="3"/>')
    svg.line(x + 2, mid + 10, x + 14, mid - 12)
    svg.line(x + 8, mid - 1, x + 20, mid - 1)  # the push actuator
    svg.text(x + 24, mid + 4, label)


def led_h(svg: Svg, x: float, y: float, colour: str) -> None:
    """LED from anode (x, y) to cathode (x + 44, y), filled in its colour."""
    svg.line(x, y, x + 12, y, f"w w-{colour}")
    svg.path(f"M{_n(x + 12)},{_n(y - 10)} L{_n(x + 30)},{_n(y)} L{_n(x + 12)},{_n(y + 10)} Z",
             "sym", WIRE_COLOURS[colour])
    svg.line(x + 30, y - 10, x + 30, y + 10)
    svg.line(x + 30, y, x + 44, y, "w w-gnd")
    for dx in (16, 24):  # the light
        svg.line(x + dx, y - 12, x + dx + 7, y - 19)
        svg.path(f"M{_n(x + dx + 7)},{_n(y - 19)} l-5,1 l4,4 Z", "sym", "#1b1b1b")


def diode_left(svg: Svg, x1: float, x2: float, y: float) -> None:
    """Diode between (x1, y) and (x2, y) conducting leftwards (cathode at x1)."""
    mid = (x1 + x2) / 2
    svg.line(x1, y, mid - 9, y, "w w-sig")
    svg.line(mid + 9, y, x2, y, "w w-sig")
    svg.path(f"M{_n(mid + 9)},{_n(y - 9)} L{_n(mid - 9)},{_n(y)} L{_n(mid + 9)},{_n(y + 9)} Z", "body")
    svg.line(mid - 9, y - 9, mid - 9, y + 9)


def battery_v(svg: Svg, x: float, y1: float, y2: float, label: list[str]) -> None:
    """Battery cell between + at (x, y1) and - at (x, y2), labelled on its right."""
    mid = (y1 + y2) / 2
    svg.line(x, y1, x, mid - 5, "w w-vbat")
    svg.line(x, mid + 5, x, y2, "w w-gnd")
    svg.line(x - 16, mid - 5, x + 16, mid - 5)
    svg.add(f'<line class="sym" x1="{_n(x - 8)}" y1="{_n(mid + 5)}" x2="{_n(x + 8)}" y2="{_n(mid + 5)}" '
            'stroke-width="5"/>')
    svg.text(x - 20, mid - 8, "+", "chipname", "end")
    for i, s in enumerate(label):
        svg.text(x + 24, mid - 6 + 15 * i, s)


def flag(svg: Svg, x: float, y: float, text: str, point: str) -> None:
    """An off-sheet connector at (x, y): the net continues where another flag has the same text."""
    w = 7.5 * len(text) + 14
    if point == "right":
        d = f"M{_n(x)},{_n(y - 9)} h{_n(w)} l9,9 l-9,9 h{_n(-w)} Z"
        tx = x + 6
    else:
        d = f"M{_n(x)},{_n(y)} l9,-9 h{_n(w)} v18 h{_n(-w)} Z"
        tx = x + 14
    svg.path(d, "body")
    svg.text(tx, y + 4, text, "chippin")


@dataclass
class Chip:
    """A module or IC drawn as a box with named pins; pin(name) is where a wire attaches."""

    svg: Svg
    x: float
    y: float
    w: float
    h: float
    name: list[str]
    left: dict[str, float] = field(default_factory=dict)  # pin -> y
    right: dict[str, float] = field(default_factory=dict)
    top: dict[str, float] = field(default_factory=dict)  # pin -> x
    bottom: dict[str, float] = field(default_factory=dict)

    def draw(self) -> Chip:
        s = self.svg
        s.rect(self.x, self.y, self.w, self.h, "chip", 4)
        cy = self.y + self.h / 2 - 7.5 * (len(self.name) - 1)
        for i, line in enumerate(self.name):
            s.text(self.x + self.w / 2, cy + 15 * i + 4, line, "chipname" if i == 0 else "note", "middle")
        for pin, py in self.left.items():
            s.text(self.x + 5, py + 4, pin, "chippin")
        for pin, py in self.right.items():
            s.text(self.x + self.w - 5, py + 4, pin, "chippin", "end")
        for pin, px in self.top.items():
            s.text(px, self.y + 14, pin, "chippin", "middle")
        for pin, px in self.bottom.items():
            s.text(px, self.y + self.h - 5, pin, "chippin", "middle")
        return self

    def pin(self, name: str) -> tuple[float, float]:
        if name in self.left:
            return self.x, self.left[name]
        if name in self.right:
            return self.x + self.w, self.right[name]
        if name in self.top:
            return self.top[name], self.y
        return self.bottom[name], self.y + self.h


# -- circuit blocks -------------------------------------------------------------------------------
# Each block draws one part of a device to the right of the board, starting at x = IN (where the wires
# from the board's pins arrive), and says which board pins it uses, on which row, and what they go to.
IN = 400
FRAME_X, FRAME_W = 372, 608


@dataclass(frozen=True)
class Port:
    """A board pin a block uses: firmware pin name (or a supply pin such as '3V3'), its row, its wire colour."""

    name: str
    y: float
    kind: str
    goes_to: str


@dataclass(frozen=True)
class Drawn:
    height: float
    ports: list[Port]


Draw = Callable[[Svg, float], Drawn]


@dataclass(frozen=True)
class Block:
    title: str
    draw: Draw


def _frame(svg: Svg, y0: float, height: float, title: str) -> None:
    svg.rect(FRAME_X, y0, FRAME_W, height - 12, "frame", 6)
    svg.text(FRAME_X + 10, y0 + 20, title, "block")


def button_block(trigger_diode: bool = False) -> Block:
    setup_s, factory_s, long_s = (hold_seconds(n) for n in ("_SETUP_MS", "_FACTORY_MS", "_LONG_MS"))

    def draw(svg: Svg, y0: float) -> Drawn:
        r = y0 + 92
        end = 660 if trigger_diode else 640
        svg.wire([(IN, r), (end, r)])
        svg.dot(470, r)
        svg.dot(555, r)
        resistor_v(svg, 470, r, y0 + 50, "100 kΩ", "3v3")
        rail(svg, 470, y0 + 50)
        capacitor_v(svg, 555, r, r + 44, "100 nF")
        gnd(svg, 555, r + 44)
        switch_v(svg, end if not trigger_diode else 640, r, r + 60, "S1 button")
        gnd(svg, 640, r + 60)
        svg.text(560, y0 + 44, f"press, double press; hold > {long_s} s: long press", "note")
        svg.text(560, y0 + 58, f"hold {setup_s} s: setup mode · hold {factory_s} s: factory reset", "note")
        goes = "S1 to GND; 100 kΩ pull-up to 3V3; 100 nF to GND"
        if trigger_diode:
            svg.dot(640, r)
            diode_left(svg, 660, 740, r)
            svg.text(700, r - 14, "D1 1N4148", "part", "middle")
            flag(svg, 740, r, "scanner TRIG", "right")
            goes += "; D1 (cathode) to the scanner's TRIG"
        return Drawn(186, [Port("button", r, "sig", goes)])

    return Block("Button: wakes the ESP32 (ext0)", draw)


def led_block() -> Block:
    def draw(svg: Svg, y0: float) -> Drawn:
        rows = {"led_r": (y0 + 58, "red", "330 Ω"), "led_g": (y0 + 100, "green", "150 Ω"),
                "led_b": (y0 + 142, "blue", "150 Ω")}
        ports = []
        for name, (y, colour, ohms) in rows.items():
            svg.wire([(IN, y), (470, y)], colour)
            resistor_h(svg, 470, 560, y, ohms, colour)
            svg.wire([(560, y), (620, y)], colour)
            led_h(svg, 620, y, colour)
            ports.append(Port(name, y, colour, f"{ohms} to the {colour} anode of the RGB LED"))
        bottom = y0 + 142
        svg.wire([(664, y0 + 58), (720, y0 + 58), (720, bottom + 20)], "gnd")
        svg.wire([(664, y0 + 100), (720, y0 + 100)], "gnd")
        svg.wire([(664, bottom), (720, bottom)], "gnd")
        svg.dot(720, y0 + 100, "gnd")
        svg.dot(720, bottom, "gnd")
        gnd(svg, 720, bottom + 20)
        svg.text(740, y0 + 96, "RGB LED, 5 mm,", "part")
        svg.text(740, y0 + 111, "common cathode to GND", "part")
        svg.text(740, y0 + 130, "amber = red + green", "note")
        return Drawn(196, ports)

    return Block("RGB LED: feedback", draw)


def battery_sense_block() -> Block:
    def draw(svg: Svg, y0: float) -> Drawn:
        r = y0 + 104
        svg.wire([(IN, r), (580, r)])
        svg.dot(480, r)
        resistor_v(svg, 480, y0 + 52, r, "R1 1 MΩ", "vbat")
        rail(svg, 480, y0 + 52, "VBAT")
        resistor_v(svg, 480, r, r + 62, "R2 1 MΩ")
        gnd(svg, 480, r + 62)
        capacitor_v(svg, 580, r, r + 44, "100 nF")
        gnd(svg, 580, r + 44)
        svg.text(660, r - 13, "the divider halves the battery voltage", "note")
        svg.text(660, r + 1, "for ADC1 (11 dB) and draws under 2 µA", "note")
        goes = "middle of the 1 MΩ / 1 MΩ divider from VBAT to GND; 100 nF to GND"
        return Drawn(200, [Port("battery", r, "sig", goes)])

    return Block("Battery sense", draw)


def lifepo4_block() -> Block:
    def draw(svg: Svg, y0: float) -> Drawn:
        top, bottom = y0 + 58, y0 + 150
        svg.wire([(IN, top), (620, top), (620, top + 22)], "3v3")
        svg.dot(520, top, "3v3")
        svg.line(520, top, 520, top - 8, "w w-vbat")
        svg.text(520, top - 14, "VBAT", "chipname", "middle")
        battery_v(svg, 620, top + 22, bottom - 20,
                  ["B1 LiFePO4 18650, 1500 mAh, 3.2 V", "straight to 3V3: no regulator"])
        svg.wire([(620, bottom - 20), (620, bottom), (IN, bottom)], "gnd")
        return Drawn(186, [Port("3V3", top, "3v3", "battery + (LiFePO4, 3.0 … 3.6 V): VBAT is 3V3 here"),
                           Port("GND", bottom, "gnd", "battery −")])

    return Block("Power: one LiFePO4 cell, no regulator", draw)


def liion_block(charger: bool) -> Block:
    def draw(svg: Svg, y0: float) -> Drawn:
        top, bottom = y0 + 66, y0 + 170
        ldo = Chip(svg, 460, top - 22, 160, 70, ["U1 HT7833", "LDO, 4 µA"], left={"OUT": top}, right={"IN": top},
                   bottom={"GND": 540}).draw()
        svg.wire([(IN, top), ldo.pin("OUT")], "3v3")
        svg.wire([ldo.pin("GND"), (540, bottom)], "gnd")
        svg.dot(540, bottom, "gnd")
        bx = 690
        svg.wire([ldo.pin("IN"), (830 if charger else bx, top)], "vbat")
        svg.dot(650, top, "vbat")
        svg.line(650, top, 650, top - 10, "w w-vbat")
        svg.text(650, top - 15, "VBAT", "chipname", "middle")
        svg.wire([(bx, top), (bx, top + 24)], "vbat")
        battery_v(svg, bx, top + 24, bottom - 24, ["B1 Li-ion 18650", "2600 mAh"])
        svg.wire([(bx, bottom - 24), (bx, bottom)], "gnd")
        end = 830 if charger else bx
        svg.wire([(IN, bottom), (end, bottom)], "gnd")
        if charger:
            svg.dot(bx, top, "vbat")
            svg.dot(bx, bottom, "gnd")
            Chip(svg, 830, top - 20, 120, bottom - top + 40, ["U2 TP4056", "charger", "USB-C 5 V in"],
                 left={"B+": top, "B−": bottom}).draw()
        else:
            svg.text(540, bottom + 26, "or a 5 V USB supply into U1 IN instead of B1", "note")
        goes = "U1 HT7833 OUT (IN from VBAT, the battery +)"
        return Drawn(214 if not charger else 204, [Port("3V3", top, "3v3", goes), Port("GND", bottom, "gnd",
                                                     "battery −, U1 GND" + (", U2 B−" if charger else ""))])

    title = "Power: Li-ion cell, LDO" + (", USB-C charger" if charger else "")
    return Block(title, draw)


def buzzer_block() -> Block:
    def draw(svg: Svg, y0: float) -> Drawn:
        r = y0 + 140
        svg.wire([(IN, r), (460, r)])
        resistor_h(svg, 460, 550, r, "1 kΩ")
        q = Chip(svg, 570, r - 36, 110, 72, ["Q1 2N3904", "NPN"], left={"B": r}, top={"C": 625},
                 bottom={"E": 625}).draw()
        svg.wire([(550, r), q.pin("B")])
        cx, cy = q.pin("C")
        svg.wire([(cx, cy), (cx, cy - 16)])
        svg.rect(cx - 14, cy - 46, 28, 30, "body", 3)  # the piezo disc
        svg.add(f'<circle class="sym" cx="{_n(cx)}" cy="{_n(cy - 31)}" r="8"/>')
        svg.wire([(cx, cy - 46), (cx, cy - 56)], "3v3")
        rail(svg, cx, cy - 56)
        svg.text(cx + 22, cy - 27, "LS1 piezo buzzer", "part")
        ex, ey = q.pin("E")
        gnd(svg, ex, ey)
        svg.text(710, r + 4, "PWM square wave; the transistor", "note")
        svg.text(710, r + 18, "lets the buzzer draw from 3V3", "note")
        return Drawn(214, [Port("buzzer", r, "sig", "1 kΩ to the base of Q1 2N3904; piezo from 3V3 to its collector")])

    return Block("Buzzer", draw)


def scanner_block() -> Block:
    def draw(svg: Svg, y0: float) -> Drawn:
        en, vcc, rx, tx, trig, g = (y0 + v for v in (92, 150, 190, 230, 270, 310))
        svg.wire([(IN, en), (520, en)])
        svg.dot(460, en)
        resistor_v(svg, 460, en, y0 + 50, "100 kΩ", "3v3")
        rail(svg, 460, y0 + 50)
        q = Chip(svg, 520, en - 22, 120, 70, ["Q2 AO3401", "P-MOSFET"], left={"G": en}, top={"S": 580},
                 bottom={"D": 580}).draw()
        sx, sy = q.pin("S")
        svg.wire([(sx, sy), (sx, sy - 8)], "3v3")
        rail(svg, sx, sy - 8)
        scan = Chip(svg, 760, vcc - 24, 190, g - vcc + 48, ["GM65 / GM805", "barcode scanner", "9600 8N1, CR"],
                    left={"VCC": vcc, "TX": rx, "RX": tx, "TRIG": trig, "GND": g}).draw()
        dx, dy = q.pin("D")
        svg.wire([(dx, dy), (dx, vcc), scan.pin("VCC")], "3v3")
        svg.wire([(IN, rx), scan.pin("TX")], "uart")
        svg.wire([(IN, tx), scan.pin("RX")], "uart")
        svg.wire([(650, trig), scan.pin("TRIG")])
        flag(svg, 560, trig, "D1 (button)", "left")
        tx_, ty = scan.pin("GND")
        svg.wire([(tx_, ty), (730, ty)], "gnd")
        gnd(svg, 730, ty)
        svg.text(470, g + 4, "scanner powered only while awake", "note")
        return Drawn(350, [
            Port("scanner_en", en, "sig", "gate of Q2 AO3401 (100 kΩ pull-up to 3V3); low powers the scanner"),
            Port("uart_rx", rx, "uart", "scanner TX"),
            Port("uart_tx", tx, "uart", "scanner RX"),
        ])

    return Block("Barcode scanner (UART, switched power)", draw)


def hx711_block() -> Block:
    def draw(svg: Svg, y0: float) -> Drawn:
        dout, sck, vcc, g = (y0 + v for v in (62, 100, 150, 182))
        hx = Chip(svg, 560, y0 + 38, 140, 170, ["HX711", "ch. A, gain 128"],
                  left={"DOUT": dout, "SCK": sck, "VCC": vcc, "GND": g},
                  right={"E+": dout, "E−": sck, "A−": vcc, "A+": g}).draw()
        svg.wire([(IN, dout), hx.pin("DOUT")])
        svg.wire([(IN, sck), hx.pin("SCK")])
        svg.wire([hx.pin("VCC"), (520, vcc)], "3v3")
        rail(svg, 520, vcc)
        svg.wire([hx.pin("GND"), (490, g)], "gnd")
        gnd(svg, 490, g)
        cell = Chip(svg, 820, y0 + 38, 130, 170, ["load cell", "bar, 1 kg / 5 kg"], left={
            "red": dout, "black": sck, "white": vcc, "green": g}).draw()
        for pin, colour in (("E+", "red"), ("E−", "gnd"), ("A−", "white"), ("A+", "green")):
            x1, y = hx.pin(pin)
            svg.wire([(x1, y), (cell.x, y)], colour)
        return Drawn(232, [Port("hx_dout", dout, "sig", "HX711 DOUT"),
                           Port("hx_sck", sck, "sig", "HX711 SCK (held high in deep sleep: HX711 off)")])

    return Block("Load cell amplifier (fit this or the pulse input)", draw)


def pulse_block() -> Block:
    def draw(svg: Svg, y0: float) -> Drawn:
        r = y0 + 104
        svg.wire([(IN, r), (600, r)])
        svg.dot(480, r)
        resistor_v(svg, 480, r, r + 60, "100 kΩ")
        gnd(svg, 480, r + 60)
        switch_v(svg, 600, y0 + 50, r, "S2 reed switch, vibration", ("3v3", "sig"))
        svg.text(624, y0 + 96, "or current sensor contact", "part")
        rail(svg, 600, y0 + 50)
        svg.text(624, r + 30, "closed = a pulse (wakes the ESP32, ext1)", "note")
        return Drawn(186, [Port("pulse", r, "sig", "S2 to 3V3 (reed / vibration / current switch); 100 kΩ to GND")])

    return Block("Pulse input (or the load cell)", draw)


# -- devices --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Device:
    kind: str
    title: str
    blocks: Callable[[], list[Block]]  # built on demand: blocks read the firmware's constants


DEVICES = (
    Device("dash_button", "Dash button",
           lambda: [button_block(), led_block(), battery_sense_block(), lifepo4_block()]),
    Device("barcode_wand", "Barcode wand",
           lambda: [button_block(trigger_diode=True), scanner_block(), buzzer_block(), led_block(),
                    battery_sense_block(), liion_block(charger=True)]),
    Device("appliance_sensor", "Appliance sensor",
           lambda: [hx711_block(), pulse_block(), button_block(), led_block(), battery_sense_block(),
                    liion_block(charger=False)]),
)
BOARD_X, BOARD_W = 40, 200
PIN_NOTES = {"button": "RTC · ext0 wake", "pulse": "RTC · ext1 wake", "battery": "ADC1", "buzzer": "PWM",
             "uart_rx": "UART1 RX", "uart_tx": "UART1 TX"}


@dataclass(frozen=True)
class Diagram:
    device: Device
    svg: str
    ports: list[Port]


def draw_device(device: Device, pins: dict[str, int]) -> Diagram:
    """The device's wiring diagram; every GPIO number comes from `pins` (the firmware's PINS)."""
    svg = Svg()
    y = 96.0
    ports: list[Port] = []
    for block in device.blocks():
        start = len(svg.parts)
        drawn = block.draw(svg, y)
        frame = Svg()  # drawn under the block, once its height is known
        _frame(frame, y, drawn.height, block.title)
        svg.parts[start:start] = frame.parts
        ports += drawn.ports
        y += drawn.height
    height = int(y + 56)
    top, bottom = ports[0].y - 74, max(p.y for p in ports) + 40
    board = Svg()
    board.rect(BOARD_X, top, BOARD_W, bottom - top, "board", 10)
    board.rect(BOARD_X + 70, top - 10, 60, 18, "module", 3)  # USB-C
    board.rect(BOARD_X + 22, top + 18, BOARD_W - 44, 38, "module", 2)
    board.text(BOARD_X + BOARD_W / 2, top + 35, "ESP32-WROOM-32E", "chipname", "middle")
    board.text(BOARD_X + BOARD_W / 2, top + 50, "FireBeetle 2 ESP32-E", "note", "middle")
    for p in ports:
        label = p.name if p.name in ("3V3", "GND") else f"GPIO{gpio(pins, p.name)}"
        board.text(BOARD_X + BOARD_W - 14, p.y + 1, label, "pin", "end")
        if p.name in PIN_NOTES:
            board.text(BOARD_X + BOARD_W - 14, p.y + 14, PIN_NOTES[p.name], "pinnote", "end")
        board.rect(BOARD_X + BOARD_W - 8, p.y - 5, 10, 10, "module", 1)
        board.wire([(BOARD_X + BOARD_W + 2, p.y), (IN, p.y)], p.kind)
        board.text(BOARD_X + BOARD_W + 14, p.y - 7, p.name, "sig")
    svg.parts[:0] = board.parts
    title = f"{device.title}: wiring"
    head = Svg()
    head.text(40, 40, title, "title")
    head.text(40, 62, "GPIO numbers from firmware/lib/board_esp32.py (PINS); a device's config.json \"pins\" "
              "overrides them. Everything runs at 3.3 V.", "sub")
    head.text(40, height - 24, "Generated by python -m provisioning.wiring: edit the firmware's PINS or "
              "provisioning/wiring.py, not this file.", "sub")
    svg.parts[:0] = head.parts
    return Diagram(device, svg.render(1000, height, title), ports)


def gpio(pins: dict[str, int], name: str) -> int:
    if name not in pins:
        raise WiringError(f"the diagram uses pin {name!r}, which firmware/lib/board_esp32.py PINS does not define")
    return pins[name]


# -- the connection tables in docs/hardware.md ----------------------------------------------------
def markdown_table(diagram: Diagram, pins: dict[str, int]) -> str:
    """The diagram's connections as a Markdown table (for readers and screen readers)."""
    kind = diagram.device.kind
    lines = [f"![{diagram.device.title} wiring diagram](wiring/{kind}.svg)", "",
             "| ESP32 pin | firmware name | goes to |", "|---|---|---|"]
    for p in diagram.ports:
        pin, name = (p.name, "—") if p.name in ("3V3", "GND") else (f"GPIO {gpio(pins, p.name)}", f"`{p.name}`")
        lines.append(f"| {pin} | {name} | {p.goes_to} |")
    return "\n".join(lines)


def _markers(kind: str) -> tuple[str, str]:
    return f"<!-- wiring:{kind} (generated by python -m provisioning.wiring) -->", f"<!-- /wiring:{kind} -->"


def hardware_doc(text: str, diagrams: list[Diagram], pins: dict[str, int]) -> str:
    """docs/hardware.md with each device's generated block replaced; every device must have its markers."""
    for d in diagrams:
        begin, end = _markers(d.device.kind)
        i, j = text.find(begin), text.find(end)
        if i < 0 or j < i:
            raise WiringError(f"{HARDWARE_DOC.name} has no {begin} … {end} block for {d.device.kind}")
        text = text[: i + len(begin)] + "\n" + markdown_table(d, pins) + "\n" + text[j:]
    return text


def outputs(pins: dict[str, int] | None = None, doc_text: str | None = None) -> dict[Path, str]:
    """Every generated file: path -> the text it must have."""
    pins = firmware_pins() if pins is None else pins
    diagrams = [draw_device(d, pins) for d in DEVICES]
    files = {WIRING_DIR / f"{d.device.kind}.svg": d.svg for d in diagrams}
    files[HARDWARE_DOC] = hardware_doc(HARDWARE_DOC.read_text() if doc_text is None else doc_text, diagrams, pins)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning.wiring", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ (exit 1)")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    root = FIRMWARE_DIR.parent
    for path in stale:
        print(("differs: " if args.check else "wrote ") + str(path.relative_to(root)))
    if args.check and stale:
        print("run: python -m provisioning.wiring", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
