"""`restock firmware`, `restock device`, `restock pki`, `restock broker` and `restock flash`."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlmodel import Session, select

from hub.broker import mosquitto_files as brokerfiles
from hub.cli_errors import EXIT_USAGE, tell, usable_data_dir
from hub.settings import Settings
from provisioning import build as fwbuild
from provisioning import flash as fwflash
from provisioning import keys, pki
from provisioning import update as fwupdate
from provisioning.bundle import Network, claim_qr, default_broker_host_note, device_config, write_bundle

firmware_app = typer.Typer(help="Build and flash the device firmware.", no_args_is_help=True)


@firmware_app.command("build")
def build_command(
    out: Annotated[Path, typer.Option(help="Output folder, one sub-folder per device.")] = Path("build/firmware"),
    march: Annotated[str, typer.Option(help="mpy-cross architecture; 'none' for bytecode only.")] = fwbuild.MARCH,
    source: Annotated[
        Path, typer.Option(exists=True, file_okay=False, help="The firmware folder to compile.")
    ] = fwbuild.FIRMWARE_DIR,
) -> None:
    """Compile every firmware file to .mpy with mpy-cross; fail on the first file that does not compile."""
    console = Console()
    out = usable_data_dir(out, "--out", "output folder", EXIT_USAGE)
    files = fwbuild.sources(source)
    with Progress(
        TextColumn("[bold]mpy-cross"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        console=console, transient=True,
    ) as progress:
        task = progress.add_task("", total=len(files))

        def step(src: Path) -> None:
            progress.update(task, advance=1, description=f"{src.parent.name}/{src.name}")

        try:
            bundles = fwbuild.build(out, source, None if march == "none" else march, on_file=step)
        except fwbuild.CompileError as e:
            progress.stop()
            console.print(f"[red]compile failed:[/red] {e.path}", soft_wrap=True, highlight=False)
            console.print(e.message, soft_wrap=True, markup=False, highlight=False)
            raise typer.Exit(1) from e
    table = Table(title=f"firmware in {out}")
    table.add_column("device")
    table.add_column("files", justify="right")
    table.add_column(".mpy bytes", justify="right")
    for name, bundle in bundles.items():
        table.add_row(name, str(len(bundle.files)), f"{bundle.mpy_bytes:,}")
    console.print(table)


# -- Devices, PKI, broker files, flashing ---------------------------------------------------
device_app = typer.Typer(help="Register, pair, update and revoke devices.", no_args_is_help=True)
pki_app = typer.Typer(help="The private CA and the broker's TLS certificate.", no_args_is_help=True)
broker_app = typer.Typer(help="Generated mosquitto configuration, password file and ACL.", no_args_is_help=True)

EXIT_NOT_FOUND = 2  # unknown device / household / bundle
EXIT_FAILED = 1  # the step itself failed (compile, esptool, mpremote, broker)


def _settings() -> Settings:
    settings = Settings()
    # Absolute and created up front: the default SQLite file and the bundles live there from the first command.
    return settings.model_copy(update={"data_dir": usable_data_dir(settings.data_dir, "RESTOCK_DATA_DIR")})


def _pki(settings: Settings) -> pki.PkiPaths:
    return pki.PkiPaths(settings.data_dir / "pki")


@contextmanager
def _db(settings: Settings) -> Iterator[Session]:
    from hub.store.db import make_engine, migrate

    url = settings.resolved_database_url()
    migrate(url)
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def _fail(message: str, code: int) -> typer.Exit:
    # One line on stderr whatever the terminal width (not the command's console, which may wrap it).
    return tell(message, code)


WifiSsid = Annotated[str, typer.Option(envvar="RESTOCK_WIFI_SSID", help="Wi-Fi the device joins.")]
WifiPassword = Annotated[str, typer.Option(envvar="RESTOCK_WIFI_PASSWORD", help="Its password.")]
BrokerHost = Annotated[
    str | None, typer.Option(envvar="RESTOCK_BROKER_HOST", help="Broker host devices reach (default: this host).")
]
BrokerPort = Annotated[int | None, typer.Option(help="Broker port (default 8883 with TLS, else 1883).")]
UseTls = Annotated[bool | None, typer.Option("--tls/--no-tls", help="TLS (default: on when the PKI exists).")]
BundleOut = Annotated[Path | None, typer.Option(help="Bundle folder (default: <data_dir>/devices).")]


@dataclass(frozen=True)
class _BundleTarget:
    """Where a device's config bundle goes and which broker it names; checked before anything is written."""

    network: Network
    folder: Path
    ca_cert: bytes | None


