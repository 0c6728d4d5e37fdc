"""Embedded MQTT broker (amqtt, in the hub's event loop): device logins and a per-device topic ACL."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from amqtt.adapters import BufferReader, ReaderAdapter, StreamWriterAdapter  # type: ignore[import-untyped]
from amqtt.broker import Broker  # type: ignore[import-untyped]
from amqtt.contexts import Action, BrokerConfig, ListenerConfig  # type: ignore[import-untyped]
from amqtt.errors import AMQTTError, PluginError  # type: ignore[import-untyped]
from amqtt.errors import BrokerError as AmqttBrokerError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket  # type: ignore[import-untyped]
from amqtt.mqtt.connect import ConnectPacket  # type: ignore[import-untyped]
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin  # type: ignore[import-untyped]
from amqtt.session import Session  # type: ignore[import-untyped]

from hub.broker.credentials import HUB_USERNAME, CredentialStore, is_device_id
from hub.broker.errors import BrokerError
from hub.broker.limits import DEVICE_LIMITS, ConnectionLimits
from hub.broker.packet_guard import PacketGuard
from hub.broker.subscriptions import SnapshotSubscriptions

log = logging.getLogger(__name__)

__all__ = ["HUB_USERNAME", "EmbeddedBroker", "Principal", "may_publish", "may_receive", "may_subscribe"]

# Topic roots the hub account may use: its own tree, and Home Assistant discovery.
HUB_ROOTS = frozenset({"restock", "homeassistant"})
# A client that opens a socket and never sends CONNECT is dropped after this long (amqtt waits forever).
CONNECT_TIMEOUT = 10.0
# stop() waits this long for connection tasks to wind down before it cancels them.
STOP_GRACE = 5.0

_PRINCIPAL = "restock.principal"
_NOISY_LOGGERS = ("amqtt", "transitions")


@dataclass(frozen=True)
class Principal:
    """Who an authenticated MQTT session is: the hub account or one device."""

    kind: Literal["hub", "device"]
    name: str


def _hub_topic(topic: str) -> bool:
    levels = topic.split("/")
    return len(levels) >= 2 and levels[0] in HUB_ROOTS


def may_publish(who: Principal, topic: str) -> bool:
    """True if who may publish on topic (also used for the last-will topic)."""
    if "+" in topic or "#" in topic:
        return False
    if who.kind == "hub":
        return _hub_topic(topic)
    # Exact string match: MQTT has no path semantics, so '..' or extra levels can never match.
    return topic in (f"restock/v1/{who.name}/event", f"restock/v1/{who.name}/status")


def may_subscribe(who: Principal, topic_filter: str) -> bool:
    """True if who may subscribe to topic_filter; a device gets its own cmd topic, no wildcards."""
    if who.kind == "hub":
        return _hub_topic(topic_filter)
    return topic_filter == f"restock/v1/{who.name}/cmd"


def may_receive(who: Principal, topic: str) -> bool:
    """True if a message on topic may be delivered to who (second line behind may_subscribe)."""
    return may_subscribe(who, topic)


def _describe(session: Any) -> str:
    return f"client_id={session.client_id!r} username={session.username!r} from {session.remote_address}"


class RestockAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """amqtt auth plugin: hub account by constant-time compare, devices through the CredentialStore."""

    @dataclass
    class Config:
        """Plugin configuration, filled in by EmbeddedBroker."""

        credentials: Any = None
        hub_username: str = HUB_USERNAME
        hub_password: str = ""

    async def authenticate(self, *, session: Session) -> bool:
        """Log a session in, or refuse it; remembers the Principal on the session for the ACL."""
        who, reason = await self._identify(session)
        if who is not None and session.will_flag and not may_publish(who, session.will_topic or ""):
            who, reason = None, f"last will on {session.will_topic!r} is outside its topics"
        if who is None:
            session.attributes.pop(_PRINCIPAL, None)
            log.warning("MQTT login refused (%s): %s", reason, _describe(session))
            return False
        session.attributes[_PRINCIPAL] = who
        return True

    async def _identify(self, session: Any) -> tuple[Principal | None, str]:
        cfg = self.config
        username: str | None = session.username
        password: str | None = session.password
        if not username or password is None:
            return None, "no credentials"
        if hmac.compare_digest(username.encode(), cfg.hub_username.encode()):
            if cfg.hub_password and hmac.compare_digest(password.encode(), cfg.hub_password.encode()):
                return Principal("hub", username), ""
            return None, "wrong hub password"
        if not is_device_id(username):
            return None, "malformed device id"
        # docs/protocol.md §1: the client id is the device id; it also stops one device taking over another's session.
        if session.client_id != username:
            return None, "client id differs from device id"
        store: CredentialStore = cfg.credentials
        try:
            ok = await store.check_device(username, password)
        except Exception:  # a store fault must refuse the login, never crash the broker
            log.exception("credential store failed for %r", username)
            return None, "credential store error"
        return (Principal("device", username), "") if ok else (None, "unknown device or wrong secret")


class RestockTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """amqtt topic plugin: applies may_publish / may_subscribe / may_receive to every action."""

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        """True if the authenticated session may do action on topic."""
        who = session.attributes.get(_PRINCIPAL) if session is not None else None
        if session is None or not isinstance(who, Principal) or topic is None or session.username != who.name:
            allowed = False
        elif action == Action.PUBLISH:
            allowed = may_publish(who, topic)
        elif action == Action.SUBSCRIBE:
            allowed = may_subscribe(who, topic)
        elif action == Action.RECEIVE:
            allowed = may_receive(who, topic)
        else:
            allowed = False
        if not allowed:
            client = session.client_id if session is not None else None
            log.warning("MQTT %s refused on %r for client_id=%r", action, topic, client)
        return allowed


class _RecordingReader(ReaderAdapter):  # type: ignore[misc]
    """Reads through to the socket and keeps a copy, so the CONNECT can be replayed to amqtt."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seen = bytearray()

    async def read(self, n: int = -1) -> bytes:
        data: bytes = await self._inner.read(n)
        self.seen += data
        return data

    def feed_eof(self) -> None:
        self._inner.feed_eof()


