"""Press rules on plain values."""

from __future__ import annotations

import pytest

from hub.domain.lifecycle import OrderStatus
from hub.domain.press import Limits, Mode, PressAction, check_order, decide_press


@pytest.mark.parametrize(
    ("click", "bound", "mode", "open_", "cancellable", "multiple", "action"),
    [
        ("single", True, Mode.ORDER, False, False, False, PressAction.CREATE_ORDER),
        ("double", True, Mode.ORDER, False, False, False, PressAction.CREATE_ORDER),
        ("single", True, Mode.ORDER, True, True, False, PressAction.DUPLICATE),
        ("single", True, Mode.ORDER, True, True, True, PressAction.CREATE_ORDER),
        ("single", True, Mode.APPROVE, True, False, False, PressAction.DUPLICATE),
        ("single", True, Mode.CART, True, False, False, PressAction.ADD_TO_CART),
        ("single", False, None, False, False, False, PressAction.REJECT),
        ("long", True, Mode.ORDER, True, True, False, PressAction.CANCEL),
        ("long", True, Mode.ORDER, True, False, False, PressAction.NOTHING_TO_CANCEL),
        ("long", False, None, False, False, False, PressAction.NOTHING_TO_CANCEL),
    ],
)
def test_decide_press(
    click: str, bound: bool, mode: Mode | None, open_: bool, cancellable: bool, multiple: bool, action: PressAction
) -> None:
    assert decide_press(click, bound, mode, open_, cancellable, multiple).action is action


def test_limits() -> None:
    limits = Limits(per_order_cap=2000, monthly_cap=5000, price_tolerance_pct=10)
    ok = check_order(1000, 1000, 1000, 0, limits, Mode.ORDER)
    assert ok.status is OrderStatus.PENDING and ok.reason is None
    assert check_order(2001, 2001, None, 0, limits, Mode.ORDER).reason == "order_cap"
    assert check_order(2000, 2000, None, 0, limits, Mode.ORDER).status is OrderStatus.PENDING
    assert check_order(1000, 1000, None, 4001, limits, Mode.ORDER).reason == "month_cap"
    assert check_order(1000, 1000, None, 4000, limits, Mode.ORDER).status is OrderStatus.PENDING
    # +10 % exactly is tolerated, one cent more is not.
    assert check_order(1100, 1100, 1000, 0, limits, Mode.ORDER).status is OrderStatus.PENDING
    assert check_order(1101, 1101, 1000, 0, limits, Mode.ORDER).reason == "price_rise"
    assert check_order(10, 10, 10, 0, limits, Mode.APPROVE).reason == "approval_mode"
    assert check_order(10**9, 10**9, None, 10**9, Limits(), Mode.ORDER).status is OrderStatus.PENDING
