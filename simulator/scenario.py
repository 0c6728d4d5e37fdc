"""Scenario files: which virtual devices to start (real firmware under the Unix port) and what they do.

```toml
[broker]
host = "127.0.0.1"
port = 1883

[[device]]
id = "coffee-button"
app = "dash_button"          # dash_button | barcode_wand | appliance_sensor
secret = "…"                 # the MQTT password from `restock device add` or the API

[[step]]
device = "coffee-button"
do = "press"                 # press | scan | level | pulse | wifi | power_cycle | sleep
click = "single"             # press: single | double | long
expect = "ordered"           # optional: wait for this feedback code
timeout = 20                 # optional: seconds to wait for it
```

Worked examples ship in `simulator/examples/` (dash button, wand, sensor, Wi-Fi outage).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.broker.credentials import is_device_id
from simulator.firmware import APPS, FirmwareProcess, device_config

ACTIONS = ("press", "scan", "level", "pulse", "wifi", "power_cycle", "sleep")


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the entry and what is wrong."""


class StepFailed(Exception):
    """A step did not get the feedback it expected; the message says what was expected and what came."""


@dataclass(frozen=True)
class DeviceSpec:
    """A virtual device to start."""

    id: str
    app: str
    secret: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One action of a device, optionally waiting for a feedback code."""

    device: str
    do: str
    args: dict[str, Any]
    expect: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario file."""

    host: str
    port: int
    devices: tuple[DeviceSpec, ...]
    steps: tuple[Step, ...]


def _tables(data: dict[str, Any], name: str, path: Path) -> list[dict[str, Any]]:
    tables = data.get(name, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ScenarioError(f"scenario file {path}: '{name}' must be [[{name}]] tables")
    return tables


def load(path: Path) -> Scenario:
    """Parse and validate a scenario file."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"scenario file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario file {path} is not valid TOML: {exc}") from None
    broker = data.get("broker", {})
    port = broker.get("port", 1883) if isinstance(broker, dict) else None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ScenarioError(f"scenario file {path}: [broker] needs a port from 1 to 65535")
    devices = []
    for n, raw in enumerate(_tables(data, "device", path), 1):
        # The id names the device's flash folder too: only a real device id, never a path.
        if not isinstance(raw.get("id"), str) or not is_device_id(raw["id"]) or raw.get("app") not in APPS:
            raise ScenarioError(f"device #{n}: needs an id (a-z, 0-9, '-', '_') and app one of {', '.join(APPS)}")
        extra = {k: v for k, v in raw.items() if k not in ("id", "app", "secret")}
        devices.append(DeviceSpec(raw["id"], raw["app"], raw.get("secret"), extra))
    known = {d.id for d in devices}
    steps = []
    for n, raw in enumerate(_tables(data, "step", path), 1):
        if raw.get("device") not in known and raw.get("do") != "sleep":
            raise ScenarioError(f"step #{n}: device {raw.get('device')!r} is not declared")
        if raw.get("do") not in ACTIONS:
            raise ScenarioError(f"step #{n}: do must be one of {', '.join(ACTIONS)}")
        args = {k: v for k, v in raw.items() if k not in ("device", "do", "expect")}
        steps.append(Step(raw.get("device", ""), raw["do"], args, raw.get("expect")))
    return Scenario(
        host=str(broker.get("host", "127.0.0.1")),
        port=port,
        devices=tuple(devices),
        steps=tuple(steps),
    )


def start_device(spec: DeviceSpec, host: str, port: int, flash_root: Path) -> FirmwareProcess:
    """Start one device's firmware with a config pointing at the broker."""
    config = device_config(spec.app, spec.id, port, **spec.config)
    config["broker"] = {"host": host, "port": port}
    if spec.secret is not None:
        config["secret"] = spec.secret
    return FirmwareProcess(spec.app, flash_root / spec.id, config=config).start()


def perform(device: FirmwareProcess, step: Step, timeout: float = 20.0) -> str | None:
    """Carry out one step; returns the feedback code when the step expects one."""
    mark = device.mark()
    args = step.args
    if step.do == "press":
        device.press(str(args.get("click", "single")))
    elif step.do == "scan":
        device.scan(str(args["code"]))
    elif step.do == "level":
        device.level(float(args["value"]))
    elif step.do == "pulse":
        device.pulses(int(args.get("count", 1)))
    elif step.do == "wifi":
        device.wifi(bool(args.get("on", True)))
    elif step.do == "power_cycle":
        device.restart()
        mark = 0
    if step.expect is None:
        return None
    timeout = float(args.get("timeout", timeout))
    try:
        _seq, code = device.wait_feedback(step.expect, since=mark, timeout=timeout)
    except TimeoutError:
        came = [n.detail.split(" ")[-1] for n in device.notes[mark:] if n.what == "feedback"]
        got = f"came {', '.join(repr(c) for c in came)}" if came else "no feedback came"
        raise StepFailed(f"expected feedback {step.expect!r} within {timeout:g} s, {got}") from None
    return code
