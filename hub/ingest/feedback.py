"""Feedback to devices over MQTT QoS 1 through one node of a NATS cluster, moving to the next node when it dies.

A NATS-native publish reaches an MQTT subscriber at QoS 0 only, so a sleeping device would miss it; through a
node's MQTT listener the feedback is stored for the device's QoS 1 subscription like any MQTT publish.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence

import aiomqtt

from hub.ingest.messages import Reply
from hub.ingest.mqtt import NO_DELAY, BrokerTarget, publish_on

log = logging.getLogger(__name__)


class _QuietPendingPublishes(logging.Filter):
    """aiomqtt warns for every publish beyond ten awaiting a PUBACK; a batch's feedback is hundreds at once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pending publish calls" not in record.getMessage()


_client_log = logging.getLogger("hub.ingest.feedback.client")
_client_log.addFilter(_QuietPendingPublishes())
# How long a batch's feedback may take to be PUBACKed before the batch counts as unanswered (it is then
# redelivered and answered from the stored feedback).
PUBACK_TIMEOUT_S = 10.0
RETRY_S = 0.5  # pause after every node of the list failed once in a row


def targets_from(urls: str) -> list[BrokerTarget]:
    """Comma-separated mqtt:// URLs, one per node's MQTT listener."""
    return [BrokerTarget.from_url(part.strip()) for part in urls.split(",") if part.strip()]


class FeedbackLink:
    """One MQTT connection for feedback, to the first node of `targets` that answers."""

    def __init__(self, targets: Sequence[BrokerTarget], client_id: str) -> None:
        if not targets:
            raise ValueError("no MQTT listener for feedback: set RESTOCK_MQTT_URL to a node's mqtt://hub:pw@host:port")
        self.targets = list(targets)
        # A clean session under a fresh id: a node never has to keep a session for a hub process that is gone,
        # and two processes of one node never take each other's connection.
        self.client_id = f"{client_id}-fb-{secrets.token_hex(3)}"
        self.connected = asyncio.Event()
        self.node: BrokerTarget | None = None
        self._client: aiomqtt.Client | None = None

    def _client_for(self, target: BrokerTarget) -> aiomqtt.Client:
        return aiomqtt.Client(
            target.host,
            target.port,
            username=target.username,
            password=target.password,
            identifier=self.client_id,
            clean_session=True,
            keepalive=10,  # a dead node is noticed within about 1.5 keepalives
            timeout=PUBACK_TIMEOUT_S,
            max_inflight_messages=0,  # unlimited: the ingest bounds what is in flight (batches in flight)
            socket_options=[NO_DELAY],
            logger=_client_log,
        )

    async def run(self) -> None:
        """Stay connected to some node until cancelled."""
        index = 0
        failures = 0
        while True:
            target = self.targets[index % len(self.targets)]
            try:
                async with self._client_for(target) as client:
                    self._client, self.node = client, target
                    self.connected.set()
                    failures = 0
                    log.info("feedback connected", extra={"host": target.host, "port": target.port})
                    # Nothing is subscribed: the iteration only ends, with an error, when the connection does.
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError as exc:
                log.warning(
                    "feedback connection lost; trying the next node",
                    extra={"host": target.host, "port": target.port, "error": str(exc)},
                )
            finally:
                self.connected.clear()
                self._client, self.node = None, None
            index += 1
            failures += 1
            if failures >= len(self.targets):
                await asyncio.sleep(RETRY_S)

    async def publish_all(self, replies: Sequence[Reply]) -> bool:
        """Publish every reply at QoS 1 and wait for the PUBACKs; False if any was not taken."""
        client = self._client
        if client is None:
            return not replies
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*(client.publish(r.topic, r.payload, qos=1) for r in replies), return_exceptions=True),
                PUBACK_TIMEOUT_S,
            )
        except TimeoutError:
            results = [TimeoutError("no PUBACK")]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            log.info(
                "feedback not taken by the node; the batch is redelivered",
                extra={"failed": len(errors), "error": str(errors[0])},
            )
            return False
        return True

    async def publish(self, topic: str, payload: str, qos: int = 1, retain: bool = False) -> bool:
        """Publish one message (Home Assistant discovery); False when no node is connected."""
        return await publish_on(self._client, topic, payload, qos, retain)