def _bundle_target(
    settings: Settings, wifi_ssid: str, wifi_password: str, broker_host: str | None, broker_port: int | None,
    tls: bool | None, out: Path | None,
) -> _BundleTarget:
    paths = _pki(settings)
    use_tls = paths.exists() if tls is None else tls
    if use_tls and not paths.exists():
        raise _fail(f"--tls needs a CA: run 'restock pki init' first ({paths.root})", EXIT_FAILED)
    if not wifi_ssid:
        raise _fail("--wifi-ssid (or RESTOCK_WIFI_SSID) is required: the Wi-Fi the device joins", EXIT_USAGE)
    # Checked before the device is registered, so a bad folder leaves no device without its bundle.
    bundles = usable_data_dir(out or settings.data_dir / "devices", "--out", "bundle folder", EXIT_USAGE)
    net = Network(wifi_ssid, wifi_password, broker_host or socket.gethostname(),
                  broker_port or (brokerfiles.DEFAULT_TLS_PORT if use_tls else brokerfiles.DEFAULT_PORT), use_tls)
    return _BundleTarget(net, bundles, paths.ca_cert.read_bytes() if use_tls else None)


def _write_login_and_bundle(
    settings: Settings, target: _BundleTarget, device_id: str, kind: str, secret: str, claim_code: str | None
) -> tuple[Path, str]:
    """The device's config bundle and its mosquitto login (when this hub runs on generated mosquitto files)."""
    key = keys.device_update_key(keys.master_key(settings.data_dir), device_id)
    config = device_config(device_id, kind, secret, key, target.network)
    folder = write_bundle(target.folder, config, target.ca_cert, claim_code)
    files = brokerfiles.BrokerFiles.in_data_dir(settings.data_dir)
    broker_note = "embedded broker and NATS cluster (read the hub database)"
    if files.configured():
        brokerfiles.add_device(files, device_id, secret)
        broker_note = "mosquitto password file updated, " + ("reloaded" if brokerfiles.reload(files) else "not running")
    return folder, broker_note


@device_app.command("add")
def device_add(
    kind: Annotated[str, typer.Option(help="dash_button, barcode_wand or appliance_sensor.")],
    name: Annotated[str, typer.Option(help="A name the household recognises.")] = "",
    household: Annotated[int | None, typer.Option(help="Household id to bind at once; omit for a claim code.")] = None,
    device_id: Annotated[str | None, typer.Option("--id", help="Device id (default: random, e.g. dash-1a2b).")] = None,
    wifi_ssid: WifiSsid = "",
    wifi_password: WifiPassword = "",
    broker_host: BrokerHost = None,
    broker_port: BrokerPort = None,
    tls: UseTls = None,
    out: BundleOut = None,
) -> None:
    """Create a device: random credentials (hub keeps a hash), claim code + QR, config bundle, broker login."""
    from hub.services import devices as device_service
    from hub.store import repos

    console = Console()
    settings = _settings()
    target = _bundle_target(settings, wifi_ssid, wifi_password, broker_host, broker_port, tls, out)
    with _db(settings) as session:
        if household is not None and repos.household(session, household) is None:
            raise _fail(f"household {household} not found", EXIT_NOT_FOUND)
        try:
            created = device_service.register(session, kind, name, household, device_id)
        except device_service.DeviceError as e:
            raise _fail(str(e), EXIT_FAILED) from e
        session.commit()
    device = created.device
    folder, broker_note = _write_login_and_bundle(settings, target, device.id, device.kind, created.secret,
                                                  created.claim_code)
    net = target.network
    table = Table(title=f"device {device.id}", show_header=False)
    table.add_row("kind", device.kind)
    table.add_row("household", str(device.household_id) if device.household_id else "unclaimed")
    table.add_row("bundle", str(folder))
    table.add_row("broker", f"{net.broker_host}:{net.broker_port} ({'TLS' if net.tls else 'plain'})")
    table.add_row("login", broker_note)
    console.print(table)
    if broker_host is None:
        console.print(default_broker_host_note(net.broker_host), soft_wrap=True)
    if created.claim_code:
        console.print(f"claim code: [bold]{created.claim_code}[/bold]  (also {folder / 'claim.png'})")
        claim_qr(created.claim_code).terminal(compact=True)


