"""`restock demo`: the hub on embedded defaults, a household, three devices running the real firmware."""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.console import Console
from rich.panel import Panel

from hub.cli_errors import EXIT_FAILED, UserError, usable_data_dir
from hub.commands import HubServer, check_port_free, listen
from hub.commands import log_level as log_level_or_exit
from hub.logs import configure
from hub.settings import Settings
from simulator import demo_story
from simulator.control import write_registry
from simulator.firmware import FirmwareProcess, device_config

if TYPE_CHECKING:
    from hub.runtime import Hub

log = logging.getLogger(__name__)
DEMO_EMAIL = "demo@restock.local"
DEMO_PASSWORD = "restock-demo"  # noqa: S105 - a published demo login on localhost, not a secret
DEFAULT_HTTP_PORT = 8000
DEFAULT_MQTT_PORT = 1883
DEFAULT_DATA_DIR = Path("data/demo")
FEEDBACK_TIMEOUT_S = 30.0


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


@dataclass(frozen=True)
class Provisioned:
    """The demo devices' secrets and the detergent level the sensor shows at start."""

    secrets: dict[str, str]
    detergent_g: float


def _kept_secret(flash: Path, device_id: str) -> str:
    """The secret a device of an earlier run keeps in its flash's config.json."""
    try:
        secret = json.loads((flash / "config.json").read_text()).get("secret")
    except (OSError, ValueError, AttributeError):
        secret = None
    if not isinstance(secret, str):
        raise DemoError(f"{device_id} is in the database but {flash}/config.json has no secret: drop --no-fresh")
    return secret


def provision(hub: Hub, flash_root: Path) -> Provisioned:
    """Create the demo household, its user and devices, and the detergent slot's past weeks.

    `flash_root` holds the devices' flash folders, where a device of an earlier run keeps its secret.
    """
    # Imported when the demo runs, so the rest of the `restock` command line does not load the whole hub.
    from sqlmodel import Session

    from hub.services import accounts
    from hub.services import devices as device_service
    from hub.store import repos

    secrets: dict[str, str] = {}
    detergent_g = 0.0
    with Session(hub.engine) as session:
        user = repos.user_by_email(session, DEMO_EMAIL)
        if user is None:
            user = accounts.create_household(session, "Demo household", DEMO_EMAIL, DEMO_PASSWORD)
        household = repos.household(session, user.household_id)
        assert household is not None
        household.cancel_window_s = 120
        session.add(household)
        for spec in DEMO_DEVICES:
            device = repos.device(session, spec.id)
            if device is not None:
                # A run on the last run's data (--no-fresh): the device keeps its orders, readings and secret,
                # which its flash folder holds (the hub keeps only a hash).
                secrets[spec.id] = _kept_secret(flash_root / spec.id, spec.id)
            else:
                created = device_service.register(session, spec.kind, spec.name, user.household_id, spec.id)
                secrets[spec.id], device = created.secret, created.device
            if spec.sku:
                product = repos.product_by_sku(session, "demo", spec.sku)
                assert product is not None
                device_service.bind(session, device, product, 1, spec.mode)
            if spec.kind == "appliance_sensor":
                detergent_g = demo_story.set_up_slot(session, device, hub.clock.now()).level_now
        session.commit()
    return Provisioned(secrets, detergent_g)


SENSOR = {"type": "hx711", "slot": "detergent", "unit": "g", "full": 2000, "scale": 420, "offset": 8000}
APP_CONFIG: dict[str, dict[str, object]] = {
    "dash_button": {},
    "barcode_wand": {"scan_idle_s": 0.5},
    # A wash (50 g) is a change worth reporting, as the demo's morning shows.
    "appliance_sensor": {"sensor": SENSOR, "sample_s": 1.0, "min_change": 0.02, "report_every_h": 6},
}


class DemoError(Exception):
    """The demo's morning did not go as planned; the message is one line naming where to look."""


def start_devices(port: int, setup: Provisioned, flash_root: Path, started: dict[str, FirmwareProcess]) -> None:
    """Each demo device runs the real firmware under the MicroPython Unix port, one process each.

    Filled in as they start, so the caller stops those that did when a later one fails.
    """
    for spec in DEMO_DEVICES:
        config = device_config(spec.kind, spec.id, port, **APP_CONFIG[spec.kind])
        config["secret"] = setup.secrets[spec.id]
        sim: dict[str, object] | None = None
        if spec.kind == "appliance_sensor":
            sim = {"level": setup.detergent_g, "noise": 0}
            # The sensor reports at start only what it has not reported before: forget the last run's report
            # (--no-fresh), so the morning always has its reading.
            (flash_root / spec.id / "last.json").unlink(missing_ok=True)
        device = FirmwareProcess(spec.kind, flash_root / spec.id, config=config, sim=sim)
        started[spec.id] = device
        try:
            device.start()
        except (RuntimeError, TimeoutError):
            raise DemoError(f"{spec.id} did not start (device console: {device.console_path})") from None


