"""The order lifecycle table: properties that every status, actor and transition must keep."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.domain.lifecycle import (
    CALLBACK_FROM,
    CANCELLABLE_STATUSES,
    FINAL_STATUSES,
    OPEN_STATUSES,
    REQUESTS,
    SPENDING_STATUSES,
    TIMED_STATUSES,
    TRANSITIONS,
    Actor,
    OrderStatus,
    Request,
    Step,
    TransitionError,
    actor_of,
    allowed,
    check,
)

statuses = st.sampled_from(list(OrderStatus))
sources = st.one_of(st.none(), statuses)
actors = st.sampled_from(list(Actor))
PEOPLE = (Actor.HOUSEHOLD, Actor.DEVICE)


@given(sources, statuses, actors)
def test_allowed_is_exactly_the_table(current: OrderStatus | None, target: OrderStatus, actor: Actor) -> None:
    expected = actor in TRANSITIONS.get((current, target), frozenset())
    assert allowed(current, target, actor) is expected
    assert allowed(None if current is None else str(current), str(target), actor) is expected  # stored strings
    if expected:
        check(current, target, actor)
    else:
        try:
            check(current, target, actor)
        except TransitionError as exc:
            assert str(target) in str(exc)
        else:
            raise AssertionError("check let a forbidden change through")


@given(st.text(max_size=20), statuses, actors)
def test_unknown_statuses_move_nowhere(junk: str, status: OrderStatus, actor: Actor) -> None:
    if junk not in set(OrderStatus):
        assert not allowed(junk, status, actor)
        assert not allowed(status, junk, actor)


@given(statuses, statuses, actors)
def test_nothing_leaves_a_final_status(current: OrderStatus, target: OrderStatus, actor: Actor) -> None:
    if current in FINAL_STATUSES:
        assert not allowed(current, target, actor)


def test_every_status_but_a_final_one_can_move_on_and_every_status_can_be_reached() -> None:
    sources = {source for source, _ in TRANSITIONS}
    targets = {target for _, target in TRANSITIONS}
    assert set(OrderStatus) - FINAL_STATUSES - {OrderStatus.DELIVERED} <= sources
    assert OrderStatus.DELIVERED in sources  # a return
    assert targets == set(OrderStatus)
    assert all(actors for actors in TRANSITIONS.values())


def test_every_status_is_reachable_from_a_new_order() -> None:
    reached: set[OrderStatus | None] = {None}
    while True:
        more = {target for source, target in TRANSITIONS if source in reached} - reached
        if not more:
            break
        reached |= more
    assert reached - {None} == set(OrderStatus)


@given(statuses, st.sampled_from(PEOPLE))
def test_the_household_and_its_device_cancel_exactly_the_cancellable_statuses(status: OrderStatus,
                                                                                actor: Actor) -> None:
    assert allowed(status, OrderStatus.CANCELLED, actor) is (status in CANCELLABLE_STATUSES)


@given(statuses)
def test_a_new_order_is_pending_or_waits_for_approval_and_nobody_else_creates_one(target: OrderStatus) -> None:
    for actor in Actor:
        created = allowed(None, target, actor)
        assert created is (target in {OrderStatus.PENDING, OrderStatus.AWAITING_APPROVAL}
                           and actor not in {Actor.MERCHANT, Actor.CALLBACK})


@given(statuses, statuses)
def test_a_device_only_creates_and_cancels(current: OrderStatus, target: OrderStatus) -> None:
    if allowed(current, target, Actor.DEVICE):
        assert target == OrderStatus.CANCELLED and current in CANCELLABLE_STATUSES


@given(statuses, statuses)
def test_only_a_shop_moves_an_order_it_has_taken(current: OrderStatus, target: OrderStatus) -> None:
    # Once submitted, the household no longer decides; the scheduler only fails an order whose shop is gone.
    if current in {OrderStatus.SUBMITTED, OrderStatus.CONFIRMED, OrderStatus.SHIPPED}:
        assert not allowed(current, target, Actor.HOUSEHOLD) and not allowed(current, target, Actor.DEVICE)
        if allowed(current, target, Actor.SCHEDULER):
            assert target == OrderStatus.FAILED


def test_every_callback_report_is_a_transition_the_table_allows_a_shop_callback() -> None:
    for reported, after in CALLBACK_FROM.items():
        assert after, reported
        for current in after:
            if reported == Step.OUT_OF_STOCK:
                # Out of stock fails the order or sends (or holds) a substitute.
                for target in (OrderStatus.FAILED, OrderStatus.PENDING, OrderStatus.AWAITING_APPROVAL):
                    assert allowed(current, target, Actor.CALLBACK), (current, target)
            else:
                assert allowed(current, reported, Actor.CALLBACK), (current, reported)


@given(statuses, statuses)
def test_a_callback_never_moves_an_order_that_is_not_with_the_shop(current: OrderStatus, target: OrderStatus) -> None:
    if allowed(current, target, Actor.CALLBACK):
        assert current in {OrderStatus.PENDING, OrderStatus.SUBMITTED, OrderStatus.CONFIRMED, OrderStatus.SHIPPED,
                           OrderStatus.RETURN_REQUESTED}


def test_the_status_sets_hang_together() -> None:
    assert CANCELLABLE_STATUSES <= OPEN_STATUSES
    assert not OPEN_STATUSES & FINAL_STATUSES
    assert OrderStatus.AWAITING_APPROVAL not in SPENDING_STATUSES
    assert SPENDING_STATUSES - OPEN_STATUSES == {OrderStatus.DELIVERED}
    assert not SPENDING_STATUSES & FINAL_STATUSES
    assert set(REQUESTS) <= TIMED_STATUSES
    assert REQUESTS[OrderStatus.PENDING] is Request.ORDER
    assert REQUESTS[OrderStatus.RETURN_REQUESTED] is Request.RETURN
    assert REQUESTS[OrderStatus.CANCELLED] is Request.CANCEL
    # Timeline-only steps are never statuses: an order never stands at "retry".
    assert not {str(step) for step in Step} & {str(status) for status in OrderStatus}


@given(st.text(max_size=30))
def test_every_actor_name_has_a_kind(name: str) -> None:
    kind = actor_of(name)
    assert kind in set(Actor) and kind is not Actor.CALLBACK  # a callback is told, never guessed from a name


def test_actor_names_the_hub_writes() -> None:
    assert actor_of("user:ann@example.org") is Actor.HOUSEHOLD
    assert actor_of("device:btn-1") is Actor.DEVICE
    assert actor_of("merchant:demo") is Actor.MERCHANT
    assert actor_of("scheduler") is Actor.SCHEDULER
    assert actor_of("replenish") is Actor.SCHEDULER
