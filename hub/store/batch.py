"""Where services put what they create: straight into a session, or into ingest's batch for one write at the end.

Ingest applies many device messages in one transaction and writes their new rows in one go when the batch is
done: one multi-row INSERT per table costs a fraction of an ORM flush per object, and that flush was most of
what an order cost. Until then the database cannot see those rows, yet a later message of the same batch must:
a second press of a button finds the order of its first (order protection), a third order counts the first two
against the monthly cap, a second scan adds to the cart line of the first. So the few reads that decide such
things are methods of the writer too, and the batch answers them from the database *and* from what it holds.

`Writer` is what services take; `SessionWriter` writes through the session at once (API, web, scheduler, and
ingest's message-by-message fallback); `Batch` holds new rows for `write`. Both are passed explicitly: nothing
is stashed on the session, and a repository function never looks at unsaved rows behind its caller's back.

Rows written with Core INSERTs are invisible to the ORM's events, so the batch announces them itself through
the hooks registered with `on_bulk_insert` (the change feed subscribes; the store does not know about it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel

from hub.domain.lifecycle import CANCELLABLE_STATUSES, OPEN_STATUSES, SPENDING_STATUSES
from hub.store import repos
from hub.store.models import (
    CartLine,
    Device,
    InboxEntry,
    Order,
    OrderEvent,
    OrderLine,
    ProcessedEvent,
    Reading,
    Slot,
    table_of,
)
from hub.store.rows import insert_rows, update_column

# Called with the session and the objects a batch wrote with Core INSERTs, inside the transaction that wrote
# them (before its commit), so a listener can hold them until the commit as it does for the ORM's own writes.
BulkInsertHook = Callable[[Session, Sequence[Any]], None]
_bulk_insert_hooks: list[BulkInsertHook] = []

_OPEN = frozenset(str(s) for s in OPEN_STATUSES)
_CANCELLABLE = frozenset(str(s) for s in CANCELLABLE_STATUSES)
_SPENDING = frozenset(str(s) for s in SPENDING_STATUSES)
# Row tables a batch inserts, in this order (after its orders, which the first two refer to).
_ROW_TABLES: tuple[type[SQLModel], ...] = (OrderLine, OrderEvent, ProcessedEvent)


@cache
def _columns(table: Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.columns)


def on_bulk_insert(hook: BulkInsertHook) -> None:
    """Have `hook` told about the objects every batch writes with Core INSERTs (registered once per hook)."""
    if hook not in _bulk_insert_hooks:
        _bulk_insert_hooks.append(hook)


class Writer(Protocol):
    """Where a service puts new and changed rows, and asks the reads that must see rows it may have just made."""

    @property
    def session(self) -> Session:
        """The session of the transaction, for every other read."""
        ...

    def add(self, obj: SQLModel) -> None:
        """Save a new or changed ORM object (a cart line, inbox entry, reading, slot, device, changed order)."""
        ...

    def add_order(self, order: Order) -> None:
        """Save a new order."""
        ...

    def add_row(self, model: type[SQLModel], values: dict[str, Any]) -> None:
        """Save a new row that nothing changes afterwards (an order line, a timeline step, an event key)."""
        ...

    def seen(self, device: Device, at: datetime) -> None:
        """The device was heard from at `at` (its `last_seen`)."""
        ...

    def open_order(self, device_id: str, cancellable_only: bool = False) -> Order | None:
        """The newest undelivered (or still cancellable) order that came from one device."""
        ...

    def month_spending(self, household_id: int, since: datetime) -> int:
        """Total of the household's non-cancelled orders created since `since`."""
        ...

    def order_lines(self, order_id: str) -> Sequence[OrderLine]:
        """Lines of one order, by id."""
        ...

    def cart_line(self, household_id: int, product_id: int) -> CartLine | None:
        """One cart line of a household."""
        ...

    def inbox_entry(self, household_id: int, gtin: str) -> InboxEntry | None:
        """The inbox entry of an unknown code."""
        ...

    def readings(self, device_id: str, slot: str, limit: int = 500) -> Sequence[Reading]:
        """The newest readings of a slot, oldest first."""
        ...

    def slot(self, device_id: str, name: str) -> Slot | None:
        """A device's sensor slot by name."""
        ...

    def slot_orders(self, slot_id: int) -> list[Order]:
        """Replenishment orders of a slot, newest first."""
        ...


