"""Real-world GTINs of every symbology through the hub, and corrupted ones the hub must refuse."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from hub.store.models import DeadLetter
from tests.hub.scanning import cart_qty, new_home

pytestmark = pytest.mark.broker

# (code as scanned, symbology, demo catalog product it names)
KNOWN = [
    ("4006381333931", "EAN-13", "Coffee beans 1 kg"),
    ("04006381333931", "GTIN-14", "Coffee beans 1 kg"),
    ("5449000000996", "EAN-13", "Laundry detergent 2 l (40 loads)"),
    ("036000291452", "UPC-A", "Dish soap 500 ml"),
    ("96385074", "EAN-8", "Water filter cartridges, 3 pack"),
]
# UPC-E 04252614 is UPC-A 042100005264 with the zeros suppressed: both must name one product.
UPCE, UPCE_AS_UPCA = "04252614", "042100005264"
CORRUPTED = [
    "4006381333932",  # EAN-13, check digit off by one
    "4006381333391",  # EAN-13, two digits swapped
    "036000291453",  # UPC-A, check digit
    "96385075",  # EAN-8, check digit
    "04252615",  # UPC-E, check digit
    "12345",  # no GTIN length
    "00000000",  # all zeros
]


def test_every_symbology_lands_in_the_cart(start_hub, devices) -> None:
    server = start_hub()
    home = new_home(server)
    csv = f"sku,name,price,gtins\nCRK-1,Crackers 200 g,1.49,{UPCE_AS_UPCA}\n"
    home.api.ok("POST", "/api/v1/catalog/import", content=csv, headers={"Content-Type": "text/csv"})
    wand = devices(home.wand, home.secret)
    expected: dict[str, int] = {}
    for code, symbology, name in [*KNOWN, (UPCE, "UPC-E", "Crackers 200 g")]:
        feedback = wand.wait_feedback(wand.send({"type": "scan", "code": code, "qty": 1}))
        expected[name] = expected.get(name, 0) + 1
        assert (feedback["code"], feedback["product"], feedback["qty"]) == ("in_cart", name, expected[name]), (
            symbology,
            feedback,
        )
    assert cart_qty(home.api) == expected
    assert home.api.ok("GET", "/api/v1/inbox") == []


def test_corrupted_codes_are_rejected_by_the_hub(start_hub, devices) -> None:
    # The wand checks digits before publishing; a device that does not (or a bit flip in transit) must
    # still be refused by the hub, with the documented reason, and nothing may reach cart or inbox.
    server = start_hub()
    home = new_home(server)
    wand = devices(home.wand, home.secret)
    for code in CORRUPTED:
        feedback = wand.wait_feedback(wand.send({"type": "scan", "code": code, "qty": 1}))
        assert (feedback["code"], feedback["reason"]) == ("rejected", "bad_barcode"), (code, feedback)
    assert home.api.ok("GET", "/api/v1/cart")["lines"] == []
    assert home.api.ok("GET", "/api/v1/inbox") == []
    with Session(server.hub.engine) as session:
        letters = session.exec(select(DeadLetter).where(DeadLetter.device_id == home.wand).order_by(col(DeadLetter.id)))
        assert [d.reason for d in letters] == ["bad_barcode"] * len(CORRUPTED)


def test_scan_mode_order_places_an_order(start_hub, devices) -> None:
    server = start_hub()
    home = new_home(server)
    home.api.ok("PATCH", "/api/v1/household", json={"scan_mode": "order"})
    wand = devices(home.wand, home.secret)
    feedback = wand.wait_feedback(wand.send({"type": "scan", "code": "4006381333931", "qty": 2}))
    assert (feedback["code"], feedback["product"], feedback["total"]) == ("ordered", "Coffee beans 1 kg", 2 * 1299)
    assert home.api.ok("GET", "/api/v1/cart")["lines"] == []
    [order] = home.api.ok("GET", "/api/v1/orders")
    assert (order["id"], order["source"], order["status"]) == (feedback["order"], "scan", "pending")
