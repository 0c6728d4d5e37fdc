"""Jinja2 environment of the dashboard: templates, display filters and the page response helper."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from hub.api.deps import runtime_of
from hub.domain.money import display
from hub.notify.render import delivery_date
from hub.web.session import WebUser, clear_flash_cookie, flash_value, read_flash, set_flash_cookie

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

# Messages after a redirect are looked up by code, so a link cannot make the page say arbitrary things.
NOTICES = {
    "signed_out": "You are signed out.",
    "renamed": "Device renamed.",
    "bound": "Button binding saved.",
    "unbound": "Button binding removed.",
    "paired": "Device paired with your household.",
    "revoked": "Device revoked: it can no longer connect or order.",
    "cancelled": "Order cancelled.",
    "approved": "Order approved: it goes to the merchant now.",
    "rejected": "Order rejected.",
    "cart_updated": "Cart updated.",
    "cart_removed": "Removed from the cart.",
    "cart_added": "Added to the cart.",
    "mapped": "Barcode mapped; its scans are in the cart.",
    "dismissed": "Barcode dismissed.",
    "created": "New product created for the barcode; its scans are in the cart.",
    "settings_saved": "Settings saved.",
    "checked_out": "Order placed from the cart. You can still cancel it while the window is open.",
    "ordered_again": "Ordered again at today's prices. You can still cancel it while the window is open.",
    "slot_saved": "Supply settings saved.",
    "slot_auto": "Auto-order is on: the hub orders in time for this supply.",
    "slot_notify": "Notify only: you are told when it runs low, nothing is ordered.",
    "slot_paused": "Paused: nothing is ordered or reported for this supply.",
    "channel_added": "Notification channel added.",
    "channel_removed": "Notification channel removed: nothing more is sent there.",
}

STATUS_LABELS = {
    "awaiting_approval": "awaiting approval",
    "pending": "pending (cancel window)",
}


def money(amount: int | None, currency: str) -> str:
    """Minor units as a display amount, e.g. 1299 EUR → "12.99 EUR"."""
    return "–" if amount is None else display(amount, currency)


def money_input(amount: int | None, currency: str) -> str:
    """Minor units as a form value without currency ("12.99"), empty for None."""
    return "" if amount is None else money(amount, currency).rsplit(" ", 1)[0]


def when(at: datetime | None) -> Markup:
    """A <time> element in UTC; the page's script shows it in the browser's local time."""
    if at is None:
        return Markup("–")
    text = at.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" data-local>{}</time>').format(at.isoformat(), text)


def ago(at: datetime | None, now: datetime) -> str:
    """Rough age: "just now", "5 min ago", "3 h ago", "2 d ago"."""
    if at is None:
        return "never"
    seconds = (now - at).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def status_label(status: str) -> str:
    """Human wording of an order status."""
    return STATUS_LABELS.get(status, status.replace("_", " "))


def volts(millivolts: int | None) -> str:
    """Battery voltage for display."""
    return "–" if millivolts is None else f"{millivolts / 1000:.2f} V"


def field_error(errors: dict[str, str], name: str) -> Markup:
    """The error message of one form field, tied to it for screen readers."""
    message = errors.get(name)
    if not message:
        return Markup("")
    return Markup('<p class="field-error" id="{}-error" role="alert">{}</p>').format(name, escape(message))


def plain(value: float | None) -> str:
    """A quantity as a form value without exponent or trailing zeros: 2000.0 → "2000", 2.50 → "2.5"."""
    if value is None:
        return ""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def delivery(at: datetime | None) -> Markup:
    """A promised delivery date as a <time> element, "–" when the shop has promised nothing yet."""
    if at is None:
        return Markup("–")
    return Markup('<time datetime="{}">{}</time>').format(at.isoformat(), delivery_date(at))


def shop_name(merchant: str) -> str:
    """How a household knows a shop: the built-in demo shop by that name, its own shops by theirs."""
    return "Demo shop" if merchant == "demo" else merchant


def barcode(gtin: str) -> str:
    """A stored GTIN-14 as printed on the pack: EAN-13 when the leading digit is padding."""
    return gtin[1:] if len(gtin) == 14 and gtin.startswith("0") else gtin


templates.env.filters.update(
    barcode=barcode, delivery=delivery, shop_name=shop_name, money=money, money_input=money_input, plain=plain,
    when=when, status_label=status_label, volts=volts,
)
templates.env.globals.update(ago=ago, field_error=field_error)


def page(
    request: Request,
    name: str,
    user: WebUser | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a dashboard page with the common context (user, CSRF token, notice, clock)."""
    notice = NOTICES.get(request.query_params.get("done", ""))
    base: dict[str, Any] = {
        "user": user,
        "csrf": user.csrf if user is not None else "",
        "notice": notice,
        "now": runtime_of(request).clock.now(),
        "path": request.url.path,
        "status_code": status_code,
    }
    base.update(context)
    flash = read_flash(request, user.token) if user is not None else None
    if flash is None or flash.path != request.url.path:
        return templates.TemplateResponse(request, name, base, status_code=status_code)
    # A page load shows a failed form once; the live refresh (a fetch, not a page load) keeps showing it, so
    # the errors do not vanish under the user; the next page load after that starts clean.
    page_load = "text/html" in request.headers.get("accept", "")
    if page_load and flash.shown:
        response = templates.TemplateResponse(request, name, base, status_code=status_code)
        clear_flash_cookie(response)
        return response
    base.update(flash.context)
    response = templates.TemplateResponse(request, name, base, status_code=status_code)
    if page_load and user is not None:
        set_flash_cookie(response, request, flash_value(user.token, flash.path, flash.context, shown=True))
    return response


def back_to_form(request: Request, user: WebUser, url: str, **context: Any) -> RedirectResponse:
    """Redirect (303) to the page of a form that failed, carrying its errors and values in a flash cookie."""
    response = RedirectResponse(url, status_code=303)
    set_flash_cookie(response, request, flash_value(user.token, url.split("?", 1)[0].split("#", 1)[0], context))
    return response
