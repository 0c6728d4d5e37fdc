"""A three-node NATS cluster with MQTT listeners: devices on any node, logins from the database, revokes everywhere.

Real nats-server processes (the pinned wheel) on free loopback ports, real MQTT clients (paho), and the device
services writing to PostgreSQL; the auth sync is the one `restock cluster` runs beside each node.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlmodel import Session

from hub.broker.credentials import HUB_USERNAME
from hub.broker.nats_cluster import NatsCluster, NatsNode
from hub.broker.nats_sync import AuthSync, LocalNode
from hub.services import devices as device_service
from hub.store import repos
from hub.store.db import make_engine, migrate
from tests.hub.cluster import CLUSTER_MARKS, fresh_postgres

pytestmark = CLUSTER_MARKS

HUB_PASSWORD = "hub-password-for-tests"
WAIT = 10.0


@dataclass
class Mqtt:
    """A paho client on its own network thread that records what happens to it."""

    client: paho.Client
    connack: list[Any] = field(default_factory=list)
    suback: list[list[Any]] = field(default_factory=list)
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)

    def wait(self, check: Any, what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.01)

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS1 and return the granted code (1, or 128 for a refusal)."""
        before = len(self.suback)
        self.client.subscribe(topic, 1)
        self.wait(lambda: len(self.suback) > before, f"SUBACK for {topic}")
        return int(self.suback[before][0].value)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(WAIT)

    def got(self, topic: str) -> list[bytes]:
        return [payload for t, payload, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(node: NatsNode, user: str, password: str, client_id: str | None = None, clean: bool = True) -> Mqtt:
    """Connect over MQTT 3.1.1 and wait for the CONNACK (no automatic reconnect: a close must stay visible)."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id or user, clean_session=clean, reconnect_on_failure=False
    )
    client.username_pw_set(user, password)
    mqtt = Mqtt(client)
    client.on_connect = lambda _c, _u, _f, rc, _p=None: mqtt.connack.append(rc)
    client.on_subscribe = lambda _c, _u, _m, rcs, _p=None: mqtt.suback.append(list(rcs))
    client.on_message = lambda _c, _u, m: mqtt.messages.append((m.topic, m.payload, bool(m.retain)))
    client.on_disconnect = lambda *_a: mqtt.disconnected.set()
    client.connect(node.host, node.mqtt_port, keepalive=30)
    client.loop_start()
    mqtt.wait(lambda: mqtt.connack or mqtt.disconnected.is_set(), "CONNACK")
    return mqtt


def accepted(mqtt: Mqtt) -> bool:
    return bool(mqtt.connack) and not mqtt.connack[0].is_failure and not mqtt.disconnected.is_set()


def login_refused(node: NatsNode, user: str, password: str) -> bool:
    mqtt = connect(node, user, password, client_id=f"{user}-probe")
    try:
        return not accepted(mqtt)
    finally:
        mqtt.close()


@pytest.fixture(scope="module")
def database() -> str:
    url = fresh_postgres()
    migrate(url)
    return url


@pytest.fixture(scope="module")
def cluster(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    nats = NatsCluster(tmp_path_factory.mktemp("nats"), 3, hub_password=HUB_PASSWORD, database_url=database)
    nats.start()
    sync = AuthSync(database, lambda: [LocalNode(c) for c in nats.configs], nats.hub_password_hash, poll_seconds=30.0)
    thread = threading.Thread(target=sync.run, daemon=True)
    thread.start()
    yield nats
    sync.stop()
    nats.stop()
    thread.join(35)


def add_device(database: str, device_id: str) -> str:
    engine = make_engine(database)
    with Session(engine) as session:
        created = device_service.add_device(session, "dash_button", device_id, None, device_id)
    engine.dispose()
    return created.secret


def revoke_device(database: str, device_id: str) -> None:
    engine = make_engine(database)
    with Session(engine) as session:
        device = repos.device(session, device_id)
        assert device is not None
        device_service.revoke(session, device)
    engine.dispose()


def wait_login(node: NatsNode, user: str, password: str) -> None:
    deadline = time.monotonic() + WAIT
    while login_refused(node, user, password):
        assert time.monotonic() < deadline, f"{user} never got a login on {node.name}"
        time.sleep(0.05)


def test_retained_status_and_queued_cmd_reach_the_device_through_any_node(cluster: NatsCluster, database: str) -> None:
    n1, n2, n3 = cluster.nodes
    secret = add_device(database, "btn-roam")
    wait_login(n1, "btn-roam", secret)
    hub = connect(n3, HUB_USERNAME, HUB_PASSWORD, "hub-n3")
    assert hub.subscribe("restock/v1/+/event") == 1
    device = connect(n1, "btn-roam", secret, clean=False)
    assert accepted(device)
    assert device.subscribe("restock/v1/btn-roam/cmd") == 1
    device.publish("restock/v1/btn-roam/status", b'{"online":true}', retain=True)
    device.publish("restock/v1/btn-roam/event", b'{"seq":1}')
    hub.wait(lambda: hub.got("restock/v1/btn-roam/event") == [b'{"seq":1}'], "the event on node 3")

    for node in cluster.nodes:  # the retained status lives in a replicated stream, not on node 1
        reader = connect(node, HUB_USERNAME, HUB_PASSWORD, f"hub-reader-{node.name}")
        reader.subscribe("restock/v1/btn-roam/status")
        reader.wait(
            lambda r=reader: r.got("restock/v1/btn-roam/status") == [b'{"online":true}'], f"retained on {node.name}"
        )
        assert reader.messages[0][2], "delivered as retained"
        reader.close()

    device.close()  # asleep: the cmd waits in its persistent session
    hub.publish("restock/v1/btn-roam/cmd", b'{"fb":"ok","seq":1}')
    device = connect(n2, "btn-roam", secret, clean=False)
    device.wait(lambda: device.got("restock/v1/btn-roam/cmd") == [b'{"fb":"ok","seq":1}'], "the queued cmd on node 2")
    device.close()
    hub.close()


@pytest.mark.parametrize("node_index", [0, 1, 2])
def test_a_device_reaches_only_its_own_topics_on_every_node(
    cluster: NatsCluster, database: str, node_index: int
) -> None:
    node = cluster.nodes[node_index]
    own, other = f"own-{node.name}", f"other-{node.name}"
    own_secret, other_secret = add_device(database, own), add_device(database, other)
    wait_login(node, own, own_secret)
    wait_login(node, other, other_secret)
    hub = connect(node, HUB_USERNAME, HUB_PASSWORD, f"hub-{node.name}")
    hub.subscribe("restock/v1/#")
    victim = connect(node, other, other_secret)
    victim.subscribe(f"restock/v1/{other}/cmd")
    device = connect(node, own, own_secret)

    assert device.subscribe(f"restock/v1/{other}/cmd") == 128
    assert device.subscribe("restock/v1/+/cmd") == 128
    assert device.subscribe(f"restock/v1/{own}/event") == 128  # its own events are for the hub only
    device.publish(f"restock/v1/{other}/event", b'{"seq":66}')
    device.publish(f"restock/v1/{other}/cmd", b'{"fb":"forged"}')
    device.publish("restock/v1/_hub/event", b'{"seq":67}')
    device.publish(f"restock/v1/{own}/event", b'{"seq":1}')  # sent after the refused ones, on one connection
    hub.wait(lambda: hub.got(f"restock/v1/{own}/event") == [b'{"seq":1}'], "the device's own event")
    hub.publish(f"restock/v1/{other}/cmd", b'{"fb":"real"}')
    victim.wait(lambda: victim.got(f"restock/v1/{other}/cmd"), "the hub's cmd to the other device")

    assert hub.got(f"restock/v1/{other}/event") == []
    assert hub.got("restock/v1/_hub/event") == []
    assert victim.got(f"restock/v1/{other}/cmd") == [b'{"fb":"real"}']
    assert device.got(f"restock/v1/{other}/cmd") == []
    for client in (device, victim, hub):
        client.close()


def test_a_revoked_device_is_cut_off_by_every_node_and_a_new_one_admitted(
    cluster: NatsCluster, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = add_device(database, "btn-gone")
    for node in cluster.nodes:
        wait_login(node, "btn-gone", secret)
    sessions = {node.name: connect(node, "btn-gone", secret, f"btn-gone-{node.name}") for node in cluster.nodes}
    assert all(accepted(s) for s in sessions.values())

    started = time.monotonic()
    revoke_device(database, "btn-gone")
    for name, mqtt in sessions.items():
        assert mqtt.disconnected.wait(5.0), f"node {name} kept the revoked device's connection"
    closed = time.monotonic() - started
    for node in cluster.nodes:
        assert login_refused(node, "btn-gone", secret), f"node {node.name} still accepts the revoked device"
    refused = time.monotonic() - started
    assert closed < 5.0

    fresh_secret = add_device(database, "btn-new")
    started = time.monotonic()
    for node in cluster.nodes:
        wait_login(node, "btn-new", fresh_secret)
    admitted = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\nrevoke: connections closed on 3 nodes in {closed:.2f} s, new logins refused by {refused:.2f} s; "
            f"new device admitted on 3 nodes in {admitted:.2f} s"
        )
    for mqtt in sessions.values():
        mqtt.close()


def test_devices_added_before_nats_logins_are_listed_for_a_rekey(cluster: NatsCluster, database: str) -> None:
    add_device(database, "btn-old")
    engine = make_engine(database)
    with Session(engine) as session:
        device = repos.device(session, "btn-old")
        assert device is not None
        device.nats_secret_hash = None  # as the migration leaves devices that existed before it
        session.add(device)
        session.commit()
        assert "btn-old" in repos.devices_without_broker_login(session)
        assert "btn-old" not in dict(repos.broker_logins(session))
    engine.dispose()


def test_nodes_run_our_own_binary_on_our_own_ports(cluster: NatsCluster) -> None:
    for node in cluster.nodes:
        exe = Path(f"/proc/{node.pid}/exe").resolve()
        assert exe != Path("/usr/sbin/nats-server")
        assert 4222 not in (node.client_port, node.mqtt_port)
