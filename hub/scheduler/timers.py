"""Durable timers: they live in the database (orders.due_at), so a restart neither loses nor repeats them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub import metrics
from hub.jobs import Job, RetryPolicy
from hub.merchants.base import Merchant
from hub.scheduler.clock import Clock
from hub.services.fulfilment import advance_due
from hub.store.models import Order

log = logging.getLogger(__name__)


class Scheduler:
    """Fires due timers: cancel-window expiry → submission, merchant steps, cancels and returns to pass on."""

    def __init__(
        self,
        engine: Engine,
        merchants: dict[str, Merchant],
        clock: Clock,
        poll_seconds: float = 1.0,
        dispatch: Callable[[Job], None] | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.merchants = merchants
        self.clock = clock
        self.poll_seconds = poll_seconds
        # Requests a shop takes outside the transaction, leased in a tick, go to the sender once it has committed.
        self.dispatch = dispatch
        self.policy = policy or RetryPolicy()

    def tick(self) -> list[Order]:
        """Run every timer that is due now, in one transaction; returns the orders that changed."""
        jobs: list[Job] = []
        with Session(self.engine, expire_on_commit=False) as session:
            changed = advance_due(session, self.merchants, self.clock.now(), jobs, self.policy)
        if changed:
            metrics.current().timers_fired.inc(len(changed))
        if self.dispatch is not None:
            for job in jobs:
                self.dispatch(job)
        for order in changed:
            log.info("order advanced", extra={"order": order.id, "status": order.status, "actor": "scheduler"})
        return changed

    async def run(self) -> None:
        """Tick forever; a failing tick (database away) is logged and retried, never fatal."""
        while True:
            try:
                changed = await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("scheduler tick failed; retrying")
                changed = []
            # Catch up quickly after a backlog (e.g. after a restart), otherwise poll.
            await asyncio.sleep(0 if len(changed) >= 100 else self.poll_seconds)
