"""Order ids sort in the order the orders were made, fit their columns, and still cannot be guessed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hub.services.orders import new_order_id
from hub.store.models import Order, ProcessedEvent

times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@given(times, st.integers(min_value=1, max_value=10**8))
def test_a_later_second_sorts_after_an_earlier_one(at: datetime, later_s: int) -> None:
    assert new_order_id(at) < new_order_id(at + timedelta(seconds=later_s))


def test_ids_fit_every_column_that_holds_one() -> None:
    order_id = new_order_id(datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert order_id.startswith("o-")
    assert len(order_id) <= Order.model_fields["id"].metadata[0].max_length
    assert len(order_id) <= ProcessedEvent.model_fields["order_id"].metadata[0].max_length


def test_ids_made_in_the_same_second_differ_in_forty_random_bits() -> None:
    at = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    ids = {new_order_id(at) for _ in range(10_000)}
    assert len(ids) == 10_000
    assert len({i[:10] for i in ids}) == 1 and all(len(i) == 20 for i in ids)
