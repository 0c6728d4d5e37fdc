"""Ingest benchmark: the hub against a bare echo consumer on the same mosquitto, in one run.

    python -m bench.ingest [--duration 10] [--rate 3000] [--devices 100 1000] [--latency-rate 500] [--warmup 3]
                           [--repeat 3] [--hub-workers 2]

Figures, never assertions: completed events per second (feedback received by the device), publish→feedback
latency p50/p99, and hub ÷ echo, the echo consumer being the transport ceiling (receive an event, publish
its feedback, nothing else), measured at the latency run's rate too. The hub and the echo consumer each run
in a process of their own, apart from the load generator. The hub runs as deployed on a machine of this
size: `--hub-workers` ingest processes (RESTOCK_INGEST_WORKERS, by default one per core).

Three processes share the machine, so each run also shows the CPU each used: the consumer's per completed
event (the hub's with its worker processes) and, as a share of one core, the consumer's, the broker's and
the load generator's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from bench.ingest.echo import PASSWORD_ENV
from hub.broker.credentials import HUB_USERNAME, hash_secret
from hub.broker.mosquitto import MosquittoConfig, MosquittoProcess, free_port
from hub.broker.mosquitto_auth import write_acl_file, write_password_file
from hub.merchants.catalog import seed_demo_catalog
from hub.store import repos
from hub.store.db import make_engine, migrate
from hub.store.models import Device, Household
from simulator.fleet import FleetStats, run_fleet

console = Console(width=220)


@dataclass(frozen=True)
class Result:
    """One measured configuration."""

    consumer: str
    devices: int
    offered: float
    stats: FleetStats  # of the median run
    cpu: Cpu
    spread: tuple[float, float] | None = None  # slowest and fastest run, completed/s, when repeated


@dataclass(frozen=True)
class Cpu:
    """CPU seconds each process used during one run: what explains a figure on a machine the three share."""

    consumer: float
    broker: float
    fleet: float
    wall: float

    def share(self, seconds: float) -> str:
        """Cores used on average, as a percentage of one core."""
        return f"{seconds / self.wall:.0%}" if self.wall > 0 else "–"


class CpuMeter:
    """Reads the consumer's, the broker's and this process's CPU time around a run."""

    def __init__(self, consumer: int, broker: int) -> None:
        root = psutil.Process(consumer)
        # The hub's ingest workers are its children: the consumer's figure is theirs and its own together.
        self.consumer = [root, *root.children(recursive=True)]
        self.procs = [psutil.Process(broker), psutil.Process()]

    def _now(self) -> list[float]:
        consumer = sum(sum(p.cpu_times()[:2]) for p in self.consumer)
        return [consumer] + [sum(p.cpu_times()[:2]) for p in self.procs] + [time.perf_counter()]

    def start(self) -> None:
        """Mark the start of a run."""
        self._start = self._now()

    def stop(self) -> Cpu:
        """CPU seconds used since `start`."""
        used = [b - a for a, b in zip(self._start, self._now(), strict=True)]
        return Cpu(*used)


def start_echo(port: int, hub_password: str) -> subprocess.Popen[str]:
    """The echo consumer (bench/ingest/echo.py) in its own process, once it is subscribed."""
    env = {**os.environ, PASSWORD_ENV: hub_password}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.ingest.echo", str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"the echo consumer did not start (exit {proc.wait()})")
    return proc


def prepare_database(url: str, device_ids: list[str]) -> None:
    """A household with every bench device bound to a product (order mode, no protection)."""
    engine = make_engine(url)
    migrate(url)
    # mosquitto authenticates the devices in this bench; the hub only needs rows, so one hash serves all.
    shared_hash = hash_secret(secrets.token_urlsafe(16))
    with Session(engine) as session:
        seed_demo_catalog(session)
        household = Household(name="bench", allow_multiple_orders=True, cancel_window_s=3600)
        session.add(household)
        session.flush()
        product = repos.product_by_sku(session, "demo", "COF-1KG")
        assert product is not None and product.id is not None
        for device_id in device_ids:
            session.add(
                Device(
                    id=device_id, kind="dash_button", household_id=household.id, secret_hash=shared_hash,
                    binding_product_id=product.id, binding_mode="order", binding_unit_price=product.price,
                )
            )
        session.commit()
    engine.dispose()


