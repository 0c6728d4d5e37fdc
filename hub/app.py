"""The hub's FastAPI app: routers, the HTTP edge, and a lifespan that starts and stops the hub runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from hub import metrics
from hub.api import auth, cart, devices, household, orders, products
from hub.api import catalog as catalog_api
from hub.api import inbox as inbox_api
from hub.api import merchants as merchants_api
from hub.api import notifications as notifications_api
from hub.api import slots as slots_api
from hub.http.docs import install as install_docs
from hub.http.edge import install as install_edge
from hub.ingest import heap
from hub.runtime import Hub
from hub.scheduler.clock import Clock
from hub.settings import Settings
from hub.web import install as install_dashboard

__all__ = ["Hub", "create_app"]


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """The FastAPI application; its lifespan runs the hub."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = Hub(settings, clock, signin_guard=app.state.signin_guard)
        app.state.hub = hub
        app.state.engine = hub.engine
        app.state.clock = hub.clock
        app.state.claim_limiter = hub.claim_limiter
        await hub.start()
        # Everything loaded so far (modules, mappers, compiled SQL) lives as long as the process. Left to the
        # collector, each full collection walks all of it, a pause of ~100 ms in the middle of ingest under
        # load (a p99 spike); frozen, full collections only walk what was allocated since. The thresholds:
        # hub/ingest/heap.py.
        heap.settle()
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

    if settings.metrics.enabled:

        @app.get("/metrics", tags=["ops"], include_in_schema=False)
        def prometheus(request: Request) -> Response:
            """Prometheus metrics of every hub process (docs/metrics.md); a token or loopback only."""
            client = request.client.host if request.client else None
            token = settings.metrics.token
            if not metrics.authorised(token, client, request.headers.get("authorization")):
                if token:
                    return Response("bearer token required\n", 401, headers={"WWW-Authenticate": "Bearer"})
                return Response("loopback clients only; set RESTOCK_METRICS_TOKEN to scrape from elsewhere\n", 403)
            hub: Hub = app.state.hub
            assert hub.metrics_dir is not None
            gauges = metrics.DatabaseCollector(
                lambda: metrics.database_gauges(hub.engine, hub.clock.now(), settings.scheduler.poll_seconds)
            )
            return Response(metrics.exposition(hub.metrics_dir, [gauges]), media_type=metrics.CONTENT_TYPE)

    return app
