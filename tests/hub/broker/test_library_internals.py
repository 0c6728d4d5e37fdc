"""The private attributes of libraries the hub relies on, each with the reason it does so in the code.

If an upgrade of amqtt or aiomqtt renames one of them, these fail first, with a message naming the code to
change, instead of the broker or ingest misbehaving under load.
"""

from __future__ import annotations

import aiomqtt
import paho.mqtt.client as paho
import pytest

from hub.broker.embedded import EmbeddedBroker
from hub.broker.subscriptions import SnapshotSubscriptions

pytestmark = pytest.mark.broker


class NoDevices:
    """A credential store that knows no device: these checks never log one in."""

    async def check_device(self, device_id: str, secret: str) -> bool:
        return False


async def test_amqtt_keeps_sessions_subscriptions_and_servers_where_the_embedded_broker_reads_them() -> None:
    async with EmbeddedBroker(NoDevices(), hub_password="hub-secret", port=0) as broker:
        inner = broker._broker  # noqa: SLF001 - the amqtt Broker behind our wrapper
        # hub/broker/embedded.py: revoke and cool-down look up a client's session in `_sessions`.
        assert isinstance(inner._sessions, dict), "amqtt moved Broker._sessions: see GuardedBroker in embedded.py"
        # hub/broker/subscriptions.py: the table is replaced by one iterated as a snapshot.
        assert isinstance(inner._subscriptions, SnapshotSubscriptions), "amqtt moved Broker._subscriptions"
        # hub/broker/embedded.py `_listening_port`: the port the OS gave for port 0.
        sockets = inner._servers["default"].instance.sockets
        assert broker.port == sockets[0].getsockname()[1] != 0, "amqtt moved Broker._servers"


async def test_aiomqtt_client_wraps_a_paho_client_in_client() -> None:
    # hub/ingest/mqtt.py `_publish`: feedback is handed to paho directly, without aiomqtt's per-call task.
    client = aiomqtt.Client("127.0.0.1")
    assert isinstance(client._client, paho.Client), "aiomqtt moved Client._client: see Ingest._publish"
