"""The transport ceiling for bench/ingest: answer every event with a feedback and do nothing else.

Runs in a process of its own, as the hub does: in the load generator's process it would share one
interpreter lock with a thousand simulated devices and measure the generator instead of the transport.

    RESTOCK_BENCH_HUB_PASSWORD=… python -m bench.ingest.echo PORT

Prints "ready" once subscribed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

import aiomqtt

from hub.broker.credentials import HUB_USERNAME
from hub.ingest.mqtt import NO_DELAY

PASSWORD_ENV = "RESTOCK_BENCH_HUB_PASSWORD"


async def echo(port: int, password: str) -> None:
    """Subscribe to every event and answer each with a feedback, until cancelled."""
    async with aiomqtt.Client(
        "127.0.0.1", port, username=HUB_USERNAME, password=password, identifier="echo", clean_session=True,
        max_inflight_messages=0, socket_options=[NO_DELAY],
    ) as client:
        await client.subscribe("restock/v1/+/event", qos=1)
        print("ready", flush=True)
        paho = client._client  # the hub publishes its feedback the same way (hub/ingest/mqtt.py)
        async for message in client.messages:
            device = str(message.topic).split("/")[2]
            seq = json.loads(message.payload)["seq"]  # type: ignore[arg-type]
            reply = json.dumps({"type": "feedback", "seq": seq, "code": "recorded"}, separators=(",", ":"))
            paho.publish(f"restock/v1/{device}/cmd", reply, qos=1)


def main() -> None:
    """CLI entry point."""
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    try:
        asyncio.run(echo(int(sys.argv[1]), os.environ[PASSWORD_ENV]))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
