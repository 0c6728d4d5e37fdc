"""The notifier: fills the outbox from the order timeline and device checks, and delivers it per channel.

Woken by the live bus (any order change) and otherwise polling, so nothing depends on a hint arriving.
Claimed deliveries go to a `hub.jobs.Sender`: each runs as its own task with a timeout, outside any transaction,
so a channel that hangs or refuses only delays itself, never an order, another channel, or the next notification.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub import metrics
from hub.jobs import DeliveryPolicy, Outcome, Sender
from hub.notify import outbox
from hub.notify.actions import ActionLinks
from hub.notify.channels import ChannelError, SmtpConfig, send_apprise, send_email, send_webhook
from hub.notify.live import LiveBus, Subscription

log = logging.getLogger(__name__)
NOTIFICATION = "notification"  # live-bus kind: a new notification's id and kind (hub.notify.render.one: the rest)
# After the first hint, how long the notifier lets changes gather before a turn. Under load every ingest batch
# is a hint; a turn for each costs the ingest loop more (shared interpreter, SQLite's one write lock) than
# a household gains from hearing a tenth of a second sooner.
GATHER_S = 0.1


class Notifier:
    """Outbox producer and per-channel sender, run as one task of the hub."""

    def __init__(
        self,
        engine: Engine,
        bus: LiveBus,
        now: Callable[[], datetime],
        smtp: SmtpConfig,
        policy: DeliveryPolicy,
        poll_s: float = 1.0,
        device_check_s: float = 300.0,
        offline_after: timedelta = timedelta(hours=24),
        low_battery_mv: int = 2400,
        links: ActionLinks | None = None,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.now = now
        self.smtp = smtp
        self.policy = policy
        self.poll_s = poll_s
        self.device_check_s = device_check_s
        self.offline_after = offline_after
        self.low_battery_mv = low_battery_mv
        # Signs the one-tap links of order notifications; the confirmation pages verify with the same object.
        self.links = links or ActionLinks(None, "http://127.0.0.1:8000")
        self._checked_at = -float("inf")
        # One pump at a time in this process: two at once could both take a step's notification as theirs and
        # queue its deliveries twice (each reads the new ids above the highest it saw before its INSERT).
        self._pumping = threading.Lock()
        self._pumped_at = -float("inf")
        self.sender: Sender[outbox.DeliveryJob, outbox.DeliveryJob] = Sender(engine, now, _Deliveries(self),
                                                                            "notification")

    def check_devices_now(self) -> None:
        """Run the device checks at the next turn (tests, and after the clock was moved)."""
        self._checked_at = -float("inf")

    async def run(self) -> None:
        """Pump, check and deliver until cancelled; a failing turn (database away) is logged and retried."""
        sender = asyncio.create_task(self.sender.run(), name="notification-sender")
        await asyncio.sleep(0)  # the sender takes jobs from its first step on
        try:
            with self.bus.subscribe(None) as hints:
                while True:
                    try:
                        behind = await self._turn()
                    except Exception:
                        log.exception("notifier turn failed; retrying")
                        behind = False
                    if behind:
                        # A backlog (a burst of orders, a restart) is worked off turn after turn, not one turn
                        # per hint or poll: at one turn a second a backlog of 30,000 orders took a minute, told
                        # its households late and kept the notifier busy into whatever load came next.
                        await asyncio.sleep(0)
                        continue
                    await self._wait_for_news(hints)
        finally:
            sender.cancel()

    async def _wait_for_news(self, hints: Subscription) -> None:
        """Until a change is hinted (or the poll interval passes); then drain the burst, one turn covers it.

        Under load every committed order is a hint: a turn per hint would be a turn per order, most of them
        finding nothing left to do. The notifier's own announcements are no news to it.
        """
        deadline = time.monotonic() + self.poll_s
        while (left := deadline - time.monotonic()) > 0:
            hint = await hints.get(within=left)
            if hint is None:
                return
            if hint.kind != NOTIFICATION:
                break
        await asyncio.sleep(min(GATHER_S, self.poll_s))
        while await hints.get(within=0) is not None:
            pass

    async def _turn(self) -> bool:
        """One round of work; whether it left a backlog (a full pump: under a steady load there are always a
        few new steps by the end of a turn, and those wait for the next hint as usual)."""
        created, behind = await asyncio.to_thread(self._pump)
        if time.monotonic() - self._checked_at >= self.device_check_s:
            self._checked_at = time.monotonic()
            created += await asyncio.to_thread(self._check_devices)
        self.bus.publish_many([(household_id, NOTIFICATION, payload) for household_id, payload in created])
        for job in await asyncio.to_thread(self._claim):
            self.sender.dispatch(job)
        return behind

    def _pump(self) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
        with self._pumping:
            return self._pump_held()

    def _pump_held(self) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
        self._pumped_at = time.monotonic()
        with Session(self.engine, expire_on_commit=False) as session:
            told, full = outbox.pump_order_events(session, self.now())
            session.commit()
        return told, full

    def pump_between_batches(self) -> None:
        """Ingest's apply thread calls this after each batch (`Processor.after_batch`): order steps become
        notifications at most every `GATHER_S`, between two of ingest's transactions rather than beside them.
        From the notifier's own thread the pump would hold SQLite's write lock while it waits for the
        interpreter lock, and ingest's commit would wait for both. Skipped while the notifier's own turn pumps."""
        if time.monotonic() - self._pumped_at < GATHER_S or not self._pumping.acquire(blocking=False):
            return
        try:
            told, _ = self._pump_held()
        finally:
            self._pumping.release()
        if told:
            self.bus.publish_many([(household_id, NOTIFICATION, payload) for household_id, payload in told])

    def _check_devices(self) -> list[tuple[int, dict[str, Any]]]:
        with Session(self.engine, expire_on_commit=False) as session:
            notes = outbox.device_checks(session, self.now(), self.offline_after, self.low_battery_mv)
            session.commit()
        return [outbox.announcement(note) for note in notes]

    def _claim(self) -> list[outbox.DeliveryJob]:
        with Session(self.engine, expire_on_commit=False) as session:
            jobs = outbox.claim_deliveries(session, self.now(), self.policy, links=self.links)
            session.commit()
        return jobs

    async def send_now(self, kind: str, target: str, secret: str | None, payload: dict[str, Any]) -> str | None:
        """Send one message at once, past the outbox and without retries (a channel test): the error in one line,
        or None when the channel took it."""
        async with httpx.AsyncClient() as client:
            return await self._send(client, kind, target, secret, payload)

    async def _send(
        self, client: httpx.AsyncClient, kind: str, target: str, secret: str | None, payload: dict[str, Any]
    ) -> str | None:
        try:
            async with asyncio.timeout(self.policy.timeout_s + 1):
                if kind == "webhook":
                    await send_webhook(client, target, secret, payload, self.now(), self.policy.timeout_s)
                elif kind == "email":
                    await send_email(self.smtp, target, payload, self.policy.timeout_s)
                elif kind == "apprise":
                    await send_apprise(target, payload, self.policy.timeout_s)
                else:
                    return f"unknown channel kind {kind}"
        except ChannelError as exc:
            return str(exc)
        except TimeoutError:
            return "timeout"
        return None


class _Deliveries:
    """The sender's handler for claimed deliveries: the claim read everything, so only the send and its record."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def prepare(self, session: Session, job: outbox.DeliveryJob) -> outbox.DeliveryJob:
        """The claim already holds the channel and payload."""
        return job

    async def perform(self, client: httpx.AsyncClient, job: outbox.DeliveryJob) -> Outcome:
        """Send on the job's channel; every failure is retried (with backoff) until the last attempt."""
        error = await self.notifier._send(client, job.kind, job.target, job.secret, job.payload)
        log.info("notification delivery", extra={"delivery": job.delivery_id, "kind": job.kind, "error": error})
        metrics.current().notifications.labels(job.kind, "sent" if error is None else "failed").inc()
        return Outcome(ok=error is None, retryable=True, error=error)

    def finish(self, session: Session, job: outbox.DeliveryJob, outcome: Outcome, now: datetime) -> None:
        """Sent, retried later, or given up."""
        outbox.finish_delivery(session, job, outcome.error, now, self.notifier.policy)
