"""Scan use case: a known product goes to the cart (or is ordered, by household setting); an unknown code goes
to the household's inbox. Callers commit."""

from __future__ import annotations

from hub.domain.barcode import BarcodeError, normalise
from hub.domain.events import ScanEvent
from hub.domain.feedback import Feedback, rejected
from hub.lookup.openfoodfacts import DISABLED_DETAIL, FINAL, LookupStatus
from hub.services import cart as cart_service
from hub.services import orders as order_service
from hub.services.answer import Handled, in_cart, order_feedback, placed_code
from hub.store import repos
from hub.store.batch import Writer
from hub.store.models import Device, Household, InboxEntry


def scan(to: Writer, device: Device, household: Household, event: ScanEvent, lookups: bool) -> Handled:
    """Apply a scan of `device` for its household; `lookups` says whether unknown codes get a name lookup (the
    caller runs it after the commit, for the GTIN-14 the result names)."""
    assert household.id is not None
    try:
        gtin = normalise(event.code).digits
    except BarcodeError as exc:
        return Handled(rejected(event.seq, exc.reason, exc.detail))
    product = repos.product_by_gtin(to.session, household.id, gtin)
    if product is None:
        return _to_inbox(to, device, household.id, gtin, event, lookups)
    if household.scan_mode == "order":
        order = order_service.create_order(
            to,
            household,
            [order_service.LineRequest(product, event.qty)],
            source="scan",
            actor=f"device:{device.id}",
            now=event.at,
            device_id=device.id,
        )
        feedback = order_feedback(to, event.seq, placed_code(order), order, order.reason, product.name)
        return Handled(feedback, order=order)
    line = cart_service.add(to, household.id, product, event.qty, event.at)
    return Handled(in_cart(event.seq, product, line), cart_line=line)


def _to_inbox(to: Writer, device: Device, household_id: int, gtin: str, event: ScanEvent, lookups: bool) -> Handled:
    """Count an unknown code in the household's inbox until it is mapped to a product."""
    entry = to.inbox_entry(household_id, gtin)
    if entry is None:
        entry = InboxEntry(household_id=household_id, gtin=gtin, count=0, first_seen=event.at)
    entry.count += event.qty
    entry.last_seen = event.at
    entry.device_id = device.id
    entry.resolved = False
    lookup = None
    if not lookups:
        if entry.lookup_status is None:
            entry.lookup_status, entry.lookup_detail = LookupStatus.DISABLED, DISABLED_DETAIL
    elif entry.lookup_status not in FINAL:
        # New, or the last try failed (timeout, offline, rate limited, disabled then): ask again.
        lookup = gtin
    to.add(entry)
    return Handled(Feedback(seq=event.seq, code="inbox", qty=entry.count), inbox_entry=entry, lookup=lookup)
