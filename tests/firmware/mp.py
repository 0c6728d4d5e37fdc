"""Run a snippet or a file under the MicroPython Unix port with the firmware on its path."""

from __future__ import annotations

import os
import subprocess

from tests.firmware.fwproc import FIRMWARE, micropython_binary


def run_micropython(code: str, *apps: str, timeout: float = 30.0) -> str:
    """Execute code with firmware/lib (and the apps' folders) importable; return stdout, raise on failure."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([str(FIRMWARE / "lib")] + [str(FIRMWARE / a) for a in apps] + [".frozen"])
    proc = subprocess.run([micropython_binary(), "-c", code], env=env, capture_output=True, timeout=timeout)
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise AssertionError(f"micropython exited {proc.returncode}:\n{out}\n{proc.stderr.decode()}")
    return out
