"""python -m bench.replenish: run every policy on the same traces, print the figures, write a PNG."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rich.console import Console

from bench.replenish.heldout import FAMILIES
from bench.replenish.heldout import generate as held_out
from bench.replenish.report import plot, print_report
from bench.replenish.sim import run
from bench.replenish.traces import SCENARIOS, generate, load_csv


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the bench, print the tables; exit 0 whether or not the targets hold."""
    parser = argparse.ArgumentParser(prog="python -m bench.replenish", description=__doc__)
    parser.add_argument("--seed", type=int, default=1, help="same seed, same figures (default 1)")
    parser.add_argument("--per-scenario", type=int, default=10, help="generated traces per scenario")
    parser.add_argument("--traces", type=Path, help="replay CSV trace,day,used[,refill] instead")
    parser.add_argument("--family", choices=FAMILIES, help="a held-out family (bench/replenish/heldout.py) instead")
    parser.add_argument("--pack-size", type=float, help="units per pack for --traces (default: ~30 days of use)")
    parser.add_argument("--out", type=Path, default=Path("bench/out"), help="directory for the PNG")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)

    console = Console(width=132)
    if args.traces:
        traces = load_csv(args.traces, args.seed, args.pack_size)
        origin = f"{len(traces)} traces replayed from {args.traces}"
    elif args.family:
        traces = held_out(args.seed, args.family, 2 * args.per_scenario + 4)
        origin = f"{len(traces)} held-out traces of {args.family}"
    else:
        traces = generate(args.seed, args.per_scenario)
        origin = f"{len(traces)} generated traces ({args.per_scenario} x {len(SCENARIOS)} scenarios)"
    console.print(f"{origin}, seed {args.seed}, lead times 2-7 days (restock is told 5)")
    started = time.perf_counter()
    results = run(traces, workers=args.workers)
    print_report(results, console, by_scenario=not (args.traces or args.family))
    png = plot(results, args.out / "replenish.png")
    console.print(f"plot: {png}   ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
