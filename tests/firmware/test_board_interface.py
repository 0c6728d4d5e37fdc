"""Both boards implement exactly the interface board.py declares, and apps use nothing else of a board.

The declaration is the `if False:` block of firmware/lib/board.py (compiled away on the device); these
tests read it and both board modules as source (board_esp32 imports machine, which CPython lacks), then
run the sim board under the Unix port and call every declared member.
"""

from __future__ import annotations

import ast
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.broker.mosquitto import free_port
from tests.firmware.fwproc import FIRMWARE, micropython_binary

LIB = FIRMWARE / "lib"
# modules that are a board, or only run on the sim: everything else is app code and goes through the interface
BOARD_SIDE = {"board", "board_esp32", "board_sim", "board_sim_io", "sim_romfs"}


@dataclass(frozen=True)
class Param:
    name: str
    default: object  # NO_DEFAULT for a required parameter


NO_DEFAULT = object()


def _class(tree: ast.AST, name: str) -> ast.ClassDef:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(f"no class {name}")


def _params(fn: ast.FunctionDef) -> tuple[Param, ...]:
    args = fn.args.args[1:]  # without self
    defaults = [NO_DEFAULT] * (len(args) - len(fn.args.defaults)) + [ast.literal_eval(d) for d in fn.args.defaults]
    return tuple(Param(a.arg, d) for a, d in zip(args, defaults, strict=True))


def members(cls: ast.ClassDef) -> dict[str, tuple[Param, ...] | None]:
    """Public names the class body defines: methods -> parameters, attributes -> None."""
    found: dict[str, tuple[Param, ...] | None] = {}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            found[node.name] = _params(node)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name) and not t.id.startswith("_"):
                    found[t.id] = None
    return found


def instance_attributes(cls: ast.ClassDef) -> set[str]:
    """Public attributes __init__ assigns on self."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return set()
    return {t.attr for n in ast.walk(init) if isinstance(n, ast.Assign) for t in n.targets
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
            and not t.attr.startswith("_")}


def declared() -> dict[str, dict[str, tuple[Param, ...] | None]]:
    """The interface: class name (Board, Pin, WLAN) -> members, from board.py's `if False:` block."""
    tree = ast.parse((LIB / "board.py").read_text())
    blocks = [n for n in tree.body
              if isinstance(n, ast.If) and isinstance(n.test, ast.Constant) and n.test.value is False]
    assert len(blocks) == 1, "board.py declares the interface in one `if False:` block"
    return {n.name: members(n) for n in blocks[0].body if isinstance(n, ast.ClassDef)}


def board_class(module: str, name: str = "Board") -> ast.ClassDef:
    return _class(ast.parse((LIB / f"{module}.py").read_text()), name)


def test_the_declaration_names_every_part() -> None:
    api = declared()
    assert set(api) == {"Board", "Pin", "WLAN"}
    assert {"path", "deepsleep", "battery_mv", "wlan", "led", "next_edge", "setup_ap"} <= set(api["Board"])


@pytest.mark.parametrize("module", ["board_esp32", "board_sim"])
def test_board_defines_exactly_the_declared_members(module: str) -> None:
    api = declared()
    cls = board_class(module)
    have = members(cls)
    want = dict(api["Board"])
    if module == "board_sim":
        want |= api["WLAN"]  # the sim board is its own WLAN: wlan() returns the board
    # a declared attribute may be set per instance (the sim's setup port comes from its environment)
    attrs = {n for n, sig in want.items() if sig is None}
    have |= {n: None for n in instance_attributes(cls) & attrs}
    assert set(have) == set(want), (
        f"{module}.Board: missing {sorted(set(want) - set(have))}, undeclared {sorted(set(have) - set(want))}")
    for name, sig in want.items():
        assert compatible(have[name], sig), f"{module}.Board.{name}{have[name]} does not match board.py's {sig}"
    assert not {n.name for n in cls.body if isinstance(n, ast.FunctionDef)} & {"__getattr__", "__getattribute__"}, (
        f"{module}.Board hands out names through __getattr__: define each member")


def compatible(have: tuple[Param, ...] | None, want: tuple[Param, ...] | None) -> bool:
    """Same arity; parameters with a default (the ones apps may pass by keyword) by name and default."""
    if have is None or want is None:
        return have is want
    if len(have) != len(want):
        return False
    return all((h.default is NO_DEFAULT) == (w.default is NO_DEFAULT)
               and (w.default is NO_DEFAULT or (h.name, h.default) == (w.name, w.default))
               for h, w in zip(have, want, strict=True))


def test_a_signature_mismatch_is_found() -> None:
    deep = declared()["Board"]["deepsleep"]
    assert deep is not None
    renamed = (deep[0], Param("wake_button", True), deep[2])
    assert not compatible(renamed, deep)
    assert not compatible(deep[:2], deep)
    assert compatible(deep, deep)


