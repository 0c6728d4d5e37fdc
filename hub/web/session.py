"""Dashboard sign-in state: an HttpOnly cookie holding an API bearer token, and CSRF tokens for forms.

The cookie carries the same kind of token the REST API issues (hub/services/accounts.py), so signing out
revokes it like an API logout. Forms carry a CSRF token derived from the session token: a cross-site page
can make the browser send the cookie (SameSite=Lax still allows top-level navigations) but cannot read it,
so it cannot compute the token. The sign-in form has no session yet and uses a double-submit cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Request, Response
from sqlmodel import Session

from hub.api.deps import Caller, ClockDep, SessionDep
from hub.scheduler.clock import Clock
from hub.services import accounts
from hub.store import repos

SESSION_COOKIE = "restock_session"
SIGNIN_COOKIE = "restock_signin"  # double-submit CSRF value of the sign-in and sign-up forms
COOKIE_MAX_AGE = int(accounts.TOKEN_TTL.total_seconds())


class SignInRequired(Exception):
    """No valid session: the handler redirects to the sign-in page and back to `next_url` afterwards."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class WebError(Exception):
    """A page-level error shown as an HTML page with this status (404 for other households' things too)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class WebUser:
    """The signed-in dashboard user: who, which household, and the CSRF token their forms carry."""

    caller: Caller
    token: str

    @property
    def household_id(self) -> int:
        """The household every page is scoped to."""
        return self.caller.household_id

    @property
    def csrf(self) -> str:
        """This session's form token."""
        return csrf_token(self.token)


def csrf_token(session_token: str) -> str:
    """A keyed hash of the session token: unguessable without the cookie, different from its stored hash."""
    return hmac.new(session_token.encode(), b"restock-web-csrf", hashlib.sha256).hexdigest()[:40]


def signin_url(next_url: str) -> str:
    """The sign-in page, returning to `next_url`."""
    return "/web/signin?next=" + quote(next_url, safe="/")


def safe_next(value: str | None) -> str:
    """Only local dashboard paths, so a crafted link cannot send the user elsewhere after sign-in."""
    if value and value.startswith("/web/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/web/"


def user_from_cookie(session: Session, request: Request, clock: Clock) -> WebUser | None:
    """The user whose live token is in the cookie, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    user = accounts.user_for_token(session, token, clock.now())
    if user is None:
        return None
    household = repos.household(session, user.household_id)
    if household is None:
        return None
    return WebUser(Caller(user=user, household=household), token)


def get_web_user(request: Request, session: SessionDep, clock: ClockDep) -> WebUser:
    """The signed-in user, or a redirect to sign-in."""
    user = user_from_cookie(session, request, clock)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else "/web/")
    return user


WebUserDep = Annotated[WebUser, Depends(get_web_user)]


def get_form_user(user: WebUserDep, csrf: Annotated[str, Form()] = "") -> WebUser:
    """The signed-in user of a POSTed form whose CSRF token matches, or 403."""
    if not hmac.compare_digest(csrf.encode(), user.csrf.encode()):
        raise WebError(403, "This form has expired or did not come from this dashboard. Reload the page and try again.")
    return user


FormUserDep = Annotated[WebUser, Depends(get_form_user)]


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """Store the token in an HttpOnly, SameSite=Lax cookie (Secure when served over HTTPS)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response) -> None:
    """Forget the session in the browser."""
    response.delete_cookie(SESSION_COOKIE, path="/")


def signin_csrf(request: Request) -> str:
    """The double-submit value for the sign-in form: the browser's existing one, else a new one."""
    return request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)


def set_signin_cookie(response: Response, request: Request, value: str) -> None:
    """Pair the sign-in form's hidden value with a cookie only this site can set."""
    response.set_cookie(
        SIGNIN_COOKIE, value, max_age=3600, path="/web/", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )


def signin_csrf_ok(request: Request, submitted: str) -> bool:
    """Whether the sign-in form's hidden value matches its cookie."""
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), submitted.encode())


# --- Flash: a failed form's errors and values carried across its redirect (post/redirect/get) -------------
#
# A form that fails validation redirects to the page it came from, so the browser never stays on a POST-only
# URL (a reload or the live refresh would get a 405 there). What the page needs to show the form again goes
# along in a short-lived cookie, signed with the session token so no one else can make a page say anything.

FLASH_COOKIE = "restock_flash"
FLASH_MAX_AGE = 300
FLASH_MAX_BYTES = 3000  # browsers keep about 4 KiB per cookie


def _pack(value: Any) -> Any:
    # JSON keeps only string keys; a page's errors may be keyed by ids, so dicts go as lists of pairs.
    if isinstance(value, dict):
        return {"d": [[key, _pack(item)] for key, item in value.items()]}
    if isinstance(value, list | tuple):
        return [_pack(item) for item in value]
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, dict):
        pairs = value.get("d")
        return {key: _unpack(item) for key, item in pairs} if isinstance(pairs, list) else {}
    if isinstance(value, list):
        return [_unpack(item) for item in value]
    return value


def _flash_mac(session_token: str, body: str) -> str:
    return hmac.new(session_token.encode(), b"restock-web-flash:" + body.encode(), hashlib.sha256).hexdigest()[:32]


def flash_value(session_token: str, path: str, context: dict[str, Any], shown: bool = False) -> str:
    """The cookie value carrying `context` to the page at `path`; values are dropped if it would be too big."""
    for attempt in (context, {k: v for k, v in context.items() if k not in ("values", "channel_values")}):
        raw = json.dumps({"p": path, "s": shown, "c": _pack(attempt)}, separators=(",", ":"))
        body = base64.urlsafe_b64encode(raw.encode()).decode()
        if len(body) <= FLASH_MAX_BYTES:
            break
    else:
        raw = json.dumps({"p": path, "s": shown, "c": _pack({"error": "The form could not be saved."})})
        body = base64.urlsafe_b64encode(raw.encode()).decode()
    return f"{body}.{_flash_mac(session_token, body)}"


@dataclass(frozen=True)
class Flash:
    """A failed form's context for the page at `path`; `shown` once a page load has displayed it."""

    path: str
    context: dict[str, Any]
    shown: bool


def read_flash(request: Request, session_token: str) -> Flash | None:
    """The request's flash if this session signed it, else None."""
    value = request.cookies.get(FLASH_COOKIE, "")
    body, _, mac = value.rpartition(".")
    if not body or not hmac.compare_digest(mac.encode(), _flash_mac(session_token, body).encode()):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body.encode()))
        context = _unpack(data["c"])
        return Flash(str(data["p"]), context if isinstance(context, dict) else {}, bool(data["s"]))
    except (ValueError, KeyError, TypeError):
        return None


def set_flash_cookie(response: Response, request: Request, value: str) -> None:
    """Store a flash for the dashboard's pages (HttpOnly; gone after a few minutes at most)."""
    response.set_cookie(
        FLASH_COOKIE, value, max_age=FLASH_MAX_AGE, path="/web/", httponly=True, samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_flash_cookie(response: Response) -> None:
    """Forget a flash that has been shown."""
    response.delete_cookie(FLASH_COOKIE, path="/web/")
