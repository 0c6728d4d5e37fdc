"""Two hub nodes as real processes on one PostgreSQL database: what one node counts, signs or checks, the other
honours (sign-in lockouts, claim-code limits, one-tap links, device checks once per cluster)."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import create_engine, text

from hub.broker.mosquitto import MosquittoProcess
from hub.notify.actions import KEY_FILE, ActionLinks
from hub.store.db import normalise_url
from tests.conftest import wait_for
from tests.hub.cluster import Node, errors_logged, hub_nodes, needs_postgres, postgres_url
from tests.hub.conftest import PG_ENV, Api, product_id, sign_up

pytestmark = [pytest.mark.slow, pytest.mark.broker, pytest.mark.postgres, needs_postgres]

OLD_KEY = bytes(range(32))  # the key file a single hub made before it was scaled out
SENSORS = 12


@pytest.fixture(scope="module")
def cluster(mosquitto: MosquittoProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    """Node a (holding the action-link key file of the hub it grew from) and node b, checking devices often."""
    root = tmp_path_factory.mktemp("cluster")
    (root / "node-a").mkdir()
    (root / "node-a" / KEY_FILE).write_text(OLD_KEY.hex())
    with hub_nodes(postgres_url(), mosquitto, root, device_check_s="0.3", offline_after_h="1") as nodes:
        yield nodes


def _token(url: str, email: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/auth/token", data={"username": email, "password": password}, timeout=30)


def test_sign_in_failures_split_over_two_nodes_lock_the_account(cluster: list[Node]) -> None:
    a, b = cluster
    email = f"{secrets.token_hex(4)}@example.org"
    sign_up(a.url, "Split guesses", email)
    # Five wrong passwords (the free failures and the bucket of attempts), alternating between the nodes: each
    # node alone saw at most three, so only a shared count refuses the sixth.
    for attempt in range(5):
        assert _token(cluster[attempt % 2].url, email, "wrong guess").status_code == 401
    for node in (a, b):
        refused = _token(node.url, email, "correct horse")
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1


def test_a_claim_code_brute_force_split_over_two_nodes_is_limited_as_on_one(cluster: list[Node]) -> None:
    a, b = cluster
    api_a = sign_up(a.url, "Claimers")
    api_b = Api(b.url, api_a.headers["Authorization"].split()[1])  # the same user, through the other node
    for attempt in range(5):
        api = (api_a, api_b)[attempt % 2]
        guess = api.post("/api/v1/devices/claim", json={"code": secrets.token_hex(4).upper()})
        assert guess.status_code == 404, guess.text
    for api in (api_a, api_b):
        assert api.post("/api/v1/devices/claim", json={"code": "ABCD1234"}).status_code == 429


def _open_order(api: Api) -> str:
    api.ok("PUT", f"/api/v1/cart/{product_id(api, 'COF-1KG')}", json={"qty": 1})
    order = api.ok("POST", "/api/v1/cart/checkout")
    return str(order["id"])


def test_a_one_tap_link_signed_on_one_node_acts_on_the_other(cluster: list[Node]) -> None:
    a, b = cluster
    api = sign_up(a.url, "Tappers")
    household = api.ok("GET", "/api/v1/household")["id"]
    until = datetime.now(UTC) + timedelta(hours=1)
    # A link sent before the scale-out, signed with node a's old key file: node a offered that key to the cluster.
    old_link = ActionLinks(a.data_dir, a.url).token(household, _open_order(api), "cancel", until)
    # A link signed with the cluster's key, as any node's notifier signs it.
    engine = create_engine(normalise_url(os.environ[PG_ENV]))
    try:
        new_link = ActionLinks(None, a.url, shared=engine).token(household, _open_order(api), "cancel", until)
    finally:
        engine.dispose()
    for token in (old_link, new_link):
        page = httpx.post(f"{b.url}/act/{token}", timeout=30)
        assert page.status_code == 200, page.text
    statuses = {o["status"] for o in api.ok("GET", "/api/v1/orders")}
    assert statuses == {"cancelled"}
    assert not (b.data_dir / KEY_FILE).exists()  # node b never made a key of its own


def test_the_device_check_tells_of_each_offline_device_once_with_two_nodes_checking(cluster: list[Node]) -> None:
    a, _ = cluster
    api = sign_up(a.url, "Sensors")
    household = api.ok("GET", "/api/v1/household")["id"]
    ids = [f"sensor-{secrets.token_hex(3)}-{n}" for n in range(SENSORS)]
    for device_id in ids:
        api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "name": device_id, "id": device_id})
    engine = create_engine(normalise_url(os.environ[PG_ENV]))
    try:
        with engine.begin() as conn:  # silent for two days: owed a report every 6 h
            conn.execute(
                text("UPDATE device SET online = false, last_seen = :at WHERE id = ANY(:ids)"),
                {"at": datetime.now(UTC) - timedelta(days=2), "ids": ids},
            )

        def told() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        text("SELECT count(*) FROM notification WHERE household_id = :h AND kind = 'device.offline'"),
                        {"h": household},
                    ).scalar_one()
                )

        wait_for(lambda: told() == SENSORS, "an offline notification per sensor", timeout=20)
        time.sleep(2)  # both nodes check every 0.3 s: a few more rounds each
        assert told() == SENSORS
    finally:
        engine.dispose()
    # Two checks at once would both try to tell and one would fail on the unique key: neither node ever did.
    assert errors_logged(cluster) == []
