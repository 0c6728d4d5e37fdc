"""The unknown-barcode inbox: file, map once, create a product, dismiss; scoped to one household."""

from __future__ import annotations

import pytest

from tests.hub.conftest import product_id
from tests.hub.scanning import cart_qty, inbox_by_gtin, new_home

pytestmark = pytest.mark.broker

UNKNOWN = "5901234123457"  # valid EAN-13 in no catalog
UNKNOWN_GTIN = "0" + UNKNOWN
OTHER = "4006381333948"  # valid EAN-13 in no catalog
OTHER_GTIN = "0" + OTHER


def test_unknown_scans_collect_then_mapping_moves_them_to_the_cart(start_hub, devices) -> None:
    server = start_hub()
    home = new_home(server)
    wand = devices(home.wand, home.secret)
    first = wand.wait_feedback(wand.send({"type": "scan", "code": UNKNOWN, "qty": 1}))
    second = wand.wait_feedback(wand.send({"type": "scan", "code": UNKNOWN, "qty": 2}))
    assert (first["code"], first["qty"], second["code"], second["qty"]) == ("inbox", 1, "inbox", 3)
    entry = inbox_by_gtin(home.api)[UNKNOWN_GTIN]
    assert (entry["count"], entry["device_id"]) == (3, home.wand)
    assert entry["first_seen"] <= entry["last_seen"]

    coffee = product_id(home.api, "COF-1KG")
    resolved = home.api.ok("POST", f"/api/v1/inbox/{entry['id']}/map", json={"product_id": coffee})
    assert resolved["product"]["id"] == coffee
    assert {line["name"]: line["qty"] for line in resolved["cart"]["lines"]} == {"Coffee beans 1 kg": 3}
    assert home.api.ok("GET", "/api/v1/inbox") == []

    # Mapped for good: the next scan goes straight to the cart.
    again = wand.wait_feedback(wand.send({"type": "scan", "code": UNKNOWN, "qty": 1}))
    assert (again["code"], again["product"], again["qty"]) == ("in_cart", "Coffee beans 1 kg", 4)
    assert home.api.ok("GET", "/api/v1/inbox") == []
    again_map = home.api.post(f"/api/v1/inbox/{entry['id']}/map", json={"product_id": coffee})
    assert again_map.status_code == 409, again_map.text


def test_create_product_from_an_entry_and_dismiss_another(start_hub, devices) -> None:
    server = start_hub()
    home = new_home(server)
    other_home = new_home(server, "Neighbours")
    wand = devices(home.wand, home.secret)
    for code in (UNKNOWN, OTHER):
        assert wand.wait_feedback(wand.send({"type": "scan", "code": code, "qty": 2}))["code"] == "inbox"
    entries = inbox_by_gtin(home.api)

    body = {"name": "Farm eggs, 10", "price": 349, "currency": "EUR", "pack_size": 10, "unit": "piece"}
    created = home.api.post(f"/api/v1/inbox/{entries[UNKNOWN_GTIN]['id']}/create-product", json=body)
    assert created.status_code == 201, created.text
    product = created.json()["product"]
    assert (product["name"], product["price"], product["gtins"]) == ("Farm eggs, 10", 349, [UNKNOWN_GTIN])
    assert cart_qty(home.api) == {"Farm eggs, 10": 2}
    # The product is the household's own: the neighbours neither see it nor get it when they scan the code.
    assert product["id"] not in [p["id"] for p in other_home.api.ok("GET", "/api/v1/products")]

    assert home.api.delete(f"/api/v1/inbox/{entries[OTHER_GTIN]['id']}").status_code == 204
    assert home.api.ok("GET", "/api/v1/inbox") == []
    assert wand.wait_feedback(wand.send({"type": "scan", "code": UNKNOWN}))["code"] == "in_cart"
    # A dismissed code is not mapped: scanning it again brings it back, counted afresh.
    assert wand.wait_feedback(wand.send({"type": "scan", "code": OTHER}))["code"] == "inbox"
    assert inbox_by_gtin(home.api)[OTHER_GTIN]["count"] == 1

    bad = home.api.post(f"/api/v1/inbox/{entries[OTHER_GTIN]['id']}/create-product", json={**body, "price": -1})
    assert bad.status_code == 422


def test_households_neither_see_nor_take_each_others_barcodes(start_hub, devices) -> None:
    server = start_hub()
    a, b = new_home(server, "A"), new_home(server, "B")
    wand_a, wand_b = devices(a.wand, a.secret), devices(b.wand, b.secret)
    assert wand_a.wait_feedback(wand_a.send({"type": "scan", "code": UNKNOWN}))["code"] == "inbox"
    entry_a = inbox_by_gtin(a.api)[UNKNOWN_GTIN]

    # B cannot list, map, turn into a product or dismiss A's entry; it stays as it was.
    assert b.api.ok("GET", "/api/v1/inbox") == []
    coffee = product_id(b.api, "COF-1KG")
    refused = [
        b.api.post(f"/api/v1/inbox/{entry_a['id']}/map", json={"product_id": coffee}),
        b.api.post(
            f"/api/v1/inbox/{entry_a['id']}/create-product", json={"name": "x", "price": 1, "currency": "EUR"}
        ),
        b.api.delete(f"/api/v1/inbox/{entry_a['id']}"),
    ]
    assert [r.status_code for r in refused] == [404, 404, 404]
    assert all(UNKNOWN_GTIN not in r.text for r in refused)
    assert inbox_by_gtin(a.api)[UNKNOWN_GTIN] == entry_a

    # A makes the code its own product; for B the code stays unknown, and B may map it differently.
    body = {"name": "A's jam", "price": 500, "currency": "EUR"}
    mine = a.api.ok("POST", f"/api/v1/inbox/{entry_a['id']}/create-product", json=body)["product"]
    assert wand_b.wait_feedback(wand_b.send({"type": "scan", "code": UNKNOWN}))["code"] == "inbox"
    entry_b = inbox_by_gtin(b.api)[UNKNOWN_GTIN]
    hidden = b.api.post(f"/api/v1/inbox/{entry_b['id']}/map", json={"product_id": mine["id"]})
    assert hidden.status_code == 404, hidden.text
    assert "A's jam" not in hidden.text
    b.api.ok("POST", f"/api/v1/inbox/{entry_b['id']}/map", json={"product_id": coffee})
    fb_b = wand_b.wait_feedback(wand_b.send({"type": "scan", "code": UNKNOWN}))
    fb_a = wand_a.wait_feedback(wand_a.send({"type": "scan", "code": UNKNOWN}))
    assert (fb_a["product"], fb_b["product"]) == ("A's jam", "Coffee beans 1 kg")
    # Neither household's private mapping shows up in the other's product list.
    listed = {p["id"]: p["gtins"] for p in b.api.ok("GET", "/api/v1/products")}
    assert UNKNOWN_GTIN not in listed[coffee]
