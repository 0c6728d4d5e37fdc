"""`restock cluster …`: NATS nodes and hub nodes on one machine (up, status, restart), or one node per machine.

`up` is the loopback form the docs and tests use: 3 NATS nodes, the auth sync and N `restock hub` processes
against one PostgreSQL, watched until Ctrl-C. `config` and `node` are the real deployment's form: one NATS node
per machine, its config rendered with the other machines' routes, run beside its own auth sync.
docs/scale-out.md walks through both.
"""

from __future__ import annotations

import csv
import os
import secrets
import signal
import subprocess
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hub.broker import cluster_run
from hub.broker.credentials import HUB_USERNAME
from hub.broker.mosquitto import free_port
from hub.broker.mosquitto_auth import write_atomically
from hub.broker.nats_auth import hub_password_hash, write_auth
from hub.broker.nats_cluster import NatsCluster, spawn_node
from hub.broker.nats_config import NodeConfig
from hub.broker.nats_sync import AuthSync, LocalNode, load_device_logins
from hub.cli_errors import EXIT_FAILED, EXIT_STARTUP, EXIT_USAGE, tell

cluster_app = typer.Typer(
    help="A NATS JetStream cluster with hub nodes: bring it up, watch it, restart a node; one node per machine.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

DirOption = Annotated[Path, typer.Option("--dir", help="The cluster's folder (configs, logs, cluster.json)")]
DEFAULT_DIR = Path("data/cluster")
DatabaseOption = Annotated[
    str, typer.Option("--database", envvar="RESTOCK_DATABASE_URL", help="PostgreSQL URL all hub nodes share")
]


def _hub_password(root: Path) -> str:
    path = root / "hub.secret"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(24)
    write_atomically(path, password + "\n", 0o600)
    return password


def _prepare_database(database: str) -> None:
    from hub.store.db import migrate  # the migrations load only for commands that need them

    if not database.startswith(("postgresql", "postgres")):
        raise tell(
            "--database must be a PostgreSQL URL: every hub node shares it (postgresql://user@host/db)", EXIT_USAGE
        )
    try:
        migrate(database)
    except Exception as exc:  # noqa: BLE001 - any failure here is "cannot use this database", told in one line
        raise tell(f"cannot use the database {database}: {str(exc).splitlines()[0]}", EXIT_STARTUP) from exc


def _nats_entry(config: NodeConfig, pid: int) -> dict[str, Any]:
    return {
        "name": config.name,
        "kind": "nats",
        "pid": pid,
        "host": config.host,
        "ports": {
            "client": config.client_port,
            "mqtt": config.mqtt_port,
            "cluster": config.cluster_port,
            "monitor": config.monitor_port,
        },
        "conf": str(config.conf_path),
        "data_dir": str(config.data_dir),
        "log": str(config.data_dir / "nats.log"),
    }


def _hub_entry(root: Path, index: int, http_port: int, database: str, cluster: NatsCluster) -> dict[str, Any]:
    data_dir = (root / f"hub{index}").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    mqtt_urls = cluster.mqtt_urls()
    first = (index - 1) % len(mqtt_urls)
    env = {
        "RESTOCK_DATA_DIR": str(data_dir),
        "RESTOCK_DATABASE_URL": database,
        "RESTOCK_BROKER": "nats",
        "RESTOCK_NATS_URL": ",".join(cluster.nats_urls()),
        # Feedback to devices goes out as MQTT QoS1 through one node's listener, the next one when it dies;
        # each hub starts on a different node.
        "RESTOCK_MQTT_URL": ",".join(mqtt_urls[first:] + mqtt_urls[:first]),
        "RESTOCK_MQTT_CLIENT_ID": f"restock-hub{index}",
        "RESTOCK_HTTP_HOST": "127.0.0.1",
    }
    return {
        "name": f"hub{index}",
        "kind": "hub",
        "pid": 0,
        "host": "127.0.0.1",
        "ports": {"http": http_port},
        "url": f"http://127.0.0.1:{http_port}/",
        "data_dir": str(data_dir),
        "log": str(data_dir / "hub.log"),
        "env": env,
    }


def _table(state: dict[str, Any], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("name", "pid", "state", "ports", "dashboard / device MQTT"):
        table.add_column(column)
    for item in state["processes"]:
        alive = cluster_run.is_running(item)
        ports = " ".join(f"{k} {v}" for k, v in item["ports"].items())
        where = item["url"] if item["kind"] == "hub" else f"mqtt://{item['host']}:{item['ports']['mqtt']}"
        table.add_row(item["name"], str(item["pid"]), "[green]up[/]" if alive else "[red]down[/]", ports, where)
    return table


@cluster_app.command("up")
def up_command(
    database: DatabaseOption,
    nats: Annotated[int, typer.Option("--nats", min=1, max=9, help="NATS nodes (3 survive the loss of one)")] = 3,
    hubs: Annotated[int, typer.Option("--hubs", min=0, max=16, help="Hub nodes (restock hub processes)")] = 2,
    root: DirOption = DEFAULT_DIR,
    http_port: Annotated[
        int | None, typer.Option(help="HTTP port of hub1; hub2 gets the next one, ... (default: free ports)")
    ] = None,
) -> None:
    """Start NATS nodes, their auth sync and hub nodes on this machine; watch them until Ctrl-C stops them all."""
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    _prepare_database(database)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    cluster = NatsCluster(root / "nats", nats, hub_password=_hub_password(root), database_url=database)
    with console.status(f"starting {nats} NATS node(s)"):
        cluster.start(timeout=60.0)
    sync = AuthSync(database, lambda: [LocalNode(c) for c in cluster.configs], cluster.hub_password_hash)
    sync_thread = threading.Thread(target=sync.run, name="auth-sync", daemon=True)
    sync_thread.start()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    state: dict[str, Any] = {
        "supervisor_pid": os.getpid(),
        "database": database,
        "hub_username": HUB_USERNAME,
        "processes": [_nats_entry(c, n.pid) for c, n in zip(cluster.configs, cluster.nodes, strict=True)],
    }
    try:
        hub_items = [
            _hub_entry(root, i, http_port + i - 1 if http_port else free_port(), database, cluster)
            for i in range(1, hubs + 1)
        ]
        state["processes"] += hub_items
        with console.status(f"starting {hubs} hub node(s)"):
            # One after another: a hub's first start on an empty database seeds it (the demo catalog), and two
            # first starts at once would race on the same rows.
            for item in hub_items:
                procs[item["name"]] = cluster_run.spawn(item)
                item["pid"] = procs[item["name"]].pid
                cluster_run.write_state(root, state)
                cluster_run.wait_ready(item, procs[item["name"]], cluster_run.HUB_START_TIMEOUT)
        cluster_run.write_state(root, state)
        console.print(_table(state, f"cluster in {root} (table in {cluster_run.cluster_file(root)})"))
        console.print(f"Ctrl-C stops everything; bring a process back with: restock cluster restart NAME --dir {root}")
        _watch(root, stopping)
    except (RuntimeError, TimeoutError) as exc:
        console.print(f"[red]{exc}[/]")
        stopping.set()
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        with console.status("stopping"):
            current = _current(root, state)
            for item in [p for p in current["processes"] if p["kind"] == "hub"]:
                cluster_run.terminate(item, procs.get(item["name"]))
            sync.stop()
            cluster.stop()
            for item in [p for p in current["processes"] if p["kind"] == "nats"]:
                cluster_run.terminate(item, None)  # nodes restarted from another shell are not the cluster's
        console.print("cluster stopped")


def _current(root: Path, fallback: dict[str, Any]) -> dict[str, Any]:
    try:
        return cluster_run.read_state(root)
    except (OSError, ValueError):
        return fallback


def _watch(root: Path, stopping: threading.Event) -> None:
    """Report processes that die or come back; never stop the others because one died."""
    seen: dict[str, bool] = {}
    while not stopping.wait(1.0):
        for item in _current(root, {"processes": []})["processes"]:
            alive = cluster_run.is_running(item)
            if seen.get(item["name"], True) and not alive:
                console.print(
                    f"[red]{item['name']} (pid {item['pid']}) is down[/]; bring it back with: "
                    f"restock cluster restart {item['name']} --dir {root}"
                )
            elif seen.get(item["name"]) is False and alive:
                console.print(f"[green]{item['name']} is back (pid {item['pid']})[/]")
            seen[item["name"]] = alive


@cluster_app.command("status")
def status_command(root: DirOption = DEFAULT_DIR) -> None:
    """Which processes of the cluster in --dir are alive, and which node leads JetStream and each stream."""
    state = _read(root)
    console.print(_table(state, f"cluster in {root.resolve()}"))
    leaders = cluster_run.jetstream_leaders(state)
    if not leaders:
        console.print("[red]no NATS node answers[/]")
        raise typer.Exit(EXIT_FAILED)
    table = Table(title="JetStream leaders", title_justify="left")
    table.add_column("meta / stream")
    table.add_column("leader")
    for name, leader in leaders.items():
        table.add_row(name, leader)
    console.print(table)


@cluster_app.command("restart")
def restart_command(
    name: Annotated[str, typer.Argument(help="The process to start again: n1, n2, ... or hub1, hub2, ...")],
    root: DirOption = DEFAULT_DIR,
) -> None:
    """Start one NATS or hub node of a running cluster again, on its ports and data (stopping it first if it runs)."""
    _read(root)
    try:
        with console.status(f"restarting {name}"):
            item = cluster_run.restart(root.resolve(), name)
    except KeyError as exc:
        raise tell(str(exc.args[0]), EXIT_USAGE) from None
    except (RuntimeError, TimeoutError) as exc:
        raise tell(str(exc), EXIT_FAILED) from None
    console.print(f"{name} is up again (pid {item['pid']})")


def _read(root: Path) -> dict[str, Any]:
    try:
        return cluster_run.read_state(root.resolve())
    except FileNotFoundError:
        raise tell(f"no cluster in {root}: start one with 'restock cluster up --dir {root}'", EXIT_USAGE) from None


@cluster_app.command("devices")
def devices_command(
    database: DatabaseOption,
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many load-test buttons to add")] = 50,
    out: Annotated[Path, typer.Option(help="CSV of device_id,secret for 'restock sim fleet --credentials'")] = Path(
        "data/cluster/fleet.csv"
    ),
    prefix: Annotated[str, typer.Option(help="Device id prefix")] = "fleet",
) -> None:
    """Add load-test buttons (one household, ordering a demo product on every press) and write their credentials."""
    from sqlmodel import Session

    from hub.services.fleet import add_fleet
    from hub.store.db import make_engine

    _prepare_database(database)
    engine = make_engine(database)
    with console.status(f"adding {count} devices"), Session(engine) as session:
        created = add_fleet(session, count, prefix)
    engine.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", newline="") as handle:
        csv.writer(handle).writerows(created)
    console.print(f"{len(created)} device(s) added; credentials appended to {out}")


@cluster_app.command("config")
def config_command(
    name: Annotated[str, typer.Option(help="This node's name, unique in the cluster (n1, n2, ...)")],
    routes: Annotated[
        list[str] | None,
        typer.Option("--route", help="host:port of another node's cluster listener (repeat per node)"),
    ] = None,
    root: Annotated[Path, typer.Option("--dir", help="This node's folder")] = Path("data/nats"),
    host: Annotated[str, typer.Option(help="Address of the client and MQTT listeners")] = "0.0.0.0",
    cluster_host: Annotated[str, typer.Option(help="Address of the route listener")] = "0.0.0.0",
    client_port: int = 4222,
    mqtt_port: int = 1883,
    cluster_port: int = 6222,
    monitor_port: int = 8222,
    route_password_file: Annotated[
        Path | None, typer.Option(help="File with the routes' shared password (same on every node)")
    ] = None,
    hub_password_file: Annotated[
        Path, typer.Option(help="File with the hub account's password (same on every node; created if missing)")
    ] = Path("data/nats/hub.secret"),
) -> None:
    """Write one node's nats.conf and its first logins file (hub only: `restock cluster node` adds the devices)."""
    route_password = route_password_file.read_text().strip() if route_password_file else None
    config = NodeConfig(
        name=name,
        data_dir=root.resolve(),
        client_port=client_port,
        mqtt_port=mqtt_port,
        cluster_port=cluster_port,
        monitor_port=monitor_port,
        routes=routes or [],
        host=host,
        cluster_host=cluster_host,
        monitor_host="127.0.0.1",
        route_password=route_password,
        mqtt_stream_replicas=min(3, len(routes or []) + 1),
    )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(config.conf_path, config.render(), 0o600)
    if not config.auth_path.exists():
        write_auth(config.auth_path, hub_password_hash(_password_file(hub_password_file)), [])
    console.print(f"wrote {config.conf_path}; run it with: restock cluster node --dir {root} --database URL")


def _password_file(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(24)
    write_atomically(path, password + "\n", 0o600)
    return password


@cluster_app.command("node")
def node_command(
    database: DatabaseOption,
    root: Annotated[Path, typer.Option("--dir", help="This node's folder (as given to 'cluster config')")] = Path(
        "data/nats"
    ),
    hub_password_file: Annotated[Path, typer.Option(help="File with the hub account's password")] = Path(
        "data/nats/hub.secret"
    ),
) -> None:
    """Run this machine's NATS node and its auth sync (device logins from PostgreSQL) until Ctrl-C."""
    conf = root.resolve() / "nats.conf"
    if not conf.exists():
        raise tell(f"no {conf}: write it first with 'restock cluster config --dir {root} ...'", EXIT_USAGE)
    hub_hash = hub_password_hash(_password_file(hub_password_file))
    config = _config_from_file(conf)
    write_auth(config.auth_path, hub_hash, load_device_logins(database))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    proc = spawn_node(config)
    sync = AuthSync(database, lambda: [LocalNode(config)], hub_hash)
    threading.Thread(target=sync.run, name="auth-sync", daemon=True).start()
    log_path = config.data_dir / "nats.log"
    console.print(f"nats node {config.name} running (pid {proc.pid}, log {log_path}); Ctrl-C stops it")
    while not stopping.wait(1.0):
        if proc.poll() is not None:
            sync.stop()
            raise tell(f"nats-server exited ({proc.returncode}); see {config.data_dir / 'nats.log'}", EXIT_FAILED)
    sync.stop()
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def _config_from_file(conf: Path) -> NodeConfig:
    """The parts of a written nats.conf the node runner needs (name, folder, monitoring port)."""
    values: dict[str, str] = {}
    for line in conf.read_text().splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key in {"server_name", "http"} and key not in values:
            values[key] = value.strip().strip('"')
    host, _, port = values.get("http", "127.0.0.1:8222").rpartition(":")
    return NodeConfig(
        name=values.get("server_name", "n1"),
        data_dir=conf.parent,
        client_port=0,
        mqtt_port=0,
        cluster_port=0,
        monitor_port=int(port),
        monitor_host=host,
    )
