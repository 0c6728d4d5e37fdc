"""bench/ingest --storm: many devices held on one mosquitto with the hub consuming, then a broker restart.

Every device loses its connection at once and comes back by the protocol's rule (jittered reconnect, the
outbox spread over a window, replays backing off): the figures are the time until every outbox is drained
and the peak replay rate.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bench.ingest.procs import bench_database, prepare_database, start_broker, start_hub
from bench.ingest.run import Consumer, stop, write_credentials
from hub.broker.mosquitto import MosquittoProcess
from simulator.fleet import Fleet, FleetStats

DOWN_S = 2.0  # how long the broker stays down
SETTLE_S = 300.0


@dataclass(frozen=True)
class Storm:
    """What the storm run measured."""

    devices: int
    connected: int
    connect_s: float
    rate: float
    held: FleetStats  # the load before the restart, on a steady fleet
    held_lost: int
    storm: FleetStats  # from the restart on, with the load going on
    down_s: float  # from the stop until the broker listened again
    reconnected_s: float  # broker back → every device connected again (nan if not all did)
    drained_s: float  # broker back → every outbox empty (nan if not within SETTLE_S)
    lost: int


async def _restart(fleet: Fleet, consumer: Consumer, at: float, console: Console) -> tuple[float, float]:
    """Stop the broker `at` s into the load, start it DOWN_S later; when it was back, and for how long it
    was away (stopping and starting a broker with thousands of clients takes seconds of its own)."""
    await asyncio.sleep(at)
    stopping = time.perf_counter()
    await asyncio.to_thread(consumer.broker.stop)
    console.log(f"mosquitto stopped with {len(fleet.waiting)} devices waiting for feedback")
    await asyncio.sleep(DOWN_S)
    await asyncio.to_thread(consumer.broker.start)
    back = time.perf_counter()
    console.log(f"mosquitto back after {back - stopping:.1f} s: every device reconnects")
    return back, back - stopping


async def storm(args: argparse.Namespace, console: Console) -> Storm:
    """Hold `args.devices` connections, answer every event, restart mosquitto under load, wait for the drain."""
    work = Path(tempfile.mkdtemp(prefix="restock-storm-"))
    hub_password, creds = write_credentials(work, args.devices)
    broker = start_broker(work, "mosquitto")
    data = work / "hub"
    data.mkdir()
    with bench_database(data, args.postgres) as db_url:
        return await _storm(args, console, creds, broker, data, db_url, hub_password)


async def _storm(
    args: argparse.Namespace,
    console: Console,
    creds: list[tuple[str, str | None]],
    broker: MosquittoProcess,
    data: Path,
    db_url: str,
    hub_password: str,
) -> Storm:
    with console.status("hub: database, migrations, start"):
        prepare_database(db_url, creds)
        hub = Consumer("hub", broker, start_hub(data, db_url, broker.port, hub_password, args.hub_workers))
    try:
        fleet = Fleet("127.0.0.1", broker.port, creds)
        started = time.perf_counter()
        with console.status(f"connecting {args.devices} devices"):
            await fleet.connect(batch=200)
        connect_s = time.perf_counter() - started
        console.log(f"{fleet.stats.connected} of {args.devices} devices connected in {connect_s:.1f} s")
        with console.status(f"held: {args.storm_rate:.0f} events/s for {args.duration:.0f} s"):
            await fleet.offer(args.storm_rate, args.duration, on_time=True)
            await fleet.drain(SETTLE_S)
        held = fleet.stats
        held_lost = held.sent - held.feedback
        console.log(f"held: {held.sent} sent, {held.feedback} answered, {held_lost} lost, {held.replays} replays")

        fleet.stats = after = FleetStats(connected=held.connected)
        for device in fleet.devices:
            device.stats = after
        fleet.started = after.first_sent_at = time.perf_counter()
        with console.status(f"storm: {args.storm_rate:.0f} events/s for {3 * args.duration:.0f} s, broker restart"):
            restart = asyncio.create_task(_restart(fleet, hub, args.duration, console))
            await fleet.offer(args.storm_rate, 3 * args.duration, on_time=True)
            back, down_s = await restart
            reconnected_s = float("nan")
            deadline = back + SETTLE_S
            while time.perf_counter() < deadline:
                if after.reconnects >= after.disconnects and all(d.online for d in fleet.live):
                    reconnected_s = time.perf_counter() - back
                    break
                await asyncio.sleep(0.1)
                fleet.replay_due()
            await fleet.drain(max(0.0, deadline - time.perf_counter()))
            drained_s = time.perf_counter() - back if not fleet.waiting else float("nan")
        await fleet.close()
    finally:
        stop(hub)
    return Storm(
        args.devices,
        held.connected,
        connect_s,
        args.storm_rate,
        held,
        held_lost,
        after,
        down_s,
        reconnected_s,
        drained_s,
        after.sent - after.feedback,
    )


def report(s: Storm, console: Console) -> None:
    """Print the storm run's figures."""
    console.print(f"[bold]{s.devices} devices[/]: {s.connected} connected in {s.connect_s:.1f} s")
    h = s.held
    console.print(
        f"held, {s.rate:.0f} events/s offered: {h.sent} sent, {h.feedback} answered, lost {s.held_lost} (target 0), "
        f"{h.replays} replays, p50 {h.percentile(50):.0f} ms, p99 {h.percentile(99):.0f} ms"
    )
    a = s.storm
    peak = max(a.replays_per_s.values(), default=0)
    console.print(
        f"reconnect storm (mosquitto restarted under load, away {s.down_s:.1f} s): {a.disconnects} connections "
        f"dropped, {a.reconnects} reconnects, every device back after {s.reconnected_s:.1f} s, every outbox drained "
        f"{s.drained_s:.1f} s after the broker was back; peak replay rate {peak}/s, replays {a.replays} = "
        f"{100 * a.replays / a.sent if a.sent else 0:.1f} % of {a.sent} sent; lost {s.lost} (target 0)"
    )
