"""Where the hub's ingest CPU goes: py-spy samples the hub (and its ingest processes) under a fleet's load.

    python -m bench.ingest.profile [--rate 500] [--duration 20] [--devices 1000] [--hub-workers 1] [--top 25]

`--rate 0` saturates the hub (a closed loop: every device keeps two events waiting for feedback). Prints the
functions with the most samples of their own ("self") and the most samples under them ("total"), as shares of
the busy samples of the hub's processes, and keeps py-spy's collapsed stacks (`--out`, for a flame graph, with
each thread's waits too). Idle waits (the event loop's select, the apply thread waiting for messages) are left
out of the shares; with `--gil` only the thread holding the interpreter lock is sampled, which is Python's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.ingest.procs import prepare_database, raise_open_files, start_broker, start_hub
from bench.ingest.run import Consumer, stop, write_credentials
from simulator.fleet import Fleet

console = Console(width=160)
# Frames that are waiting, not working: a sample whose leaf is one of these is idle time.
IDLE = ("select (selectors.py", "wait (threading.py", "poll (selectors.py", "_recv_bytes", "recv (", "accept (",
        "_worker (concurrent/futures/thread.py", "get (queue.py", "sleep (")


def frames(stack: str) -> list[str]:
    """py-spy's collapsed stack: `process;thread;frame;frame…`, root first; the frames only."""
    parts = stack.split(";")
    return [p for p in parts if "(" in p and not p.startswith(("process ", "thread "))]


def tally(collapsed: Path) -> tuple[Counter[str], Counter[str], int, int]:
    """(self samples, total samples) per function, busy samples, idle samples."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    busy = idle = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        stack_frames = frames(stack)
        if not stack_frames:
            continue
        leaf = stack_frames[-1]
        if any(word in leaf for word in IDLE):
            idle += n
            continue
        busy += n
        own[_name(leaf)] += n
        for name in {_name(f) for f in stack_frames}:
            total[name] += n
    return own, total, busy, idle


def _name(frame: str) -> str:
    # "handle_batch (hub/ingest/processor.py:147)" -> "handle_batch (hub/ingest/processor.py)": one row per function
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "python3.11/", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def show(own: Counter[str], total: Counter[str], busy: int, top: int) -> None:
    """The two tables."""
    for title, counts in (("self", own), ("total (function and what it calls)", total)):
        table = Table(title=f"hub ingest CPU by function, {title}: share of {busy} busy samples")
        table.add_column("share", justify="right")
        table.add_column("function")
        for name, n in counts.most_common(top):
            table.add_row(f"{100 * n / busy:.1f} %", name)
        console.print(table)


async def load(port: int, creds: list[tuple[str, str | None]], rate: float, duration: float) -> None:
    """The fleet's offered load, then the drain."""
    fleet = Fleet("127.0.0.1", port, creds)
    await fleet.connect()
    if rate:
        await fleet.offer(rate, duration, on_time=True)
    else:
        await fleet.saturate(duration)
    await fleet.drain(120.0)
    s = fleet.stats
    console.log(f"sent {s.sent}, answered {s.feedback}, replays {s.replays}, p50 {s.percentile(50):.1f} ms, "
                f"p99 {s.percentile(99):.1f} ms")
    await fleet.close()


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0, help="events/s offered; 0 = saturation")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (sampled)")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--hub-workers", type=int, default=1, help="the hub's ingest processes")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument(
        "--gil", action="store_true",
        help="sample only the thread holding the interpreter lock (a thread waiting for it is not working)",
    )
    parser.add_argument("--out", type=Path, default=None, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: ./dev installs it with the pinned development dependencies")
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    raise_open_files()
    work = Path(tempfile.mkdtemp(prefix="restock-profile-"))
    hub_password, creds = write_credentials(work, args.devices)
    broker = start_broker(work, "mosquitto")
    data = work / "hub"
    data.mkdir()
    db_url = f"sqlite:///{data / 'restock.db'}"
    prepare_database(db_url, creds)
    hub = Consumer("hub", broker, start_hub(data, db_url, broker.port, hub_password, args.hub_workers))
    out = args.out or work / "hub.collapsed"
    try:
        asyncio.run(load(broker.port, creds, 500.0, 3.0))  # warm-up, not sampled
        sampler = subprocess.Popen(
            [spy, "record", "--pid", str(hub.proc.pid), "--subprocesses", "--format", "raw", "--rate", "200",
             "--output", str(out), "--nonblocking", "--idle", "--threads", *(["--gil"] if args.gil else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(1.0)
        asyncio.run(load(broker.port, creds, args.rate, args.duration))
        sampler.send_signal(2)
        _, err = sampler.communicate(timeout=60)
        if not out.exists():
            raise SystemExit(f"py-spy wrote nothing: {err.strip()[-400:]}")
    finally:
        stop(hub)
    own, total, busy, idle = tally(out)
    console.print(f"{busy} busy samples, {idle} idle; stacks in {out}")
    show(own, total, busy, args.top)


if __name__ == "__main__":
    main()