def _feedback(device: FirmwareProcess, mark: int, what: str) -> str:
    try:
        return device.wait_feedback(since=mark, timeout=FEEDBACK_TIMEOUT_S)[1]
    except TimeoutError:
        raise DemoError(
            f"{what}: no answer from the hub within {FEEDBACK_TIMEOUT_S:g} s (device console: {device.console_path})"
        ) from None


def play_scenario(devices: dict[str, FirmwareProcess], say: Callable[[str], None]) -> None:
    """A short household morning: a press, two scans, and the detergent sensor's reading after a wash."""
    button, wand, sensor = devices["coffee-button"], devices["kitchen-wand"], devices["washer-sensor"]
    mark = button.mark()
    button.press("single")
    code = _feedback(button, mark, "coffee button press")
    say(f"coffee button pressed → {code} (LED {button.led})")
    mark = wand.mark()
    wand.scan("0036000291452")
    say(f"wand scanned dish soap → {_feedback(wand, mark, 'wand scan')}")
    mark = wand.mark()
    wand.scan("4012345678901")
    say(f"wand scanned an unknown code → {_feedback(wand, mark, 'wand scan')}")
    # The sensor reported its level when it started (since=0): four weeks of readings are behind it.
    code = _feedback(sensor, 0, "detergent sensor reading")
    left = sensor.wait("sample", timeout=FEEDBACK_TIMEOUT_S).detail
    say(f"detergent sensor: {float(left):g} g left after {demo_story.HISTORY_DAYS} days of washing → {code}")


async def check_orders(base_url: str) -> str:
    """Smoke check through the REST API with the demo login: the press's order and the detergent's reorder."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        signed_in = await client.post("/api/v1/auth/token", data={"username": DEMO_EMAIL, "password": DEMO_PASSWORD})
        if signed_in.status_code != 200:
            raise DemoError(f"demo sign-in refused: HTTP {signed_in.status_code}")
        token = signed_in.json()["access_token"]
        response = await client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
    found = response.json() if response.is_success else []
    orders = [o for o in found if o.get("device_id") == "coffee-button"]
    if not orders:
        raise DemoError(f"the coffee button's press has no order in GET /api/v1/orders ({response.status_code})")
    reorders = [o for o in found if o.get("device_id") == "washer-sensor"]
    if not reorders:
        raise DemoError("the detergent slot placed no reorder (GET /api/v1/orders)")
    return (
        f"order {orders[0]['id']} is {orders[0]['status']}, detergent reorder {reorders[0]['id']} is "
        f"{reorders[0]['status']}"
    )


def press_hint(data_dir: Path) -> str:
    """The command that presses the coffee button from another terminal (run where the demo was started)."""
    where = "" if data_dir == DEFAULT_DATA_DIR.absolute() else f" --data-dir {shlex.quote(str(data_dir))}"
    return f"restock sim press coffee-button{where}"


@dataclass(frozen=True)
class DemoPorts:
    """The demo's HTTP socket (bound already) and broker port (0: any); `*_replaced`: the default was taken."""

    http: socket.socket
    mqtt: int
    http_replaced: bool
    mqtt_replaced: bool


def choose_ports(http_port: int | None, mqtt_port: int | None) -> DemoPorts:
    """Ports the user chose must be free (one line naming the option if not); taken defaults are replaced."""
    fix = "stop what uses it or choose another {}"
    http_replaced = mqtt_replaced = False
    if http_port is not None:
        http = listen("127.0.0.1", http_port, "HTTP", fix.format("--http-port"))
    else:
        try:
            http = listen("127.0.0.1", DEFAULT_HTTP_PORT, "HTTP", "")
        except UserError:
            http, http_replaced = listen("127.0.0.1", 0, "HTTP", fix.format("--http-port")), True
    if mqtt_port is not None:
        check_port_free("127.0.0.1", mqtt_port, "MQTT", fix.format("--mqtt-port"))
    else:
        mqtt_port = DEFAULT_MQTT_PORT
        try:
            check_port_free("127.0.0.1", mqtt_port, "MQTT", "")
        except UserError:
            mqtt_port, mqtt_replaced = 0, True  # 0: the broker takes any free port, no race for it
    return DemoPorts(http, mqtt_port, http_replaced, mqtt_replaced)


