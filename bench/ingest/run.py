"""Ingest benchmark: the hub against a bare echo consumer, runs alternated, figures as ratios to the echo.

    python -m bench.ingest [--duration 10] [--devices 1000] [--latency-rate 500] [--repeat 3] [--window 2]
    python -m bench.ingest --storm [--devices 10000]

The echo consumer is the transport ceiling: it receives an event and publishes its feedback, nothing else.
Each consumer has a mosquitto of its own and both run for the whole bench, so the runs alternate (echo, hub,
echo, hub...) and both see the same machine state. Per repetition:

- at `--latency-rate` (500/s): CPU per event and latency p50/p99 of each;
- at saturation: a closed loop, every device keeping `--window` events waiting for feedback and sending the
  next one as soon as one is answered; CPU per event and completed events/s. Each consumer then works at its
  own capacity, whatever the machine, with no event waiting long enough to be replayed. (Offering both the
  same open-loop load above the echo's ceiling instead, as this bench once did, buried the hub under a
  backlog of a minute: its figures measured the replay rule, and the ceiling, calibrated in 2 s, moved by
  half from run to run. The overload run is the open-loop test.)

`--postgres URL` runs the hub on a fresh PostgreSQL database (dropped afterwards) instead of SQLite; the hub's
CPU per event then includes the PostgreSQL server's processes.

The headline is the hub's CPU per event divided by the echo's, since it depends least on the machine; then
hub ÷ echo throughput, the p99 difference at the fixed rate and replays as a share of events sent. Then the
overload run: twice the hub's measured capacity for `--duration` s, then nothing; replays, lost, drain time.

`--storm` instead holds `--devices` (default 10,000) connections to mosquitto with the hub consuming, then
restarts mosquitto under load: every device reconnects by the protocol's jittered rule; it reports the time
until every outbox is drained and the peak replay rate. CPU is read from /proc (psutil) for the consumer with
its children (the hub's ingest workers), the broker and the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bench.ingest.procs import (
    Cpu,
    CpuMeter,
    bench_database,
    prepare_database,
    raise_open_files,
    start_broker,
    start_echo,
    start_hub,
)
from hub.broker.credentials import HUB_USERNAME
from hub.broker.mosquitto import MosquittoProcess
from hub.broker.mosquitto_auth import write_acl_file, write_password_file
from hub.settings import IngestSettings
from simulator.fleet import Fleet, FleetStats

console = Console(width=200)
SETTLE_S = 180.0  # how long a run waits for the last feedback once the offered load stops


@dataclass(frozen=True)
class Run:
    """One measured run of one consumer."""

    consumer: str
    mode: str  # "fixed", "saturation", "overload"
    devices: int
    offered: float
    stats: FleetStats
    cpu: Cpu
    drain_s: float
    idle_s: float = 0.0  # after the drain, until the consumer was idle (its CPU meanwhile is counted)

    @property
    def lost(self) -> int:
        """Events never answered, after the drain."""
        return self.stats.sent - self.stats.feedback

    @property
    def cpu_us(self) -> float:
        """Consumer CPU per answered event, µs, with its database server's when it has one."""
        used = self.cpu.consumer + self.cpu.database
        return used / self.stats.feedback * 1e6 if self.stats.feedback else float("nan")

    @property
    def sent_per_s(self) -> float:
        """What the generator managed to send, per second of offered load."""
        return self.stats.sent / self.offer_s if self.offer_s else 0.0

    @property
    def offer_s(self) -> float:
        """Seconds of offered load."""
        return max(1e-9, self.cpu.wall - self.drain_s - self.idle_s)

    @property
    def replay_share(self) -> float:
        """Replays as a share of events sent."""
        return self.stats.replays / self.stats.sent if self.stats.sent else 0.0


@dataclass
class Consumer:
    """A consumer process with its own broker."""

    name: str
    broker: MosquittoProcess
    proc: subprocess.Popen[str] | subprocess.Popen[bytes]
    on_postgres: bool = False

    def meter(self) -> CpuMeter:
        """A CPU meter on this consumer, its broker and its database server."""
        assert self.broker.pid is not None
        return CpuMeter(self.proc.pid, self.broker.pid, self.on_postgres)


async def measure(
    consumer: Consumer, mode: str, creds: list[tuple[str, str | None]], rate: float, duration: float, window: int = 0
) -> Run:
    """Offer `rate` events/s from the devices for `duration` s (with `window`, a closed loop of that many events
    per device instead) and wait for every feedback."""
    offered = f"{window} events in flight per device" if window else f"{rate:.0f} events/s offered"
    label = f"{consumer.name} {mode}: {len(creds)} devices, {offered} for {duration:.0f} s"
    with console.status(label) as status:
        fleet = Fleet("127.0.0.1", consumer.broker.port, creds)
        await fleet.connect()
        meter = consumer.meter()
        meter.start()
        if window:
            await fleet.saturate(duration, window)
        else:
            await fleet.offer(rate, duration, on_time=True)
        status.update(label + ": waiting for the last feedback")
        drain_s = await fleet.drain(SETTLE_S)
        # What the events set going after their feedback (the hub's notifications of the orders) is theirs too:
        # the meter runs until the consumer is idle, so it is counted here and not in the next run.
        status.update(label + ": waiting for the consumer to go idle")
        idle_s = await asyncio.to_thread(meter.wait_idle)
        cpu = meter.stop()
        await fleet.close()
    run = Run(consumer.name, mode, len(creds), rate if not window else float("nan"), fleet.stats, cpu, drain_s, idle_s)
    s = run.stats
    console.log(
        f"{label}: sent {run.sent_per_s:.0f}/s, completed {s.completed_per_s:.0f}/s, CPU {run.cpu_us:.0f} µs/event, "
        f"p99 {s.percentile(99):.1f} ms, replays {s.replays}, lost {run.lost}"
    )
    return run