class _GatedBroker(Broker):  # type: ignore[misc]
    """amqtt Broker that authenticates a CONNECT before amqtt touches any session of that client id.

    amqtt 0.12 deletes (clean session) or rewrites (will, credentials of a persistent session) the
    existing session of a client id, and takes over a live connection, *before* it runs the auth
    plugins; an anonymous client could thus cut a device off or inject its own will message.
    Every connection also reads through a PacketGuard (size, rate and deadline limits, packet_guard.py).
    """

    def __init__(self, config: BrokerConfig, limits: ConnectionLimits = DEVICE_LIMITS) -> None:
        super().__init__(config)
        self._limits = limits
        self._pending: set[Any] = set()
        self._connections: set[asyncio.Task[Any]] = set()
        # device id -> monotonic time until which its logins are refused (it flooded or sent oversize packets)
        self._cooling: dict[str, float] = {}
        self._subscriptions = SnapshotSubscriptions()  # (still empty here) amqtt awaits while iterating it

    async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               listener_name: str) -> None:
        # Remember each connection's task: amqtt's shutdown closes sockets but does not wait for these.
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        peer = writer.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "?"
        guard = PacketGuard(reader, writer.transport, where, self._limits, self._breached)
        try:
            # amqtt's public hook for a connection it did not accept itself: the same handling as its own
            # stream_connected, but reading through our guard instead of straight from the socket.
            await self.external_connected(guard, StreamWriterAdapter(writer), listener_name)
        finally:
            if task is not None:
                self._connections.discard(task)

    def _breached(self, device: str | None, what: str) -> None:
        if device is None:
            return
        now = time.monotonic()
        self._cooling = {d: t for d, t in self._cooling.items() if t > now}  # bounded by the recent offenders
        self._cooling[device] = now + self._limits.cooldown

    def _cooling_down(self, username: str | None) -> bool:
        until = self._cooling.get(username or "")
        return until is not None and until > time.monotonic()

    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> Any:
        recorder = _RecordingReader(reader)
        self._pending.add(writer)
        try:
            try:
                connect = await asyncio.wait_for(ConnectPacket.from_stream(recorder), CONNECT_TIMEOUT)
            except Exception as exc:  # any garbage instead of a CONNECT ends the connection, not the broker
                with contextlib.suppress(Exception):
                    await writer.close()
                raise AMQTTError(f"no valid CONNECT from {remote_address}:{remote_port}: {exc!r}") from exc
            candidate = Session()
            candidate.client_id = connect.client_id
            candidate.username = connect.username
            candidate.password = connect.password
            candidate.will_flag = connect.will_flag
            candidate.will_topic = connect.will_topic
            candidate.remote_address = remote_address
            candidate.remote_port = remote_port
            if self._cooling_down(connect.username):
                log.warning("MQTT login refused (cut off for flooding less than %g s ago): %s",
                            self._limits.cooldown, _describe(candidate))
                allowed = False
            else:
                allowed = await self._authenticate(candidate, self.listeners_config["default"])
            if not allowed:
                await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
                await writer.close()
                raise AMQTTError(f"login refused for client id {connect.client_id!r}")
            who = candidate.attributes.get(_PRINCIPAL)
            if isinstance(reader, PacketGuard) and isinstance(who, Principal):
                reader.admit(who.name, device=who.kind == "device", keep_alive=connect.keep_alive)
        finally:
            self._pending.discard(writer)
        replay = BufferReader(bytes(recorder.seen))
        return await super()._initialize_client_session(replay, writer, remote_address, remote_port)

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int], session: Any) -> None:
        # On every connect amqtt replays retained messages for *all* filters in the broker, including
        # other clients' (the hub's restock/v1/+/status), without an ACL check: keep the session's own.
        holders = self.subscriptions.get(subscription[0], [])
        if any(s.client_id == session.client_id for s, _ in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)

    def connected_devices(self) -> list[str]:
        """Device ids with a live connection."""
        devices = []
        for client_id, (session, _) in self._sessions.items():
            who = session.attributes.get(_PRINCIPAL)
            if isinstance(who, Principal) and who.kind == "device" and session.transitions.is_connected():
                devices.append(client_id)
        return devices

    async def drop_client(self, client_id: str) -> bool:
        """Cut a client's connection (its will goes out) and delete its persistent session; False if unknown."""
        entry = self._sessions.get(client_id)  # amqtt keeps (session, handler) per client id, no public accessor
        if entry is None:
            return False
        session, handler = entry
        writer = getattr(handler, "writer", None)
        if writer is not None and session.transitions.is_connected():
            with contextlib.suppress(Exception):
                await writer.close()
            for _ in range(int(STOP_GRACE / 0.05)):  # amqtt's connection task sees the close and sends the will
                if not session.transitions.is_connected():
                    break
                await asyncio.sleep(0.05)
        # queued commands and the cmd subscription must not wait for a login that will never come
        await self._delete_session(client_id)
        return True

    async def drain_connections(self) -> None:
        """Close sockets still waiting for their CONNECT, then wait for every connection task to end."""
        for writer in list(self._pending):
            with contextlib.suppress(Exception):
                await writer.close()
        tasks = set(self._connections)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=STOP_GRACE)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)


