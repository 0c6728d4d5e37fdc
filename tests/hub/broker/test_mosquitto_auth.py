"""Generated mosquitto password/ACL files, proven against a real mosquitto 2.0."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from hub.broker.credentials import HUB_USERNAME
from hub.broker.mosquitto import MosquittoProcess
from hub.broker.mosquitto_auth import (
    hash_password,
    render_acl_file,
    verify_password,
    write_acl_file,
    write_password_file,
)

HUB_PASSWORD = "hub-secret-1"
ACCOUNTS = {HUB_USERNAME: HUB_PASSWORD, "dev-a": "secret-a", "dev-b": "secret-b"}

Factory = Callable[..., MosquittoProcess]
# "Nothing arrived" checks wait this long *after* a positive control message proved delivery works.
QUIET_WINDOW = 0.5
TIMEOUT = 5.0
Connect = Callable[..., Awaitable[Any]]
Refused = Callable[..., Awaitable[None]]


@pytest.fixture
def auth_files(tmp_path: Path) -> tuple[Path, Path]:
    passwords, acl = tmp_path / "passwd", tmp_path / "acl"
    write_password_file(passwords, ACCOUNTS)
    write_acl_file(acl, HUB_USERNAME)
    return passwords, acl


@pytest.fixture
def secured(mosquitto_factory: Factory, auth_files: tuple[Path, Path]) -> MosquittoProcess:
    passwords, acl = auth_files
    return mosquitto_factory(password_file=passwords, acl_file=acl)


def test_password_file_lines_are_mosquitto_pbkdf2(auth_files: tuple[Path, Path]) -> None:
    lines = auth_files[0].read_text().splitlines()
    assert [line.split(":", 1)[0] for line in lines] == sorted(ACCOUNTS)
    for line in lines:
        user, hashed = line.split(":", 1)
        assert hashed.startswith("$7$")
        assert verify_password(ACCOUNTS[user], hashed)
        assert not verify_password("wrong", hashed)
    assert oct(auth_files[0].stat().st_mode & 0o777) == "0o640"


def test_hash_is_salted_and_bad_usernames_are_rejected(tmp_path: Path) -> None:
    assert hash_password("x") != hash_password("x")
    for bad in ("a:b", "dev a", "dev/+", "#", ""):
        with pytest.raises(ValueError):
            write_password_file(tmp_path / "p", {bad: "s"})
    assert "user _hub\n" in render_acl_file()


@pytest.mark.broker
@pytest.mark.parametrize(
    ("username", "password"),
    [("dev-a", "wrong"), ("dev-zz", "secret-a"), (None, None), (HUB_USERNAME, "wrong")],
)
async def test_bad_logins_are_refused(
    secured: MosquittoProcess, expect_refused: Refused, username: str | None, password: str | None
) -> None:
    await expect_refused(secured.port, username, password, client_id=username or "nobody")


@pytest.mark.broker
async def test_device_acl(secured: MosquittoProcess, mqtt_connect: Connect) -> None:
    hub = await mqtt_connect(secured.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    assert await hub.subscribe("restock/#")
    a = await mqtt_connect(secured.port, "dev-a", "secret-a")
    b = await mqtt_connect(secured.port, "dev-b", "secret-b")
    for topic in ("restock/v1/dev-b/event", "restock/v1/dev-b/status", "restock/v1/dev-a/../dev-b/event",
                  "restock/v1/dev-a/cmd", "homeassistant/x/config"):
        await a.publish(topic, b"forged")
    # mosquitto grants a refused filter or not depending on version; what counts is what gets delivered.
    for topic_filter in ("restock/v1/dev-b/cmd", "restock/v1/+/cmd", "#", "restock/#"):
        await a.subscribe(topic_filter)
    assert await a.subscribe("restock/v1/dev-a/cmd")
    assert await b.subscribe("restock/v1/dev-b/cmd")
    await a.publish("restock/v1/dev-a/event", b"control")
    await a.publish("restock/v1/dev-a/status", b"status-control", retain=True)
    await hub.publish("restock/v1/dev-b/cmd", b"for-b")
    await hub.publish("restock/v1/dev-a/cmd", b"for-a")
    await hub.wait_for("restock/v1/dev-a/status", b"status-control")
    await b.wait_for("restock/v1/dev-b/cmd", b"for-b")
    await a.wait_for("restock/v1/dev-a/cmd", b"for-a")
    await asyncio.sleep(QUIET_WINDOW)
    assert [t for t in hub.topics() if "/cmd" not in t] == ["restock/v1/dev-a/event", "restock/v1/dev-a/status"]
    assert [(m.topic.value, m.payload) for m in a.received] == [("restock/v1/dev-a/cmd", b"for-a")]
    assert await hub.subscribe("homeassistant/#")


@pytest.mark.broker
async def test_reload_admits_a_new_device(
    secured: MosquittoProcess, auth_files: tuple[Path, Path], mqtt_connect: Connect
) -> None:
    with pytest.raises(aiomqtt.MqttError):
        await mqtt_connect(secured.port, "dev-c", "secret-c")
    write_password_file(auth_files[0], {**ACCOUNTS, "dev-c": "secret-c"})
    secured.reload()
    deadline = time.monotonic() + TIMEOUT
    while True:  # SIGHUP is handled asynchronously by mosquitto: retry until it took effect
        try:
            c = await mqtt_connect(secured.port, "dev-c", "secret-c")
            break
        except aiomqtt.MqttError:
            assert time.monotonic() < deadline, "dev-c still refused after reload"
            await asyncio.sleep(0.1)
    assert secured.running
    hub = await mqtt_connect(secured.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    assert await hub.subscribe("restock/v1/+/event")
    await c.publish("restock/v1/dev-c/event", b"hello")
    await hub.wait_for("restock/v1/dev-c/event", b"hello")
