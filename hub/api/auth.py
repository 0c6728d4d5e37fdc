"""Sign-up, sign-in (bearer tokens), sign-out and the current user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from hub.api.deps import CallerDep, ClockDep, SessionDep, oauth2
from hub.api.errors import BODY, errors
from hub.api.schemas import SignUp, TokenOut, UserOut
from hub.http import signin
from hub.http.signin import GuardDep
from hub.http.throttle import Throttled
from hub.services import accounts

router = APIRouter(prefix="/api/v1", tags=["auth"])

THROTTLED: dict[int | str, dict[str, object]] = {
    status.HTTP_429_TOO_MANY_REQUESTS: {
        "description": "Too many attempts for this account or from this address, or too many at once",
        "headers": {
            "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
        },
    }
}


def too_many(exc: Throttled) -> HTTPException:
    """429 with the wait in Retry-After and in words."""
    wait = exc.retry_after_header
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS, f"{exc.reason}: try again in {wait} s", headers={"Retry-After": wait}
    )


@router.post(
    "/signup", status_code=status.HTTP_201_CREATED, response_model=TokenOut,
    responses={**errors(409, *BODY), **THROTTLED},
)
def signup(body: SignUp, request: Request, session: SessionDep, clock: ClockDep, guard: GuardDep) -> TokenOut:
    """Create a household with its first user and sign in."""
    address = signin.client_address(request)
    try:
        user = signin.sign_up(
            guard, session, address, clock, body.household, body.email, body.password, body.currency
        )
    except Throttled as exc:
        raise too_many(exc) from None
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return TokenOut(access_token=accounts.start_session(session, user, clock.now()))


@router.post("/auth/token", response_model=TokenOut, responses={**errors(401, *BODY), **THROTTLED})
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, session: SessionDep, clock: ClockDep,
    guard: GuardDep,
) -> TokenOut:
    """Sign in with e-mail (as `username`) and password; returns a bearer token. Attempts are limited per
    account and per address, and wrong passwords lock the account for a growing time (429, Retry-After)."""
    try:
        user = signin.sign_in(guard, session, form.username, form.password, signin.client_address(request), clock)
    except Throttled as exc:
        raise too_many(exc) from None
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return TokenOut(access_token=accounts.start_session(session, user, clock.now()))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401))
def logout(caller: CallerDep, session: SessionDep, raw: Annotated[str | None, Depends(oauth2)]) -> None:
    """Sign out: the token stops working."""
    if raw:
        accounts.end_session(session, raw)


@router.get("/me", response_model=UserOut, responses=errors(401))
def me(caller: CallerDep) -> UserOut:
    """The signed-in user."""
    return UserOut.model_validate(caller.user)
