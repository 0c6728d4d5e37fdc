"""FastAPI dependencies: the hub runtime and what routes use of it (database session, clock, claim limiter,
notifier), the signed-in user and their household.

The one place where the API and the dashboard reach `request.app.state`: routes ask for what they need here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from hub.notify.live import LiveBus
from hub.notify.worker import Notifier
from hub.runtime import Hub
from hub.scheduler.clock import Clock
from hub.services import accounts
from hub.services.devices import ClaimLimiter
from hub.store import repos
from hub.store.models import Household, User

# The running hub, as routes see it: the API and dashboard are mounted by hub.app, which builds it.
Runtime = Hub

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def runtime_of(request: Request) -> Runtime:
    """The running hub (engine, clock, settings, live bus, claim limiter, hooks) of this request's app."""
    hub: Runtime = request.app.state.hub
    return hub


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One session per request; services commit, routes never do."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        yield session


def get_clock(runtime: RuntimeDep) -> Clock:
    """The hub clock."""
    return runtime.clock


def get_claim_limiter(runtime: RuntimeDep) -> ClaimLimiter:
    """The hub's one budget of failed claim attempts, shared by the API and the dashboard."""
    return runtime.claim_limiter


def get_notifier(runtime: RuntimeDep) -> Notifier:
    """The running hub's notifier (channel tests, whether e-mail can be sent)."""
    return runtime.notifier


def get_bus(runtime: RuntimeDep) -> LiveBus:
    """The live bus every commit on the hub's engine is announced on."""
    return runtime.bus


SessionDep = Annotated[Session, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]
ClaimLimiterDep = Annotated[ClaimLimiter, Depends(get_claim_limiter)]
NotifierDep = Annotated[Notifier, Depends(get_notifier)]
BusDep = Annotated[LiveBus, Depends(get_bus)]


@dataclass(frozen=True)
class Caller:
    """The signed-in user and the household every route is scoped to."""

    user: User
    household: Household

    @property
    def household_id(self) -> int:
        """The caller's household id."""
        assert self.household.id is not None
        return self.household.id

    @property
    def actor(self) -> str:
        """How the caller appears in audit timelines."""
        return f"user:{self.user.email}"


def get_caller(session: SessionDep, clock: ClockDep, token: Annotated[str | None, Depends(oauth2)]) -> Caller:
    """Resolve the bearer token, or 401."""
    unauthorised = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="sign in first: send 'Authorization: Bearer <token>' from POST /api/v1/auth/token",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if not token:
        raise unauthorised
    user = accounts.user_for_token(session, token, clock.now())
    if user is None:
        unauthorised.detail = "the token is unknown or expired: sign in again"
        raise unauthorised
    household = repos.household(session, user.household_id)
    if household is None:
        raise unauthorised
    return Caller(user=user, household=household)


CallerDep = Annotated[Caller, Depends(get_caller)]


def not_found(what: str) -> HTTPException:
    """404 for anything outside the caller's household too, so ids of others leak nothing."""
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


def conflict(detail: str) -> HTTPException:
    """409: the request is valid but the resource's state does not allow it."""
    return HTTPException(status_code=status.HTTP_409_CONFLICT, detail=detail)
