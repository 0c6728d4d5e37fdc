"""Password sign-in and sign-up behind the throttle, as the API and the dashboard both use them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from hub.http.throttle import Policy, SignInGuard, Throttled
from hub.scheduler.clock import Clock
from hub.services import accounts
from hub.settings import SignInSettings
from hub.store.models import User

# How soon to come back when every password-hash slot is taken: hashes take a fraction of a second.
BUSY_RETRY_S = 1.0


def guard_from_settings(signin: SignInSettings) -> SignInGuard:
    """The hub's guard, with its limits from the sign-in settings (RESTOCK_SIGNIN_*)."""
    account = Policy(
        burst=signin.account_burst,
        per_minute=signin.account_per_minute,
        free_failures=signin.account_free_failures,
        lockout_s=signin.lockout_s,
        lockout_max_s=signin.lockout_max_s,
    )
    address = Policy(
        burst=signin.address_burst,
        per_minute=signin.address_per_minute,
        free_failures=signin.address_free_failures,
        lockout_s=signin.lockout_s,
        lockout_max_s=signin.lockout_max_s,
    )
    return SignInGuard(account, address)


def get_guard(request: Request) -> SignInGuard:
    """The app's sign-in guard (one per hub process)."""
    guard: SignInGuard = request.app.state.signin_guard
    return guard


GuardDep = Annotated[SignInGuard, Depends(get_guard)]


def client_address(request: Request) -> str:
    """The peer's address as the server sees it (behind a proxy: what uvicorn's forwarded-allow-ips trusts)."""
    return request.client.host if request.client is not None else "unknown"


def sign_in(guard: SignInGuard, session: Session, email: str, password: str, client: str, clock: Clock) -> User:
    """The user whose password matches; Throttled before any hashing when the account or the address is
    over its limits (or every hash slot is busy), AccountError when the password is wrong."""
    attempt = guard.admit(email, client, _seconds(clock))
    try:
        user = accounts.authenticate(session, email, password)
    except accounts.HashingBusy:
        raise Throttled(BUSY_RETRY_S, "too many sign-ins at once") from None
    except accounts.AccountError:
        guard.failed(attempt, _seconds(clock))
        raise
    guard.succeeded(attempt, _seconds(clock))
    return user


def sign_up(
    guard: SignInGuard, session: Session, client: str, clock: Clock, household: str, email: str, password: str,
    currency: str = "EUR",
) -> User:
    """A new household and its first user (see accounts.create_household). Sign-ups hash a password too, so
    they spend the address's attempts and wait for a hash slot like sign-ins: Throttled when there is none."""
    guard.admit(None, client, _seconds(clock))
    try:
        return accounts.create_household(session, household, email, password, currency)
    except accounts.HashingBusy:
        raise Throttled(BUSY_RETRY_S, "too many sign-ups at once") from None


def _seconds(clock: Clock) -> float:
    return clock.now().timestamp()
