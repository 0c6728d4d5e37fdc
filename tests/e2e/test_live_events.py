"""Live events: the in-process bus (threads, bounded queues, households apart) and the SSE stream over HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import httpx
import pytest

from hub.notify.live import LiveBus
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import HubServer, add_button, sign_up


def in_own_loop(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine on a fresh loop in its own thread: Playwright's sync API (the browser tests in this
    session) keeps an event loop running in the main thread, where asyncio.run() is refused."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as exc:  # re-raised in the test's thread below
            failures.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)
    if failures:
        raise failures[0]


def test_events_published_from_worker_threads_reach_only_their_household() -> None:
    in_own_loop(_reach_only_their_household)


async def _reach_only_their_household() -> None:
    bus = LiveBus()
    bus.attach(asyncio.get_running_loop())
    with bus.subscribe(1) as home, bus.subscribe(2) as other, bus.subscribe(None) as everyone:
        workers = [
            threading.Thread(target=bus.publish, args=(1, "order", {"id": f"o-{i}", "status": "pending"}))
            for i in range(5)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        got = [await home.get(within=2) for _ in range(5)]
        assert sorted(e.data["id"] for e in got if e is not None) == [f"o-{i}" for i in range(5)]
        assert await other.get(within=0.1) is None
        assert len([await everyone.get(within=2) for _ in range(5)]) == 5
    assert bus.subscriber_count() == 0


def test_a_slow_subscriber_loses_its_oldest_events_and_is_told_how_many() -> None:
    in_own_loop(_slow_subscriber)


async def _slow_subscriber() -> None:
    bus = LiveBus(queue_size=3)
    bus.attach(asyncio.get_running_loop())
    with bus.subscribe(7) as slow:
        for i in range(10):
            bus.publish(7, "cart", {"n": i})  # never blocks, even though nobody reads
        await asyncio.sleep(0.05)  # deliveries run on the loop
        assert [(await slow.get(within=1)).data["n"] for _ in range(3)] == [7, 8, 9]  # type: ignore[union-attr]
        assert slow.take_dropped() == 7
        assert slow.take_dropped() == 0


def test_publishing_without_a_loop_is_a_no_op() -> None:
    LiveBus().publish(1, "order", {"id": "o-1"})  # a hub not started yet: nothing to deliver, nothing raised


def _frames(response: httpx.Response) -> Iterator[tuple[str, str]]:
    kind = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield kind, line.removeprefix("data: ")


@pytest.mark.broker
def test_sse_stream_delivers_an_order_event_after_a_press(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    hub = start_hub()
    api = sign_up(hub.url, "Stream home")
    button = devices("stream-button", add_button(api, "stream-button", "COF-1KG"))
    token = str(api.client.headers["Authorization"]).removeprefix("Bearer ")

    assert httpx.get(f"{hub.url}/web/events").status_code == 401
    timeout = httpx.Timeout(20.0)
    with httpx.stream("GET", f"{hub.url}/web/events", cookies={"restock_session": token}, timeout=timeout) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        frames = _frames(stream)
        assert next(frames)[0] == "hello"  # subscribed: whatever happens from now on is streamed
        seq = button.press()
        order = next(json.loads(data) for kind, data in frames if kind == "order")
    feedback = button.wait_feedback(seq)
    assert order["id"] == feedback["order"] and order["status"] == "pending"
    assert order["device_id"] == "stream-button" and order["total"] == 1299
