"""`restock demo`: the hub on embedded defaults, a household, three devices running the real firmware."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel
from sqlmodel import Session

from hub.app import Hub, create_app
from hub.broker.mosquitto import free_port
from hub.logs import configure
from hub.services import accounts
from hub.services import devices as device_service
from hub.settings import Settings
from hub.store import repos
from simulator.firmware import FirmwareProcess, device_config

log = logging.getLogger(__name__)
DEMO_EMAIL = "demo@restock.local"
DEMO_PASSWORD = "restock-demo"  # noqa: S105 - a published demo login on localhost, not a secret


@dataclass(frozen=True)
class DemoDevice:
    """A device the demo provisions."""

    id: str
    kind: str
    name: str
    sku: str | None = None
    mode: str = "order"


DEMO_DEVICES = (
    DemoDevice("coffee-button", "dash_button", "Coffee button", "COF-1KG", "order"),
    DemoDevice("kitchen-wand", "barcode_wand", "Kitchen wand"),
    DemoDevice("washer-sensor", "appliance_sensor", "Washing machine detergent"),
)


def port_or_free(preferred: int) -> int:
    """The preferred port when nothing listens there, else a free one."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
        return preferred


def provision(hub: Hub) -> dict[str, str]:
    """Create the demo household, its user and devices; returns device secrets."""
    secrets: dict[str, str] = {}
    with Session(hub.engine) as session:
        user = repos.user_by_email(session, DEMO_EMAIL)
        if user is None:
            user = accounts.create_household(session, "Demo household", DEMO_EMAIL, DEMO_PASSWORD)
        household = repos.household(session, user.household_id)
        assert household is not None
        household.cancel_window_s = 120
        session.add(household)
        for spec in DEMO_DEVICES:
            existing = repos.device(session, spec.id)
            if existing is not None:
                session.delete(existing)
                session.flush()
            created = device_service.register(session, spec.kind, spec.name, user.household_id, spec.id)
            secrets[spec.id] = created.secret
            if spec.sku:
                product = repos.product_by_sku(session, "demo", spec.sku)
                assert product is not None
                device_service.bind(session, created.device, product, 1, spec.mode)
        session.commit()
    return secrets


SENSOR = {"type": "hx711", "slot": "detergent", "unit": "g", "full": 2000, "scale": 420, "offset": 8000}
APP_CONFIG: dict[str, dict[str, object]] = {
    "dash_button": {},
    "barcode_wand": {"scan_idle_s": 0.5},
    "appliance_sensor": {"sensor": SENSOR, "sample_s": 1.0, "min_change": 0.05, "report_every_h": 6},
}


def start_devices(port: int, secrets: dict[str, str], flash_root: Path) -> dict[str, FirmwareProcess]:
    """Each demo device runs the real firmware under the MicroPython Unix port, one process each."""
    started: dict[str, FirmwareProcess] = {}
    for spec in DEMO_DEVICES:
        config = device_config(spec.kind, spec.id, port, **APP_CONFIG[spec.kind])
        config["secret"] = secrets[spec.id]
        sim: dict[str, object] | None = {"level": 1900.0, "noise": 0} if spec.kind == "appliance_sensor" else None
        started[spec.id] = FirmwareProcess(spec.kind, flash_root / spec.id, config=config, sim=sim).start()
    return started


def play_scenario(devices: dict[str, FirmwareProcess], say: Callable[[str], None]) -> None:
    """A short household morning: a press, two scans, detergent running low."""
    button, wand, sensor = devices["coffee-button"], devices["kitchen-wand"], devices["washer-sensor"]
    mark = button.mark()
    button.press("single")
    _seq, code = button.wait_feedback(since=mark, timeout=30)
    say(f"coffee button pressed → {code} (LED {button.led})")
    mark = wand.mark()
    wand.scan("0036000291452")
    _seq, code = wand.wait_feedback(since=mark, timeout=30)
    say(f"wand scanned dish soap → {code}")
    mark = wand.mark()
    wand.scan("4012345678901")
    _seq, code = wand.wait_feedback(since=mark, timeout=30)
    say(f"wand scanned an unknown code → {code}")
    for grams in (1750.0, 1600.0):
        mark = sensor.mark()
        sensor.level(grams)
        _seq, code = sensor.wait_feedback(since=mark, timeout=30)
    say(f"detergent sensor reported 1900 → 1600 g → {code}")


async def run_demo(data_dir: Path, fresh: bool, http_port: int, mqtt_port: int) -> None:
    """Start the hub, provision, play the scenario, then serve until interrupted."""
    console = Console()
    if fresh:
        await asyncio.to_thread(shutil.rmtree, data_dir, True)
    where = await asyncio.to_thread(data_dir.resolve)
    settings = Settings(
        data_dir=data_dir,
        embedded_mqtt_port=port_or_free(mqtt_port),
        http_port=port_or_free(http_port),
        merchant_step_seconds=30,
        _env_file=None,
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=settings.http_port, log_config=None, access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    hub: Hub = app.state.hub
    assert hub.broker is not None
    secrets = provision(hub)
    devices: dict[str, FirmwareProcess] = {}
    try:
        devices = await asyncio.to_thread(start_devices, hub.broker.port, secrets, data_dir / "devices")
        await asyncio.to_thread(play_scenario, devices, lambda text: console.print(f"[green]demo[/]: {text}"))
        url = f"http://127.0.0.1:{settings.http_port}"
        console.print(
            Panel.fit(
                f"Dashboard: [bold]{url}/[/]\n"
                f"API and docs: [bold]{url}/docs[/]\n"
                f"Sign in: [bold]{DEMO_EMAIL}[/] / [bold]{DEMO_PASSWORD}[/]\n"
                f"MQTT broker (embedded): 127.0.0.1:{hub.broker.port}\n"
                f"Data: {where}\n"
                "Press Ctrl-C to stop.",
                title="restock demo is running",
            )
        )
        await serving
    finally:
        for device in devices.values():
            device.kill()
        if not serving.done():
            server.should_exit = True
            await serving


def demo_command(
    data_dir: Annotated[Path, typer.Option(help="Folder for the demo database")] = Path("data/demo"),
    fresh: Annotated[bool, typer.Option(help="Start from an empty database")] = True,
    http_port: Annotated[int, typer.Option(help="API/dashboard port (a free one if taken)")] = 8000,
    mqtt_port: Annotated[int, typer.Option(help="Embedded broker port (a free one if taken)")] = 1883,
    log_level: Annotated[str, typer.Option(help="Hub log level")] = "WARNING",
) -> None:
    """Run the demo: hub + embedded broker + SQLite + three simulated devices; Ctrl-C stops everything."""
    configure(log_level)
    try:
        asyncio.run(run_demo(data_dir, fresh, http_port, mqtt_port))
    except KeyboardInterrupt:
        # uvicorn re-raises Ctrl-C after its clean shutdown; by then everything has stopped.
        Console().print("restock demo stopped")
