"""Secrets every hub node must agree on, kept in the database they share."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.store import shared_state
from hub.store.types import utcnow


def agreed(engine: Engine, name: str, offer: bytes) -> bytes:
    """The secret stored under `name`; `offer` becomes it when none is stored yet. Nodes racing to offer
    different values all end up with the first one committed."""
    with Session(engine) as session:
        stored = shared_state.offer_secret(session, name, offer.hex(), utcnow())
        session.commit()
    return bytes.fromhex(stored)
