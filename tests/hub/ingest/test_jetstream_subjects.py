"""How JetStream ingest reads NATS subjects back into MQTT topics, and keeps passwords out of its logs."""

from __future__ import annotations

import pytest

from hub.ingest import jetstream
from hub.ingest.feedback import targets_from
from hub.ingest.jetstream import FILTERS, redact, topic_of
from hub.ingest.processor import Processor
from hub.settings import Settings
from hub.store.db import make_engine


def test_a_stored_mqtt_subject_is_its_topic_again() -> None:
    assert topic_of("$MQTT.msgs.restock.v1.dash-01.event") == "restock/v1/dash-01/event"
    assert topic_of("$MQTT.rmsgs.restock.v1.dash-01.status") == "restock/v1/dash-01/status"
    # NATS writes a '.' of a topic as '//'
    assert topic_of("$MQTT.msgs.restock.v1.a//b.event") == "restock/v1/a.b/event"


def test_the_consumer_takes_events_and_statuses_only() -> None:
    assert FILTERS == ["$MQTT.msgs.restock.v1.*.event", "$MQTT.msgs.restock.v1.*.status"]


def test_logged_urls_carry_no_password() -> None:
    assert redact("nats://_hub:s3cret@10.0.0.2:4222") == "nats://10.0.0.2:4222"


def test_feedback_listeners_come_from_a_comma_separated_mqtt_url() -> None:
    targets = targets_from("mqtt://_hub:pw@n1:1883, mqtt://_hub:pw@n2:1884")
    assert [(t.host, t.port, t.username) for t in targets] == [("n1", 1883, "_hub"), ("n2", 1884, "_hub")]


def test_nats_without_a_feedback_listener_is_refused_with_the_fix() -> None:
    settings = Settings(_env_file=None, broker="nats", nats_url="nats://_hub:pw@n1:4222", mqtt_url=None)
    with pytest.raises(ValueError, match="RESTOCK_MQTT_URL"):
        jetstream.from_settings(settings, Processor(make_engine("sqlite://")), "hub")
