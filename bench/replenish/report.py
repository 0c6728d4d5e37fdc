"""Figures per policy, the targets, the printed tables and the PNG of a few traces."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.replenish.policies import POLICIES, RESTOCK, SUBSCRIPTIONS
from bench.replenish.sim import Result

ZERO_SHARE = 0.98  # restock must have no stock-out on at least this share of traces
BOUND_RATIO = 1.5  # and hold at most this many times the perfect-foresight bound at its own order count
PLOTTED = ("step_up", "guest_month", "noisy_sensor", "sensor_offline")


@dataclass(frozen=True)
class Summary:
    """One policy over all traces."""

    policy: str
    traces: int
    stockout_days: int
    zero_traces: int
    mean_stock_days: float
    orders: int
    bound_days: float  # mean over traces of the perfect-foresight bound at the policy's order count

    @property
    def ratio(self) -> float:
        """Mean stock on hand over the perfect-foresight bound at the same number of orders."""
        return self.mean_stock_days / self.bound_days if self.bound_days > 0 else float("inf")


@dataclass(frozen=True)
class Target:
    """One target, with the figures it compares."""

    text: str
    holds: bool


def summarise(results: Sequence[Result]) -> dict[str, Summary]:
    """Totals per policy, in the order of POLICIES."""
    by_policy: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_policy[result.policy].append(result)
    return {
        name: Summary(
            policy=name,
            traces=len(rs),
            stockout_days=sum(r.stockout_days for r in rs),
            zero_traces=sum(1 for r in rs if r.stockout_days == 0),
            mean_stock_days=sum(r.mean_stock_days for r in rs) / len(rs),
            orders=sum(r.orders for r in rs),
            bound_days=sum(r.bound_days for r in rs) / len(rs),
        )
        for name in POLICIES
        if (rs := by_policy[name])
    }


def bar_subscription(summary: dict[str, Summary]) -> Summary:
    """The subscription with the fewest stock-out days; on a tie the one with fewer orders (the harder bar)."""
    return min((summary[n] for n in SUBSCRIPTIONS), key=lambda s: (s.stockout_days, s.orders))


def targets(summary: dict[str, Summary]) -> list[Target]:
    """The targets for restock against the other policies and the perfect-foresight bound."""
    ours = summary[RESTOCK]
    others = [s for name, s in summary.items() if name != RESTOCK]
    best = min(others, key=lambda s: s.stockout_days)
    sub = bar_subscription(summary)
    share = ours.zero_traces / ours.traces
    return [
        Target(
            f"stock-out days {ours.stockout_days} <= best other policy ({best.policy}: {best.stockout_days})",
            ours.stockout_days <= best.stockout_days,
        ),
        Target(
            f"zero stock-outs on {ours.zero_traces}/{ours.traces} traces ({share:.1%}) >= {ZERO_SHARE:.0%}",
            share >= ZERO_SHARE,
        ),
        Target(
            f"mean stock {ours.mean_stock_days:.1f} d <= {BOUND_RATIO:g} x the perfect-foresight bound at "
            f"restock's {ours.orders} orders ({ours.bound_days:.1f} d -> {BOUND_RATIO * ours.bound_days:.1f} d; "
            f"ratio {ours.ratio:.2f})",
            ours.mean_stock_days <= BOUND_RATIO * ours.bound_days,
        ),
        Target(f"orders {ours.orders} <= {sub.policy} ({sub.orders})", ours.orders <= sub.orders),
    ]


def print_report(results: Sequence[Result], console: Console, by_scenario: bool = True) -> list[Target]:
    """Print the per-policy table, the per-scenario stock-outs and the targets; return the targets."""
    summary = summarise(results)
    table = Table(title="Replenishment policies side by side (same traces, same lead times)")
    columns = ("policy", "stock-out days", "traces with none", "mean stock (days of use)",
               "bound at its orders", "stock / bound", "orders")
    for column in columns:
        table.add_column(column, justify="left" if column == "policy" else "right")
    for s in summary.values():
        table.add_row(
            s.policy,
            str(s.stockout_days),
            f"{s.zero_traces}/{s.traces}",
            f"{s.mean_stock_days:.1f}",
            f"{s.bound_days:.1f}",
            f"{s.ratio:.2f}",
            str(s.orders),
        )
    sub = bar_subscription(summary)
    # The limit itself at the bar subscription's order count: no stock-out, the least stock those orders allow.
    table.add_row(
        f"perfect foresight ({sub.policy}'s orders)", "0", f"{sub.traces}/{sub.traces}",
        f"{sub.bound_days:.1f}", f"{sub.bound_days:.1f}", "1.00", str(sub.orders), style="dim",
    )
    console.print(table)
    if by_scenario:
        scenarios: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in results:
            scenarios[r.scenario][r.policy] += r.stockout_days
        detail = Table(title="Stock-out days per scenario")
        detail.add_column("scenario")
        for name in summary:
            detail.add_column(name, justify="right")
        for scenario, counts in scenarios.items():
            detail.add_row(scenario, *(str(counts[name]) for name in summary))
        console.print(detail)
    found = targets(summary)
    for target in found:
        console.print(f"target {'holds' if target.holds else 'FAILS'}: {target.text}")
    return found


def plot(results: Sequence[Result], path: Path, traces: int = 4) -> Path:
    """Stock on hand over the year for a few traces: restock, the min-stock threshold, subscription 1 mo."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_trace: dict[str, dict[str, Result]] = defaultdict(dict)
    for r in results:
        by_trace[r.trace][r.policy] = r
    # The first trace of a few telling scenarios; for replays (or if absent) simply the first traces.
    firsts: dict[str, str] = {}
    for name, rs in by_trace.items():
        firsts.setdefault(rs[RESTOCK].scenario, name)
    chosen = [firsts[s] for s in PLOTTED if s in firsts][:traces]
    chosen += [name for name in by_trace if name not in chosen][: traces - len(chosen)]
    fig, axes = plt.subplots(len(chosen), 1, figsize=(10, 2.6 * len(chosen)), squeeze=False)
    for ax, name in zip(axes[:, 0], chosen, strict=True):
        for policy, style in ((SUBSCRIPTIONS[0], ":"), ("min-stock threshold", "--"), (RESTOCK, "-")):
            r = by_trace[name][policy]
            ax.plot(r.stock, style, label=f"{policy} ({r.stockout_days} stock-out d, {r.orders} orders)")
        ours = by_trace[name][RESTOCK]
        ax.plot([d for d, _ in ours.readings], [v for _, v in ours.readings], ".", ms=2, label="sensor (restock run)")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("stock on hand")
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("day")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
