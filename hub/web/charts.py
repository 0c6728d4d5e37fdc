"""Supplies chart: a sensor slot's level over time with forecast run-out and reorder point (matplotlib, Agg).

The forecast is the one the replenishment service decides on (hub/services/replenish.py) when the slot has a
policy, else the plain forecast of hub/domain/forecast.py. The reorder point comes from the slot's own lead
time and safety margin; only readings without a slot row (from before slots were stored) fall back to the
SlotPolicy defaults, and the legend then says so.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

import matplotlib

matplotlib.use("Agg")  # no display on a hub; must precede any pyplot import anywhere in the process

import matplotlib.dates as mdates  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hub.domain import forecast as forecasting  # noqa: E402
from hub.domain.readings import Reading as Point  # noqa: E402
from hub.domain.readings import clean  # noqa: E402
from hub.domain.replenish import SlotPolicy  # noqa: E402
from hub.store.models import Reading  # noqa: E402

_DEFAULTS = {f.name: f.default for f in fields(SlotPolicy)}

INK, LEVEL, FORECAST, REORDER, GRID = "#1f2933", "#2563eb", "#d97706", "#dc2626", "#e5e7eb"
# Agg figures are independent, but matplotlib's font and text caches are process-wide and not documented
# as thread-safe; requests render in a thread pool, so one chart at a time.
_render_lock = threading.Lock()


@dataclass(frozen=True)
class Timing:
    """Lead time and safety margin that place the reorder point; `default` when the slot has no policy row."""

    lead_days: float
    safety_days: float
    default: bool = False

    @property
    def label(self) -> str:
        """Legend text of the reorder line."""
        text = f"{self.lead_days:g} d lead + {self.safety_days:g} d safety"
        return f"default: {text}" if self.default else text


DEFAULT_TIMING = Timing(
    float(_DEFAULTS["lead_time_days"]), float(_DEFAULTS["safety_days"]), default=True  # type: ignore[arg-type]
)


@dataclass(frozen=True)
class SlotOutlook:
    """What the supplies page says about a slot besides the chart."""

    last_value: float | None
    last_at: datetime | None
    unit: str
    forecast: forecasting.Forecast | None
    reorder_level: float | None  # the level at which an order should go out (rate × (lead + safety))
    timing: Timing = DEFAULT_TIMING


def outlook(
    readings: Sequence[Reading],
    now: datetime,
    timing: Timing = DEFAULT_TIMING,
    fc: forecasting.Forecast | None = None,
) -> SlotOutlook:
    """The slot at `now`: `fc` is the policy's forecast where there is one, else the readings are cleaned and
    forecast here (without a pack size the policy's refill detection has nothing to measure against)."""
    if not readings:
        return SlotOutlook(None, None, "", None, None, timing)
    if fc is None:
        fc = forecasting.forecast(clean([Point(r.at, r.value) for r in readings]), now)
    reorder = fc.rate_per_day * (timing.lead_days + timing.safety_days) if fc.rate_per_day else None
    last = readings[-1]
    return SlotOutlook(last.value, last.at, last.unit, fc, reorder, timing)


def render_png(
    readings: Sequence[Reading], unit: str, now: datetime, *, small: bool = False, view: SlotOutlook | None = None
) -> bytes:
    """The slot's chart as PNG bytes; `small` is the phone variant (narrower, so its text stays readable)."""
    if view is None:
        view = outlook(readings, now)
    with _render_lock:
        figure = Figure(figsize=(4.4, 3.6) if small else (7.2, 3.4), dpi=110, layout="constrained")
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        _draw(ax, readings, unit, view, now, legend_columns=1 if small else 2)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _num(at: datetime) -> float:
    """A datetime as matplotlib's day number."""
    return float(mdates.date2num(at))  # type: ignore[no-untyped-call]


def _draw(
    ax: Axes, readings: Sequence[Reading], unit: str, view: SlotOutlook, now: datetime, *, legend_columns: int
) -> None:
    # Dates go in as matplotlib day numbers: the typed API takes floats, and xaxis_date() formats them.
    ax.xaxis_date()
    times = [_num(r.at) for r in readings]
    ax.plot(times, [r.value for r in readings], color=LEVEL, marker="o", markersize=3.5, linewidth=1.6, label="level")
    ax.axvline(_num(now), color="#9ca3af", linewidth=0.8)
    ax.annotate("now", (_num(now), 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
                textcoords="offset points", fontsize=8, color="#6b7280")
    fc = view.forecast
    if fc is not None and fc.level_now is not None and fc.run_out_at is not None:
        start, end = _num(now), _num(fc.run_out_at)
        ax.plot([start, end], [fc.level_now, 0.0], color=FORECAST, linestyle="--", linewidth=1.6,
                label=f"forecast: empty ~{fc.run_out_at:%-d %b}")
        if fc.run_out_earliest is not None and fc.run_out_latest is not None:
            ax.axvspan(_num(fc.run_out_earliest), _num(fc.run_out_latest),
                       color=FORECAST, alpha=0.12, label="run-out range")
        ax.axvline(end, color=FORECAST, linewidth=1, alpha=0.7)
    if view.reorder_level is not None:
        ax.axhline(view.reorder_level, color=REORDER, linestyle=":", linewidth=1.6,
                   label=f"reorder point ({view.timing.label})")
    elif fc is not None and fc.rate_per_day is None:
        ax.text(0.99, 0.96, "forecast after a day of readings", transform=ax.transAxes, ha="right", va="top",
                fontsize=8, color="#6b7280")
    ax.set_ylabel(unit, color=INK)
    ax.set_ylim(bottom=0)
    ax.grid(True, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))  # type: ignore[no-untyped-call]
    ax.tick_params(colors=INK, labelsize=8)
    # Below the plot, so it never hides the line it explains (a phone shows the chart small).
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=legend_columns, fontsize=8, frameon=False)
