"""Live events between hub nodes over PostgreSQL LISTEN/NOTIFY: payloads under the limit, own echo skipped,
hostile payloads ignored, and two buses on one database hearing each other."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.notify.fanout import PAYLOAD_BYTES, PgFanout, libpq_url, pack, unpack
from hub.notify.live import LiveBus
from tests.hub.conftest import PG_ENV

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3000)
events = st.lists(
    st.tuples(
        st.integers(1, 10**9),
        st.sampled_from(["order", "device", "notification"]),
        st.dictionaries(st.sampled_from(["id", "text", "status"]), texts, max_size=3),
    ),
    max_size=60,
)


@given(events)
def test_packed_payloads_stay_under_the_notify_limit_and_keep_every_event_in_order(batch: list[Any]) -> None:
    payloads = pack("node-1", batch)
    assert all(len(p.encode()) <= PAYLOAD_BYTES for p in payloads)
    got = [event for payload in payloads for event in unpack(payload)[1]]
    assert [(h, k) for h, k, _ in got] == [(h, k) for h, k, _ in batch]
    for (_, _, sent), (_, _, received) in zip(batch, got, strict=True):
        # Whole, or (too large for one payload) just its id: the page re-reads either way.
        assert received == sent or received == {"id": sent.get("id")}


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "null",
        "[]",
        '{"n": 1, "e": []}',
        '{"n": "x"}',
        '{"n": "x", "e": {}}',
        "{" * 5000,
    ],
)
def test_a_payload_that_is_not_ours_is_refused(payload: str) -> None:
    with pytest.raises(ValueError):
        unpack(payload)


def test_malformed_events_inside_a_payload_are_skipped() -> None:
    payload = json.dumps(
        {
            "n": "x",
            "e": [
                [1, "order", {}],
                [True, "order", {}],
                ["1", "order", {}],
                [2, "cart"],
                [3, "cart", []],
                [4, "inbox", {"gtin": "1"}],
            ],
        }
    )
    assert unpack(payload) == ("x", [(1, "order", {}), (4, "inbox", {"gtin": "1"})])


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"LISTEN/NOTIFY is PostgreSQL's: set {PG_ENV}")
def test_two_nodes_hear_each_other_and_not_themselves() -> None:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_two_nodes(os.environ[PG_ENV]))
        except BaseException as exc:  # re-raised in the test's thread
            failures.append(exc)

    # Its own loop in its own thread: browser tests in the same session keep one running in the main thread.
    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    assert not worker.is_alive()
    if failures:
        raise failures[0]


async def _two_nodes(url: str) -> None:
    loop = asyncio.get_running_loop()
    buses = [LiveBus(), LiveBus()]
    fanouts = [PgFanout(url, bus, channel="restock_live_test") for bus in buses]
    tasks = []
    for bus, fanout in zip(buses, fanouts, strict=True):
        bus.attach(loop)
        bus.relay = fanout.offer
        tasks.append(asyncio.create_task(fanout.run()))
    try:
        await asyncio.wait_for(asyncio.gather(*(f.listening.wait() for f in fanouts)), 20)
        with buses[0].subscribe(5) as here, buses[1].subscribe(5) as there:
            # From a worker thread, as the change feed publishes after a commit.
            await asyncio.to_thread(buses[0].publish_many, [(5, "order", {"id": "o-1", "status": "placed"})])
            seen = await there.get(within=10)
            assert seen is not None and seen.data == {"id": "o-1", "status": "placed"}
            mine = await here.get(within=1)
            assert mine is not None and mine.data["id"] == "o-1"
            assert await here.get(within=1) is None  # its own NOTIFY came back and was skipped
            # Something not ours on the channel costs only itself.
            async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
                await conn.execute("SELECT pg_notify('restock_live_test', 'garbage')")
            buses[1].publish(5, "cart", {"product_id": 1, "qty": 2})
            back = await here.get(within=10)
            assert back is not None and back.kind == "cart"
        assert fanouts[0].received == 1 and fanouts[1].received == 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
