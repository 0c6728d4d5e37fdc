"""A backlog of order steps is worked off at once, not one pump's worth per poll."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlmodel import Session, col, func, select

from hub.ingest.messages import Message
from hub.ingest.processor import Processor
from hub.jobs import DeliveryPolicy
from hub.notify.actions import ActionLinks
from hub.notify.channels import SmtpConfig
from hub.notify.live import LiveBus
from hub.notify.worker import Notifier
from hub.store.models import Notification, OrderEvent
from hub.store.types import utcnow
from tests.hub.ingest.world import GOOD, NOW, build

STEPS = 1300  # more than two pumps' worth (500 each)


async def test_a_backlog_larger_than_a_pump_is_told_without_waiting_for_polls(tmp_path: Path) -> None:
    engine = build(f"sqlite:///{tmp_path / 'hub.db'}")
    processor = Processor(engine)
    for first in range(1, STEPS + 1, 100):
        processor.handle_batch([
            Message(f"restock/v1/{GOOD}/event", json.dumps({"seq": seq, "type": "press"}).encode(), NOW)
            for seq in range(first, min(first + 100, STEPS + 1))
        ])
    # A poll far longer than the test: only working the backlog off turn after turn tells everyone in time.
    notifier = Notifier(engine, LiveBus(), utcnow, SmtpConfig(None), DeliveryPolicy(), poll_s=600.0,
                        links=ActionLinks(tmp_path, "http://127.0.0.1:8000"))

    def told() -> tuple[int, int]:
        with Session(engine) as session:
            notes = session.exec(select(func.count()).select_from(Notification)).one()
            waiting = session.exec(select(func.count()).select_from(OrderEvent)
                                   .where(col(OrderEvent.notified).is_(False))).one()
            return notes, waiting

    task = asyncio.create_task(notifier.run())
    deadline = asyncio.get_running_loop().time() + 60
    try:
        while (now := told()) != (STEPS, 0):
            assert asyncio.get_running_loop().time() < deadline, f"told, waiting: {now}"
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        engine.dispose()