def test_sim_pin_is_a_declared_pin() -> None:
    have = members(board_class("board_sim_io", "SimPin"))
    want = declared()["Pin"]
    assert set(have) == set(want)
    assert all(compatible(have[n], want[n]) for n in want)


def board_uses(tree: ast.AST) -> dict[str, set[str]]:
    """Attributes app code reads on a board (`board.x`, `self.board.x`) and on its WLAN (`self.wlan.x`)."""
    used: dict[str, set[str]] = {"Board": set(), "WLAN": set()}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        v = node.value
        if isinstance(v, ast.Name) and v.id == "board" or isinstance(v, ast.Attribute) and v.attr == "board":
            used["Board"].add(node.attr)
        elif isinstance(v, ast.Attribute) and v.attr == "wlan":
            used["WLAN"].add(node.attr)
    return used


def test_apps_use_only_declared_members() -> None:
    api = declared()
    sources = [p for p in FIRMWARE.glob("*/*.py") if p.stem not in BOARD_SIDE and p.name != "manifest.py"]
    assert len(sources) > 15
    for src in sources:
        for part, names in board_uses(ast.parse(src.read_text())).items():
            names.discard("load")  # board.load(): the module, not the board (fwslot.run)
            undeclared = names - set(api[part])
            where = src.relative_to(FIRMWARE)
            assert not undeclared, f"{where} uses {part} members board.py does not declare: {undeclared}"


# Calls every declared member of the sim board once, in an order that leaves each call meaningful.
CALLS = """
import board_sim
b = board_sim.Board()
def show(name, value):
    print("=", name, repr(value))
show("name", b.name)
show("path", b.path("x.json"))
show("ticks_ms", b.ticks_ms())
show("uptime_s", b.uptime_s())
show("sleep_ms", b.sleep_ms(5))
show("wake_reason", b.wake_reason())
show("note", b.note("test", "hello"))
show("next_edge", b.next_edge(b.ticks_ms()))
show("edge_pending", b.edge_pending())
show("pressed", b.pressed())
show("uart_line", b.uart_line())
p = b.pin("hx_sck", 1)
show("pin", p.value(1))
show("value", b.pin("hx_dout", 0).value())
show("irq", b.pin("pulse", 0).irq(lambda pin: None))
show("hold", b.hold("hx_sck", 1))
show("led", b.led("red"))
show("buzz", b.buzz(2000, 5))
show("battery_mv", b.battery_mv())
show("rtc_write", b.rtc_write(b"abc"))
show("rtc_read", b.rtc_read())
show("use_pins", b.use_pins({"button": 4}))
w = b.wlan()
show("wlan", w is b)
show("active", w.active(True))
show("connect", w.connect("home", "password"))
show("isconnected", w.isconnected())
show("status", w.status("rssi"))
show("scan", len(w.scan()))
show("setup_ap", b.setup_ap("restock-x", "12345678"))
show("setup_off", b.setup_ap(None))
s = b.tcp("127.0.0.1", PORT, 2000)
show("tcp", s is not None)
show("wait", b.wait(s, 10))
show("disconnect", w.disconnect())
show("deepsleep", b.deepsleep(20, button=True))
show("after_sleep", (b.wake_reason(), w.isconnected()))
"""

EXPECTED = {
    "name": "'sim'", "path": None, "wake_reason": "'power'", "next_edge": "None", "edge_pending": "False",
    "pressed": "0", "uart_line": "None", "value": "0", "battery_mv": "4000",
    "rtc_read": "b'abc'", "wlan": "True", "active": "True", "isconnected": "True", "status": "-55", "scan": "1",
    "tcp": "True", "wait": "False", "after_sleep": "('timer', False)",
}


@pytest.mark.firmware
def test_sim_board_answers_every_declared_member(tmp_path: Path) -> None:
    api = declared()
    setup_port = free_port()
    with socket.socket() as listener:  # tcp() needs something to connect to; the backlog accepts it
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        script = tmp_path / "calls.py"
        script.write_text(f"PORT = {listener.getsockname()[1]}\n" + CALLS)
        env = dict(os.environ, MICROPYPATH=f"{LIB}:.frozen", RESTOCK_SIM_FLASH=str(tmp_path / "flash"),
                   RESTOCK_SIM_PORT=str(free_port()), RESTOCK_SIM_SETUP_PORT=str(setup_port))
        proc = subprocess.run([micropython_binary(), str(script)], env=env, capture_output=True, text=True,
                              timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = dict(line[2:].split(" ", 1) for line in proc.stdout.splitlines() if line.startswith("= "))
    called = set(shown) - {"after_sleep", "setup_off"}
    every = set(api["Board"]) | set(api["Pin"]) | set(api["WLAN"])
    assert called == every, f"not called: {sorted(every - called)}; not declared: {sorted(called - every)}"
    for name, value in EXPECTED.items():
        if value is not None:
            assert shown[name] == value, name
    assert shown["path"].endswith("/x.json'")
    assert shown["setup_ap"] == str(setup_port) and shown["setup_off"] == "None"
