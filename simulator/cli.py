"""`restock sim …`: virtual devices running the real firmware, and the fleet emulator."""

from __future__ import annotations

import asyncio
import csv
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hub.cli_errors import EXIT_FAILED, EXIT_USAGE, UserError
from simulator.control import ControlError, control_port, send
from simulator.firmware import FirmwareProcess
from simulator.fleet import FleetStats, run_fleet
from simulator.scenario import ScenarioError, Step, StepFailed, load, perform, start_device

sim_app = typer.Typer(help="Simulated devices: real firmware under the Unix port, and a protocol-level fleet.",
                      no_args_is_help=True)
console = Console()
HELP = """commands: <device> press [single|double|long] | <device> scan CODE | <device> level GRAMS |
          <device> pulse [N] | <device> wifi on|off | <device> power_cycle | <device> state | list | quit"""


def _interactive(devices: dict[str, FirmwareProcess]) -> None:
    console.print(HELP)
    for line in sys.stdin:
        words = shlex.split(line)
        if not words:
            continue
        if words[0] in ("quit", "exit"):
            return
        if words[0] == "list":
            for name, fw in devices.items():
                console.print(f"{name}: {fw.app} led={fw.led}")
            continue
        device = devices.get(words[0])
        if device is None or len(words) < 2:
            console.print(f"[red]unknown device or command[/]: {line.strip()}\n{HELP}")
            continue
        action, rest = words[1], words[2:]
        try:
            if action == "state":
                console.print(device.state())
                continue
            args: dict[str, object] = {}
            if action == "press":
                args["click"] = rest[0] if rest else "single"
            elif action == "scan":
                args["code"] = rest[0]
            elif action == "level":
                args["value"] = float(rest[0])
            elif action == "pulse":
                args["count"] = int(rest[0]) if rest else 1
            elif action == "wifi":
                args["on"] = (rest[0] if rest else "on") == "on"
            mark = device.mark()
            perform(device, Step(words[0], action, args))
            if action in ("press", "scan", "level", "pulse"):
                _seq, code = device.wait_feedback(since=mark, timeout=20)
                console.print(f"{words[0]}: feedback [bold]{code}[/], LED {device.led}")
        except (IndexError, ValueError, RuntimeError, TimeoutError) as exc:
            console.print(f"[red]{exc}[/]")


def _first_line(exc: BaseException) -> str:
    """An error's first line: the driver's messages append the device console, which has its own file."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(":")


@sim_app.command("run")
def run_command(
    scenario: Annotated[Path, typer.Argument(help="TOML scenario file (see simulator/scenario.py)")],
    interactive: Annotated[bool, typer.Option(help="After the steps, read commands from stdin")] = False,
    flash_dir: Annotated[Path | None, typer.Option(help="Folder for the devices' flash (default: temp)")] = None,
) -> None:
    """Start the scenario's devices as real firmware processes, play its steps, optionally take commands."""
    try:
        spec = load(scenario)
    except ScenarioError as exc:
        raise UserError(str(exc), EXIT_USAGE) from None
    # Absolute before any device starts: each firmware process runs inside its own flash folder.
    root = (flash_dir or Path(tempfile.mkdtemp(prefix="restock-sim-"))).absolute()
    devices: dict[str, FirmwareProcess] = {}
    failed = False
    try:
        for device in spec.devices:
            try:
                devices[device.id] = start_device(device, spec.host, spec.port, root)
            except (RuntimeError, TimeoutError) as exc:
                console.print(f"[red]{device.id} did not start: {_first_line(exc)}[/]", soft_wrap=True)
                console.print(f"device console: {root / (device.id + '.console.log')}", soft_wrap=True)
                failed = True
                break
            console.print(f"started {device.id} ({device.app}), flash {root / device.id}")
        for n, step in enumerate([] if failed else spec.steps, 1):
            if step.do == "sleep":
                seconds = float(step.args.get("seconds", 1))
                time.sleep(seconds)
                console.print(f"step {n}: slept {seconds:g} s")
                continue
            fw = devices[step.device]
            try:
                code = perform(fw, step)
            except (StepFailed, RuntimeError, TimeoutError) as exc:
                # One or two lines: what was expected and what came; the console stays in its file.
                console.print(f"[red]step {n}: {step.device} {step.do}: {_first_line(exc)}[/]", soft_wrap=True)
                console.print(f"device console: {fw.console_path}", soft_wrap=True)
                failed = True
                break
            console.print(f"step {n}: {step.device} {step.do} → {code or 'done'}")
        if interactive and not failed:
            _interactive(devices)
    finally:
        for fw in devices.values():
            fw.kill()
    if failed:
        raise typer.Exit(1)


DemoDir = Annotated[
    Path, typer.Option(help="The running demo's --data-dir (it lists its devices' control ports there)")
]
DEFAULT_DEMO_DIR = Path("data/demo")


