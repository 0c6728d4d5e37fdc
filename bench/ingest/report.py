"""Print bench/ingest's runs: a table of every run, then the headline ratios with their spread."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from bench.ingest.run import Run


def spread(values: Sequence[float], fmt: str) -> str:
    """Median, and min–max when there are several values."""
    if not values:
        return "–"
    median = format(statistics.median(values), fmt)
    if len(values) == 1:
        return median
    return f"{median} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def pairs(runs: Sequence[Run], mode: str) -> list[tuple[Run, Run]]:
    """(echo, hub) runs of a mode in the order they ran: each pair saw about the same machine state."""
    echo = [r for r in runs if r.consumer == "echo" and r.mode == mode]
    hub = [r for r in runs if r.consumer == "hub" and r.mode == mode]
    return list(zip(echo, hub, strict=False))


def ratios(runs: Sequence[Run], mode: str, of: Callable[[Run], float]) -> list[float]:
    """hub ÷ echo of a figure, per pair of runs."""
    return [of(h) / of(e) for e, h in pairs(runs, mode) if of(e)]


def table(runs: Sequence[Run], args: argparse.Namespace) -> Table:
    """Every run, one row each."""
    database = "PostgreSQL" if args.postgres else "SQLite"
    title = (f"restock ingest: mosquitto, {database}, {args.devices} devices, "
             f"hub with {args.hub_workers} ingest processes")
    t = Table(title=title)
    for col in (
        "consumer",
        "mode",
        "offered/s",
        "sent/s",
        "sent",
        "answered",
        "lost",
        "replays",
        "completed/s",
        "p50 ms",
        "p99 ms",
        "drain s",
        "CPU µs/event",
        "CPU: consumer",
        *(["database"] if args.postgres else []),
        "broker",
        "load generator",
    ):
        t.add_column(col, justify="right")
    for r in runs:
        s = r.stats
        t.add_row(
            r.consumer,
            r.mode,
            "closed loop" if r.mode == "saturation" else f"{r.offered:.0f}",
            f"{r.sent_per_s:.0f}",
            str(s.sent),
            str(s.feedback),
            str(r.lost),
            str(s.replays),
            f"{s.completed_per_s:.0f}",
            f"{s.percentile(50):.1f}",
            f"{s.percentile(99):.1f}",
            f"{r.drain_s:.1f}",
            f"{r.cpu_us:.0f}",
            r.cpu.share(r.cpu.consumer),
            *([r.cpu.share(r.cpu.database)] if args.postgres else []),
            r.cpu.share(r.cpu.broker),
            r.cpu.share(r.cpu.fleet),
        )
    return t


def report(runs: Sequence[Run], args: argparse.Namespace, console: Console) -> None:
    """The table, then the figures the targets are read against."""
    console.print(table(runs, args))
    rate = f"{args.latency_rate:.0f}/s"

    def cpu_line(mode: str, label: str, target: float) -> str:
        mine = ratios(runs, mode, lambda r: r.cpu_us)
        hub = [h.cpu_us for _, h in pairs(runs, mode)]
        echo = [e.cpu_us for e, _ in pairs(runs, mode)]
        return (
            f"  {label}: {spread(mine, '.2f')}x  (hub {spread(hub, '.0f')} µs, echo {spread(echo, '.0f')} µs; "
            f"target <= {target}x)"
        )

    console.print(f"[bold]HEADLINE hub CPU per event ÷ echo CPU per event[/] (median of {args.repeat}, min–max):")
    console.print(cpu_line("saturation", "at saturation", 1.5))
    if args.latency_rate:
        console.print(cpu_line("fixed", f"at {rate}", 3.0))
    throughput = ratios(runs, "saturation", lambda r: r.stats.completed_per_s)
    console.print(
        f"hub ÷ echo completed events/s at {args.devices} devices, both saturated: "
        f"{spread([100 * x for x in throughput], '.0f')} %  (target >= 90 %)"
    )
    if args.latency_rate:
        fixed = pairs(runs, "fixed")
        diff = [h.stats.percentile(99) - e.stats.percentile(99) for e, h in fixed]
        console.print(
            f"p99 at {rate}: hub {spread([h.stats.percentile(99) for _, h in fixed], '.1f')} ms, echo "
            f"{spread([e.stats.percentile(99) for e, _ in fixed], '.1f')} ms, hub − echo {spread(diff, '.1f')} ms "
            "(target <= 10 ms)"
        )
    for mode in ("fixed", "saturation"):
        for who in ("echo", "hub"):
            shares = [100 * r.replay_share for r in runs if r.consumer == who and r.mode == mode]
            if shares:
                console.print(f"replays as a share of events sent, {who} {mode}: {spread(shares, '.1f')} %")
    for r in runs:
        if r.mode == "overload":
            console.print(
                f"overload: {r.offered:.0f}/s offered (2x the hub's median capacity; {r.sent_per_s:.0f}/s sent) for "
                f"{args.overload:.0f} s: replays {100 * r.replay_share:.1f} % of {r.stats.sent} sent (target <= 5 %), "
                f"lost {r.lost} (target 0), drained {r.drain_s:.1f} s after the load stopped"
            )
