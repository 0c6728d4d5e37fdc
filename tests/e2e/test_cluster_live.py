"""Two hub nodes on one PostgreSQL database: an order placed and cancelled through node b shows up live, without
a reload, on the dashboard node a serves (its event stream, read by the page in Chromium)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hub.broker.mosquitto import MosquittoProcess
from tests.e2e.conftest import sign_in, wait_live
from tests.hub.cluster import Node, errors_logged, hub_nodes, needs_postgres, postgres_url
from tests.hub.conftest import Api, product_id, sign_up

pytestmark = [pytest.mark.slow, pytest.mark.broker, pytest.mark.postgres, needs_postgres]


@pytest.fixture
def cluster(broker: MosquittoProcess, tmp_path: Path) -> Iterator[list[Node]]:
    """Nodes a and b on this test's broker and the PostgreSQL test database."""
    with hub_nodes(postgres_url(), broker, tmp_path) as nodes:
        yield nodes


def test_an_order_applied_on_node_b_appears_live_on_node_a_dashboard(cluster: list[Node], page: Page) -> None:
    a, b = cluster
    email = f"{secrets.token_hex(4)}@example.org"
    api_a = sign_up(a.url, "Two nodes", email)
    api_b = Api(b.url, api_a.headers["Authorization"].split()[1])
    sign_in(page, a.url, email)
    page.goto(a.url + "/web/orders")
    expect(page.locator("#orders")).to_contain_text("No orders yet")
    wait_live(page)
    page.evaluate("window.__notReloaded = true")

    api_b.ok("PUT", f"/api/v1/cart/{product_id(api_b, 'COF-1KG')}", json={"qty": 2})
    order = api_b.ok("POST", "/api/v1/cart/checkout")  # committed by node b's process
    row = page.locator(f"#orders tr[data-key='{order['id']}']")
    expect(row).to_contain_text("Coffee beans 1 kg × 2", timeout=10_000)

    api_b.ok("POST", f"/api/v1/orders/{order['id']}/cancel")
    expect(row).to_have_attribute("data-status", "cancelled", timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True, "the order reached node a's page through a reload"
    assert errors_logged(cluster) == []