def _drive(data_dir: Path, device: str, line: str) -> None:
    """Send one control line to a running demo's device and print the hub's feedback."""
    try:
        answer = send(control_port(data_dir / "devices", device), line, wait_feedback=True)
    except ControlError as exc:
        raise UserError(f"{device}: {exc}", EXIT_FAILED) from None
    console.print(f"{device}: feedback [bold]{answer.feedback}[/]")


@sim_app.command("press")
def press_command(
    device: Annotated[str, typer.Argument(help="A device of the running demo, e.g. coffee-button")],
    click: Annotated[str, typer.Option(help="single | double | long")] = "single",
    data_dir: DemoDir = DEFAULT_DEMO_DIR,
) -> None:
    """Press a button of the running `restock demo` and print what the hub answered."""
    if click not in ("single", "double", "long"):
        raise typer.BadParameter("single, double or long", param_hint="--click")
    _drive(data_dir, device, f"press click={click}")


@sim_app.command("scan")
def scan_command(
    device: Annotated[str, typer.Argument(help="A wand of the running demo, e.g. kitchen-wand")],
    code: Annotated[str, typer.Argument(help="The barcode, e.g. 0036000291452")],
    data_dir: DemoDir = DEFAULT_DEMO_DIR,
) -> None:
    """Scan a barcode with a wand of the running `restock demo` and print what the hub answered."""
    if not code.isdigit():
        raise typer.BadParameter("a barcode is digits only", param_hint="CODE")
    _drive(data_dir, device, f"scan {code}")


@sim_app.command("level")
def level_command(
    device: Annotated[str, typer.Argument(help="A sensor of the running demo, e.g. washer-sensor")],
    grams: Annotated[float, typer.Argument(help="What the load cell weighs now")],
    data_dir: DemoDir = DEFAULT_DEMO_DIR,
) -> None:
    """Put a weight on a sensor of the running `restock demo` and print what the hub answered."""
    _drive(data_dir, device, f"level {grams:g}")


def _credentials(path: Path | None, count: int, prefix: str) -> list[tuple[str, str | None]]:
    if path is None:
        return [(f"{prefix}-{n:05d}", None) for n in range(count)]
    with path.open() as handle:
        rows = [(row[0], row[1] if len(row) > 1 and row[1] else None) for row in csv.reader(handle) if row]
    if len(rows) < count:
        raise typer.BadParameter(f"{path} has {len(rows)} devices, {count} requested", param_hint="--credentials")
    return rows[:count]


@sim_app.command("fleet")
def fleet_command(
    devices: Annotated[int, typer.Option(help="Number of emulated devices", min=1)] = 100,
    rate: Annotated[float, typer.Option(help="Events per second, over all devices", min=0.1)] = 50.0,
    duration: Annotated[float, typer.Option(help="Seconds of load", min=1)] = 30.0,
    host: Annotated[str, typer.Option(help="Broker host")] = "127.0.0.1",
    port: Annotated[
        list[int] | None,
        typer.Option(
            metavar="PORT",
            help="Broker port (1883 by default); give it once per node of a cluster to spread the devices over the "
            "nodes, each moving on to the next node when its own dies"
        ),
    ] = None,
    credentials: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="CSV of device_id,secret (one per line); default: anonymous"),
    ] = None,
    prefix: Annotated[str, typer.Option(help="Device id prefix without --credentials")] = "fleet",
) -> None:
    """Thousands of protocol-level devices in one process: press events at a rate, feedback awaited."""
    creds = _credentials(credentials, devices, prefix)
    ports = port or [1883]
    with Progress(
        TextColumn("[bold]fleet[/]"), BarColumn(), TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("load", total=1.0, info="")

        def progress(stats: FleetStats, done: float) -> None:
            info = f"connected {stats.connected} sent {stats.sent} feedback {stats.feedback}"
            bar.update(task, completed=min(done, 1.0), info=info)

        stats = asyncio.run(run_fleet(host, ports[0], creds, rate, duration, progress=progress, more_ports=ports[1:]))
    table = Table(title="fleet run")
    for col in ("connected", "refused", "sent", "feedback", "lost", "replays", "completed/s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")
    table.add_row(
        str(stats.connected), str(stats.connect_failures), str(stats.sent), str(stats.feedback),
        str(stats.sent - stats.feedback), str(stats.replays), f"{stats.completed_per_s:.0f}",
        f"{stats.percentile(50):.1f}", f"{stats.percentile(99):.1f}",
    )
    console.print(table)
    if stats.refusals:
        console.print(f"[red]{stats.refused_text(host, ports[0])}[/]", soft_wrap=True)
    if stats.connect_failures or stats.feedback < stats.sent:
        raise typer.Exit(1)
