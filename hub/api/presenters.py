"""Turn store rows into API bodies (reads through repositories, never SQL)."""

from __future__ import annotations

from sqlmodel import Session

from hub.api.schemas import (
    BindingOut,
    CartLineOut,
    CartOut,
    DeviceOut,
    OrderDetail,
    OrderEventOut,
    OrderLineOut,
    OrderOut,
    ProductOut,
)
from hub.store import repos
from hub.store.models import Device, Household, Order, Product


def device_out(session: Session, device: Device) -> DeviceOut:
    """A device with its binding."""
    binding = None
    if device.binding_product_id is not None and device.binding_mode is not None:
        product = session.get(Product, device.binding_product_id)
        binding = BindingOut(
            product_id=device.binding_product_id,
            product=product.name if product else "?",
            qty=device.binding_qty,
            mode=device.binding_mode,
            unit_price_at_binding=device.binding_unit_price,
        )
    return DeviceOut(
        id=device.id,
        kind=device.kind,
        name=device.name,
        active=device.active,
        online=device.online,
        last_seen=device.last_seen,
        battery_mv=device.battery_mv,
        rssi=device.rssi,
        firmware=device.firmware,
        outbox=device.outbox,
        binding=binding,
    )


def product_out(session: Session, product: Product) -> ProductOut:
    """A product with its GTINs."""
    assert product.id is not None
    return ProductOut(
        id=product.id,
        sku=product.sku,
        name=product.name,
        price=product.price,
        currency=product.currency,
        pack_size=product.pack_size,
        unit=product.unit,
        gtins=repos.product_gtins(session, product.id),
        in_stock=None if product.stock is None else product.stock > 0,
    )


def order_out(session: Session, order: Order) -> OrderOut:
    """An order with its lines."""
    return OrderOut(
        id=order.id,
        status=order.status,
        reason=order.reason,
        source=order.source,
        device_id=order.device_id,
        total=order.total,
        currency=order.currency,
        cancel_until=order.cancel_until,
        tracking=order.tracking,
        expected_delivery=order.expected_delivery,
        created_at=order.created_at,
        updated_at=order.updated_at,
        lines=[OrderLineOut.model_validate(line) for line in repos.order_lines(session, order.id)],
    )


def order_detail(session: Session, order: Order) -> OrderDetail:
    """An order with lines and timeline."""
    base = order_out(session, order)
    timeline = [OrderEventOut.model_validate(e) for e in repos.order_timeline(session, order.id)]
    return OrderDetail(**base.model_dump(), timeline=timeline)


def cart_out(session: Session, household: Household) -> CartOut:
    """The household's cart with totals."""
    assert household.id is not None
    lines = []
    for line in repos.cart(session, household.id):
        product = session.get(Product, line.product_id)
        if product is None:
            continue
        lines.append(
            CartLineOut(
                product_id=line.product_id,
                name=product.name,
                qty=line.qty,
                unit_price=product.price,
                currency=product.currency,
                line_total=product.price * line.qty,
            )
        )
    return CartOut(lines=lines, total=sum(line.line_total for line in lines), currency=household.currency)
