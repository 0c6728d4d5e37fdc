"""Cluster benchmark: the same fleet load on mosquitto + 1 hub, on 3 NATS nodes + 1 hub node and on 3 NATS
nodes + 2 hub nodes, side by side in one run; then a failover run that kills the JetStream stream leader.

    python -m bench.cluster --database-url postgresql://postgres@127.0.0.1:5432/bench [--rate 300]
                            [--duration 6] [--devices 200] [--repeat 3] [--warmup 2] [--failover-rate 100]

Figures, never assertions: completed events per second (feedback received by the devices; the median of the
repeats, with the slowest and fastest), the hub processes' CPU per completed event and the brokers' CPU share.
The failover run offers a steady load, kills the stream leader of `$MQTT_msgs` with SIGKILL and reports the
stall (the longest time without any feedback after the kill), presses never answered (lost) and presses that
made more than one order (doubled). Every hub node runs on PostgreSQL, whose schema the bench empties first:
name a database that holds nothing of value.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import psutil
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, func, text
from sqlmodel import Session, col, select

from bench.cluster.load import LoadResult, drive
from bench.cluster.nodes import HubNode, fleet_credentials, nats_env, prepare_database
from hub.broker.credentials import HUB_USERNAME
from hub.broker.mosquitto import MosquittoConfig, MosquittoProcess, free_port
from hub.broker.mosquitto_auth import write_acl_file, write_password_file
from hub.broker.nats_cluster import NatsCluster, NatsServerMissing
from hub.ingest.jetstream import STREAM
from hub.store.db import make_engine, normalise_url
from hub.store.models import Order, ProcessedEvent

console = Console(width=200)
DATABASE_ENV = "RESTOCK_BENCH_DATABASE_URL"


@dataclass(frozen=True)
class Run:
    """One measured run."""

    completed_per_s: float
    hub_cpu_us: float  # hub processes' CPU per completed event
    broker_share: float  # the broker processes' CPU, in cores
    lost: int


@dataclass(frozen=True)
class Config:
    """One configuration's repeats."""

    name: str
    runs: list[Run]

    def median(self) -> Run:
        """The run with the median throughput."""
        ordered = sorted(self.runs, key=lambda r: r.completed_per_s)
        return ordered[len(ordered) // 2]


@dataclass(frozen=True)
class Failover:
    """The failover run's figures."""

    sent: int
    lost: int
    doubled: int
    stall_s: float | None
    killed: str


def reset_database(url: str) -> None:
    """Drop and recreate the public schema (PostgreSQL)."""
    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes and their children."""
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                total += sum(p.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


async def measure(
    ports: list[int],
    creds: list[tuple[str, str | None]],
    rate: float,
    duration: float,
    hubs: list[int],
    brokers: list[int],
) -> Run:
    """One run of offered load, with the CPU the hubs and brokers used."""
    hub_before, broker_before, started = cpu_seconds(hubs), cpu_seconds(brokers), time.perf_counter()
    result = await drive(ports, creds, rate, duration, settle=30)
    wall = time.perf_counter() - started
    hub_cpu, broker_cpu = cpu_seconds(hubs) - hub_before, cpu_seconds(brokers) - broker_before
    done = result.stats.feedback
    return Run(
        result.stats.completed_per_s, hub_cpu / done * 1e6 if done else float("nan"), broker_cpu / wall, result.lost
    )


async def repeat(
    name: str,
    ports: list[int],
    creds: list[tuple[str, str | None]],
    args: argparse.Namespace,
    hubs: list[int],
    brokers: list[int],
) -> Config:
    """Warm up, then `args.repeat` runs."""
    with console.status(f"{name}: warming up"):
        if args.warmup:
            await drive(ports, creds, args.rate, args.warmup, settle=30)
    runs = []
    for n in range(args.repeat):
        with console.status(f"{name}: run {n + 1}/{args.repeat}, {args.rate:.0f} events/s for {args.duration:.0f} s"):
            runs.append(await measure(ports, creds, args.rate, args.duration, hubs, brokers))
    return Config(name, runs)


@contextmanager
def hub_nodes(work: Path, envs: list[dict[str, str]]) -> Iterator[list[HubNode]]:
    """Hub nodes started together, stopped at the end."""
    nodes = [HubNode(f"h{i + 1}", work / f"h{i + 1}", env) for i, env in enumerate(envs)]
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_ready()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def on_mosquitto(work: Path, url: str, creds: list[tuple[str, str | None]], args: argparse.Namespace) -> Config:
    """(a) mosquitto and one hub."""
    password = secrets.token_urlsafe(16)
    write_password_file(work / "passwd", {HUB_USERNAME: password, **{d: s for d, s in creds if s}})
    write_acl_file(work / "acl", HUB_USERNAME)
    broker = MosquittoProcess(
        MosquittoConfig(
            port=free_port(),
            data_dir=work / "mosquitto",
            password_file=work / "passwd",
            acl_file=work / "acl",
            persistence=False,
            extra=("max_connections -1",),
        )
    )
    broker.start()
    assert broker.pid is not None
    try:
        env = {
            "RESTOCK_MQTT_URL": f"mqtt://{HUB_USERNAME}:{password}@127.0.0.1:{broker.port}",
            "RESTOCK_DATABASE_URL": url,
        }
        with hub_nodes(work / "mosquitto-hub", [env]) as nodes:
            return asyncio.run(
                repeat("mosquitto + 1 hub", [broker.port], creds, args, [n.pid for n in nodes], [broker.pid])
            )
    finally:
        broker.stop()


def on_nats(
    work: Path,
    url: str,
    creds: list[tuple[str, str | None]],
    args: argparse.Namespace,
) -> tuple[list[Config], Failover | None]:
    """(b) 3 NATS nodes and 1 hub node, (c) 3 NATS nodes and 2 hub nodes, then the failover run on (c)."""
    password = secrets.token_urlsafe(16)
    cluster = NatsCluster(work / "nats", 3, hub_password=password, database_url=url)
    with console.status("starting 3 NATS nodes"):
        cluster.start()
    configs: list[Config] = []
    failover: Failover | None = None
    try:
        ports = [node.mqtt_port for node in cluster.nodes]
        brokers = [node.pid for node in cluster.nodes]
        env = nats_env(cluster.nats_urls(), cluster.mqtt_urls(), url)
        with hub_nodes(work / "nats-1", [env]) as nodes:
            configs.append(
                asyncio.run(repeat("3 NATS + 1 hub node", ports, creds, args, [n.pid for n in nodes], brokers))
            )
        with hub_nodes(work / "nats-2", [env, env]) as nodes:
            configs.append(
                asyncio.run(repeat("3 NATS + 2 hub nodes", ports, creds, args, [n.pid for n in nodes], brokers))
            )
            if not args.no_failover:
                failover = failover_run(cluster, ports, creds, url, args)
    finally:
        cluster.stop()
    return configs, failover


def failover_run(
    cluster: NatsCluster, ports: list[int], creds: list[tuple[str, str | None]], url: str, args: argparse.Namespace
) -> Failover:
    """Steady load; SIGKILL the stream leader after a third of it; count what was lost and doubled."""
    leader = cluster.stream_leader(STREAM)
    if leader is None:
        raise RuntimeError(f"no leader for {STREAM}: did the hub nodes create their consumer?")
    since = _order_count(url)
    kill: Callable[[], object] = lambda: cluster.kill(leader)  # noqa: E731
    with console.status(f"failover: {args.failover_rate:.0f} events/s, killing {leader} (stream leader)"):
        result: LoadResult = asyncio.run(
            drive(
                ports,
                creds,
                args.failover_rate,
                args.failover_duration,
                actions=[(args.failover_duration / 3, "kill", kill)],
                settle=60,
            )
        )
    orders = _order_count(url) - since
    answered = _keys_with_orders(url, result.sent)
    return Failover(result.stats.sent, result.lost, max(0, orders - answered), result.stall_after("kill"), leader)


def _order_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return int(session.exec(select(func.count()).select_from(Order)).one())
    finally:
        engine.dispose()


def _keys_with_orders(url: str, keys: set[tuple[str, int]]) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            rows = session.exec(
                select(ProcessedEvent.device_id, ProcessedEvent.seq).where(col(ProcessedEvent.order_id).is_not(None))
            ).all()
    finally:
        engine.dispose()
    return sum(1 for row in rows if (row[0], row[1]) in keys)


def report(configs: list[Config], failover: Failover | None, args: argparse.Namespace) -> None:
    """Print the table, the ratios against mosquitto, and the failover figures."""
    table = Table(
        title=f"restock cluster ({args.devices} devices, {args.rate:.0f} events/s offered, "
        f"{args.repeat} runs each, PostgreSQL, this machine)"
    )
    for column in (
        "configuration",
        "completed/s (median)",
        "runs: slowest – fastest/s",
        "× mosquitto",
        "hub CPU µs/event",
        "broker CPU (cores)",
        "lost",
    ):
        table.add_column(column, justify="right")
    base = configs[0].median().completed_per_s if configs else 0.0
    for config in configs:
        m = config.median()
        rates = [r.completed_per_s for r in config.runs]
        table.add_row(
            config.name,
            f"{m.completed_per_s:.0f}",
            f"{min(rates):.0f} – {max(rates):.0f}",
            f"{m.completed_per_s / base:.2f}" if base else "–",
            f"{median(r.hub_cpu_us for r in config.runs):.0f}",
            f"{m.broker_share:.2f}",
            str(sum(r.lost for r in config.runs)),
        )
    console.print(table)
    if failover is not None:
        stall = f"{failover.stall_s:.1f} s" if failover.stall_s is not None else "–"
        console.print(
            f"failover (3 NATS + 2 hub nodes, {args.failover_rate:.0f} events/s, {failover.killed} killed "
            f"as stream leader): stall {stall} (target < 10 s), sent {failover.sent}, "
            f"lost {failover.lost}, doubled {failover.doubled} (0 and 0 expected)"
        )


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_ENV),
        help=f"PostgreSQL the hub nodes share; its schema is emptied (default ${DATABASE_ENV})",
    )
    parser.add_argument("--devices", type=int, default=200, help="fleet size")
    parser.add_argument("--rate", type=float, default=300.0, help="events/s offered in the throughput runs")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of offered load per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (the median is shown)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of uncounted load on fresh hub nodes")
    parser.add_argument("--failover-rate", type=float, default=100.0, help="events/s of the failover run")
    parser.add_argument("--failover-duration", type=float, default=12.0, help="seconds of the failover run")
    parser.add_argument("--no-failover", action="store_true", help="skip the failover run")
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith("postgresql"):
        console.print(f"[red]hub nodes share PostgreSQL: pass --database-url postgresql://... or set {DATABASE_ENV}")
        sys.exit(2)
    work = Path(tempfile.mkdtemp(prefix="restock-cluster-bench-"))
    creds = fleet_credentials(args.devices)
    try:
        configs: list[Config] = []
        with console.status("preparing the database"):
            reset_database(args.database_url)
            prepare_database(args.database_url, creds)
        configs.append(on_mosquitto(work / "a", args.database_url, creds, args))
        nats_configs, failover = on_nats(work / "bc", args.database_url, creds, args)
        configs += nats_configs
    except NatsServerMissing as exc:
        console.print(f"[red]{exc}")
        sys.exit(2)
    report(configs, failover, args)
    console.print(f"logs in {work}")
