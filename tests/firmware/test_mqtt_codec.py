"""The firmware's MQTT codec: the same cases on CPython and on the MicroPython Unix port."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.firmware.fwproc import FIRMWARE
from tests.firmware.mp import run_micropython

CASES_FILE = Path(__file__).with_name("mqtt_codec_cases.py")
sys.path.insert(0, str(FIRMWARE / "lib"))  # mqtt_codec is plain Python without MicroPython imports
sys.path.insert(0, str(CASES_FILE.parent))
import mqtt_codec_cases as cases  # noqa: E402

sys.path.remove(str(CASES_FILE.parent))


@pytest.mark.parametrize("case", cases.CASES, ids=[c.__name__ for c in cases.CASES])
def test_codec_on_cpython(case: Callable[[], None]) -> None:
    case()


@pytest.mark.firmware
def test_codec_on_unix_port() -> None:
    out = run_micropython(CASES_FILE.read_text() + "\nmain()\n")
    assert f"passed {len(cases.CASES)}" in out, out

