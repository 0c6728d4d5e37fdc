"""Repositories: every query the hub makes lives here, so the rest never builds SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, func, or_, text
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from hub.domain.lifecycle import CANCELLABLE_STATUSES, OPEN_STATUSES, SPENDING_STATUSES
from hub.store.models import (
    ApiToken,
    CartLine,
    DeadLetter,
    Device,
    Household,
    InboxEntry,
    MerchantAccount,
    MerchantCallback,
    Notification,
    NotificationDelivery,
    NotifyChannel,
    Order,
    OrderEvent,
    OrderLine,
    ProcessedEvent,
    Product,
    ProductGtin,
    Reading,
    Slot,
    User,
)

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)
# PostgreSQL channel on which a committed device add, re-key or revoke is announced.
DEVICE_LOGINS_CHANNEL = "restock_device_logins"


def processed_event(session: Session, device_id: str, seq: int) -> ProcessedEvent | None:
    """The stored outcome of (device, seq), if the event was seen before."""
    return session.exec(
        select(ProcessedEvent).where(ProcessedEvent.device_id == device_id, ProcessedEvent.seq == seq)
    ).first()


def device(session: Session, device_id: str) -> Device | None:
    """A device by id."""
    return session.get(Device, device_id)


def rows_by_id(session: Session, model: type[M], ids: Iterable[Any]) -> Sequence[M]:
    """Those rows of `model` (devices, households, products…) with these ids that exist."""
    return session.exec(select(model).where(col(model.id).in_(list(ids)))).all()  # type: ignore[attr-defined]


def context_epoch(session: Session) -> int:
    """The count of changes to devices, households and products so far (kept by triggers, migration 0013)."""
    # To the driver as written: it runs before every ingest batch, and compiling even a `text()` costs more.
    return int(session.connection().exec_driver_sql("SELECT n FROM contextepoch WHERE id = 1").scalar_one())


def processed_feedback(session: Session, keys: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The stored feedback of those (device, seq) keys that were seen before: one query for a whole batch.

    Each device's seqs are looked up on the unique (device_id, seq) index; `device IN … AND seq IN …` would
    match every seq of every device in the batch, thousands of rows once the fleet's counters overlap. (A
    row-value `(device_id, seq) IN (...)` scans the whole table on SQLite.) The SQL goes to the driver as
    written: the statement has a new shape in every batch, and SQLAlchemy compiling it (even a `text()`) cost
    more than running it.
    """
    if not keys:
        return {}
    by_device: dict[str, list[int]] = {}
    for device_id, seq in keys:
        by_device.setdefault(device_id, []).append(int(seq))
    connection = session.connection()
    # Positional placeholders of our two drivers: sqlite3 (qmark) and psycopg (format / pyformat).
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    params: list[object] = []
    terms = []
    for device_id, seqs in by_device.items():
        params.append(device_id)
        params.extend(seqs)
        terms.append(f"(device_id = {mark} AND seq IN ({', '.join([mark] * len(seqs))}))")
    sql = f"SELECT device_id, seq, feedback FROM {ProcessedEvent.__tablename__} WHERE " + " OR ".join(terms)
    return {(device_id, seq): feedback for device_id, seq, feedback in connection.exec_driver_sql(sql, tuple(params))}


def household_devices(session: Session, household_id: int) -> Sequence[Device]:
    """A household's devices, by name."""
    return session.exec(
        select(Device).where(Device.household_id == household_id).order_by(col(Device.name), col(Device.id))
    ).all()


def newest_orders_of_device(session: Session, device_id: str, statuses: Iterable[str], limit: int = 5) -> list[Order]:
    """A device's newest orders in one of `statuses`, newest first."""
    return list(
        session.exec(
            select(Order)
            .where(Order.device_id == device_id, col(Order.status).in_(list(statuses)))
            .order_by(col(Order.created_at).desc())
            .limit(limit)
        ).all()
    )


