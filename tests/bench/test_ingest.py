"""bench/ingest end to end on a tiny fleet: the figures are printed and nothing is lost (values unchecked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bench.ingest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=None,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    return out


def test_a_tiny_run_prints_the_headline_ratios_and_loses_nothing() -> None:
    out = bench(
        "--devices",
        "20",
        "--duration",
        "1",
        "--repeat",
        "2",
        "--overload",
        "1",
        "--warmup",
        "0",
        "--latency-rate",
        "100",
    )
    assert "HEADLINE hub CPU per event ÷ echo CPU per event" in out
    assert re.search(r"at saturation: [\d.]+ \([\d.]+–[\d.]+\)x", out), out
    assert re.search(r"at 100/s: [\d.]+ \([\d.]+–[\d.]+\)x", out), out
    assert re.search(r"hub ÷ echo completed events/s at 20 devices, both saturated: \d+", out), out
    assert re.search(r"p99 at 100/s: hub [\d.]+ .* hub − echo -?[\d.]+", out), out
    overload = re.search(r"overload: .* replays [\d.]+ % of (\d+) sent .* lost (\d+) .* drained [\d.]+ s", out)
    assert overload, out
    assert int(overload[1]) > 0 and overload[2] == "0"
    rows = re.findall(r"│\s+(echo|hub)\s+│\s+(fixed|saturation|overload)\s+│(.*)", out)
    assert len(rows) == 2 * 2 * 2 + 1, out  # echo and hub, fixed and saturation, twice; one overload run
    for _consumer, _mode, rest in rows:
        cells = [c.strip() for c in rest.split("│")]
        sent, answered, lost = int(cells[2]), int(cells[3]), int(cells[4])
        assert sent > 0 and answered == sent and lost == 0, rest


def test_a_tiny_storm_reconnects_every_device_and_drains_every_outbox() -> None:
    out = " ".join(bench("--storm", "--devices", "40", "--duration", "2", "--storm-rate", "50").split())  # unwrapped
    assert re.search(r"40 devices: 40 connected", out), out
    assert re.search(r"held, 50 events/s offered: (\d+) sent, \1 answered, lost 0", out), out
    storm = re.search(
        r"reconnect storm .*: (\d+) connections dropped, (\d+) reconnects, every device back after "
        r"[\d.]+ s, every outbox drained [\d.]+ s .* peak replay rate \d+/s.* lost (\d+)",
        out,
        re.S,
    )
    assert storm, out
    assert int(storm[1]) == 40 and int(storm[2]) >= 40 and storm[3] == "0"
