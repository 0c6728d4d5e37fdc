"""Merchant progress: due timers ask the order's shop through the one merchant protocol, and what the shop
answers (at once, or later through the sender) moves the order along the lifecycle. Callers commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import httpx
from sqlmodel import Session

from hub.domain.lifecycle import REQUESTS, SPENDING_STATUSES, TIMED_STATUSES, Actor, OrderStatus, Request, Step
from hub.domain.press import Mode, check_order
from hub.jobs import Job, Outcome, RetryPolicy
from hub.merchants.base import Merchant, OutOfStock, Progress, Requested, Transition
from hub.merchants.webhook import Prepared, ShopAnswer, WebhookMerchant, idempotency_key, post, request_body
from hub.services.orders import limits_of, month_start, move, note_step
from hub.services.transaction import committed
from hub.store import repos
from hub.store.models import Device, Order, Product

log = logging.getLogger(__name__)


def merchant_for(session: Session, order: Order, built_in: dict[str, Merchant], policy: RetryPolicy) -> Merchant | None:
    """The order's shop: a built-in one, or the household's own active webhook shop; None when there is none.

    Only the household's own shop counts: another household's, named by a product, is no merchant at all.
    """
    merchant = built_in.get(order.merchant)
    if merchant is not None:
        return merchant
    account = repos.household_merchant(session, order.household_id, order.merchant)
    if account is None or not account.active:
        return None
    return WebhookMerchant(account, policy)


def ask(session: Session, merchant: Merchant, order: Order, now: datetime) -> Progress:
    """Ask the shop for what the order's status needs (lifecycle.REQUESTS), else how the order got on."""
    request = REQUESTS.get(order.status)
    if request is Request.ORDER:
        return merchant.submit(session, order, repos.order_lines(session, order.id), now)
    if request is Request.CANCEL:
        return merchant.cancel(session, order, now)
    if request is Request.RETURN:
        return merchant.return_(session, order, now)
    return merchant.advance(session, order, now)


def run_due(
    session: Session,
    merchants: dict[str, Merchant],
    now: datetime,
    dispatch: list[Job] | None = None,
    policy: RetryPolicy | None = None,
) -> list[Order]:
    """Fire every due durable timer once: submit expired cancel windows, pass on cancels and returns, advance
    merchant steps; returns the orders whose status changed.

    A request a shop takes outside the transaction (a webhook shop's) is leased and its job appended to
    `dispatch`: the caller hands it to the sender after the commit, so no HTTP call runs inside this transaction.
    """
    policy = policy or RetryPolicy()
    changed: list[Order] = []
    for order in repos.due_orders(session, [str(s) for s in TIMED_STATUSES], now):
        merchant = merchant_for(session, order, merchants, policy)
        if merchant is None:
            if order.status == OrderStatus.CANCELLED:
                _stop(session, order)  # no shop to pass the cancel on to
            else:
                fail = Transition(OrderStatus.FAILED, note="no_merchant")
                apply_transition(session, order, fail, now, "scheduler", Actor.SCHEDULER)
                changed.append(order)
            continue
        progress = ask(session, merchant, order, now)
        actor = f"merchant:{merchant.name}"
        if progress is None:
            _stop(session, order)
        elif isinstance(progress, Requested):
            if dispatch is not None:
                dispatch.append(progress.job)
        elif isinstance(progress, OutOfStock):
            out_of_stock(session, order, None, actor, now, progress.note, Actor.MERCHANT)
            changed.append(order)
        else:
            apply_transition(session, order, progress, now, actor, Actor.MERCHANT)
            changed.append(order)
    return changed


def advance_due(
    session: Session, merchants: dict[str, Merchant], now: datetime, dispatch: list[Job], policy: RetryPolicy
) -> list[Order]:
    """The scheduler's tick as one committed use case: `run_due`, then commit (the leased shop requests in
    `dispatch` are sent by the caller after that, never inside the transaction)."""
    with committed(session):
        return run_due(session, merchants, now, dispatch, policy)


def _stop(session: Session, order: Order) -> None:
    """Nothing to ask the shop until it speaks: the order's timer stops."""
    order.due_at = None
    session.add(order)


def apply_transition(
    session: Session, order: Order, step: Transition, now: datetime, actor: str, by: Actor = Actor.MERCHANT
) -> None:
    """Record what the merchant said about an order (a change the lifecycle allows `by` to make)."""
    order.due_at = step.due_at
    if step.tracking:
        order.tracking = step.tracking
    if step.merchant_ref:
        order.merchant_ref = step.merchant_ref
    if step.expected_delivery is not None:
        order.expected_delivery = step.expected_delivery
    if step.status == OrderStatus.FAILED and step.note:
        order.reason = step.note.split(":", 1)[0][:40]
    move(session, order, step.status, by, actor, now, note=step.note or step.tracking)


def _current(order: Order, job: Job) -> bool:
    """Whether the order still waits for this job: same attempt, and its status still needs that request."""
    return order.attempts == job.attempt and REQUESTS.get(order.status) == job.kind


def prepare_job(session: Session, job: Job) -> Prepared | None:
    """What to send for a leased job, or None when the order moved on since it was leased."""
    order = session.get(Order, job.ref)
    if order is None or not _current(order, job):
        return None
    account = repos.household_merchant(session, order.household_id, order.merchant)
    if account is None:
        return None
    lines = list(repos.order_lines(session, order.id))
    device = session.get(Device, order.device_id) if order.device_id else None
    allow = bool(device is not None and device.binding_allow_substitutes)
    body = request_body(session, order, lines, job.kind, allow)
    return Prepared(account=account, body=body, key=idempotency_key(order, job.kind))