def start_hub(
    data: Path, db_url: str, mqtt_port: int, hub_password: str, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    """The real hub as a separate process, as it runs in production, with `workers` ingest processes."""
    http_port = free_port()
    env = {
        **os.environ,
        "RESTOCK_DATA_DIR": str(data),
        "RESTOCK_DATABASE_URL": db_url,
        "RESTOCK_MQTT_URL": f"mqtt://{HUB_USERNAME}:{hub_password}@127.0.0.1:{mqtt_port}",
        "RESTOCK_MQTT_CLIENT_ID": f"bench-hub-{http_port}",
        "RESTOCK_HTTP_PORT": str(http_port),
        "RESTOCK_LOG_LEVEL": "WARNING",
        "RESTOCK_DEMO_CATALOG": "false",
        "RESTOCK_INGEST_WORKERS": str(workers),
    }
    log = open(data / "hub.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen([sys.executable, "-m", "restock", "hub"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{http_port}/healthz"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with suppress(httpx.HTTPError):
            health = httpx.get(url, timeout=1).json()
            if health.get("mqtt_connected") and health.get("ingest_workers") == workers:
                return proc, url
        if proc.poll() is not None:
            raise RuntimeError((data / "hub.log").read_text()[-3000:])
        time.sleep(0.2)
    raise TimeoutError("hub did not start")


async def measure(
    consumer: str, port: int, creds: list[tuple[str, str | None]], rate: float, duration: float, meter: CpuMeter
) -> Result:
    """Offer `rate` events/s from the devices for `duration` s and wait for the feedback."""
    with console.status(f"{consumer}: {len(creds)} devices, {rate:.0f} events/s offered for {duration:.0f} s"):
        meter.start()
        stats = await run_fleet("127.0.0.1", port, creds, rate, duration, settle=60)
        cpu = meter.stop()
    return Result(consumer, len(creds), rate, stats, cpu)


async def measure_median(
    consumer: str,
    port: int,
    creds: list[tuple[str, str | None]],
    rate: float,
    duration: float,
    repeat: int,
    meter: CpuMeter,
) -> Result:
    """`measure` repeat times; the median run, with the spread. On two shared cores one run varies by ±10 %."""
    runs = [await measure(consumer, port, creds, rate, duration, meter) for _ in range(repeat)]
    runs.sort(key=lambda r: r.stats.completed_per_s)
    median = runs[len(runs) // 2]
    if repeat == 1:
        return median
    return Result(consumer, median.devices, rate, median.stats, median.cpu,
                  (runs[0].stats.completed_per_s, runs[-1].stats.completed_per_s))


async def measure_runs(
    consumer: str, port: int, creds: list[tuple[str, str | None]], args: argparse.Namespace, meter: CpuMeter,
    latency: bool,
) -> list[Result]:
    """The latency run (when `latency` and a latency rate is set), then the throughput runs.

    The latency run goes first, on a consumer with nothing queued: after an overload run the hub is still
    answering that run's replays, which would be measured instead.
    """
    results = []
    if latency and args.latency_rate:
        results.append(await measure(consumer, port, creds, args.latency_rate, args.duration, meter))
    results.append(await measure_median(consumer, port, creds, args.rate, args.duration, args.repeat, meter))
    return results


async def main_async(args: argparse.Namespace) -> list[Result]:
    """Run every configuration on one broker."""
    work = Path(tempfile.mkdtemp(prefix="restock-bench-"))
    hub_password = secrets.token_urlsafe(16)
    most = max(args.devices)
    creds: list[tuple[str, str | None]] = [(f"fleet-{n:05d}", secrets.token_urlsafe(12)) for n in range(most)]
    passwords = {HUB_USERNAME: hub_password, **{d: s for d, s in creds if s}}
    with console.status("writing broker credentials"):
        write_password_file(work / "passwd", passwords)
        write_acl_file(work / "acl", HUB_USERNAME)
    broker = MosquittoProcess(
        MosquittoConfig(
            port=free_port(), data_dir=work / "mosquitto", password_file=work / "passwd", acl_file=work / "acl",
            persistence=False,
            extra=("max_connections -1",),
        )
    )
    broker.start()
    assert broker.pid is not None
    results: list[Result] = []
    try:
        for devices in args.devices:
            echo = start_echo(broker.port, hub_password)
            meter = CpuMeter(echo.pid, broker.pid)
            try:
                # With the transport's own latency at the latency run's rate, for the hub's to be read against.
                results += await measure_runs("echo", broker.port, creds[:devices], args, meter,
                                              latency=devices == args.devices[0])
            finally:
                echo.terminate()
                echo.wait(30)

            data = work / f"hub-{devices}"
            data.mkdir()
            db_url = f"sqlite:///{data / 'restock.db'}"
            prepare_database(db_url, [d for d, _ in creds[:devices]])
            proc, _ = start_hub(data, db_url, broker.port, hub_password, args.hub_workers)
            meter = CpuMeter(proc.pid, broker.pid)
            try:
                if args.warmup:
                    # A fresh hub's first batches build SQL statements, caches and connections: a few seconds
                    # of load first, not counted, so the figures are those of a hub that has been running.
                    await measure(
                        "hub", broker.port, creds[:devices], args.latency_rate or args.rate, args.warmup, meter
                    )
                results += await measure_runs("hub", broker.port, creds[:devices], args, meter,
                                              latency=devices == args.devices[0])
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    finally:
        broker.stop()
    return results


def report(results: list[Result], hub_workers: int) -> None:
    """Print the table and the hub ÷ echo ratios."""
    table = Table(title=f"restock ingest (mosquitto, SQLite, this machine; hub with {hub_workers} ingest processes)")
    for col in ("consumer", "devices", "offered/s", "sent", "feedback", "lost", "replays", "completed/s", "p50 ms",
                "p99 ms", "connect failures", "runs: slowest – fastest/s", "consumer CPU µs/event", "CPU: consumer",
                "broker", "load generator"):
        table.add_column(col, justify="right")
    for r in results:
        s = r.stats
        table.add_row(
            r.consumer, str(r.devices), f"{r.offered:.0f}", str(s.sent), str(s.feedback), str(s.sent - s.feedback),
            str(s.replays), f"{s.completed_per_s:.0f}", f"{s.percentile(50):.1f}", f"{s.percentile(99):.1f}",
            str(s.connect_failures), f"{r.spread[0]:.0f} – {r.spread[1]:.0f}" if r.spread else "",
            f"{r.cpu.consumer / s.feedback * 1e6:.0f}" if s.feedback else "–",
            r.cpu.share(r.cpu.consumer), r.cpu.share(r.cpu.broker), r.cpu.share(r.cpu.fleet),
        )
    console.print(table)
    for devices in sorted({r.devices for r in results}):
        # The throughput runs (the highest offered load), not the latency runs; like with like: the hub run
        # offered the same load as the echo run.
        echo = max((r for r in results if r.consumer == "echo" and r.devices == devices),
                   key=lambda r: r.offered, default=None)
        hub = next(
            (r for r in results if r.consumer == "hub" and r.devices == devices and echo and r.offered == echo.offered),
            None,
        )
        if echo and hub and echo.stats.completed_per_s:
            ratio = hub.stats.completed_per_s / echo.stats.completed_per_s
            console.print(f"{devices} devices: hub ÷ echo = {ratio:.0%} (target >= 70%)")


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of offered load per run")
    parser.add_argument("--rate", type=float, default=3000.0, help="events/s offered for the throughput runs")
    parser.add_argument("--devices", type=int, nargs="+", default=[100, 1000], help="fleet sizes")
    parser.add_argument("--latency-rate", type=float, default=500.0, help="events/s for the latency run (0 = skip)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs per configuration (the median is shown)")
    parser.add_argument(
        "--hub-workers", type=int, default=os.cpu_count() or 1,
        help="the hub's ingest processes (RESTOCK_INGEST_WORKERS); default one per core",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of uncounted load on each fresh hub")
    args = parser.parse_args()
    # aiomqtt warns once per publish past its queue threshold: at a 3000/s offered load that is the point
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    report(asyncio.run(main_async(args)), args.hub_workers)


if __name__ == "__main__":
    main()
