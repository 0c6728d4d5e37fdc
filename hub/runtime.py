"""The hub's runtime: every long-lived object of a hub process, built once from the settings.

`Hub(settings)` constructs everything in dependency order and touches neither the database nor the network;
`prepare()` migrates the database and seeds the demo catalog, `start()` prepares and then starts the broker
(when embedded), ingest, scheduler, merchant sender, notifier and Home Assistant sync; `stop()` ends them. The
app's lifespan drives it; the API and dashboard reach it as `app.state.hub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from hub import metrics
from hub.broker import mosquitto_files
from hub.broker.credentials import HUB_USERNAME, Argon2CredentialStore
from hub.broker.embedded import EmbeddedBroker
from hub.http.signin import guard_from_settings
from hub.http.throttle import SignInGuard
from hub.ingest import jetstream
from hub.ingest.jetstream import JetStreamIngest
from hub.ingest.mqtt import BrokerTarget, Ingest
from hub.ingest.processor import Processor
from hub.ingest.workers import IngestWorkers
from hub.jobs import Sender
from hub.lookup.openfoodfacts import LookupWorker, OpenFoodFactsClient
from hub.merchants.base import Merchant
from hub.merchants.demo import DemoMerchant
from hub.notify import live
from hub.notify.actions import ActionLinks
from hub.notify.channels import SmtpConfig
from hub.notify.fanout import PgFanout
from hub.notify.homeassistant import HomeAssistantSync
from hub.notify.worker import Notifier
from hub.scheduler.clock import Clock
from hub.scheduler.review import SlotReview
from hub.scheduler.timers import Scheduler
from hub.services import catalog as catalog_service
from hub.services.devices import ClaimLimiter
from hub.services.fulfilment import ShopRequests
from hub.services.shared_limits import DatabaseLimits
from hub.settings import Settings
from hub.store import checkpointer, repos, shared_state
from hub.store.db import make_engine, migrate
from hub.store.models import Device

log = logging.getLogger(__name__)
STARTUP_LOCK = "restock-startup"


class Hub:
    """Everything the hub runs besides the HTTP server; started and stopped by the app lifespan.

    `signin_guard` is given when the HTTP edge already built one for the app (it exists before the lifespan).
    """

    def __init__(self, settings: Settings, clock: Clock | None = None, signin_guard: SignInGuard | None = None) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.engine: Engine = make_engine(settings.resolved_database_url())
        # Live events: every commit on this engine (ingest, scheduler, API, dashboard) is announced here.
        self.bus = live.LiveBus()
        live.watch(self.engine, self.bus)
        self.credentials = Argon2CredentialStore(self._secret_hash)
        self.signin_guard = signin_guard or guard_from_settings(settings.signin)
        self.claim_limiter = ClaimLimiter()
        # On PostgreSQL several hub nodes may serve one deployment: what they must agree on lives there.
        self.clustered = self.engine.dialect.name == "postgresql"
        if self.clustered:
            shared = DatabaseLimits(self.engine)
            self.signin_guard.share(shared)
            self.claim_limiter.share(shared)
        self.merchants: dict[str, Merchant] = {
            "demo": DemoMerchant(timedelta(seconds=settings.merchant.step_seconds)),
        }
        # Open Food Facts names for unknown barcodes: a worker thread fed after each committed batch.
        off = settings.openfoodfacts
        self.lookups: LookupWorker | None = None
        if off.enabled:
            client = OpenFoodFactsClient(off.url, off.timeout_s, off.per_minute, off.cache_s)
            self.lookups = LookupWorker(self.engine, client)
        self.processor = Processor(self.engine, on_unknown=self.lookups.submit if self.lookups else None)
        self.policy = settings.merchant.retry_policy()
        self.sender = Sender(self.engine, self.clock.now, ShopRequests(self.policy, self.clock.now), "merchant")
        self.scheduler = Scheduler(
            self.engine, self.merchants, self.clock, settings.scheduler.poll_seconds,
            dispatch=self.sender.dispatch, policy=self.policy,
        )
        notify, smtp = settings.notify, settings.smtp
        self.notifier = Notifier(
            self.engine, self.bus, self.clock.now,
            SmtpConfig(smtp.host, smtp.port, smtp.user, smtp.password, smtp.sender, smtp.starttls),
            notify.delivery_policy(),
            notify.poll_s, notify.device_check_s, timedelta(hours=notify.offline_after_h), notify.low_battery_mv,
            links=ActionLinks(
                settings.data_dir, settings.http.base_url(), shared=self.engine if self.clustered else None
            ),
        )
        # Built by start(): they need the broker's address, known once an embedded broker listens.
        self.broker: EmbeddedBroker | None = None
        self.ingest: Ingest | JetStreamIngest | None = None
        self.homeassistant: HomeAssistantSync | None = None
        self.workers: IngestWorkers | None = None
        self.checkpointer: checkpointer.Checkpointer | None = None  # SQLite's log, copied off the commits' path
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # The multi-process metrics folder (hub/metrics.py), known once started.
        self.metrics_dir: Path | None = None
        # Live events to and from the other hub nodes on the same PostgreSQL database.
        self.fanout: PgFanout | None = None
        if self.clustered and settings.database.live_fanout:
            self.fanout = PgFanout(self.engine.url.render_as_string(hide_password=False), self.bus)

    async def _secret_hash(self, device_id: str) -> str | None:
        def lookup() -> str | None:
            with Session(self.engine) as session:
                device = repos.device(session, device_id)
                return device.secret_hash if device is not None and device.active else None

        return await asyncio.to_thread(lookup)

    def prepare(self) -> None:
        """Bring the database to the current schema and seed the demo store's catalog when it is missing."""
        # Hub nodes of a cluster start together on one database: one migrates and seeds, the others wait.
        with shared_state.cluster_wide(self.engine, STARTUP_LOCK):
            migrate(self.settings.resolved_database_url())
            if self.settings.merchant.demo_catalog:
                with Session(self.engine) as session:
                    catalog_service.seed_demo_store(session)

    async def start(self) -> None:
        """Prepare the database, then start broker (when embedded), ingest, scheduler and the rest."""
        settings = self.settings
        if settings.ingest.workers > 1 and not settings.mqtt.url:
            raise ValueError(
                "RESTOCK_INGEST_WORKERS > 1 needs an external broker with shared subscriptions (set RESTOCK_MQTT_URL, "
                "e.g. to a mosquitto); the embedded broker has none"
            )
        self.prepare()
        self.checkpointer = checkpointer.for_url(self.engine.url.render_as_string(hide_password=False))
        if self.checkpointer is not None:
            self.checkpointer.start()
        if self.clustered:
            # Agreed now, not at the first notification: a key file this node holds is offered before any other
            # node can make up a key of its own, so links sent by a single hub keep working after scale-out.
            await asyncio.to_thread(self.notifier.links.key)
        # Before ingest counts anything and before a worker child starts: they all write to this folder.
        self.metrics_dir = metrics.setup(settings.metrics_dir())
        self._loop = asyncio.get_running_loop()
        self.bus.attach(self._loop)
        if self.fanout is not None:
            self.bus.relay = self.fanout.offer
            self._tasks.append(asyncio.create_task(self.fanout.run(), name="live-fanout"))
        if settings.nats.broker == "nats":
            # A node of a NATS cluster: ingest joins the cluster's durable consumer; no broker runs here.
            self.ingest = jetstream.from_settings(settings, self.processor, settings.mqtt.client_id, self.clock.now)
            target = self.ingest.feedback.targets[0]
        elif settings.mqtt.url:
            target = BrokerTarget.from_url(settings.mqtt.url)
        else:
            hub_password = secrets.token_urlsafe(24)
            self.broker = EmbeddedBroker(
                self.credentials,
                hub_password=hub_password,
                hub_username=HUB_USERNAME,
                host=settings.mqtt.embedded_host,
                port=settings.mqtt.embedded_port,
            )
            await self.broker.start()
            target = BrokerTarget(self.broker.host, self.broker.port, HUB_USERNAME, hub_password)
        if self.ingest is None:
            # The notifier pumps between ingest's batches in this process (see `Notifier.pump_between_batches`).
            self.processor.after_batch = self.notifier.pump_between_batches
            self.ingest = Ingest(
                target,
                self.processor,
                shared=settings.ingest.shared_subscription or settings.ingest.workers > 1,
                client_id=settings.mqtt.client_id,
                clock=self.clock.now,
            )
        self._tasks += [
            asyncio.create_task(self.ingest.run(), name="ingest"),
            asyncio.create_task(self.scheduler.run(), name="scheduler"),
            asyncio.create_task(
                SlotReview(self.engine, self.clock, settings.scheduler.slot_review_seconds).run(), name="slot-review"
            ),
        ]
        if self.broker is not None:
            self._tasks.append(asyncio.create_task(self._sweep_revoked(self.broker), name="revoke-sweep"))
        self._tasks += [
            asyncio.create_task(self.sender.run(), name="merchant-sender"),
            asyncio.create_task(self.notifier.run(), name="notifier"),
        ]
        if settings.notify.homeassistant:
            self.homeassistant = HomeAssistantSync(
                self.engine, self.bus, self.ingest.publish, self.ingest.connected.is_set
            )
            self._tasks.append(asyncio.create_task(self.homeassistant.run(), name="homeassistant"))
        if settings.ingest.workers > 1:
            self.workers = IngestWorkers(
                settings, settings.ingest.workers - 1, self.bus, self.lookups.submit if self.lookups else None,
                self.metrics_dir,
            )
            await asyncio.to_thread(self.workers.start)
        if self.lookups is not None:
            self.lookups.start()
        log.info("hub started", extra={"broker": f"{target.host}:{target.port}", "embedded": self.broker is not None,
                                       "kind": settings.nats.broker})

    def device_added(self, device_id: str, secret: str) -> None:
        """After a new device is committed: a hub on generated mosquitto files gives it its broker login at once."""
        mosquitto_files.add_if_configured(self.settings.data_dir, device_id, secret)

    def device_revoked(self, device_id: str) -> None:
        """After a revoke is committed: no cached broker login and no mosquitto password may outlive it."""
        self.credentials.forget(device_id)
        mosquitto_files.revoke_if_configured(self.settings.data_dir, device_id)
        if self.broker is not None and self._loop is not None:
            self._on_loop(self.broker.disconnect(device_id), f"disconnect revoked device {device_id}")

    async def _sweep_revoked(self, broker: EmbeddedBroker) -> None:
        """A revoke made outside this process (`restock device revoke`) reaches the embedded broker here."""
        while True:
            await asyncio.sleep(self.settings.mqtt.revoke_sweep_seconds)
            try:
                connected = broker.connected_devices()
                for device_id in await asyncio.to_thread(self._not_active, connected) if connected else []:
                    self.credentials.forget(device_id)
                    await broker.disconnect(device_id)
            except Exception:  # the next sweep tries again; the broker and ingest carry on
                log.exception("revoke sweep failed")

    def _not_active(self, device_ids: list[str]) -> list[str]:
        with Session(self.engine) as session:
            active = set(session.exec(select(Device.id).where(col(Device.id).in_(device_ids), col(Device.active))))
        return [d for d in device_ids if d not in active]

    def _on_loop(self, work: Coroutine[Any, Any, object], what: str) -> None:
        """Run work on the hub's event loop and wait for it; for the API's and dashboard's sync routes, which
        run in worker threads."""
        assert self._loop is not None
        try:
            asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=10)
        except Exception:  # the revoke itself is committed; a broker hiccup must not turn it into an error
            log.exception("%s failed", what)

    async def stop(self) -> None:
        """Cancel the loops, stop the broker, close the database pool."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.workers is not None:
            await asyncio.to_thread(self.workers.stop)
        if self.broker is not None:
            await self.broker.stop()
        if self.lookups is not None:
            await asyncio.to_thread(self.lookups.stop)
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.stop)
            self.checkpointer = None
        self.bus.relay = None
        self.bus.detach()
        live.unwatch(self.engine)
        self.engine.dispose()
        log.info("hub stopped")