def finish_job(session: Session, job: Job, outcome: Outcome, now: datetime, policy: RetryPolicy) -> None:
    """Record what the shop answered to a job, in its own transaction (the caller commits)."""
    order = repos.lock_order(session, job.ref)
    if order is None:
        return
    actor = f"merchant:{order.merchant}"
    answer = outcome if isinstance(outcome, ShopAnswer) else ShopAnswer(outcome.ok, outcome.retryable, outcome.error)
    if not _current(order, job):
        # The order moved on while the request was in flight. If it was cancelled and the shop has just
        # taken it, the shop must hear about the cancel.
        if job.kind == Request.ORDER and answer.ok and order.status == OrderStatus.CANCELLED:
            order.merchant_ref = answer.ref or order.merchant_ref
            order.attempts = 0
            order.due_at = now
            session.add(order)
            note_step(session, order, Step.SENT, actor, now, "the shop took the order after it was cancelled")
        return
    if answer.ok:
        order.attempts = 0
        if job.kind == Request.ORDER:
            step = Transition(OrderStatus.SUBMITTED, merchant_ref=answer.ref, note=f"accepted by {order.merchant}",
                              expected_delivery=answer.expected_delivery)
            apply_transition(session, order, step, now, actor)
        else:
            _stop(session, order)
            note_step(session, order, Step.SENT, actor, now, f"{job.kind} request accepted by {order.merchant}")
        return
    retry_at = policy.retry_at(job.attempt, now, answer.retryable)
    if retry_at is not None:
        order.due_at = retry_at
        session.add(order)
        note = f"{job.kind} attempt {job.attempt}: {answer.error}; next in {(retry_at - now).total_seconds():g} s"
        note_step(session, order, Step.RETRY, actor, now, note)
        return
    order.attempts = 0
    order.due_at = None
    if job.kind == Request.ORDER:
        reason = "merchant_unreachable" if answer.retryable else "merchant_rejected"
        order.reason = reason
        move(session, order, OrderStatus.FAILED, Actor.MERCHANT, actor, now, note=f"{reason}: {answer.error}")
    else:
        session.add(order)
        note_step(session, order, Step.RETRY, actor, now, f"{job.kind} request given up: {answer.error}")


def out_of_stock(
    session: Session,
    order: Order,
    offered: Product | None,
    actor: str,
    now: datetime,
    note: str | None = None,
    by: Actor = Actor.MERCHANT,
) -> None:
    """Substitute when the button's binding allows it (within the household's limits), else fail the order."""
    lines = list(repos.order_lines(session, order.id))
    device = session.get(Device, order.device_id) if order.device_id else None
    substitute: Product | None = None
    if device is not None and device.binding_allow_substitutes and len(lines) == 1:
        chosen = session.get(Product, device.binding_substitute_id) if device.binding_substitute_id else None
        substitute = chosen or offered
    household = repos.household(session, order.household_id)
    order.attempts = 0
    if substitute is None or household is None or substitute.id == lines[0].product_id or device is None:
        order.due_at = None
        order.reason = "out_of_stock"
        move(session, order, OrderStatus.FAILED, by, actor, now, note=note or "out_of_stock")
        return
    assert substitute.id is not None
    note_step(session, order, Step.OUT_OF_STOCK, actor, now, note or "out of stock")
    line = lines[0]
    spent = repos.month_spending(session, order.household_id, month_start(now))
    if order.status in SPENDING_STATUSES:
        spent -= order.total  # the order is counted already, at its old total
    line.product_id, line.name, line.unit_price = substitute.id, substitute.name, substitute.price
    session.add(line)
    order.total = substitute.price * line.qty
    order.currency = substitute.currency
    order.merchant = substitute.merchant
    order.revision += 1
    verdict = check_order(
        total=order.total,
        unit_price=substitute.price,
        bound_unit_price=device.binding_unit_price,
        spent_this_month=spent,
        limits=limits_of(household),
        mode=Mode.ORDER,
    )
    text = f"substitute: {substitute.name} at {substitute.price} {substitute.currency} (was {lines[0].name})"
    if verdict.status == OrderStatus.PENDING:
        # The household agreed to substitutes for this button: the substitute goes out at once.
        order.reason = None
        order.cancel_until = now
        order.due_at = now
        move(session, order, OrderStatus.PENDING, by, actor, now, note=text)
    else:
        order.reason = verdict.reason
        order.due_at = None
        move(session, order, OrderStatus.AWAITING_APPROVAL, by, actor, now, note=f"{text}; {verdict.reason}")


class ShopRequests:
    """The sender's handler for merchant jobs: read the request, post it, record the shop's answer."""

    def __init__(self, policy: RetryPolicy, now: Callable[[], datetime]) -> None:
        self.policy = policy
        self.now = now

    def prepare(self, session: Session, job: Job) -> Prepared | None:
        """What to post, or None when the order moved on."""
        return prepare_job(session, job)

    async def perform(self, client: httpx.AsyncClient, prepared: Prepared) -> Outcome:
        """One signed POST to the shop."""
        answer = await post(client, prepared.account, prepared.body, prepared.key, self.now(), self.policy.timeout_s)
        log.info("merchant request", extra={"order": prepared.body.get("order_id"), "kind": prepared.body.get("type"),
                                            "ok": answer.ok, "error": answer.error})
        return answer

    def finish(self, session: Session, job: Job, outcome: Outcome, now: datetime) -> None:
        """Record the answer."""
        finish_job(session, job, outcome, now, self.policy)
