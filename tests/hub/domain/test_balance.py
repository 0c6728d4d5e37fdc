"""Loads counted from the level's mass balance: short packs whose loads hide under a day's use (hub.domain.balance)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.domain.balance import unseen_packs
from hub.domain.credit import Delivery
from hub.domain.readings import Reading, Refill
from hub.domain.replenish import SlotPolicy, evaluate

T0 = datetime(2025, 3, 1, 20, tzinfo=UTC)
DAY = timedelta(days=1)
PACK = 500.0


def short_packs(days: int, use: float, start: float, loads_from_shelf: int) -> tuple[list[Reading], int]:
    """Daily readings of a container whose household opens the next pack the moment it runs dry."""
    container, shelf, readings = start, loads_from_shelf, []
    for day in range(days):
        need = use
        while need > 0:
            take = min(need, container)
            container -= take
            need -= take
            if need > 0 and shelf:
                container, shelf = container + PACK, shelf - 1
            elif need > 0:
                break
        readings.append(Reading(T0 + day * DAY, container + (7.0 if day % 3 else -5.0)))
    return readings, loads_from_shelf - shelf


def test_counts_packs_whose_rise_hides_under_the_days_use() -> None:
    # 320 a day from 500 packs: a pack opened mid-day rises by well under half a pack between two readings.
    readings, loaded = short_packs(40, 320.0, 480.0, 30)
    delivered_at = readings[9].at - timedelta(hours=10)
    gone = unseen_packs(readings, readings[8].at, (), PACK)
    assert loaded > 15
    # Every pack opened after the delivery is counted, within a pack.
    opened_after = sum(1 for a, b in zip(readings[8:], readings[9:], strict=False) if b.value > a.value + 10)
    assert abs(gone - opened_after) <= 1 and opened_after >= 10
    assert delivered_at < readings[9].at


def test_steady_use_and_noise_show_no_unseen_load() -> None:
    readings = [Reading(T0 + d * DAY, 2000.0 - 40.0 * d + (9.0 if d % 2 else -9.0)) for d in range(45)]
    assert unseen_packs(readings, readings[5].at, (), PACK) == 0


def test_a_seen_refill_is_not_counted_twice() -> None:
    values = [480.0 - 40.0 * d for d in range(12)] + [500.0 - 40.0 * d for d in range(12)]
    readings = [Reading(T0 + d * DAY, v) for d, v in enumerate(values)]
    refill = Refill(readings[12].at, values[11], values[12], readings[11].at)
    assert unseen_packs(readings, readings[2].at, (), PACK) == 1
    assert unseen_packs(readings, readings[2].at, (refill,), PACK) == 0


def test_evaluate_drops_the_credit_of_short_packs_that_are_gone() -> None:
    # Eight packs delivered on day 1; at 320 a day all of them are opened within two weeks, each rise hidden.
    readings, loaded = short_packs(14, 320.0, 480.0, 8)
    assert loaded == 8
    policy = SlotPolicy(pack_size=PACK, max_stock=10 * PACK, lead_time_days=5, safety_days=3)
    delivery = Delivery(readings[1].at - timedelta(hours=10), 8 * PACK, readings[0].at)
    result = evaluate(readings, policy, readings[-1].at + timedelta(minutes=5), deliveries=[delivery])
    assert result.forecast.shelf <= PACK
    assert result.decision.action == "order"


def test_a_busy_day_then_a_pack_loaded_reads_as_a_dip_and_the_pack_leaves_the_shelf() -> None:
    # 50 a day from a 750 pack; two packs delivered. On day 20 the household uses 400 (the level dips to 120)
    # and opens a pack the next day using 360 more: the level is back near where it was, the dip is rejected.
    levels = [700.0 - 50.0 * d for d in range(11)]  # down to 200 on day 10
    levels += [levels[-1] + 750.0 - 50.0 * d for d in range(1, 10)]  # first delivered pack opened on day 11
    levels += [levels[-1] - 400.0, levels[-1] - 400.0 + 750.0 - 360.0]
    levels += [levels[-1] - 50.0 * d for d in range(1, 6)]
    readings = [Reading(T0 + d * DAY, v) for d, v in enumerate(levels)]
    policy = SlotPolicy(pack_size=750.0, max_stock=3000.0, lead_time_days=5, safety_days=3)
    delivery = Delivery(readings[3].at - timedelta(hours=10), 1500.0, readings[0].at)
    now = readings[-1].at + timedelta(minutes=5)
    result = evaluate(readings, policy, now, deliveries=[delivery])
    assert any(r.reason == "spike" and r.reading.at == readings[20].at for r in result.series.rejected)
    assert result.forecast.shelf == 0.0


def test_glitches_that_the_next_reading_takes_back_are_no_loads() -> None:
    # A noisy 750 sensor at 12 a day; five times in a month a reading sits a third of a pack high (or one low
    # and the next back), too little for the cleaning to call a spike. Each rise is undone by the next reading
    # faster than any use: neither a load nor use, so no pack is counted gone from the shelf.
    values = [700.0 - 12.0 * i for i in range(40)]
    for day, glitch in ((5, 270.0), (11, 230.0), (17, 290.0), (29, 220.0)):
        values[day] += glitch
    values[23] -= 300.0  # a glitch down: the next reading rises back
    readings = [Reading(T0 + i * DAY, v) for i, v in enumerate(values)]
    assert unseen_packs(readings, readings[0].at, (), 750.0) == 0
    # A real pack loaded stays a load: the next reading only falls by a day's use.
    values[30:] = [v + 750.0 for v in values[30:]]
    loaded = [Reading(T0 + i * DAY, v) for i, v in enumerate(values)]
    assert unseen_packs(loaded, readings[0].at, (), 750.0) == 1