@device_app.command("rekey")
def device_rekey(
    device_id: Annotated[str, typer.Argument(help="The device to give a new secret.")],
    wifi_ssid: WifiSsid = "",
    wifi_password: WifiPassword = "",
    broker_host: BrokerHost = None,
    broker_port: BrokerPort = None,
    tls: UseTls = None,
    out: BundleOut = None,
) -> None:
    """Give a device a new secret and config bundle (flash it again): the old secret stops working at once.

    Devices added before the hub kept NATS logins need this once to log in to a NATS cluster.
    """
    from hub.services import devices as device_service
    from hub.store import repos

    console = Console()
    settings = _settings()
    target = _bundle_target(settings, wifi_ssid, wifi_password, broker_host, broker_port, tls, out)
    with _db(settings) as session:
        device = repos.device(session, device_id)
        if device is None:
            raise _fail(f"device {device_id} not found", EXIT_NOT_FOUND)
        try:
            secret = device_service.rekey(session, device)
        except device_service.DeviceError as e:
            raise _fail(str(e), EXIT_FAILED) from e
    folder, broker_note = _write_login_and_bundle(settings, target, device.id, device.kind, secret, None)
    console.print(f"{device.id} has a new secret: flash the bundle in {folder} ({broker_note})")


@device_app.command("list")
def device_list() -> None:
    """Every device with its household, state and firmware."""
    from hub.store.models import Device

    console = Console()
    with _db(_settings()) as session:
        rows = session.exec(select(Device).order_by(Device.id)).all()
    table = Table()
    for col in ("id", "kind", "name", "household", "state", "firmware"):
        table.add_column(col)
    for d in rows:
        state = "revoked" if not d.active else ("online" if d.online else "offline")
        table.add_row(d.id, d.kind, d.name, str(d.household_id or "unclaimed"), state, d.firmware or "")
    console.print(table)
    stale = [d.id for d in rows if d.active and d.nats_secret_hash is None]
    if stale:
        # Their secret exists only in their bundle, so no NATS login can be made for them without a new one.
        console.print(f"{len(stale)} device(s) have no NATS login (added before it existed): a NATS cluster "
                      f"refuses them until you run 'restock device rekey ID' and flash the new bundle: "
                      f"{', '.join(stale)}", soft_wrap=True)


@device_app.command("revoke")
def device_revoke(device_id: Annotated[str, typer.Argument(help="The device to revoke.")]) -> None:
    """Revoke a device: broker login removed and its live session denied at once, events rejected, orders kept."""
    from hub.services import devices as device_service
    from hub.store import repos

    console = Console()
    settings = _settings()
    with _db(settings) as session:
        device = repos.device(session, device_id)
        if device is None:
            raise _fail(f"device {device_id} not found", EXIT_NOT_FOUND)
        device_service.revoke(session, device)
    files = brokerfiles.BrokerFiles.in_data_dir(settings.data_dir)
    if files.configured():
        brokerfiles.remove_device(files, device_id)
        state = "reloaded" if brokerfiles.reload(files) else "not running"
        console.print(f"{device_id} revoked; mosquitto login removed ({state})")
    else:
        # The embedded broker checks the database on each login, and the running hub's revoke sweep cuts a
        # connected device off; ingest rejects a revoked device's events whatever the broker does.
        console.print(f"{device_id} revoked (embedded broker: the hub refuses its logins and events and "
                      f"disconnects it within {settings.mqtt.revoke_sweep_seconds:g} s)")


def _master_key(settings: Settings) -> bytes:
    try:
        return keys.master_key(settings.data_dir, create=False)
    except FileNotFoundError:
        raise _fail(f"no update key in {settings.data_dir}/keys: devices added with 'restock device add' "
                    "use the data folder's key; check RESTOCK_DATA_DIR", EXIT_FAILED) from None


def _mqtt_url(url: str | None, console: Console) -> str:
    if url:
        return url
    settings = _settings()
    if settings.mqtt.url:
        return settings.mqtt.url
    files = brokerfiles.BrokerFiles.in_data_dir(settings.data_dir)
    if files.configured():
        return brokerfiles.hub_url(files)
    raise _fail("no broker to publish on: set RESTOCK_MQTT_URL or run 'restock broker config'", EXIT_FAILED)


