"""What a device event led to, and the feedback that tells the device: shared by the press, scan and level
services."""

from __future__ import annotations

from dataclasses import dataclass

from hub.domain.feedback import Feedback
from hub.domain.lifecycle import OrderStatus
from hub.store.batch import Writer
from hub.store.models import CartLine, InboxEntry, Order, Product, Reading


@dataclass(frozen=True)
class Handled:
    """An event's feedback and its effect: the order it made or changed, the cart line, inbox entry or reading
    it wrote, and a GTIN-14 whose name is to be looked up once the batch is committed."""

    feedback: Feedback
    order: Order | None = None
    cart_line: CartLine | None = None
    inbox_entry: InboxEntry | None = None
    reading: Reading | None = None
    lookup: str | None = None


def placed_code(order: Order, placed: str = "ordered") -> str:
    """`placed` for an order that goes out after its cancel window, else `awaiting_approval`."""
    return placed if order.status == OrderStatus.PENDING else "awaiting_approval"


def order_feedback(
    to: Writer, seq: int, code: str, order: Order, reason: str | None = None, name: str | None = None
) -> Feedback:
    """Feedback about an order: its id, what it holds (`name`, else read from its lines), total and, for an
    order held for its cancel window, until when it can be cancelled."""
    if name is None:
        lines = to.order_lines(order.id)
        name = lines[0].name if len(lines) == 1 else f"{len(lines)} products"
    return Feedback(
        seq=seq,
        code=code,
        order=order.id,
        product=name,
        total=order.total,
        currency=order.currency,
        cancel_until=order.cancel_until if code == "ordered" else None,
        reason=reason,
    )


def in_cart(seq: int, product: Product, line: CartLine) -> Feedback:
    """Feedback for a product put in the cart: the line's quantity and total now."""
    return Feedback(
        seq=seq, code="in_cart", product=product.name, qty=line.qty, total=line.qty * product.price,
        currency=product.currency,
    )
