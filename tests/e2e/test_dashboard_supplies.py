"""Dashboard pieces in Debian's Chromium: a sensor slot's product, mode and policy with its forecast, its chart
readable and beside its settings at every size, notification channels in settings, and substitutes on a
button's binding.

Screenshots of every new state go to test-artifacts/screenshots/ at desktop and phone size.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from matplotlib.text import Text
from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session, col, select

from hub.store.models import Device, NotifyChannel, Reading
from hub.web import charts
from simulator.protocol_device import ProtocolDevice
from tests.e2e.conftest import DESKTOP, PHONE, shoot, sign_in
from tests.hub.conftest import HubServer, add_button, product_id, sign_up

pytestmark = [pytest.mark.slow, pytest.mark.broker]


def _email() -> str:
    return f"{secrets.token_hex(4)}@example.org"


def _choose(select: Locator, starts_with: str) -> None:
    """Pick the option whose text starts with the product name (options also show the price)."""
    value = select.locator("option", has_text=re.compile("^" + re.escape(starts_with))).get_attribute("value")
    assert value
    select.select_option(value=value)


def _chart_loaded(page: Page, card: Locator) -> None:
    chart = card.locator("img.chart")
    page.wait_for_function("img => img.complete && img.naturalWidth > 300", arg=chart.element_handle())


def test_slot_product_mode_and_policy_with_forecast(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], page: Page
) -> None:
    hub = start_hub()
    email = _email()
    api = sign_up(hub.url, "Moreau house", email)
    created = api.ok(
        "POST", "/api/v1/devices", json={"kind": "appliance_sensor", "name": "Washer", "id": "washer-sensor"}
    )
    sensor = devices("washer-sensor", created["secret"])
    now = int(time.time())
    # Five days of detergent use, a reading every eight hours, about 150 g a day, 90 g and 10 g by turns: use
    # that uneven gives the run-out a range of days, whatever the time of day the test runs at (a steady
    # use with a glitch every third reading, taken back at once, gave less than a day, so the two ends fell on
    # one date or two by the clock): about 1100 g left.
    for i in range(16):
        grams = 1900.0 - 50.0 * i - (40.0 if i % 2 else 0.0)
        event = {"type": "level", "slot": "detergent", "value": grams, "unit": "g", "ts": now - (15 - i) * 8 * 3600}
        assert sensor.wait_feedback(sensor.send(event))["code"] == "recorded"
    [slot] = api.ok("GET", "/api/v1/slots")
    assert slot["mode"] == "notify" and slot["product_id"] is None
    sign_in(page, hub.url, email)

    page.goto(hub.url + "/web/supplies")
    card = page.locator(f"#slot-{slot['id']}")
    expect(card.locator(".seg[aria-pressed=true]")).to_have_text("Notify only")
    expect(card.locator("[data-decision]")).to_contain_text("None yet: choose the product")

    # Auto without a product is refused; what was typed stays.
    card.locator("summary").click()
    card.locator("[name=lead_time_days]").fill("4")
    card.locator("text=Auto-order").click()
    expect(card.locator(f"#product_id-{slot['id']}-error")).to_have_text(
        "Choose a product before switching the slot to auto."
    )
    expect(card.locator("[name=lead_time_days]")).to_have_value("4")
    # The switch shows the mode asked for, says it is not switched yet, and Save completes it once corrected.
    expect(card.locator(".seg[aria-pressed=true]")).to_have_text("Auto-order")
    expect(card.locator("[data-pending-mode]")).to_have_text(
        "Not switched yet: this supply stays on notify only until the form is saved."
    )
    expect(card.locator(".card-head .badge")).to_have_text("notify only")
    shoot(page, "supplies-auto-without-product")

    # Detergent is sold by the load, the sensor weighs grams: a pack size in grams is needed, and a cap of
    # at least one pack.
    _choose(card.locator("select[name=product_id]"), "Laundry detergent")
    card.locator("button.primary:text('Save')").click()
    expect(card.locator(f"#pack_size-{slot['id']}-error")).to_have_text(
        "Laundry detergent 2 l (40 loads) is sold by the pack and the sensor weighs it in grams: "
        "enter how many grams one pack holds."
    )
    expect(card.locator(".seg[aria-pressed=true]")).to_have_text("Auto-order")
    card.locator("[name=pack_size]").fill("2000")
    card.locator("[name=max_stock]").fill("1500")
    card.locator("button.primary:text('Save')").click()
    expect(card.locator(f"#max_stock-{slot['id']}-error")).to_have_text(
        "Max stock must hold at least one pack (2000 g)."
    )
    expect(card.locator("[name=pack_size]")).to_have_value("2000")
    expect(card.locator("[name=lead_time_days]")).to_have_value("4")
    shoot(page, "supplies-policy-error")
    card.locator("[name=max_stock]").fill("6000")
    card.locator("button.primary:text('Save')").click()  # the pending switch to auto goes with it
    expect(page.locator(".notice")).to_have_text("Auto-order is on: the hub orders in time for this supply.")
    expect(card.locator(".seg[aria-pressed=true]")).to_have_text("Auto-order")
    expect(card.locator(".card-head .badge")).to_have_text("auto-order")
    saved = api.ok("GET", f"/api/v1/slots/{slot['id']}")
    assert saved["product_id"] == product_id(api, "DET-2L") and saved["mode"] == "auto"
    assert (saved["pack_size"], saved["lead_time_days"], saved["max_stock"]) == (2000, 4, 6000)
    # The forecast: run-out with its range, the reorder point from this slot's lead + safety, the decision.
    run_out = re.compile(r"around \d+ \w+\s*between \d+\s\w+ and \d+\s\w+")
    expect(card.locator("[data-run-out]")).to_contain_text(run_out)
    expect(card).to_contain_text("4 d lead + 3 d safety")
    assert saved["forecast"] is not None
    decision = {"none": "Nothing to do now", "order": "Order due", "notify": "Running low"}
    expect(card.locator("[data-decision]")).to_contain_text(decision[saved["forecast"]["decision"]])
    expect(card.locator("[data-decision]")).to_contain_text(saved["forecast"]["reason"])
    # What one order brings at this use, and what deliveries have shown (none yet: the household's 4 days).
    plan = re.compile(r"\d+ packs? per order, about \d+ (days|weeks) each")
    expect(card.locator("[data-order-plan]")).to_contain_text(plan)
    expect(card.locator("[data-order-plan]")).to_contain_text("recommended: about a quarter's use per delivery")
    expect(card.locator("[data-lead-time]")).to_contain_text("No delivery yet; planning with 4 days")
    _chart_loaded(page, card)
    shoot(page, "supplies-auto")

    # Fewer deliveries, and a higher learning threshold: both saved with the form.
    card.locator("summary").click()
    card.locator("[name=order_tradeoff]").select_option(label="Fewer deliveries: large orders up to max stock")
    card.locator("[name=learning_low]").fill("40")
    card.locator("button.primary:text('Save')").click()
    expect(page.locator(".notice")).to_have_text("Supply settings saved.")
    saved = api.ok("GET", f"/api/v1/slots/{slot['id']}")
    assert (saved["order_tradeoff"], saved["learning_low"]) == (1, 0.4)
    expect(card.locator("[data-order-plan]")).to_contain_text("fewer deliveries: large orders up to max stock")

    # Enter in a policy field saves without touching the mode.
    card.locator("summary").click()
    card.locator("[name=safety_days]").fill("5")
    card.locator("[name=safety_days]").press("Enter")
    expect(page.locator(".notice")).to_have_text("Supply settings saved.")
    expect(card).to_contain_text("4 d lead + 5 d safety")
    saved = api.ok("GET", f"/api/v1/slots/{slot['id']}")
    assert (saved["mode"], saved["safety_days"]) == ("auto", 5)

    # Pause is one click, even with a broken value typed in the form meanwhile.
    card.locator("summary").click()
    card.locator("[name=target_days]").fill("0")
    card.locator("text=Paused").click()
    expect(card.locator(".form-error")).to_contain_text("Paused. Your other changes were not saved")
    expect(card.locator("[name=target_days]")).to_have_value("0")
    assert api.ok("GET", f"/api/v1/slots/{slot['id']}")["mode"] == "paused"
    page.goto(hub.url + "/web/supplies")
    expect(card.locator(".seg[aria-pressed=true]")).to_have_text("Paused")
    expect(card.locator("[data-decision]")).to_contain_text("Paused")
    _chart_loaded(page, card)
    shoot(page, "supplies-paused")


def test_notification_channels_and_button_substitutes(
    start_hub: Callable[..., HubServer], page: Page
) -> None:
    hub = start_hub(smtp_host="127.0.0.1")  # e-mail channels need an SMTP server (tests/e2e/test_channel_test.py)
    email = _email()
    api = sign_up(hub.url, "Santos flat", email)
    add_button(api, "coffee-button", "COF-1KG")
    sign_in(page, hub.url, email)

    page.goto(hub.url + "/web/settings")
    channels = page.locator("#channels")
    expect(channels).to_contain_text("No channels yet")
    page.fill("#channel-target", "kitchen.example.org")
    page.click("text=Add channel")
    expect(page.locator("#channel-target-error")).to_have_text("Enter an e-mail address like name@example.org.")
    expect(page.locator("#channel-target")).to_have_value("kitchen.example.org")
    page.fill("#channel-target", "kitchen@example.org")
    page.click("text=Add channel")
    expect(page.locator(".notice")).to_have_text("Notification channel added.")
    expect(channels.locator(".row", has_text="kitchen@example.org")).to_contain_text("Nothing sent yet")
    expect(channels.locator("[data-new-secret]")).to_have_count(0)  # e-mail has no secret

    page.select_option("#channel-kind", "webhook")
    page.fill("#channel-target", "https://hooks.example.org/restock")
    page.click("text=Add channel")
    secret = channels.locator("[data-secret]").inner_text()
    [hook] = [c for c in _channels(hub) if c.kind == "webhook"]
    assert hook.secret == secret and len(secret) >= 24
    shoot(page, "settings-channels")
    page.reload()  # shown once
    expect(channels.locator("[data-new-secret]")).to_have_count(0)
    expect(channels.locator(".row")).to_have_count(2)

    row = channels.locator(".row", has_text="kitchen@example.org")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("text=Remove").click()
    expect(page.locator(".notice")).to_have_text("Notification channel removed: nothing more is sent there.")
    expect(channels.locator(".row")).to_have_count(1)
    assert [c["kind"] for c in api.ok("GET", "/api/v1/notifications/channels")] == ["webhook"]

    page.goto(hub.url + "/web/devices")
    form = page.locator("#device-coffee-button")
    expect(page.locator("#subs-coffee-button")).not_to_be_checked()
    page.check("#subs-coffee-button")
    _choose(page.locator("#substitute-coffee-button"), "Coffee beans 1 kg")
    form.locator("text=Save binding").click()
    expect(page.locator("#substitute-coffee-button-error")).to_contain_text("Choose another product")
    expect(page.locator("#subs-coffee-button")).to_be_checked()
    _choose(page.locator("#substitute-coffee-button"), "Dish soap 500 ml")
    form.locator("text=Save binding").click()
    expect(page.locator(".notice")).to_have_text("Button binding saved.")
    expect(page.locator("#subs-coffee-button")).to_be_checked()
    expect(form.locator(".device-state + .facts")).to_contain_text("substitutes allowed")
    soap = product_id(api, "DSH-500")
    expect(page.locator("#substitute-coffee-button")).to_have_value(str(soap))
    with Session(hub.app.state.engine) as session:
        button = session.get_one(Device, "coffee-button")
        assert (button.binding_allow_substitutes, button.binding_substitute_id) == (True, soap)
    shoot(page, "devices-substitutes")
    page.uncheck("#subs-coffee-button")
    form.locator("text=Save binding").click()
    expect(page.locator(".notice")).to_have_text("Button binding saved.")
    with Session(hub.app.state.engine) as session:
        button = session.get_one(Device, "coffee-button")
        assert (button.binding_allow_substitutes, button.binding_substitute_id) == (False, None)


def _channels(hub: HubServer) -> list[NotifyChannel]:
    """The hub's active channels as stored (the API never shows a secret again)."""
    with Session(hub.app.state.engine) as session:
        return list(session.exec(select(NotifyChannel).where(col(NotifyChannel.active).is_(True))).all())


