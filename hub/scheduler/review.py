"""Periodic review of every sensor slot, so a reorder does not wait for the next reading."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.scheduler.clock import Clock
from hub.services.replenish import Outcome, review_all

log = logging.getLogger(__name__)


class SlotReview:
    """Runs the reorder policy on all active slots every `every_s` seconds (and once at start)."""

    def __init__(self, engine: Engine, clock: Clock, every_s: float) -> None:
        self.engine = engine
        self.clock = clock
        self.every_s = every_s

    def tick(self) -> list[Outcome]:
        """Review every slot in one transaction."""
        with Session(self.engine, expire_on_commit=False) as session:
            outcomes = review_all(session, self.clock.now())
        ordered = [o.order.id for o in outcomes if o.order is not None]
        if ordered:
            log.info("slot review placed orders", extra={"orders": ordered})
        return outcomes

    async def run(self) -> None:
        """Review forever; a failure (database away) is logged and retried at the next turn."""
        while True:
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("slot review failed; retrying")
            await asyncio.sleep(self.every_s)