def newest_open_order(session: Session, device_id: str, cancellable_only: bool = False) -> Order | None:
    """The newest undelivered (or still cancellable) order that came from one device."""
    statuses = CANCELLABLE_STATUSES if cancellable_only else OPEN_STATUSES
    names = [str(s) for s in statuses]
    # The in-memory status wins over the stored one (a change not flushed yet).
    live = [o for o in newest_orders_of_device(session, device_id, names) if o.status in names]
    return max(live, key=lambda o: o.created_at, default=None)


def month_spending(session: Session, household_id: int, month_start: datetime) -> int:
    """Total of the household's non-cancelled orders since the month started."""
    total = session.exec(
        select(func.coalesce(func.sum(Order.total), 0)).where(
            Order.household_id == household_id,
            Order.created_at >= month_start,
            col(Order.status).in_([str(s) for s in SPENDING_STATUSES]),
        )
    ).one()
    return int(total)


def order_lines(session: Session, order_id: str) -> Sequence[OrderLine]:
    """Lines of one order, by id."""
    return session.exec(select(OrderLine).where(OrderLine.order_id == order_id).order_by(col(OrderLine.id))).all()


def order_rows(session: Session, order_ids: set[str]) -> dict[str, Row[Any]]:
    """Several orders by id, as plain rows (the columns a notification shows)."""
    if not order_ids:
        return {}
    columns = [col(c) for c in (Order.id, Order.household_id, Order.device_id, Order.status, Order.total,
                                Order.currency, Order.reason, Order.cancel_until, Order.tracking, Order.carrier,
                                Order.expected_delivery)]
    query = select(*columns).where(col(Order.id).in_(order_ids))
    return {row.id: row for row in session.execute(query).all()}


def line_rows(session: Session, order_ids: Sequence[str]) -> dict[str, list[Row[Any]]]:
    """Lines of several orders as plain rows, by order, each list by line id."""
    found: dict[str, list[Row[Any]]] = {}
    if not order_ids:
        return found
    query = (
        select(OrderLine.order_id, OrderLine.name, OrderLine.qty, OrderLine.unit_price)
        .where(col(OrderLine.order_id).in_(list(order_ids)))
        .order_by(col(OrderLine.id))
    )
    for row in session.execute(query).all():
        found.setdefault(row.order_id, []).append(row)
    return found


def order_timeline(session: Session, order_id: str) -> Sequence[OrderEvent]:
    """Timeline of one order, oldest first."""
    return session.exec(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(col(OrderEvent.at), col(OrderEvent.id))
    ).all()


def household_orders(
    session: Session, household_id: int, status: str | None = None, limit: int = 100, offset: int = 0
) -> Sequence[Order]:
    """A household's orders, newest first."""
    query = select(Order).where(Order.household_id == household_id)
    if status is not None:
        query = query.where(Order.status == status)
    return session.exec(query.order_by(col(Order.created_at).desc()).offset(offset).limit(limit)).all()


def household_order(session: Session, household_id: int, order_id: str) -> Order | None:
    """One order, only if it belongs to the household."""
    order = session.get(Order, order_id)
    return order if order is not None and order.household_id == household_id else None


