"""The hub process: API, ingest, scheduler and (by default) the embedded broker, in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from hub.api import auth, cart, devices, household, orders, products
from hub.api import catalog as catalog_api
from hub.api import inbox as inbox_api
from hub.api import merchants as merchants_api
from hub.api import notifications as notifications_api
from hub.api import slots as slots_api
from hub.broker.credentials import HUB_USERNAME, Argon2CredentialStore
from hub.broker.embedded import EmbeddedBroker
from hub.http.docs import install as install_docs
from hub.http.edge import install as install_edge
from hub.ingest.mqtt import BrokerTarget, Ingest
from hub.ingest.processor import Processor
from hub.ingest.workers import IngestWorkers
from hub.lookup.openfoodfacts import LookupWorker, OpenFoodFactsClient
from hub.merchants.base import Merchant
from hub.merchants.catalog import seed_demo_catalog
from hub.merchants.demo import DemoMerchant
from hub.notify import live
from hub.notify.runtime import AfterPress
from hub.scheduler.clock import Clock
from hub.scheduler.review import SlotReview
from hub.scheduler.timers import Scheduler
from hub.settings import Settings
from hub.store import repos
from hub.store.db import make_engine, migrate
from hub.store.models import Device
from hub.web import install as install_dashboard

log = logging.getLogger(__name__)



class Hub:
    """Everything the hub runs besides the HTTP server; started and stopped by the app lifespan."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        url = settings.resolved_database_url()
        self.engine: Engine = make_engine(url)
        migrate(url)
        self.merchants: dict[str, Merchant] = {"demo": DemoMerchant(timedelta(seconds=settings.merchant_step_seconds))}
        self.broker: EmbeddedBroker | None = None
        self.credentials = Argon2CredentialStore(self._secret_hash)
        # Open Food Facts names for unknown barcodes: a worker thread fed after each committed batch.
        self.lookups: LookupWorker | None = None
        if settings.off_enabled:
            client = OpenFoodFactsClient(
                settings.off_url, settings.off_timeout_s, settings.off_per_minute, settings.off_cache_s
            )
            self.lookups = LookupWorker(self.engine, client)
        self.processor = Processor(self.engine, on_unknown=self.lookups.submit if self.lookups else None)
        self.scheduler = Scheduler(self.engine, self.merchants, self.clock, settings.scheduler_poll_seconds)
        self.ingest: Ingest | None = None
        self.workers: IngestWorkers | None = None
        # Live events: every commit on this engine (ingest, scheduler, API, dashboard) is announced here.
        self.bus = live.LiveBus()
        live.watch(self.engine, self.bus)
        # Issue 8: merchant sender, notifications, Home Assistant discovery.
        self.after_press = AfterPress(self)
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        if settings.demo_catalog:
            with Session(self.engine) as session:
                if seed_demo_catalog(session):
                    session.commit()

    async def _secret_hash(self, device_id: str) -> str | None:
        def lookup() -> str | None:
            with Session(self.engine) as session:
                device = repos.device(session, device_id)
                return device.secret_hash if device is not None and device.active else None

        return await asyncio.to_thread(lookup)

    async def start(self) -> None:
        """Start broker (when embedded), ingest and scheduler."""
        if self.settings.ingest_workers > 1 and not self.settings.mqtt_url:
            raise ValueError(
                "RESTOCK_INGEST_WORKERS > 1 needs an external broker with shared subscriptions (set RESTOCK_MQTT_URL, "
                "e.g. to a mosquitto); the embedded broker has none"
            )
        self._loop = asyncio.get_running_loop()
        self.bus.attach(self._loop)
        if self.settings.mqtt_url:
            target = BrokerTarget.from_url(self.settings.mqtt_url)
        else:
            hub_password = secrets.token_urlsafe(24)
            self.broker = EmbeddedBroker(
                self.credentials,
                hub_password=hub_password,
                hub_username=HUB_USERNAME,
                host=self.settings.embedded_mqtt_host,
                port=self.settings.embedded_mqtt_port,
            )
            await self.broker.start()
            target = BrokerTarget(self.broker.host, self.broker.port, HUB_USERNAME, hub_password)
        self.ingest = Ingest(
            target,
            self.processor,
            shared=self.settings.shared_subscription or self.settings.ingest_workers > 1,
            client_id=self.settings.mqtt_client_id,
            clock=self.clock.now,
        )
        self._tasks = [
            asyncio.create_task(self.ingest.run(), name="ingest"),
            asyncio.create_task(self.scheduler.run(), name="scheduler"),
            asyncio.create_task(
                SlotReview(self.engine, self.clock, self.settings.slot_review_seconds).run(), name="slot-review"
            ),
        ]
        if self.broker is not None:
            self._tasks.append(asyncio.create_task(self._sweep_revoked(self.broker), name="revoke-sweep"))
        self._tasks += self.after_press.start(self.ingest)
        if self.settings.ingest_workers > 1:
            self.workers = IngestWorkers(
                self.settings, self.settings.ingest_workers - 1, self.bus, self.lookups.submit if self.lookups else None
            )
            await asyncio.to_thread(self.workers.start)
        if self.lookups is not None:
            self.lookups.start()
        log.info("hub started", extra={"broker": f"{target.host}:{target.port}", "embedded": self.broker is not None})

    def device_revoked(self, device_id: str) -> None:
        """After a revoke is committed: no cached broker login and no mosquitto password may outlive it."""
        # provisioning writes the mosquitto files; imported here because it builds on the hub, not the reverse.
        from provisioning import broker as broker_files

        self.credentials.forget(device_id)
        broker_files.revoke_if_configured(self.settings.data_dir, device_id)
        if self.broker is not None and self._loop is not None:
            self._on_loop(self.broker.disconnect(device_id), f"disconnect revoked device {device_id}")

    async def _sweep_revoked(self, broker: EmbeddedBroker) -> None:
        """A revoke made outside this process (`restock device revoke`) reaches the embedded broker here."""
        while True:
            await asyncio.sleep(self.settings.revoke_sweep_seconds)
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
        self.bus.detach()
        live.unwatch(self.engine)
        self.engine.dispose()
        log.info("hub stopped")


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """The FastAPI application; its lifespan runs the hub."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = Hub(settings, clock)
        app.state.hub = hub
        app.state.engine = hub.engine
        app.state.clock = hub.clock
        await hub.start()
        # Everything loaded so far (modules, mappers, compiled SQL) lives as long as the process. Left to the
        # collector, each full collection walks all of it, a pause of ~100 ms in the middle of ingest under
        # load (the p99 of issue #4); frozen, full collections only walk what was allocated since.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await hub.stop()

    app = FastAPI(
        title="restock hub",
        version="0.1.0",
        summary="Replenishment hub: devices, orders, cart and household controls.",
        lifespan=lifespan,
        # Served by hub.http.docs from this package, not from a CDN: the docs work without internet.
        docs_url=None,
        redoc_url=None,
    )
    for module in (auth, household, devices, products, orders, cart):
        app.include_router(module.router)
    app.include_router(catalog_api.router)
    app.include_router(inbox_api.router)
    app.include_router(slots_api.router)
    app.include_router(merchants_api.router)
    app.include_router(merchants_api.substitutes)
    app.include_router(notifications_api.router)
    install_dashboard(app)
    install_docs(app)
    install_edge(app, settings, uploads=[catalog_api.router.prefix + "/import"])

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, object]:
        """Liveness and whether ingest is connected to the broker."""
        hub: Hub = app.state.hub
        connected = hub.ingest is not None and hub.ingest.connected.is_set()
        # Ingest processes subscribed now, this one included; RESTOCK_INGEST_WORKERS says how many there should be.
        workers = int(connected) + (hub.workers.connected() if hub.workers is not None else 0)
        return {"ok": True, "mqtt_connected": connected, "ingest_workers": workers}

    return app
