"""Sign-in, sign-up and sign-out pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.api.deps import ClockDep, SessionDep
from hub.http import signin as guarded
from hub.http.signin import GuardDep
from hub.http.throttle import Throttled
from hub.services import accounts
from hub.web import session as websession
from hub.web.forms import Form as Fields
from hub.web.render import page
from hub.web.session import FormUserDep

router = APIRouter(prefix="/web", include_in_schema=False)
EXPIRED = "The sign-in form expired. Please try again."


def too_many(exc: Throttled, what: str = "sign-in") -> str:
    """The friendly words of a 429: what happened and how long to wait."""
    seconds = int(exc.retry_after_header)
    wait = f"{seconds} seconds" if seconds < 90 else f"{-(-seconds // 60)} minutes"
    return f"Too many {what} attempts. To keep accounts safe, please wait {wait} and try again."


def _throttled(response: HTMLResponse, exc: Throttled) -> HTMLResponse:
    response.headers["Retry-After"] = exc.retry_after_header
    return response


def _signin_page(
    request: Request, values: dict[str, str], errors: dict[str, str], next_url: str, status_code: int = 200
) -> HTMLResponse:
    token = websession.signin_csrf(request)
    response = page(
        request, "signin.html", None, status_code=status_code, values=values, errors=errors, next_url=next_url,
        signin_csrf=token,
    )
    websession.set_signin_cookie(response, request, token)
    return response


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, session: SessionDep, clock: ClockDep, next: str = "/web/") -> Response:
    """The sign-in form (straight to the overview when already signed in)."""
    if websession.user_from_cookie(session, request, clock) is not None:
        return RedirectResponse(websession.safe_next(next), status_code=303)
    return _signin_page(request, {}, {}, websession.safe_next(next))


@router.post("/signin", response_class=HTMLResponse)
def signin(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    guard: GuardDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/web/",
) -> Response:
    """Check the password, set the session cookie and go where the user was heading."""
    next_url = websession.safe_next(next)
    fields = Fields({"email": email})
    fields.text("email", "E-mail address", max_length=254)
    if not password:
        fields.errors["password"] = "Password is required."
    if fields.ok and not websession.signin_csrf_ok(request, csrf):
        fields.errors["form"] = EXPIRED
    if fields.ok:
        address = guarded.client_address(request)
        try:
            user = guarded.sign_in(guard, session, fields.values["email"], password, address, clock)
        except Throttled as exc:
            fields.errors["form"] = too_many(exc)
            return _throttled(_signin_page(request, fields.values, fields.errors, next_url, status_code=429), exc)
        except accounts.AccountError:
            fields.errors["form"] = "Wrong e-mail address or password."
        else:
            token = accounts.start_session(session, user, clock.now())
            response = RedirectResponse(next_url, status_code=303)
            websession.set_session_cookie(response, request, token)
            return response
    return _signin_page(request, fields.values, fields.errors, next_url, status_code=400)


@router.get("/signup", response_class=HTMLResponse)
def signup_form(request: Request) -> HTMLResponse:
    """The form that creates a household and its first user."""
    token = websession.signin_csrf(request)
    response = page(request, "signup.html", None, values={}, errors={}, signin_csrf=token)
    websession.set_signin_cookie(response, request, token)
    return response


@router.post("/signup", response_class=HTMLResponse)
def signup(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    guard: GuardDep,
    household: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Create the household, sign in and open the overview."""
    fields = Fields({"household": household, "email": email})
    fields.text("household", "Household name", max_length=100)
    address = fields.text("email", "E-mail address", max_length=254)
    if address and ("@" not in address or " " in address):
        fields.errors["email"] = "Enter an e-mail address like name@example.org."
    if len(password) < 8:
        fields.errors["password"] = "The password needs at least 8 characters."
    if fields.ok and not websession.signin_csrf_ok(request, csrf):
        fields.errors["form"] = EXPIRED
    throttled: Throttled | None = None
    if fields.ok:
        try:
            user = guarded.sign_up(
                guard, session, guarded.client_address(request), clock, fields.values["household"], address, password
            )
        except Throttled as exc:
            throttled = exc
            fields.errors["form"] = too_many(exc, "sign-up")
        except accounts.AccountError as exc:
            fields.errors["email"] = str(exc).capitalize() + "."
        else:
            token = accounts.start_session(session, user, clock.now())
            response = RedirectResponse("/web/", status_code=303)
            websession.set_session_cookie(response, request, token)
            return response
    token = websession.signin_csrf(request)
    failed = page(
        request, "signup.html", None, status_code=400 if throttled is None else 429, values=fields.values,
        errors=fields.errors, signin_csrf=token,
    )
    websession.set_signin_cookie(failed, request, token)
    return failed if throttled is None else _throttled(failed, throttled)


@router.post("/signout")
def signout(user: FormUserDep, session: SessionDep) -> Response:
    """Revoke the session's token and forget the cookie."""
    accounts.end_session(session, user.token)
    response = RedirectResponse("/web/signin?done=signed_out", status_code=303)
    websession.clear_session_cookie(response)
    return response
