"""The firmware's MQTT codec: the same cases on CPython and on the MicroPython Unix port."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.firmware.fwproc import FIRMWARE
from tests.firmware.mp import run_micropython

CASES_FILE = Path(__file__).with_name("mqtt_codec_cases.py")


def _load(name: str, path: Path) -> ModuleType:
    # by file, not via sys.path: firmware/lib has modules (config, status, log…) that would shadow others
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_load("mqtt_codec", FIRMWARE / "lib" / "mqtt_codec.py")
cases = _load("mqtt_codec_cases", CASES_FILE)


@pytest.mark.parametrize("case", cases.CASES, ids=[c.__name__ for c in cases.CASES])
def test_codec_on_cpython(case: Callable[[], None]) -> None:
    case()


@pytest.mark.firmware
def test_codec_on_unix_port() -> None:
    out = run_micropython(CASES_FILE.read_text() + "\nmain()\n")
    assert f"passed {len(cases.CASES)}" in out, out