class SessionWriter:
    """Writes through the session as it goes; its reads are the repositories' (which see every flushed row)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def session(self) -> Session:
        return self._session

    def add(self, obj: SQLModel) -> None:
        self._session.add(obj)

    def add_order(self, order: Order) -> None:
        self._session.add(order)

    def add_row(self, model: type[SQLModel], values: dict[str, Any]) -> None:
        self._session.add(model(**values))

    def seen(self, device: Device, at: datetime) -> None:
        device.last_seen = at
        self._session.add(device)

    def open_order(self, device_id: str, cancellable_only: bool = False) -> Order | None:
        return repos.newest_open_order(self._session, device_id, cancellable_only)

    def month_spending(self, household_id: int, since: datetime) -> int:
        return repos.month_spending(self._session, household_id, since)

    def order_lines(self, order_id: str) -> Sequence[OrderLine]:
        return repos.order_lines(self._session, order_id)

    def cart_line(self, household_id: int, product_id: int) -> CartLine | None:
        return repos.cart_line(self._session, household_id, product_id)

    def inbox_entry(self, household_id: int, gtin: str) -> InboxEntry | None:
        return repos.inbox_entry(self._session, household_id, gtin)

    def readings(self, device_id: str, slot: str, limit: int = 500) -> Sequence[Reading]:
        return repos.readings(self._session, device_id, slot, limit)

    def slot(self, device_id: str, name: str) -> Slot | None:
        return repos.slot(self._session, device_id, name)

    def slot_orders(self, slot_id: int) -> list[Order]:
        return repos.slot_orders(self._session, slot_id)


def writer_of(target: Session | Writer) -> Writer:
    """`target` as a writer: a plain session (API, web, scheduler) writes through itself."""
    return SessionWriter(target) if isinstance(target, Session) else target


class Batch:
    """One ingest batch's new rows, written in one go by `write`, and the reads that must see them before.

    Its session has autoflush off (a flush per query would undo the point): ORM objects added through the
    batch stay unsaved until `write`, and the batch keeps them to answer its reads. New orders stay out of the
    session altogether (a later message may still cancel one, or a replenishment link its slot: their INSERT
    carries the final state); order lines, timeline steps and event keys are plain rows.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        session.autoflush = False
        self._orders: list[Order] = []
        self._order_ids: set[str] = set()
        self._rows: dict[type[SQLModel], list[dict[str, Any]]] = {}
        # New or changed ORM objects, by kind, each once (by identity), for the reads that must find them.
        self._added: dict[type[SQLModel], dict[int, Any]] = {}
        self._seen: dict[str, datetime] = {}  # last_seen of devices, by id

    @property
    def session(self) -> Session:
        return self._session

    # --- writes -------------------------------------------------------------------------------------------

    def add(self, obj: SQLModel) -> None:
        if isinstance(obj, Order) and obj.id in self._order_ids:
            return  # one of the batch's new orders, changed: its INSERT at `write` takes it as it is then
        self._session.add(obj)
        self._added.setdefault(type(obj), {})[id(obj)] = obj

    def add_order(self, order: Order) -> None:
        self._orders.append(order)
        self._order_ids.add(order.id)

    def add_row(self, model: type[SQLModel], values: dict[str, Any]) -> None:
        self._rows.setdefault(model, []).append(values)

    def seen(self, device: Device, at: datetime) -> None:
        # One UPDATE for the batch's devices at `write`, not an ORM flush: the object gets the value as if
        # loaded with it, so it is not dirty for that (a status message that changes it later in the batch
        # makes it dirty again, and its flush, after this UPDATE, writes the later time).
        set_committed_value(device, "last_seen", at)
        self._seen[device.id] = at

    def write(self) -> None:
        """Flush the session, then insert the batch's orders and rows: one INSERT per table, orders first."""
        update_column(self._session, table_of(Device), "last_seen", "id", self._seen)
        self._session.flush()
        orders, rows = self._orders, self._rows
        self._orders, self._order_ids, self._rows, self._added, self._seen = [], set(), {}, {}, {}
        if orders:
            table = table_of(Order)
            # An order's fields are all in its instance dict (`services.orders._new_order` puts them there, and
            # a change later in the batch goes there too): read without the ORM's attribute machinery.
            insert_rows(self._session, table, [order.__dict__ for order in orders], _columns(table))
            for hook in _bulk_insert_hooks:
                hook(self._session, orders)
        for model in (*_ROW_TABLES, *(m for m in rows if m not in _ROW_TABLES)):
            if rows.get(model):
                insert_rows(self._session, table_of(model), rows[model])

    # --- reads that see the batch's own rows ---------------------------------------------------------------

    def _unsaved(self, kind: type[Any]) -> Iterable[Any]:
        return self._added.get(kind, {}).values()

    def _orders_and(self, stored: Iterable[Order]) -> list[Order]:
        """`stored` plus the batch's new orders; one object each (a query may return one the batch changed)."""
        found = list(stored)
        seen = {id(order) for order in found}
        return found + [order for order in self._orders if id(order) not in seen]

    def open_order(self, device_id: str, cancellable_only: bool = False) -> Order | None:
        names = _CANCELLABLE if cancellable_only else _OPEN
        stored = repos.newest_orders_of_device(self._session, device_id, names)
        candidates = [o for o in self._orders_and(stored) if o.device_id == device_id]
        # The in-memory status wins: an order cancelled earlier in the batch is no longer open.
        return max((o for o in candidates if o.status in names), key=lambda o: o.created_at, default=None)

    def month_spending(self, household_id: int, since: datetime) -> int:
        unsaved = sum(
            o.total
            for o in self._orders
            if o.household_id == household_id and o.created_at >= since and o.status in _SPENDING
        )
        return repos.month_spending(self._session, household_id, since) + unsaved

    def order_lines(self, order_id: str) -> Sequence[OrderLine]:
        stored = repos.order_lines(self._session, order_id)
        unsaved = [OrderLine(**row) for row in self._rows.get(OrderLine, []) if row["order_id"] == order_id]
        return [*stored, *unsaved] if unsaved else stored

    def cart_line(self, household_id: int, product_id: int) -> CartLine | None:
        for line in self._unsaved(CartLine):
            if line.household_id == household_id and line.product_id == product_id:
                return line  # type: ignore[no-any-return]
        return repos.cart_line(self._session, household_id, product_id)

    def inbox_entry(self, household_id: int, gtin: str) -> InboxEntry | None:
        for entry in self._unsaved(InboxEntry):
            if entry.household_id == household_id and entry.gtin == gtin:
                return entry  # type: ignore[no-any-return]
        return repos.inbox_entry(self._session, household_id, gtin)

    def readings(self, device_id: str, slot: str, limit: int = 500) -> Sequence[Reading]:
        stored = repos.readings(self._session, device_id, slot, limit)
        # Not flushed yet (no id): the query did not return it.
        unsaved = [r for r in self._unsaved(Reading) if r.id is None and r.device_id == device_id and r.slot == slot]
        return sorted([*stored, *unsaved], key=lambda r: r.at)[-limit:] if unsaved else stored

    def slot(self, device_id: str, name: str) -> Slot | None:
        for unsaved in self._unsaved(Slot):
            if unsaved.device_id == device_id and unsaved.name == name:
                return unsaved  # type: ignore[no-any-return]
        return repos.slot(self._session, device_id, name)

    def slot_orders(self, slot_id: int) -> list[Order]:
        stored = repos.slot_orders(self._session, slot_id)
        return [o for o in self._orders_and(stored) if o.slot_id == slot_id]
