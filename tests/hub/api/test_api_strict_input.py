"""Input is taken as it is typed or refused whole: no `true` as an id, no name with a trailing newline."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError

from hub.app import create_app
from hub.domain.events import LevelEvent, ProtocolError, decode_event, parse_topic
from hub.merchants.signing import SignatureError, sign, verify
from hub.notify.channels import target_problem
from hub.settings import Settings
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import HubServer, add_button, product_id, sign_up


def _numeric(annotation: Any) -> bool:
    """Whether a field's type is (or may be) an int or a float, bool excluded."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        return any(_numeric(arg) for arg in typing.get_args(annotation))
    return False


def request_models() -> Iterator[type[BaseModel]]:
    """Every model that a route of the app reads as its JSON body, nested models included."""
    app = create_app(Settings(_env_file=None))
    seen: set[type[BaseModel]] = set()
    routes = [c.original_route for c in iter_route_contexts(app.routes)]
    todo = [r.body_field.field_info.annotation for r in routes if isinstance(r, APIRoute) and r.body_field]
    while todo:
        model = todo.pop()
        for arg in (model, *typing.get_args(model)):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in seen:
                seen.add(arg)
                todo += [f.annotation for f in arg.model_fields.values()]
    yield from sorted(seen, key=lambda m: m.__name__)


def test_no_request_body_reads_a_boolean_or_a_string_as_a_number() -> None:
    checked = []
    for model in request_models():
        for name, info in model.model_fields.items():
            if not _numeric(info.annotation):
                continue
            for wrong in (True, False, "12"):
                with pytest.raises(ValidationError) as caught:
                    model.model_validate({name: wrong})
                kinds = {e["type"] for e in caught.value.errors() if e["loc"][:1] == (name,)}
                assert kinds and kinds <= {"int_type", "float_type"}, f"{model.__name__}.{name}={wrong!r}: {kinds}"
            checked.append(f"{model.__name__}.{name}")
    # The walk really found the ids and amounts it is about.
    assert {"SubstituteIn.product_id", "BindingIn.product_id", "MapIn.product_id", "SlotPatch.product_id",
            "CartQty.qty", "HouseholdPatch.per_order_cap", "MerchantProductIn.price"} <= set(checked), checked


@pytest.mark.parametrize(
    "slot", ["detergent\n", "detergent\r\n", "\ndetergent", "deter\ngent", "", "x" * 33, "Detergent"]
)
def test_level_event_slot_name_is_matched_whole(slot: str) -> None:
    at = datetime.now(UTC)
    level = {"seq": 1, "type": "level", "value": 3, "unit": "g"}
    event = decode_event(json.dumps({**level, "slot": "detergent"}).encode(), at)
    assert isinstance(event, LevelEvent) and event.slot == "detergent"
    with pytest.raises(ProtocolError, match="slot"):
        decode_event(json.dumps({**level, "slot": slot}).encode(), at)


def test_device_id_in_a_topic_is_matched_whole() -> None:
    assert parse_topic("restock/v1/btn-kitchen/event").device_id == "btn-kitchen"
    with pytest.raises(ProtocolError, match="device id"):
        parse_topic("restock/v1/btn-kitchen\n/event")


@pytest.mark.parametrize(("kind", "target"), [("webhook", "https://example.org/hook\n"),
                                              ("email", "me@example.org\n")])
def test_channel_target_is_matched_whole(kind: str, target: str) -> None:
    assert target_problem(kind, target.strip()) is None
    assert target_problem(kind, target) is not None


@pytest.mark.broker
def test_api_refuses_true_as_a_product_id_and_a_newline_in_a_slot_name(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "btn-strict")
    coffee = product_id(api, "COF-1KG")

    substitutes = api.put("/api/v1/devices/btn-strict/substitutes", json={"allow": True, "product_id": True})
    assert substitutes.status_code == 422 and "product_id" in substitutes.text, substitutes.text
    binding = api.put("/api/v1/devices/btn-strict/binding", json={"product_id": coffee, "qty": True})
    assert binding.status_code == 422 and "qty" in binding.text, binding.text
    assert api.put(f"/api/v1/cart/{coffee}", json={"qty": "2"}).status_code == 422
    assert api.ok("GET", "/api/v1/devices/btn-strict")["binding"]["qty"] == 1
    assert api.ok("GET", "/api/v1/cart")["lines"] == []
    for channel in ({"kind": "webhook", "target": "https://example.org/hook\n"},
                    {"kind": "email", "target": "me@example.org\n"}):
        assert api.post("/api/v1/notifications/channels", json=channel).status_code == 422
    assert api.ok("GET", "/api/v1/notifications/channels") == []

    secret = api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "id": "sensor-strict"})["secret"]
    sensor = devices("sensor-strict", secret)
    rejected = sensor.wait_feedback(sensor.send({"type": "level", "slot": "detergent\n", "value": 800, "unit": "g"}))
    assert rejected["code"] == "rejected", rejected
    assert api.ok("GET", "/api/v1/slots") == []
    recorded = sensor.wait_feedback(sensor.send({"type": "level", "slot": "detergent", "value": 800, "unit": "g"}))
    assert recorded["code"] == "recorded", recorded
    assert [s["name"] for s in api.ok("GET", "/api/v1/slots")] == ["detergent"]


@pytest.mark.parametrize("timestamp", ["9" * 400, "1_700_000_000", "１７００００００００", " 1700000000"])
def test_callback_timestamp_is_plain_unix_seconds(timestamp: str) -> None:
    """Even with the right key, a timestamp that is not plain digits is refused, never an overflow (a 500)."""
    body, secret = b'{"event_id": "e"}', "k" * 32
    signature = sign(secret, int(timestamp), body)
    with pytest.raises(SignatureError, match="not Unix seconds"):
        verify(secret, timestamp, signature, body, datetime.now(UTC), 300)


@pytest.mark.broker
def test_nul_in_text_is_refused_before_it_reaches_the_database(start_hub: Callable[..., HubServer]) -> None:
    """PostgreSQL cannot store or even compare text with NUL: such input is a 4xx on every backend, never a 500."""
    server = start_hub()
    api = sign_up(server.url)
    shop = {"name": "nul-shop", "url": "http://127.0.0.1:9/orders", "secret": "s" * 16 + "\x00"}
    assert api.post("/api/v1/merchants", json=shop).status_code == 422
    assert api.ok("GET", "/api/v1/merchants") == []
    assert api.post("/api/v1/devices", json={"kind": "dash_button", "name": "nul\x00"}).status_code == 422
    assert api.get("/api/v1/orders/o-%00").status_code == 422
    assert api.get("/api/v1/devices/btn%00").status_code == 422
    signup = {"household": "Nul", "email": "nul\x00@example.org", "password": "long enough"}
    assert httpx.post(f"{server.url}/api/v1/signup", json=signup).status_code == 422
    token = httpx.post(f"{server.url}/api/v1/auth/token", data={"username": "a\x00@b", "password": "long enough"})
    assert token.status_code == 401, token.text
