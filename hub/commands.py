"""`restock hub`: run API, ingest and scheduler in one process."""

from __future__ import annotations

import sys

import typer
import uvicorn

from hub.app import create_app
from hub.ingest.mqtt import GIL_SWITCH_S
from hub.logs import configure
from hub.settings import Settings


def hub_command(
    host: str | None = typer.Option(None, help="HTTP address (default RESTOCK_HTTP_HOST or 127.0.0.1)"),
    port: int | None = typer.Option(None, help="HTTP port (default RESTOCK_HTTP_PORT or 8000)"),
) -> None:
    """Run the hub: REST API and dashboard, MQTT ingest, scheduler; embedded broker unless RESTOCK_MQTT_URL is set."""
    settings = Settings()
    configure(settings.log_level, settings.log_json)
    sys.setswitchinterval(GIL_SWITCH_S)
    try:
        _serve(settings, host, port)
    except KeyboardInterrupt:
        # uvicorn re-raises Ctrl-C after its clean shutdown: by now everything has stopped.
        return


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    uvicorn.run(
        create_app(settings),
        host=host or settings.http_host,
        port=port or settings.http_port,
        log_config=None,
        access_log=False,
        # An open dashboard keeps an SSE stream; do not let it hold a Ctrl-C for long.
        timeout_graceful_shutdown=5,
    )