def due_orders(session: Session, statuses: Sequence[str], now: datetime, limit: int = 100) -> Sequence[Order]:
    """Orders whose durable timer has fired, locked so that concurrent workers skip them."""
    query = (
        select(Order)
        .where(col(Order.status).in_(list(statuses)), col(Order.due_at).is_not(None), col(Order.due_at) <= now)
        .order_by(col(Order.due_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.exec(query).all()


def visible_products(session: Session, household_id: int) -> Sequence[Product]:
    """The shared catalog plus the household's own products."""
    return session.exec(
        select(Product)
        .where(or_(col(Product.household_id).is_(None), col(Product.household_id) == household_id))
        .order_by(col(Product.name))
    ).all()


def visible_product(session: Session, household_id: int, product_id: int) -> Product | None:
    """A product, only if the household may see it."""
    product = session.get(Product, product_id)
    if product is None or product.household_id not in (None, household_id):
        return None
    return product


def gtin_mapping(session: Session, household_id: int, gtin: str) -> ProductGtin | None:
    """The mapping a household's scan of a GTIN-14 uses: its own if it has one, else the shared one."""
    rows = session.exec(
        select(ProductGtin).where(
            ProductGtin.gtin == gtin,
            or_(col(ProductGtin.household_id).is_(None), col(ProductGtin.household_id) == household_id),
        )
    ).all()
    own = [r for r in rows if r.household_id == household_id]
    return own[0] if own else (rows[0] if rows else None)


def product_by_gtin(session: Session, household_id: int, gtin: str) -> Product | None:
    """The product a GTIN-14 maps to, as seen by one household."""
    row = gtin_mapping(session, household_id, gtin)
    if row is None:
        return None
    return visible_product(session, household_id, row.product_id)


def scoped_gtin_mapping(session: Session, household_id: int | None, gtin: str) -> ProductGtin | None:
    """The mapping of a GTIN-14 in exactly one scope: a household's own (or the shared one for None)."""
    column = col(ProductGtin.household_id)
    owner = column.is_(None) if household_id is None else column == household_id
    return session.exec(select(ProductGtin).where(ProductGtin.gtin == gtin, owner)).first()


def product_gtins(session: Session, product_id: int) -> list[str]:
    """GTINs of one product in its owner's scope (shared mappings, plus the owning household's own)."""
    # Households may map a barcode to a shared product privately; listing those would show one
    # household's scans to every other household.
    product = session.get(Product, product_id)
    if product is None:
        return []
    column = col(ProductGtin.household_id)
    scope = column.is_(None) if product.household_id is None else or_(column.is_(None), column == product.household_id)
    return list(
        session.exec(
            select(ProductGtin.gtin).where(ProductGtin.product_id == product_id, scope).order_by(col(ProductGtin.gtin))
        ).all()
    )


def product_by_sku(session: Session, merchant: str, sku: str) -> Product | None:
    """A product by merchant SKU."""
    return session.exec(select(Product).where(Product.merchant == merchant, Product.sku == sku)).first()


def cart(session: Session, household_id: int) -> Sequence[CartLine]:
    """A household's cart lines."""
    return session.exec(
        select(CartLine).where(CartLine.household_id == household_id).order_by(col(CartLine.id))
    ).all()


def cart_line(session: Session, household_id: int, product_id: int) -> CartLine | None:
    """One cart line of a household."""
    return session.exec(
        select(CartLine).where(CartLine.household_id == household_id, CartLine.product_id == product_id)
    ).first()


def inbox_entry(session: Session, household_id: int, gtin: str) -> InboxEntry | None:
    """The inbox entry of an unknown code."""
    return session.exec(
        select(InboxEntry).where(InboxEntry.household_id == household_id, InboxEntry.gtin == gtin)
    ).first()


def inbox_entry_by_id(session: Session, household_id: int, entry_id: int) -> InboxEntry | None:
    """An inbox entry by id, only if it belongs to the household."""
    entry = session.get(InboxEntry, entry_id)
    return entry if entry is not None and entry.household_id == household_id else None


def open_inbox_entries(session: Session, gtin: str) -> Sequence[InboxEntry]:
    """Unresolved inbox entries of one GTIN-14 across households (a name lookup serves them all)."""
    return session.exec(
        select(InboxEntry).where(InboxEntry.gtin == gtin, col(InboxEntry.resolved).is_(False))
    ).all()


def inbox(session: Session, household_id: int) -> Sequence[InboxEntry]:
    """Unresolved unknown barcodes of a household."""
    return session.exec(
        select(InboxEntry)
        .where(InboxEntry.household_id == household_id, col(InboxEntry.resolved).is_(False))
        .order_by(col(InboxEntry.last_seen).desc())
    ).all()


def readings(session: Session, device_id: str, slot: str, limit: int = 500) -> Sequence[Reading]:
    """The newest readings of a slot, oldest first."""
    rows = session.exec(
        select(Reading)
        .where(Reading.device_id == device_id, Reading.slot == slot)
        .order_by(col(Reading.at).desc())
        .limit(limit)
    ).all()
    return sorted(rows, key=lambda r: r.at)


def user_by_email(session: Session, email: str) -> User | None:
    """A user by e-mail (case-insensitive)."""
    if "\x00" in email:
        return None  # no stored address has one, and PostgreSQL refuses NUL in a query (a sign-in form is free text)
    return session.exec(select(User).where(func.lower(User.email) == email.lower())).first()


def token(session: Session, token_hash: str) -> ApiToken | None:
    """A bearer token by its hash."""
    return session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()


def household(session: Session, household_id: int) -> Household | None:
    """A household by id."""
    return session.get(Household, household_id)


def dead_letters(session: Session, device_ids: Sequence[str], limit: int = 100) -> Sequence[DeadLetter]:
    """Dead letters of the given devices, newest first."""
    return session.exec(
        select(DeadLetter)
        .where(col(DeadLetter.device_id).in_(list(device_ids)))
        .order_by(col(DeadLetter.id).desc())
        .limit(limit)
    ).all()


# --- Merchants, callbacks, notifications ---------------------------------------------------------------------


def lock_order(session: Session, order_id: str) -> Order | None:
    """An order, row-locked on PostgreSQL so a callback and the sender never interleave on it."""
    query = select(Order).where(Order.id == order_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.exec(query).first()


def merchant_account(session: Session, name: str) -> MerchantAccount | None:
    """A webhook merchant by its (global) name: for shop callbacks and name checks, never to act for a household."""
    return session.exec(select(MerchantAccount).where(MerchantAccount.name == name)).first()


def household_merchant(session: Session, household_id: int, name: str) -> MerchantAccount | None:
    """A webhook merchant by name, only if it belongs to the household (active or not)."""
    return session.exec(
        select(MerchantAccount).where(MerchantAccount.name == name, MerchantAccount.household_id == household_id)
    ).first()


def household_merchants(session: Session, household_id: int) -> Sequence[MerchantAccount]:
    """A household's active webhook merchants."""
    return session.exec(
        select(MerchantAccount)
        .where(MerchantAccount.household_id == household_id, col(MerchantAccount.active).is_(True))
        .order_by(col(MerchantAccount.name))
    ).all()


def merchant_callback(session: Session, merchant: str, event_id: str) -> MerchantCallback | None:
    """An accepted callback by its event id."""
    return session.exec(
        select(MerchantCallback).where(MerchantCallback.merchant == merchant, MerchantCallback.event_id == event_id)
    ).first()


def _skip_locked(session: Session, query: SelectOfScalar[T]) -> SelectOfScalar[T]:
    """FOR UPDATE SKIP LOCKED on PostgreSQL, so concurrent hub workers take different rows."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


# Written as the partial index's condition (`NOT notified`): a database uses a partial index only for a WHERE
# term it can match to the index's, and what SQLAlchemy renders for a false boolean on SQLite (`notified IS 0`,
# `notified = 0`) is not matched, so every turn of the notifier scanned the whole order history.
_UNNOTIFIED = text("NOT orderevent.notified")


def unnotified_order_events(session: Session, limit: int = 200) -> Sequence[OrderEvent]:
    """Order timeline steps the outbox has not handled yet, oldest first."""
    query = select(OrderEvent).where(_UNNOTIFIED).order_by(col(OrderEvent.id)).limit(limit)
    return session.exec(_skip_locked(session, query)).all()


def unnotified_order_steps(session: Session, limit: int = 200) -> Sequence[Row[Any]]:
    """`unnotified_order_events` as plain rows (id, order_id, status, note, household_id of the order)."""
    columns = [col(c) for c in (OrderEvent.id, OrderEvent.order_id, OrderEvent.status, OrderEvent.note,
                                Order.household_id)]
    query = (
        select(*columns)
        .join(Order, col(Order.id) == col(OrderEvent.order_id))
        .where(_UNNOTIFIED)
        .order_by(col(OrderEvent.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=OrderEvent)  # the steps, not their orders
    return session.execute(query).all()


def order_steps(session: Session, event_ids: set[int]) -> dict[int, Row[Any]]:
    """Order timeline steps by id, as plain rows (id, order_id, status, at, actor, note)."""
    if not event_ids:
        return {}
    columns = [col(c) for c in (OrderEvent.id, OrderEvent.order_id, OrderEvent.status, OrderEvent.at,
                                OrderEvent.actor, OrderEvent.note)]
    return {row.id: row for row in session.execute(select(*columns).where(col(OrderEvent.id).in_(event_ids))).all()}


def notification_by_key(session: Session, household_id: int, key: str) -> Notification | None:
    """A notification by its dedupe key."""
    return session.exec(
        select(Notification).where(Notification.household_id == household_id, Notification.key == key[:120])
    ).first()


def active_channels(session: Session, household_id: int) -> Sequence[NotifyChannel]:
    """A household's active notification channels."""
    return session.exec(
        select(NotifyChannel)
        .where(NotifyChannel.household_id == household_id, col(NotifyChannel.active).is_(True))
        .order_by(col(NotifyChannel.id))
    ).all()


def last_notification_id(session: Session) -> int:
    """The highest notification id so far (0 for none)."""
    return int(session.execute(select(func.max(Notification.id))).scalar_one() or 0)


def notifications_after(session: Session, last_id: int) -> Sequence[Row[Any]]:
    """(id, household_id, key) of the notifications stored after `last_id`, by id."""
    query = (select(Notification.id, Notification.household_id, Notification.key)
             .where(col(Notification.id) > last_id).order_by(col(Notification.id)))
    return session.execute(query).all()


def active_channels_of(session: Session, household_ids: set[int]) -> dict[int, list[NotifyChannel]]:
    """Active notification channels of several households, by household, each list by id."""
    if not household_ids:
        return {}
    found: dict[int, list[NotifyChannel]] = {}
    for channel in session.exec(
        select(NotifyChannel)
        .where(col(NotifyChannel.household_id).in_(household_ids), col(NotifyChannel.active).is_(True))
        .order_by(col(NotifyChannel.id))
    ).all():
        found.setdefault(channel.household_id, []).append(channel)
    return found


def household_channel(session: Session, household_id: int, channel_id: int) -> NotifyChannel | None:
    """An active channel, only if it belongs to the household."""
    channel = session.get(NotifyChannel, channel_id)
    if channel is None or channel.household_id != household_id or not channel.active:
        return None
    return channel


def household_notifications(session: Session, household_id: int, limit: int = 50) -> Sequence[Notification]:
    """A household's newest notifications."""
    return session.exec(
        select(Notification)
        .where(Notification.household_id == household_id)
        .order_by(col(Notification.id).desc())
        .limit(limit)
    ).all()


def notification_deliveries(session: Session, notification_id: int) -> Sequence[NotificationDelivery]:
    """The deliveries of one notification."""
    return session.exec(
        select(NotificationDelivery)
        .where(NotificationDelivery.notification_id == notification_id)
        .order_by(col(NotificationDelivery.id))
    ).all()


def due_deliveries(session: Session, now: datetime, limit: int = 50) -> Sequence[NotificationDelivery]:
    """Pending deliveries whose (re)try time has come."""
    query = (
        select(NotificationDelivery)
        .where(NotificationDelivery.status == "pending", col(NotificationDelivery.next_at) <= now)
        .order_by(col(NotificationDelivery.next_at))
        .limit(limit)
    )
    return session.exec(_skip_locked(session, query)).all()


def silent_devices(session: Session, before: datetime) -> Sequence[Device]:
    """Active, paired devices last heard from before `before`."""
    return session.exec(
        select(Device).where(
            col(Device.active).is_(True),
            col(Device.household_id).is_not(None),
            col(Device.last_seen).is_not(None),
            col(Device.last_seen) < before,
        )
    ).all()


def low_battery_devices(session: Session, below_mv: int) -> Sequence[Device]:
    """Active, paired devices whose last reported battery voltage is below `below_mv`."""
    return session.exec(
        select(Device).where(
            col(Device.active).is_(True),
            col(Device.household_id).is_not(None),
            col(Device.battery_mv).is_not(None),
            col(Device.battery_mv) < below_mv,
        )
    ).all()


def active_devices(session: Session) -> Sequence[Device]:
    """Every active device paired with a household."""
    return session.exec(
        select(Device).where(col(Device.active).is_(True), col(Device.household_id).is_not(None))
    ).all()


def broker_logins(session: Session) -> list[tuple[str, str]]:
    """(device id, bcrypt hash) of every active device that has a NATS login hash."""
    rows = session.exec(
        select(Device.id, Device.nats_secret_hash).where(
            col(Device.active).is_(True), col(Device.nats_secret_hash).is_not(None)
        )
    ).all()
    return [(device_id, secret_hash) for device_id, secret_hash in rows if secret_hash]


def devices_without_broker_login(session: Session) -> list[str]:
    """Ids of active devices with no NATS login hash (added before it existed): they need a new secret."""
    return list(
        session.exec(
            select(Device.id).where(col(Device.active).is_(True), col(Device.nats_secret_hash).is_(None))
        ).all()
    )


def notify_devices_changed(session: Session) -> None:
    """Tell listeners on PostgreSQL (each NATS node's auth sync) at commit that device logins changed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {DEVICE_LOGINS_CHANNEL}"))


def revoked_devices(session: Session) -> Sequence[Device]:
    """Every revoked device."""
    return session.exec(select(Device).where(col(Device.revoked_at).is_not(None))).all()


def device_slots(session: Session, device_id: str) -> dict[str, str]:
    """Slot → unit of a sensor's readings."""
    # Grouped, so a sensor with years of readings costs one index scan, not a row per reading.
    rows = session.exec(
        select(Reading.slot, func.max(Reading.unit)).where(Reading.device_id == device_id).group_by(col(Reading.slot))
    ).all()
    return {slot: unit for slot, unit in rows}


def slot(session: Session, device_id: str, name: str) -> Slot | None:
    """A device's sensor slot by name."""
    return session.exec(select(Slot).where(Slot.device_id == device_id, Slot.name == name)).first()


def household_slot(session: Session, household_id: int, slot_id: int) -> Slot | None:
    """A slot, only if it belongs to the household."""
    found = session.get(Slot, slot_id)
    return found if found is not None and found.household_id == household_id else None


def household_slots(session: Session, household_id: int) -> Sequence[Slot]:
    """A household's sensor slots."""
    return session.exec(
        select(Slot).where(Slot.household_id == household_id).order_by(col(Slot.device_id), col(Slot.name))
    ).all()


def active_slots(session: Session) -> Sequence[Slot]:
    """Slots whose policy runs (auto or notify only)."""
    return session.exec(select(Slot).where(col(Slot.mode).in_(["auto", "notify"])).order_by(col(Slot.id))).all()


def slots_of_device(session: Session, device_id: str) -> Sequence[Slot]:
    """Every policy slot of one device."""
    return session.exec(select(Slot).where(Slot.device_id == device_id)).all()


def slot_orders(session: Session, slot_id: int) -> list[Order]:
    """Replenishment orders of a slot, newest first."""
    return list(
        session.exec(select(Order).where(Order.slot_id == slot_id).order_by(col(Order.created_at).desc())).all()
    )