@device_app.command("update")
def device_update(
    device_id: Annotated[str, typer.Argument(help="The device to update.")],
    version: Annotated[int, typer.Option(help="Update version: higher than any the device ran.")],
    source: Annotated[Path | None, typer.Option(help="Built app folder (default: build the device's kind).")] = None,
    march: Annotated[str, typer.Option(help="mpy-cross architecture when building; 'none': bytecode.")] = fwbuild.MARCH,
    mqtt_url: Annotated[str | None, typer.Option(help="Hub account URL (default RESTOCK_MQTT_URL).")] = None,
) -> None:
    """Send a signed update over the device's cmd topic; the device verifies, switches and can roll back."""
    from hub.store import repos

    console = Console()
    settings = _settings()
    with _db(settings) as session:
        device = repos.device(session, device_id)
    if device is None:
        raise _fail(f"device {device_id} not found", EXIT_NOT_FOUND)
    if not device.active:
        raise _fail(f"device {device_id} is revoked", EXIT_FAILED)
    url = _mqtt_url(mqtt_url, console)
    key = keys.device_update_key(_master_key(settings), device_id)
    if source is not None:
        files = fwupdate.files_from_build(source)
    else:
        with fwflash.built_app(device.kind, None if march == "none" else march) as app_files:
            files = {p: f.read_bytes() for p, f in app_files.items() if p not in fwupdate.LOADER_FILES}
    payloads = fwupdate.messages(device_id, key, version, files)
    with _progress(console, "publish") as progress:
        task = progress.add_task(f"{len(files)} files", total=len(payloads))
        fwupdate.publish(url, device_id, payloads, lambda n: progress.update(task, completed=n))
    console.print(f"update {version} queued for {device_id}: {len(files)} files, {len(payloads)} messages")


@device_app.command("factory-reset")
def device_factory_reset(
    device_id: Annotated[str, typer.Argument(help="The device to wipe.")],
    mqtt_url: Annotated[str | None, typer.Option(help="Hub account URL (default RESTOCK_MQTT_URL).")] = None,
) -> None:
    """Send the authenticated factory_reset cmd: the device wipes config, credentials and outbox."""
    from hub.store import repos

    console = Console()
    settings = _settings()
    with _db(settings) as session:
        if repos.device(session, device_id) is None:
            raise _fail(f"device {device_id} not found", EXIT_NOT_FOUND)
    key = keys.device_update_key(_master_key(settings), device_id)
    fwupdate.publish(_mqtt_url(mqtt_url, console), device_id, [fwupdate.factory_reset_command(key, device_id)])
    console.print(f"factory reset queued for {device_id}")


def _progress(console: Console, what: str) -> Progress:
    return Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.description}"), console=console, transient=True)


