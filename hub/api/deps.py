"""FastAPI dependencies: database session, clock, the signed-in user and their household."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from hub.scheduler.clock import Clock
from hub.services import accounts
from hub.store import repos
from hub.store.models import Household, User

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; routes commit through services."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


def get_clock(request: Request) -> Clock:
    """The hub clock."""
    clock: Clock = request.app.state.clock
    return clock


SessionDep = Annotated[Session, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]


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
