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


@dataclass(frozen=True)
class ChartSize:
    """A chart variant: its size on the page in CSS pixels, for the width the page gives it."""

    width: int
    height: int

    @property
    def inches(self) -> tuple[float, float]:
        """The figure size: one inch is CSS_DPI CSS pixels, so text keeps its point size on the page."""
        return self.width / CSS_DPI, self.height / CSS_DPI


# A point size only means something at the size the chart is shown: the figure is laid out at the CSS size of
# its place on the page (a phone's card, a desktop card's chart column) and rendered at twice that in pixels
# for sharp high-density screens (the page's CSS sizes the image). Text then shows at 12 CSS px or more.
CSS_DPI = 100
PIXEL_DENSITY = 2
SMALLEST_TEXT_PT = 9
TEXT_PT = 10
WIDE = ChartSize(640, 320)
SMALL = ChartSize(340, 340)


def figure(
    readings: Sequence[Reading], unit: str, now: datetime, *, small: bool = False, view: SlotOutlook | None = None
) -> Figure:
    """The slot's chart, laid out (the caller holds _render_lock while it draws or saves it)."""
    if view is None:
        view = outlook(readings, now)
    size = SMALL if small else WIDE
    chart = Figure(figsize=size.inches, dpi=CSS_DPI * PIXEL_DENSITY, layout="constrained")
    FigureCanvasAgg(chart)
    ax = chart.add_subplot()
    _draw(ax, readings, unit, view, now, legend_columns=1 if small else 2)
    return chart


def render_png(
    readings: Sequence[Reading], unit: str, now: datetime, *, small: bool = False, view: SlotOutlook | None = None
) -> bytes:
    """The slot's chart as PNG bytes; `small` is the phone variant (narrower, so its text stays readable)."""
    with _render_lock:
        chart = figure(readings, unit, now, small=small, view=view)
        buffer = io.BytesIO()
        chart.savefig(buffer, format="png")
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
    ax.plot(times, [r.value for r in readings], color=LEVEL, marker="o", markersize=4, linewidth=1.8, label="level")
    ax.axvline(_num(now), color="#9ca3af", linewidth=0.8)
    # Above the plot, centred on its line: inside, it would collide with the newest readings or be cut off at
    # the right edge when "now" is the newest reading.
    ax.annotate("now", (_num(now), 1.0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                textcoords="offset points", ha="center", va="bottom", fontsize=SMALLEST_TEXT_PT, color="#6b7280")
    fc = view.forecast
    if fc is not None and fc.level_now is not None and fc.run_out_at is not None:
        start, end = _num(now), _num(fc.run_out_at)
        ax.plot([start, end], [fc.level_now, 0.0], color=FORECAST, linestyle="--", linewidth=1.8,
                label=f"forecast: empty ~{fc.run_out_at:%-d %b}")
        if fc.run_out_earliest is not None and fc.run_out_latest is not None:
            ax.axvspan(_num(fc.run_out_earliest), _num(fc.run_out_latest),
                       color=FORECAST, alpha=0.12, label="run-out range")
        ax.axvline(end, color=FORECAST, linewidth=1, alpha=0.7)
    learning = view.reorder_level is None and fc is not None and fc.rate_per_day is None
    if view.reorder_level is not None:
        ax.axhline(view.reorder_level, color=REORDER, linestyle=":", linewidth=1.8,
                   label=f"reorder point ({view.timing.label})")
    ax.set_ylabel(unit, color=INK, fontsize=TEXT_PT)
    # Headroom above the highest value, so the newest point of a full slot is not cut by the frame.
    top = max([r.value for r in readings] + [view.reorder_level or 0.0, (fc.level_now or 0.0) if fc else 0.0])
    ax.set_ylim(0, top * 1.08 if top > 0 else 1.0)
    ax.grid(True, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=5 if legend_columns == 1 else 7)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))  # type: ignore[no-untyped-call]
    ax.tick_params(colors=INK, labelsize=SMALLEST_TEXT_PT)
    # The legend sits under the whole plot, tick labels included (constrained layout makes room for it), so
    # it never hides the line it explains; while the slot is learning, its title says when a forecast comes,
    # where no other text (such as "now" at the newest reading) can be.
    handles, labels = ax.get_legend_handles_labels()
    legend = ax.get_figure(root=True).legend(  # type: ignore[union-attr]
        handles, labels, loc="outside lower center", ncols=legend_columns, fontsize=SMALLEST_TEXT_PT,
        frameon=False, title="forecast after a day of readings" if learning else None,
        title_fontsize=SMALLEST_TEXT_PT,
    )
    legend.get_title().set_color("#6b7280")
