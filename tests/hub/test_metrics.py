"""/metrics scraped from a running hub during a short load: counters move by the events sent, the values of
several ingest processes add up, the database gauges tell orders, timers and devices, and only a token holder
(or, without a token, a loopback client) may scrape. The docs' dashboard and alerts name real metrics."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML comes with amqtt; no stubs pinned
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from hub import metrics
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import HubServer, add_button, sign_up
from tests.hub.shops import FAST, Mailbox, mailbox  # noqa: F401 - mailbox: a fixture

DOCS = Path(__file__).resolve().parents[2] / "docs"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, **headers: str) -> Samples:
    """Every sample of one scrape, by name and labels."""
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (n, have), value in samples.items() if n == name and wanted <= have)


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Counters are written just after the feedback goes out: wait until they show what the devices saw."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "metrics did not catch up"
        time.sleep(0.1)


def _fleet(server: HubServer, devices: Callable[..., ProtocolDevice], count: int) -> list[ProtocolDevice]:
    api = sign_up(server.url)
    api.ok("PATCH", "/api/v1/household", json={"allow_multiple_orders": True})
    return [devices(f"btn-{n:02d}", add_button(api, f"btn-{n:02d}")) for n in range(count)]


def _press(fleet: list[ProtocolDevice], presses: int) -> None:
    for n in range(presses):
        fleet[n % len(fleet)].press()
    for device in fleet:
        device.wait_outbox_empty(timeout=120)


@pytest.mark.broker
def test_counters_move_by_the_events_sent_and_gauges_read_the_database(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    fleet = _fleet(server, devices, 5)
    before = scrape(server.url)

    _press(fleet, 40)
    fleet[0].publish_raw(b"{not json")  # one dead letter
    fleet[1].publish_raw('{"online": true, "battery_mv": 3000}', channel="status")

    def caught_up() -> bool:
        now = scrape(server.url)
        return (total(now, "restock_ingest_dead_letters_total") - total(before, "restock_ingest_dead_letters_total")
                == 1 and total(now, "restock_devices_connected") == 1
                and total(now, "restock_feedback_total", outcome="published")
                - total(before, "restock_feedback_total", outcome="published") >= 40)

    eventually(caught_up)
    after = scrape(server.url)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("restock_ingest_events_total", type="press", outcome="ordered") == 40
    assert moved("restock_ingest_events_total", type="press") - moved(
        "restock_ingest_events_total", type="press", outcome="replay") == 40
    assert moved("restock_ingest_events_total", type="status", outcome="recorded") == 1
    assert moved("restock_ingest_dead_letters_total", reason="bad_json") == 1
    assert moved("restock_feedback_total", outcome="published") >= 40
    assert moved("restock_ingest_batch_messages_sum") >= 42
    assert 1 <= moved("restock_ingest_batch_messages_count") <= 42
    assert moved("restock_ingest_apply_seconds_count") == moved("restock_ingest_batch_messages_count")
    assert moved("restock_feedback_latency_seconds_count") >= 1
    # Gauges from the database: this test's database holds only these orders, each in its cancel window.
    assert total(after, "restock_orders", status="pending") == 40
    assert total(after, "restock_timers_due") == 0 and total(after, "restock_timers_late") == 0
    assert total(after, "restock_devices_connected") == 1
    assert ("restock_notifications_backlog", frozenset()) in after
    # An hour on, every cancel window (30 min) has ended: due, and late by more than a scheduler poll.
    later = metrics.database_gauges(server.hub.engine, server.hub.clock.now() + timedelta(hours=1), 1.0)
    assert (later.timers_due, later.timers_late, later.orders_by_status) == (40, 40, {"pending": 40})


@pytest.mark.broker
def test_notifications_count_by_channel_kind_and_outcome(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], mailbox: Mailbox,  # noqa: F811
) -> None:
    server = start_hub(smtp_host="127.0.0.1", smtp_port=mailbox.port, **FAST)
    email = "metrics@example.org"
    api = sign_up(server.url, email=email)
    api.ok("POST", "/api/v1/notifications/channels", json={"kind": "email", "target": email})
    api.ok("POST", "/api/v1/notifications/channels", json={"kind": "webhook", "target": "http://127.0.0.1:9/x"})
    before = scrape(server.url)
    button = devices("btn-note", add_button(api, "btn-note"))
    assert button.wait_feedback(button.press())["code"] == "ordered"

    def moved(name: str, **labels: str) -> float:
        return total(scrape(server.url), name, **labels) - total(before, name, **labels)

    eventually(lambda: moved("restock_notifications_total", kind="email", outcome="sent") >= 1
               and moved("restock_notifications_total", kind="webhook", outcome="failed") >= 1)
    # The same deliveries as jobs of the notification sender: the e-mail done, the refused webhook retried.
    assert moved("restock_jobs_total", sender="notification", outcome="done") >= 1
    assert moved("restock_jobs_total", sender="notification", outcome="retry") >= 1


@pytest.mark.broker
@pytest.mark.slow
def test_values_of_every_ingest_process_add_up(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub(ingest_workers=2)
    workers = server.hub.workers
    assert workers is not None and server.hub.metrics_dir is not None
    deadline = time.monotonic() + 60
    while workers.connected() < 1:
        assert time.monotonic() < deadline, "the ingest worker did not connect"
        time.sleep(0.05)
    folder = server.hub.metrics_dir
    fleet = _fleet(server, devices, 20)
    before = scrape(server.url)
    files_before = _ordered_per_file(folder)

    _press(fleet, 200)

    eventually(lambda: total(scrape(server.url), "restock_ingest_events_total", type="press", outcome="ordered")
               - total(before, "restock_ingest_events_total", type="press", outcome="ordered") >= 200)
    after = scrape(server.url)
    assert total(after, "restock_ingest_events_total", type="press", outcome="ordered") - total(
        before, "restock_ingest_events_total", type="press", outcome="ordered") == 200
    # Each process wrote its own file; both took a share, and the shares are what the scrape added up.
    shares = {name: n - files_before.get(name, 0) for name, n in _ordered_per_file(folder).items()}
    shares = {name: n for name, n in shares.items() if n}
    assert len(shares) == 2, shares
    assert sum(shares.values()) == 200
    assert server.hub.ingest is not None and 0 < server.hub.ingest.processed


def _ordered_per_file(folder: Path) -> dict[str, float]:
    """Ordered presses counted by each process's counter file."""
    counts: dict[str, float] = {}
    for path in folder.glob("counter_*.db"):
        for family in MultiProcessCollector.merge([str(path)]):  # type: ignore[no-untyped-call]
            for sample in family.samples:
                if sample.name == "restock_ingest_events_total" and sample.labels == {
                    "type": "press", "outcome": "ordered"
                }:
                    counts[path.name] = counts.get(path.name, 0) + sample.value
    return counts