def _seed_learning_slot(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], page: Page
) -> Locator:
    """A hub with one detergent slot of three readings over four hours (still learning), signed in on its page."""
    hub = start_hub()
    email = _email()
    api = sign_up(hub.url, "Okafor house", email)
    created = api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "name": "Washer", "id": "new-washer"})
    sensor = devices("new-washer", created["secret"])
    now = int(time.time())
    for i, grams in enumerate((1900.0, 1860.0, 1820.0)):
        event = {"type": "level", "slot": "detergent", "value": grams, "unit": "g", "ts": now - (2 - i) * 7200}
        assert sensor.wait_feedback(sensor.send(event))["code"] == "recorded"
    [slot] = api.ok("GET", "/api/v1/slots")
    sign_in(page, hub.url, email)
    page.goto(hub.url + "/web/supplies")
    return page.locator(f"#slot-{slot['id']}")


def _chart_variant(page: Page, chart: Locator, small: bool) -> tuple[float, float]:
    """Once the variant for this width has loaded: its width on the page and the width it was laid out for."""
    page.wait_for_function(
        "([img, small]) => img.complete && img.naturalWidth > 0 && img.currentSrc.includes('size=small') === small",
        arg=[chart.element_handle(), small],
    )
    # The PNG's own width in pixels (a plain Image: no srcset density applied), drawn at PIXEL_DENSITY.
    shown, pixels = chart.evaluate(
        "async img => { const probe = new Image(); probe.src = img.currentSrc; await probe.decode();"
        " return [img.getBoundingClientRect().width, probe.naturalWidth]; }"
    )
    return float(shown), float(pixels) / charts.PIXEL_DENSITY


