"""The one way a use case ends: commit what it did, or roll all of it back when it raises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session


@contextmanager
def committed(session: Session) -> Iterator[None]:
    """Commit the block's writes when it finishes; roll them back when it (or the commit) raises, so a refused
    request leaves nothing half-written in the session the surface goes on to read from."""
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
