"""Households, users and bearer tokens.

`start_session` and `end_session` are the use cases the API and the dashboard call, and commit; the rest are
building blocks whose caller commits (sign-up is committed with the token that signs the new user in).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session

from hub.store import repos
from hub.store.models import ApiToken, Household, User

TOKEN_TTL = timedelta(days=30)
_hasher = PasswordHasher()


class AccountError(Exception):
    """Sign-up or sign-in refused; the message says why (without leaking which part was wrong)."""


class HashingBusy(Exception):
    """As many password hashes as allowed are running or waiting; the caller should answer "try again soon"."""


class HashGate:
    """At most `parallel` password hashes at once and `queue` more waiting; beyond that, HashingBusy at once.

    One argon2 hash holds 64 MiB for its duration (argon2-cffi's default memory cost), so unbounded parallel
    sign-ins are unbounded memory. Callers run in worker threads (FastAPI's sync routes), so waiting here
    blocks no event loop.
    """

    def __init__(self, parallel: int, queue: int, wait_s: float = 10.0) -> None:
        self._slots = threading.BoundedSemaphore(parallel)
        self._admitted = 0
        self._limit = parallel + queue
        self._wait_s = wait_s
        self._lock = threading.Lock()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the parallel slots for the block, or raise HashingBusy."""
        with self._lock:
            if self._admitted >= self._limit:
                raise HashingBusy
            self._admitted += 1
        try:
            if not self._slots.acquire(timeout=self._wait_s):
                raise HashingBusy
            try:
                yield
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._admitted -= 1


_gate = HashGate(parallel=2, queue=8)


def limit_password_hashing(parallel: int, queue: int) -> None:
    """Set how many password hashes this process runs at once and lets wait (the hub does, from its settings)."""
    global _gate
    _gate = HashGate(parallel, queue)


def _hash(password: str) -> str:
    with _gate.slot():
        return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> None:
    with _gate.slot():
        _hasher.verify(password_hash, password)


def hash_token(token: str) -> str:
    """Tokens are random 256-bit values, so a fast hash is enough to keep the database useless to a thief."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_household(session: Session, name: str, email: str, password: str, currency: str = "EUR") -> User:
    """A new household with its first user."""
    if repos.user_by_email(session, email) is not None:
        raise AccountError("this e-mail address is already registered")
    if len(password) < 8:
        raise AccountError("the password needs at least 8 characters")
    household = Household(name=name, currency=currency)
    session.add(household)
    session.flush()
    assert household.id is not None
    return add_user(session, household.id, email, password)


def add_user(session: Session, household_id: int, email: str, password: str, name: str = "") -> User:
    """A further user of a household."""
    if repos.user_by_email(session, email) is not None:
        raise AccountError("this e-mail address is already registered")
    user = User(household_id=household_id, email=email.lower(), name=name, password_hash=_hash(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User:
    """The user whose password matches, or AccountError (HashingBusy when too many checks are under way)."""
    user = repos.user_by_email(session, email)
    if user is None:
        # Same work as a real check, so response time does not reveal which addresses exist.
        _hash(password)
        raise AccountError("wrong e-mail address or password")
    try:
        _verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise AccountError("wrong e-mail address or password") from None
    return user


def issue_token(session: Session, user: User, now: datetime) -> str:
    """A new bearer token for the user; only its hash is stored."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), created_at=now, expires_at=now + TOKEN_TTL))
    return token


def user_for_token(session: Session, token: str, now: datetime) -> User | None:
    """The user a live token belongs to."""
    row = repos.token(session, hash_token(token))
    if row is None or row.expires_at <= now:
        return None
    return session.get(User, row.user_id)


def revoke_token(session: Session, token: str) -> None:
    """Sign out: the token stops working at once."""
    row = repos.token(session, hash_token(token))
    if row is not None:
        session.delete(row)


def start_session(session: Session, user: User, now: datetime) -> str:
    """Sign a user in: a new bearer token, committed together with a sign-up's household and user."""
    token = issue_token(session, user, now)
    session.commit()
    return token


def end_session(session: Session, token: str) -> None:
    """Sign out and commit: the token stops working at once."""
    revoke_token(session, token)
    session.commit()
