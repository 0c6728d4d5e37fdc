"""Press use case: a dash-button press orders its bound product, puts it in the cart, or cancels. Callers commit."""

from __future__ import annotations

from hub.domain.events import PressEvent
from hub.domain.feedback import Feedback, rejected
from hub.domain.press import Mode, PressAction, decide_press
from hub.services import cart as cart_service
from hub.services import orders as order_service
from hub.services.answer import Handled, in_cart, order_feedback, placed_code
from hub.store.batch import Writer
from hub.store.models import Device, Household, Product


def press(to: Writer, device: Device, household: Household, product: Product | None, event: PressEvent) -> Handled:
    """Apply a press of `device` (bound to `product`, None when unbound) for a household the device belongs to."""
    mode = Mode(device.binding_mode) if device.binding_mode else None
    # Only look up what the decision needs: these queries are the per-press cost under load.
    cancellable = to.open_order(device.id, cancellable_only=True) if event.click == "long" else None
    needs_open = event.click != "long" and mode is not Mode.CART and not household.allow_multiple_orders
    open_order = to.open_order(device.id) if needs_open else None
    decision = decide_press(
        click=event.click,
        bound=product is not None,
        mode=mode,
        open_order_exists=open_order is not None,
        cancellable_order_exists=cancellable is not None,
        allow_multiple_orders=household.allow_multiple_orders,
    )
    actor = f"device:{device.id}"
    if decision.action is PressAction.REJECT:
        return Handled(rejected(event.seq, decision.reason or "unbound", "bind a product to this button"))
    if decision.action is PressAction.NOTHING_TO_CANCEL:
        return Handled(Feedback(seq=event.seq, code="nothing_to_cancel"))
    if decision.action is PressAction.CANCEL:
        assert cancellable is not None
        order_service.cancel(to, cancellable, actor, event.at)
        return Handled(order_feedback(to, event.seq, "cancelled", cancellable), order=cancellable)
    if decision.action is PressAction.DUPLICATE:
        assert open_order is not None
        return Handled(order_feedback(to, event.seq, "duplicate", open_order, "protected"))
    assert product is not None and mode is not None and household.id is not None
    if decision.action is PressAction.ADD_TO_CART:
        line = cart_service.add(to, household.id, product, device.binding_qty, event.at)
        return Handled(in_cart(event.seq, product, line), cart_line=line)
    order = order_service.create_order(
        to,
        household,
        [order_service.LineRequest(product, device.binding_qty, device.binding_unit_price)],
        source="press",
        actor=actor,
        now=event.at,
        device_id=device.id,
        mode=mode,
    )
    return Handled(order_feedback(to, event.seq, placed_code(order), order, order.reason, product.name), order=order)
