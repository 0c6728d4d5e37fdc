"""Sign-up, sign-in (bearer tokens), sign-out and the current user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from hub.api.deps import CallerDep, ClockDep, SessionDep, oauth2
from hub.api.schemas import SignUp, TokenOut, UserOut
from hub.services import accounts

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=TokenOut)
def signup(body: SignUp, session: SessionDep, clock: ClockDep) -> TokenOut:
    """Create a household with its first user and sign in."""
    try:
        user = accounts.create_household(session, body.household, body.email, body.password, body.currency)
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    token = accounts.issue_token(session, user, clock.now())
    session.commit()
    return TokenOut(access_token=token)


@router.post("/auth/token", response_model=TokenOut)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, clock: ClockDep) -> TokenOut:
    """Sign in with e-mail (as `username`) and password; returns a bearer token."""
    try:
        user = accounts.authenticate(session, form.username, form.password)
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    issued = accounts.issue_token(session, user, clock.now())
    session.commit()
    return TokenOut(access_token=issued)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(caller: CallerDep, session: SessionDep, raw: Annotated[str | None, Depends(oauth2)]) -> None:
    """Sign out: the token stops working."""
    if raw:
        accounts.revoke_token(session, raw)
        session.commit()


@router.get("/me", response_model=UserOut)
def me(caller: CallerDep) -> UserOut:
    """The signed-in user."""
    return UserOut.model_validate(caller.user)