def test_a_slot_uses_the_desktop_width_and_its_chart_reads_on_a_phone(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], page: Page
) -> None:
    card = _seed_learning_slot(start_hub, devices, page)
    chart, form = card.locator("img.chart"), card.locator("form.slot-policy")
    expect(card.locator(".facts")).to_contain_text("Learning")

    for size, small in ((DESKTOP, False), (PHONE, True)):
        page.set_viewport_size(size)
        shown, natural = _chart_variant(page, chart, small)
        # Laid out for about the width it gets, the chart's smallest text shows at 11 CSS px or more, not
        # shrunk to a scribble.
        assert shown >= 0.85 * natural, (size, shown, natural)
        assert charts.SMALLEST_TEXT_PT / 72 * charts.CSS_DPI * shown / natural >= 11, (size, shown, natural)
        width, main_width = card.evaluate(
            "card => { const main = card.closest('main'), style = getComputedStyle(main);"
            " return [card.getBoundingClientRect().width,"
            " main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)]; }"
        )
        assert width >= main_width - 1, (size, width, main_width)  # one slot still spans the page
        picture, settings = chart.bounding_box(), form.bounding_box()
        assert picture is not None and settings is not None
        if small:  # one column on a phone: the settings under the chart
            assert settings["y"] >= picture["y"] + picture["height"], (picture, settings)
        else:  # the settings beside the chart, side by side
            assert picture["x"] + picture["width"] <= settings["x"], (picture, settings)
            assert settings["y"] < picture["y"] + picture["height"], (picture, settings)
    page.set_viewport_size(DESKTOP)
    shoot(page, "supplies-learning")