@pki_app.command("init")
def pki_init(
    host: Annotated[list[str] | None, typer.Option(help="Broker name or address devices use (repeat).")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing CA (every device must get the new ca.pem).")] = False,
) -> None:
    """Create the CA and the broker's server certificate (EC P-256) in <data_dir>/pki."""
    console = Console()
    paths = _pki(_settings())
    hosts = host or [socket.gethostname(), "localhost", "127.0.0.1"]
    try:
        pki.init(paths, hosts, force=force)
    except pki.PkiError as e:
        raise _fail(str(e), EXIT_FAILED) from e
    console.print(f"CA {paths.ca_cert}\nbroker certificate {paths.server_cert} for {', '.join(hosts)}")


@pki_app.command("server")
def pki_server(
    host: Annotated[list[str], typer.Option(help="Broker name or address devices use (repeat).")],
) -> None:
    """Re-issue the broker's certificate with the existing CA (devices keep their ca.pem)."""
    console = Console()
    paths = _pki(_settings())
    try:
        pki.issue_server(paths, host)
    except pki.PkiError as e:
        raise _fail(str(e), EXIT_FAILED) from e
    console.print(f"broker certificate {paths.server_cert} for {', '.join(host)}")


@broker_app.command("config")
def broker_config(
    port: Annotated[int, typer.Option(help="Plain listener on 127.0.0.1, for the hub.")] = brokerfiles.DEFAULT_PORT,
    tls_port: Annotated[int, typer.Option(help="TLS listener for devices.")] = brokerfiles.DEFAULT_TLS_PORT,
    tls_bind: Annotated[str, typer.Option(help="Address of the TLS listener.")] = "0.0.0.0",
) -> None:
    """Write mosquitto.conf, password file (hub account) and pattern ACL into <data_dir>/mosquitto."""
    console = Console()
    settings = _settings()
    files = brokerfiles.BrokerFiles.in_data_dir(settings.data_dir)
    config = brokerfiles.write_config(files, port=port, pki=_pki(settings), tls_port=tls_port, tls_bind=tls_bind)
    console.print(f"wrote {files.conf}, {files.passwd}, {files.acl}")
    if config.tls_port is None:
        console.print("[yellow]no PKI: no TLS listener (run 'restock pki init', then this again)[/yellow]")
    console.print(f"run the hub with RESTOCK_MQTT_URL={brokerfiles.hub_url(files, port=port)}", soft_wrap=True)


@broker_app.command("reload")
def broker_reload() -> None:
    """Make the running mosquitto re-read its password file and ACL (SIGHUP)."""
    console = Console()
    files = brokerfiles.BrokerFiles.in_data_dir(_settings().data_dir)
    if not brokerfiles.reload(files):
        raise _fail(f"no running mosquitto (pid file {files.pid})", EXIT_FAILED)
    console.print("mosquitto reloaded")


@broker_app.command("run")
def broker_run() -> None:
    """Run mosquitto in the foreground with the generated configuration (Ctrl-C stops it)."""
    from hub.broker.mosquitto import MosquittoProcess

    console = Console()
    files = brokerfiles.BrokerFiles.in_data_dir(_settings().data_dir)
    if not files.configured():
        raise _fail("run 'restock broker config' first", EXIT_FAILED)
    settings = _settings()
    config = brokerfiles.write_config(files, pki=_pki(settings))
    proc = MosquittoProcess(config)
    proc.start()
    console.print(f"mosquitto on 127.0.0.1:{config.port}" + (f", TLS on {config.tls_port}" if config.tls_port else ""))
    try:
        while proc.running:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        proc.stop()


def flash_command(
    device_id: Annotated[str, typer.Argument(help="Device id: its bundle is <bundles>/<device_id>/.")],
    port: Annotated[str, typer.Option(help="Serial port of the device (e.g. /dev/ttyUSB0).")],
    image: Annotated[Path | None, typer.Option(help="MicroPython image: erase the flash and write it first.")] = None,
    bundles: Annotated[Path | None, typer.Option(help="Bundle folder (default: <data_dir>/devices).")] = None,
    march: Annotated[str, typer.Option(help="mpy-cross architecture; 'none' for bytecode only.")] = fwbuild.MARCH,
    chip: Annotated[str, typer.Option(help="esptool chip.")] = fwflash.CHIP,
    baud: Annotated[int, typer.Option(help="esptool baud rate.")] = 460800,
    reset: Annotated[bool, typer.Option("--reset/--no-reset", help="Hard-reset the device at the end.")] = True,
    layout: Annotated[str, typer.Option(help="Where the modules go: 'romfs' (the image's ROM partition: code runs "
                                             "from flash, far less heap), 'files', or 'auto' (romfs when the "
                                             "device has one).")] = "auto",
) -> None:
    """Flash a device: [MicroPython image via esptool], .mpy build (mpy-cross), modules as ROMFS or files, config
    (mpremote), reset."""
    console = Console()
    folder = (bundles or _settings().data_dir / "devices") / device_id
    if not (folder / "config.json").exists():
        raise _fail(f"no config bundle at {folder}: run 'restock device add' first", EXIT_NOT_FOUND)
    kind = str(json.loads((folder / "config.json").read_text()).get("kind"))
    try:
        steps = fwflash.esptool_steps(port, image, chip, baud) if image is not None else []  # checks the image
        fwflash.check_port(port)
        if image is not None:
            for step in steps:
                console.print(f"[bold]esptool[/bold] {step.label}")
                if subprocess.run(step.argv).returncode != 0:
                    raise fwflash.FlashError(f"esptool failed: {step.label}")
            time.sleep(2)  # the fresh image boots and creates its filesystem before the REPL answers
        if layout not in fwflash.LAYOUTS:
            raise fwflash.FlashError(f"--layout must be one of {', '.join(fwflash.LAYOUTS)}, not {layout!r}")
        if layout != "files":
            romfs = fwflash.has_romfs(port)
            if layout == "romfs" and not romfs:
                raise fwflash.FlashError("this device's MicroPython has no ROM partition: flash an image built "
                                         "with ROMFS (see docs/hardware.md) or use --layout files")
            layout = "romfs" if romfs else "files"
        with fwflash.built_bundle(kind, None if march == "none" else march) as bundle:
            app_files = dict(bundle.files)
            if layout == "romfs" and bundle.romfs is not None:
                console.print(f"[bold]mpremote[/bold] romfs deploy {bundle.romfs.name}")
                fwflash.run_mpremote(fwflash.romfs_argv(port, bundle.romfs))
                app_files = {p: f for p, f in app_files.items() if p == "main.py"}
            files = fwflash.device_layout(app_files, folder)
            argv = fwflash.mpremote_argv(port, files, reset=reset, romfs=layout == "romfs")
            with _progress(console, "mpremote") as progress:
                task = progress.add_task("", total=len(files))
                fwflash.run_mpremote(argv, lambda p: progress.update(task, advance=1, description=p))
    except fwflash.FlashError as e:
        raise _fail(str(e), EXIT_FAILED) from e
    done = f"{device_id} flashed: modules as {layout}, {len(files)} files ({kind})"
    console.print(done + ("; reset" if reset else ""))
