"""The hub on generated mosquitto files: 50 device adds and 25 revokes through the API at once, then the logins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hub.broker import mosquitto_files as brokerfiles
from hub.broker.mosquitto import MosquittoProcess, free_port
from tests.hub.broker.rawclient import RawClient
from tests.hub.conftest import Api, HubServer, sign_up

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def generated_mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """`restock broker config` files in the hub's data folder (start_hub uses tmp_path/data), mosquitto on them."""
    files = brokerfiles.BrokerFiles.in_data_dir(tmp_path / "data")
    process = MosquittoProcess(brokerfiles.write_config(files, port=free_port()))
    process.start()
    yield process
    process.stop()


def _login(port: int, device_id: str, secret: str) -> int:
    client = RawClient(port)
    try:
        return client.login(device_id, secret)
    finally:
        client.close()


def _create(api: Api, device_id: str) -> str:
    body = api.ok("POST", "/api/v1/devices", json={"kind": "dash_button", "name": device_id, "id": device_id})
    return str(body["secret"])


def test_concurrent_device_adds_and_revokes_through_the_api(
    start_hub: Callable[..., HubServer], generated_mosquitto: MosquittoProcess
) -> None:
    port = generated_mosquitto.port
    files = brokerfiles.BrokerFiles(generated_mosquitto.config.data_dir)
    server = start_hub(mqtt_url=brokerfiles.hub_url(files, port=port))
    api = sign_up(server.url)
    old = {f"old-{n:02d}": _create(api, f"old-{n:02d}") for n in range(25)}

    with ThreadPoolExecutor(75) as pool:
        adds = {f"new-{n:02d}": pool.submit(_create, api, f"new-{n:02d}") for n in range(50)}
        revokes = [pool.submit(api.ok, "POST", f"/api/v1/devices/{d}/revoke") for d in old]
        new = {d: f.result() for d, f in adds.items()}
        assert all(r.result()["active"] is False for r in revokes)

    # Answered means applied: no waiting for the broker.
    assert {d: _login(port, d, s) for d, s in new.items()} == dict.fromkeys(new, 0)
    refused = {d: _login(port, d, s) for d, s in old.items()}
    assert all(code != 0 for code in refused.values()), refused