@pytest.mark.broker
def test_a_token_is_asked_for_when_set(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub(metrics_token="scrape-secret")
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    wrong = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert "restock_orders" in {n for n, _ in scrape(server.url, Authorization="Bearer scrape-secret")}


@pytest.mark.broker
def test_without_a_token_only_loopback_clients_may_scrape(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    assert httpx.get(f"{server.url}/metrics").status_code == 200
    # Through a reverse proxy on this machine, the client is the address the proxy forwards (uvicorn trusts
    # a loopback proxy's X-Forwarded-For): a remote scraper is refused.
    proxied = httpx.get(f"{server.url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403 and "RESTOCK_METRICS_TOKEN" in proxied.text


@pytest.mark.broker
def test_metrics_can_be_turned_off(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub(metrics_enabled=False)
    assert httpx.get(f"{server.url}/metrics").status_code == 404


def test_who_may_scrape() -> None:
    assert metrics.authorised(None, "127.0.0.1", None) and metrics.authorised(None, "::1", None)
    assert not metrics.authorised(None, "192.168.1.20", None) and not metrics.authorised(None, None, None)
    assert metrics.authorised("t0ken", "192.168.1.20", "Bearer t0ken")
    assert not metrics.authorised("t0ken", "127.0.0.1", None)  # a token, once set, is asked of everyone
    assert not metrics.authorised("t0ken", "127.0.0.1", "Bearer t0ke")


# Series a scrape shows: counters with _total, histograms with _bucket/_sum/_count, gauges as named.
SERIES = {
    series
    for name in metrics.METRIC_NAMES
    for series in ((name, f"{name}_bucket", f"{name}_sum", f"{name}_count") if not name.endswith("_total") else (name,))
}


def _named(expr: str) -> set[str]:
    return set(re.findall(r"\brestock_[a-z_]+", expr))


def test_the_grafana_dashboard_graphs_real_metrics() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert exprs
    named = set().union(*(_named(e) for e in exprs))
    assert named <= SERIES, named - SERIES
    # Every metric is on the dashboard somewhere.
    assert {name for name in metrics.METRIC_NAMES if not {name, f"{name}_bucket", f"{name}_count"} & named} == set()


def test_the_alert_rules_use_real_metrics() -> None:
    rules = yaml.safe_load((DOCS / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}
    assert {"RestockDeadLettersRising", "RestockNotifierBacklog", "RestockIngestLag"} <= set(alerts)
    for expr in alerts.values():
        assert _named(expr) and _named(expr) <= SERIES, expr


def test_the_metrics_page_explains_every_metric() -> None:
    page = (DOCS / "metrics.md").read_text()
    assert [name for name in metrics.METRIC_NAMES if f"`{name}`" not in page] == []


def test_a_fresh_process_empties_only_the_metric_files_of_its_folder(tmp_path: Path) -> None:
    # In a process of its own: the folder is set once per process, and this one's is the test hubs'.
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"old run")
    (folder / "README").write_text("kept")
    script = (
        "import sys; from pathlib import Path; from hub import metrics\n"
        "f = metrics.setup(Path(sys.argv[1])); metrics.current().timers_fired.inc(3)\n"
        "print(metrics.exposition(f).decode())\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, check=True)
    assert "restock_timers_fired_total 3.0" in out.stdout
    assert not (folder / "counter_999999.db").exists() and (folder / "README").read_text() == "kept"