class EmbeddedBroker:
    """amqtt broker in the current event loop, for the household set-up without an external broker."""

    def __init__(
        self,
        credentials: CredentialStore,
        *,
        hub_password: str,
        hub_username: str = HUB_USERNAME,
        host: str = "127.0.0.1",
        port: int = 1883,
        amqtt_log_level: int | None = logging.WARNING,
        limits: ConnectionLimits = DEVICE_LIMITS,
    ) -> None:
        if not hub_password:
            raise ValueError("the hub account needs a password")
        self._credentials = credentials
        self._hub_username = hub_username
        self._hub_password = hub_password
        self._host = host
        self._port = port
        self._bound_port: int | None = None
        self._broker: _GatedBroker | None = None
        self._limits = limits
        if amqtt_log_level is not None:
            # amqtt logs every connection and packet at INFO; a household hub has better things to log.
            for name in _NOISY_LOGGERS:
                logging.getLogger(name).setLevel(amqtt_log_level)

    @property
    def host(self) -> str:
        """Address the listener binds to."""
        return self._host

    @property
    def port(self) -> int:
        """Listener port (the actual one once started, when 0 asked for a free port)."""
        return self._bound_port if self._bound_port is not None else self._port

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._broker is not None

    def _config(self) -> BrokerConfig:
        plugin_cfg = {"credentials": self._credentials, "hub_username": self._hub_username,
                      "hub_password": self._hub_password}
        return BrokerConfig(
            listeners={"default": ListenerConfig(bind=f"{self._host}:{self._port}")},
            # Only our plugins: no anonymous auth, no $SYS tree, no per-packet logging.
            plugins={f"{__name__}.RestockAuthPlugin": plugin_cfg, f"{__name__}.RestockTopicPlugin": {}},
        )

    async def start(self) -> None:
        """Start listening; raises BrokerError if the broker cannot start (e.g. port in use)."""
        if self._broker is not None:
            return
        where = f"{self._host}:{self._port}"
        try:
            broker = _GatedBroker(self._config(), self._limits)
        except (AmqttBrokerError, PluginError, ValueError) as exc:
            raise BrokerError(f"embedded MQTT broker misconfigured: {exc}") from exc
        try:
            await broker.start()
        except AmqttBrokerError as exc:
            cause = exc.__cause__
            if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
                msg = f"cannot start the embedded MQTT broker: {where} is already in use (another broker running?)"
            else:
                msg = f"cannot start the embedded MQTT broker on {where}: {cause or exc}"
            with contextlib.suppress(Exception):
                await broker.plugins_manager.close()
            raise BrokerError(msg) from exc
        self._broker = broker
        self._bound_port = self._listening_port(broker)
        log.info("embedded MQTT broker listening on %s:%s", self._host, self.port)

    @staticmethod
    def _listening_port(broker: Any) -> int | None:
        # amqtt has no public accessor for the bound socket; needed when port 0 asked for a free one.
        with contextlib.suppress(AttributeError, KeyError, IndexError, OSError):
            return int(broker._servers["default"].instance.sockets[0].getsockname()[1])
        return None

    def connected_devices(self) -> list[str]:
        """Devices connected right now."""
        return self._broker.connected_devices() if self._broker is not None else []

    async def disconnect(self, client_id: str) -> bool:
        """Drop a client now (a revoked device): connection closed, will sent, session deleted."""
        if self._broker is None:
            return False
        dropped = await self._broker.drop_client(client_id)
        if dropped:
            log.info("MQTT client %r disconnected by the hub", client_id)
        return dropped

    async def stop(self) -> None:
        """Disconnect every client, close the listener and wait for amqtt's tasks to end."""
        broker, self._broker = self._broker, None
        if broker is None:
            return
        try:
            await broker.shutdown()
        finally:
            await broker.drain_connections()
            self._bound_port = None
        log.info("embedded MQTT broker stopped")

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