def start_consumers(
    work: Path, db_url: str, hub_password: str, creds: list[tuple[str, str | None]], workers: int
) -> tuple[Consumer, Consumer]:
    """The echo and the hub, each on a mosquitto of its own, both running."""
    echo_broker = start_broker(work, "mosquitto-echo")
    echo = Consumer("echo", echo_broker, start_echo(echo_broker.port, hub_password))
    hub_broker = start_broker(work, "mosquitto-hub")
    data = work / "hub"
    with console.status("hub: database, migrations, start"):
        prepare_database(db_url, creds)
        hub = Consumer("hub", hub_broker, start_hub(data, db_url, hub_broker.port, hub_password, workers),
                       on_postgres=db_url.startswith("postgres"))
    return echo, hub


def stop(consumer: Consumer) -> None:
    """Stop a consumer and its broker."""
    consumer.proc.send_signal(signal.SIGTERM)
    try:
        consumer.proc.wait(30)
    except subprocess.TimeoutExpired:
        consumer.proc.kill()
    consumer.broker.stop()


def write_credentials(work: Path, n: int) -> tuple[str, list[tuple[str, str | None]]]:
    """The hub's password and n devices' credentials, in a password file and an ACL both brokers read."""
    hub_password = secrets.token_urlsafe(16)
    creds: list[tuple[str, str | None]] = [(f"fleet-{k:05d}", secrets.token_urlsafe(12)) for k in range(n)]
    with console.status(f"writing broker credentials for {n} devices"):
        write_password_file(work / "passwd", {HUB_USERNAME: hub_password, **{d: s for d, s in creds if s}})
        write_acl_file(work / "acl", HUB_USERNAME)
    return hub_password, creds


async def main_async(args: argparse.Namespace) -> list[Run]:
    """Calibrate, then the alternated repetitions, then the overload run."""
    work = Path(tempfile.mkdtemp(prefix="restock-bench-"))
    hub_password, creds = write_credentials(work, args.devices)
    (work / "hub").mkdir()
    with bench_database(work / "hub", args.postgres) as db_url:
        return await _alternate(args, work, db_url, hub_password, creds)


async def _alternate(
    args: argparse.Namespace, work: Path, db_url: str, hub_password: str, creds: list[tuple[str, str | None]]
) -> list[Run]:
    echo, hub = start_consumers(work, db_url, hub_password, creds, args.hub_workers)
    runs: list[Run] = []
    try:
        if args.warmup:
            # A fresh hub's first batches build SQL statements, caches and connections: uncounted load first.
            await measure(hub, "warm-up", creds, args.latency_rate or 500.0, args.warmup)
        for _ in range(args.repeat):
            for consumer in (echo, hub):
                if args.latency_rate:
                    runs.append(await measure(consumer, "fixed", creds, args.latency_rate, args.duration))
            for consumer in (echo, hub):
                runs.append(await measure(consumer, "saturation", creds, 0.0, args.duration, args.window))
        hub_sat = [r.stats.completed_per_s for r in runs if r.consumer == "hub" and r.mode == "saturation"]
        if hub_sat and args.overload:
            runs.append(await measure(hub, "overload", creds, 2 * statistics.median(hub_sat), args.overload))
    finally:
        stop(echo)
        stop(hub)
    return runs


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of offered load per run")
    parser.add_argument("--devices", type=int, default=None, help="fleet size (default 1000; 10000 with --storm)")
    parser.add_argument("--latency-rate", type=float, default=500.0, help="events/s of the fixed-rate runs (0 = skip)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each run (median and spread shown)")
    parser.add_argument(
        "--overload", type=float, default=10.0, help="seconds of 2x the hub's capacity in the overload run (0 = skip)"
    )
    parser.add_argument(
        "--hub-workers",
        type=int,
        default=IngestSettings().workers,
        help="the hub's ingest processes (RESTOCK_INGEST_WORKERS); default the hub's own default (1)",
    )
    parser.add_argument(
        "--window", type=int, default=2, help="events each device keeps in flight in the saturation runs"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of uncounted load on the fresh hub")
    parser.add_argument(
        "--storm",
        action="store_true",
        help="instead: hold --devices connections, restart mosquitto under load, time the drain",
    )
    parser.add_argument(
        "--postgres",
        default=None,
        metavar="URL",
        help="run the hub on PostgreSQL: a server URL (postgresql://user@host:5432/db) whose user may create "
        "databases; the bench creates a fresh one and drops it afterwards (default: SQLite)",
    )
    parser.add_argument("--storm-rate", type=float, default=500.0, help="events/s offered during the storm run")
    args = parser.parse_args()
    if args.repeat < 1 or args.duration <= 0 or args.window < 1:
        parser.error("--repeat and --window must be at least 1 and --duration above 0")
    args.devices = args.devices or (10_000 if args.storm else 1000)
    # aiomqtt warns once per publish past its queue threshold: under saturation that is the point
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    limit = raise_open_files()
    if limit < args.devices + 1000:
        raise SystemExit(f"open-files limit {limit} is below {args.devices} devices: raise it (ulimit -n)")
    started = time.perf_counter()
    from bench.ingest import report, storm  # they import this module: here, not at the top

    if args.storm:
        storm.report(asyncio.run(storm.storm(args, console)), console)
    else:
        report.report(asyncio.run(main_async(args)), args, console)
    console.print(f"bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
