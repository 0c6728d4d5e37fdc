"""Fixtures for the broker tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiomqtt
import pytest
from broker_probe import TIMEOUT, Connect, Probe


@pytest.fixture
async def mqtt_connect() -> AsyncIterator[Connect]:
    """Connect recording clients: connect(port, username, password, client_id=None, will=None)."""
    async with contextlib.AsyncExitStack() as stack:

        async def connect(
            port: int,
            username: str | None,
            password: str | None,
            client_id: str | None = None,
            will: aiomqtt.Will | None = None,
            clean_session: bool = True,
        ) -> Probe:
            client = aiomqtt.Client(
                "127.0.0.1", port, username=username, password=password,
                identifier=client_id or username or "anonymous", will=will,
                protocol=aiomqtt.ProtocolVersion.V311, clean_session=clean_session, timeout=TIMEOUT,
            )
            await stack.enter_async_context(client)
            probe = Probe(client, client_id or username or "anonymous")
            task = asyncio.create_task(probe.pump())

            async def cancel() -> None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await task

            stack.push_async_callback(cancel)
            return probe

        yield connect