def _readings(hours: list[float], start: float, step: float, now: datetime) -> list[Reading]:
    return [
        Reading(device_id="washer", slot="detergent", value=start - step * i, unit="g", at=now - timedelta(hours=h))
        for i, h in enumerate(hours)
    ]


NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
CHART_CASES = {
    # A few hours of readings, the newest just now: the slot is learning and says when a forecast comes.
    "learning": _readings([6, 4, 2, 0], 1900, 20, NOW),
    # Five days at about 150 g a day: a forecast with its range and the reorder point.
    "forecast": _readings([8 * h for h in range(15, -1, -1)], 1900, 50, NOW),
}


@pytest.mark.parametrize("small", [False, True], ids=["wide", "small"])
@pytest.mark.parametrize("case", sorted(CHART_CASES))
def test_no_text_of_a_chart_covers_another(case: str, small: bool) -> None:
    readings = CHART_CASES[case]
    view = charts.outlook(readings, NOW, charts.Timing(4, 3))
    assert (view.forecast is not None and view.forecast.rate_per_day is None) == (case == "learning")
    with charts._render_lock:
        chart = charts.figure(readings, "g", NOW, small=small, view=view)
        chart.canvas.draw()
        renderer = chart.canvas.get_renderer()  # type: ignore[attr-defined]
        # Matplotlib keeps labels of ticks outside the plotted range; they are not drawn.
        undrawn = {
            id(label)
            for ax in chart.axes for axis in (ax.xaxis, ax.yaxis) for tick in axis.get_major_ticks()
            if not min(axis.get_view_interval()) <= tick.get_loc() <= max(axis.get_view_interval())
            for label in (tick.label1, tick.label2)
        }
        texts = [
            t for t in chart.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in undrawn
        ]
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    shown = {text for text, _box in boxes}
    assert "now" in shown
    assert ("forecast after a day of readings" in shown) == (case == "learning")
    for (one, a), (other, b) in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), f"{one!r} covers {other!r}"
    # And every text is inside the picture, none cut off at an edge.
    width, height = chart.canvas.get_width_height()
    for text, box in boxes:
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, (text, box)