async def run_demo(
    server: HubServer, ports: DemoPorts, data_dir: Path, smoke: bool, say: Callable[[str], None]
) -> None:
    """Start the hub, provision, play the scenario, then serve until interrupted (or stop, for a smoke run)."""
    console = Console()
    http_port = ports.http.getsockname()[1]
    url = f"http://127.0.0.1:{http_port}"
    serving = asyncio.create_task(server.serve(ports.http))
    # A failed start-up ends the event loop with SystemExit: demo_command tells it in one line.
    while not server.server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    hub: Hub = server.app.state.hub
    assert hub.broker is not None
    if ports.http_replaced:
        say(f"port {DEFAULT_HTTP_PORT} is in use: the dashboard is on {http_port} (--http-port picks one)")
    if ports.mqtt_replaced:
        say(f"port {DEFAULT_MQTT_PORT} is in use: the embedded broker is on {hub.broker.port} (--mqtt-port picks one)")
    setup = provision(hub, data_dir / "devices")
    devices: dict[str, FirmwareProcess] = {}
    try:
        await asyncio.to_thread(start_devices, hub.broker.port, setup, data_dir / "devices", devices)
        write_registry(data_dir / "devices", {name: (fw.app, fw.port) for name, fw in devices.items()})
        await asyncio.to_thread(play_scenario, devices, say)
        if smoke:
            say(f"smoke check passed: the press and the reorder reached the API ({await check_orders(url)})")
            return
        console.print(
            Panel.fit(
                f"Dashboard: [bold]{url}/[/]\n"
                f"API and docs: [bold]{url}/docs[/]\n"
                f"Sign in: [bold]{DEMO_EMAIL}[/] / [bold]{DEMO_PASSWORD}[/]\n"
                f"MQTT broker (embedded): 127.0.0.1:{hub.broker.port}\n"
                f"Data: {data_dir}\n"
                f"Press the coffee button: [bold]{press_hint(data_dir)}[/]\n"
                "Press Ctrl-C to stop.",
                title="restock demo is running",
            )
        )
        await serving
    finally:
        for device in devices.values():
            device.kill()
        if not serving.done():
            server.server.should_exit = True
            await serving


def demo_command(
    data_dir: Annotated[Path, typer.Option(help="Folder for the demo database and device flash")] = DEFAULT_DATA_DIR,
    fresh: Annotated[bool, typer.Option(help="Start from an empty database")] = True,
    http_port: Annotated[
        int | None, typer.Option(help=f"API/dashboard port [default: {DEFAULT_HTTP_PORT}, another if taken]")
    ] = None,
    mqtt_port: Annotated[
        int | None, typer.Option(help=f"Embedded broker port [default: {DEFAULT_MQTT_PORT}, another if taken]")
    ] = None,
    log_level: Annotated[str, typer.Option(help="Hub log level")] = "WARNING",
    smoke: Annotated[
        bool, typer.Option(help="Play the morning, check the press's order through the API, stop: 0 if it worked")
    ] = False,
) -> None:
    """Run the demo: hub + embedded broker + SQLite + three simulated devices; Ctrl-C stops everything."""
    configure(log_level_or_exit(log_level, "--log-level"))
    # Resolved once, here: every device process runs inside its own flash folder, where a relative path breaks.
    folder = data_dir.expanduser().absolute()
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    folder = usable_data_dir(folder, "--data-dir")
    ports = choose_ports(http_port, mqtt_port)
    settings = Settings(
        data_dir=folder,
        database_url=None,
        mqtt_url=None,
        ingest_workers=1,
        embedded_mqtt_port=ports.mqtt,
        http_port=ports.http.getsockname()[1],
        merchant_step_seconds=30,
        _env_file=None,
    )
    from hub.app import create_app

    server = HubServer(create_app(settings))
    console = Console()

    def say(text: str) -> None:
        console.print(f"[green]demo[/]: {text}", soft_wrap=True)  # one line each, also in a log file

    try:
        with server.startup_told():
            asyncio.run(run_demo(server, ports, folder, smoke, say))
    except KeyboardInterrupt:
        # uvicorn re-raises Ctrl-C after its clean shutdown; by then everything has stopped. (When the demo's
        # loop has ended just before, the run returns instead: the same stop, said below all the same.)
        pass
    except DemoError as exc:
        raise UserError(f"demo failed: {exc}", EXIT_FAILED) from None
    if not smoke:
        console.print("restock demo stopped")
