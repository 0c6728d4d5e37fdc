"""`restock hub`: run API, ingest and scheduler in one process; what keeps it from starting is told in one line.

The checks a newcomer trips over (a port in use, an unusable data folder, a bad log level) run before anything
starts, so the hub never half-starts for them; anything its start-up still raises is turned into one line by
`StartupWatch` instead of uvicorn's tracebacks. `restock demo` uses the same pieces.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
import uvicorn
from starlette.types import Message, Receive, Scope, Send

from hub.broker.errors import BrokerError
from hub.cli_errors import EXIT_STARTUP, EXIT_USAGE, UserError, explain, first_line, usable_data_dir
from hub.ingest import affinity
from hub.logs import configure
from hub.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)
MQTT_FIX = "stop the other broker or set RESTOCK_EMBEDDED_MQTT_PORT to a free port"


def hub_command(
    host: str | None = typer.Option(None, help="HTTP address (default RESTOCK_HTTP_HOST or 127.0.0.1)"),
    port: int | None = typer.Option(None, help="HTTP port (default RESTOCK_HTTP_PORT or 8000)"),
) -> None:
    """Run the hub: REST API and dashboard, MQTT ingest, scheduler; embedded broker unless RESTOCK_MQTT_URL is set."""
    # The app is imported here, not at the top: every other `restock` command (and --help) starts seconds faster.
    from hub.app import create_app
    from hub.ingest.mqtt import GIL_SWITCH_S

    settings = Settings()
    # Resolved once here: the hub's child processes must not depend on the directory it was started from.
    settings = settings.model_copy(update={"data_dir": usable_data_dir(settings.data_dir, "RESTOCK_DATA_DIR")})
    configure(log_level(settings.log.level, "RESTOCK_LOG_LEVEL"), settings.log.as_json)
    if settings.mqtt.url is None:
        check_port_free(settings.mqtt.embedded_host, settings.mqtt.embedded_port, "MQTT", MQTT_FIX)
    http_host = host or settings.http.host
    http_port = port if port is not None else settings.http.port
    fix = "stop the other server or choose another --port" if port is not None else (
        "stop the other server or set RESTOCK_HTTP_PORT to a free port"
    )
    listener = listen(http_host, http_port, "HTTP", fix)
    # The address actually served (a --host/--port wins over the settings) is the default of notification links.
    served = {"host": http_host, "port": listener.getsockname()[1]}
    settings = settings.model_copy(update={"http": settings.http.model_copy(update=served)})
    sys.setswitchinterval(GIL_SWITCH_S)
    settings = _keep_on_one_cpu(settings)
    server = HubServer(create_app(settings))
    log.info("hub serving on http://%s:%s", http_host, listener.getsockname()[1])
    try:
        with server.startup_told():
            server.run(listener)
    except KeyboardInterrupt:
        # uvicorn re-raises Ctrl-C after its clean shutdown: by now everything has stopped.
        return


def _keep_on_one_cpu(settings: Settings) -> Settings:
    """Pin the hub process as RESTOCK_INGEST_CPU says, before it starts a thread; its workers learn the CPU."""
    cpus = affinity.allowed()
    setting = settings.ingest.cpu
    if setting not in (affinity.AUTO, affinity.OFF) and cpus and int(setting) not in cpus:
        raise UserError(
            f"RESTOCK_INGEST_CPU={setting} is not a CPU the hub may use here ({', '.join(map(str, cpus))}); "
            "set one of them, auto or off", EXIT_USAGE,
        )
    cpu = affinity.resolve(setting, cpus)
    if cpu is None or not affinity.pin(cpu):
        return settings
    return settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"cpu": str(cpu)})})


# -- checks before anything starts ------------------------------------------------------------------------------
def log_level(name: str, option: str) -> str:
    """A log level name logging knows, or a usage error naming the option or variable."""
    level = name.upper()
    if level not in logging.getLevelNamesMapping():
        raise UserError(f"{option}={name} is not a log level: use DEBUG, INFO, WARNING or ERROR", EXIT_USAGE)
    return level


def _socket_for(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    # As the servers themselves do: a port whose last connections are still in TIME_WAIT is free.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def _port_error(exc: OSError, host: str, port: int, what: str, fix: str) -> UserError:
    if exc.errno == errno.EADDRINUSE:
        return UserError(f"{what} port {port} is in use ({host}:{port}); {fix}", EXIT_STARTUP)
    if exc.errno == errno.EACCES:
        return UserError(f"{what} port {port} needs more privileges ({host}:{port}); {fix}", EXIT_STARTUP)
    # Not the port: the address itself (a typo, or one this machine does not have).
    return UserError(f"cannot listen on {host}:{port} for {what} ({exc.strerror or exc}): check the address",
                     EXIT_STARTUP)


def check_port_free(host: str, port: int, what: str, fix: str) -> None:
    """Fail with one line naming the fix when a server could not listen on host:port now (0: any port)."""
    if port == 0:
        return
    with _socket_for(host) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise _port_error(exc, host, port, what, fix) from None


def listen(host: str, port: int, what: str, fix: str) -> socket.socket:
    """A bound socket for the HTTP server, so the port is ours before the hub starts; one line if taken."""
    sock = _socket_for(host)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise _port_error(exc, host, port, what, fix) from None
    return sock


# -- start-up failures told in one line -------------------------------------------------------------------------
def startup_error(exc: BaseException) -> UserError:
    """What kept the hub from starting, as one line that names the fix."""
    if isinstance(exc, BrokerError):
        return UserError(f"{exc}; {MQTT_FIX}", EXIT_STARTUP)
    if isinstance(exc, ValueError):  # a combination of settings the hub refuses; its message names them
        return UserError(first_line(str(exc)), EXIT_USAGE)
    told = explain(exc)
    if told is not None:
        return UserError(told.message, EXIT_STARTUP)
    log.debug("the hub could not start", exc_info=exc)
    return UserError(
        f"the hub could not start: {type(exc).__name__}: {first_line(str(exc))} "
        "(RESTOCK_LOG_LEVEL=DEBUG shows where)",
        EXIT_STARTUP,
    )


class StartupWatch(logging.Filter):
    """Wraps the hub app for uvicorn: keeps why its start-up failed, and hushes uvicorn's tracebacks about it."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__()
        self.app = app
        self.failure: BaseException | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry: requests pass through; the lifespan's start-up failure is kept, not logged."""
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        startup_failed = False

        async def send_quietly(message: Message) -> None:
            nonlocal startup_failed
            if message["type"] == "lifespan.startup.failed":
                startup_failed = True
                message = {**message, "message": ""}  # the formatted traceback uvicorn would log
            await send(message)

        try:
            await self.app(scope, receive, send_quietly)
        except Exception as exc:
            if not startup_failed:
                raise
            self.failure = exc

    def filter(self, record: logging.LogRecord) -> bool:
        """Once the failure is known, uvicorn's own 'startup failed' lines add nothing to our one line."""
        return self.failure is None


class HubServer:
    """The hub app under uvicorn on a socket bound beforehand."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.watch = StartupWatch(app)
        logging.getLogger("uvicorn.error").addFilter(self.watch)
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.watch, log_config=None, access_log=False,
                # An open dashboard keeps an SSE stream; do not let it hold a Ctrl-C for long.
                timeout_graceful_shutdown=5,
            )
        )

    def run(self, listener: socket.socket) -> None:
        """Serve until Ctrl-C (uvicorn re-raises it as KeyboardInterrupt once everything has stopped)."""
        self.server.run(sockets=[listener])

    async def serve(self, listener: socket.socket) -> None:
        """Serve in the running event loop until should_exit."""
        await self.server.serve(sockets=[listener])

    @contextmanager
    def startup_told(self) -> Iterator[None]:
        """uvicorn ends a failed start-up with SystemExit(3): turn it into the one line naming the cause."""
        try:
            yield
        except SystemExit:
            if self.watch.failure is None:
                raise
            raise startup_error(self.watch.failure) from None
