"""bench/replenish: same seed, same figures; CSV replay through every policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.replenish.__main__ import main
from bench.replenish.policies import POLICIES, RESTOCK
from bench.replenish.report import summarise, targets
from bench.replenish.sim import run, simulate
from bench.replenish.traces import SCENARIOS, generate, load_csv, make_trace


def figures(seed: int) -> list[tuple[str, str, int, int, float]]:
    traces = [make_trace(seed, scenario, 0, days=120) for scenario in ("steady", "step_up", "noisy_sensor")]
    return [(r.trace, r.policy, r.stockout_days, r.orders, r.mean_stock_days) for r in run(traces)]


def test_same_seed_gives_the_same_figures() -> None:
    first, second = figures(11), figures(11)
    assert first == second
    assert len(first) == 3 * len(POLICIES)
    assert figures(12) != first


def test_generated_set_covers_every_scenario_reproducibly() -> None:
    traces = generate(5, 1, days=120)
    assert [t.scenario for t in traces] == list(SCENARIOS)
    assert traces == generate(5, 1, days=120)
    assert all(len(t.used) == 120 and len(t.lead) == 120 for t in traces)


def test_restock_runs_the_domain_policy_on_sensor_readings() -> None:
    trace = make_trace(3, "steady", 0, days=200)
    result = simulate(trace, RESTOCK)
    assert result.orders >= 1
    assert len(result.readings) < trace.days  # offline days: the policy saw readings, not the true stock
    assert min(result.stock) >= 0.0


def test_a_new_slots_big_first_order_does_not_make_a_slow_noisy_slot_look_short() -> None:
    # A pack lasts about three weeks on a noisy sensor. The first order (five packs) and a second three weeks
    # later are a pack every six days delivered: taken for the slot's use, that made its packs look short, and
    # counting packs on the noisy levels it held over 230 days of use (68 read from its levels).
    trace = make_trace(3, "noisy_sensor", 0)
    result = simulate(trace, RESTOCK)
    assert result.stockout_days == 0
    assert result.mean_stock_days < 100, result.mean_stock_days


def test_csv_replay_runs_every_policy(tmp_path: Path) -> None:
    rows = ["trace,day,used,refill"]
    for day in range(150):
        rows.append(f"kitchen,{day},{30 + (day % 7 == 5) * 60},{1000 if day == 40 else 0}")
        rows.append(f"bathroom,{day},{0 if day % 3 else 45},")
    path = tmp_path / "traces.csv"
    path.write_text("\n".join(rows) + "\n")
    traces = load_csv(path, seed=1, pack_size=1000.0)
    assert [t.name for t in traces] == ["kitchen", "bathroom"]
    assert traces[0].refill[40] == 1000.0 and sum(traces[1].refill) == 0.0
    assert traces[0].used[5] == 90.0
    results = run(traces)
    assert {(r.trace, r.policy) for r in results} == {(t.name, p) for t in traces for p in POLICIES}
    summary = summarise(results)
    assert summary[RESTOCK].traces == 2
    assert len(targets(summary)) == 4

    out = tmp_path / "out"
    assert main(["--traces", str(path), "--out", str(out), "--workers", "1"]) == 0
    assert (out / "replenish.png").stat().st_size > 0


def test_csv_without_the_used_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("trace,day\nx,0\n")
    with pytest.raises(ValueError, match="trace,day,used"):
        load_csv(path, seed=1)


def test_held_out_families_are_reproducible_and_cover_short_packs() -> None:
    from bench.replenish.heldout import FAMILIES
    from bench.replenish.heldout import generate as held_out

    short = held_out(3, "short_packs", 6)
    assert short == held_out(3, "short_packs", 6)
    assert short != held_out(4, "short_packs", 6)
    # A pack lasts a few days on average: shorter than the lead time plus the safety margin.
    assert all(2.0 * 0.5 <= t.pack_size / t.avg_use <= 5.0 * 2.0 for t in short)
    assert {t.scenario for f in FAMILIES for t in held_out(3, f, 2)} == set(FAMILIES)
    with pytest.raises(ValueError):
        held_out(3, "no such family")
