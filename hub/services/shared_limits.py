"""Where rate limiters keep their keys: this process's memory (one hub node) or the database (many).

A limiter's policy is pure (hub/http/throttle.py, ClaimLimiter in hub/services/devices.py): it turns a key's
stored state (a JSON string, "" for a key never seen) into a decision and a new state. A store runs that change
atomically for a few keys at once: in memory under a lock, in the database with the keys' rows locked
(`SELECT ... FOR UPDATE` on PostgreSQL), so attempts spread over several hub nodes count as on one.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.store import shared_state
from hub.store.shared_state import Slot

# What a change writes back: the slot's new state and when it may be forgotten (epoch seconds).
Written = dict[Slot, tuple[str, float]]
Change = Callable[[Mapping[Slot, str]], Written]

# The database drops forgotten keys at most this often (seconds), from whichever node updates a key.
SWEEP_S = 60.0
# A new row's expiry before its limiter writes its state: soon, in case the writer dies in between.
PLACEHOLDER_S = 3600.0


class LimitStore(Protocol):
    """Keys of rate limiters, changed atomically."""

    def update(self, slots: Sequence[Slot], now: float, change: Change) -> None:
        """Call `change` with the slots' current states and store what it returns, with no other update of
        these slots in between; if it raises, nothing is stored."""
        ...


class MemoryLimits:
    """Keys in this process: bounded per limiter (the least recently used key goes first), lost on restart."""

    def __init__(self, max_keys: Mapping[str, int], default_max_keys: int = 50_000) -> None:
        self.max_keys = dict(max_keys)
        self.default_max_keys = default_max_keys
        self._keys: dict[str, OrderedDict[str, tuple[str, float]]] = {}
        self._lock = threading.Lock()  # FastAPI runs sync routes in a thread pool

    def update(self, slots: Sequence[Slot], now: float, change: Change) -> None:
        """See LimitStore.update."""
        with self._lock:
            current = {slot: self._get(slot, now) for slot in slots}
            for slot, stored in change(current).items():
                self._put(slot, stored)

    def size(self, limiter: str) -> int:
        """How many keys the limiter holds."""
        with self._lock:
            return len(self._keys.get(limiter, ()))

    def _get(self, slot: Slot, now: float) -> str:
        limiter, key = slot
        keys = self._keys.get(limiter)
        stored = keys.get(key) if keys is not None else None
        if stored is None or stored[1] < now:
            return ""
        return stored[0]

    def _put(self, slot: Slot, stored: tuple[str, float]) -> None:
        limiter, key = slot
        keys = self._keys.setdefault(limiter, OrderedDict())
        keys[key] = stored
        keys.move_to_end(key)
        limit = self.max_keys.get(limiter, self.default_max_keys)
        while len(keys) > limit:
            keys.popitem(last=False)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class DatabaseLimits:
    """Keys in the database every hub node uses: one short transaction per update, rows locked meanwhile."""

    def __init__(self, engine: Engine, sweep_s: float = SWEEP_S) -> None:
        self.engine = engine
        self.sweep_s = sweep_s
        self._swept = time.monotonic()

    def update(self, slots: Sequence[Slot], now: float, change: Change) -> None:
        """See LimitStore.update."""
        # Keys are what a client typed (an e-mail address): stored by digest, so any length and any character
        # (a NUL byte, which PostgreSQL text refuses) costs one fixed-size row.
        stored = {slot: (slot[0], _digest(slot[1])) for slot in slots}
        with Session(self.engine) as session:
            found = shared_state.lock_limits(session, list(stored.values()), now + PLACEHOLDER_S)
            # An expired row that no sweep removed yet is a key seen long ago: it starts afresh.
            current = {slot: found[stored[slot]][0] if found[stored[slot]][1] >= now else "" for slot in slots}
            for slot, (state, expires) in change(current).items():
                shared_state.write_limit(session, stored[slot], state, expires)
            session.commit()
        if time.monotonic() - self._swept >= self.sweep_s:
            self._swept = time.monotonic()
            self.sweep(now)

    def sweep(self, now: float) -> int:
        """Delete the keys whose expiry passed; how many went."""
        with Session(self.engine) as session:
            gone = shared_state.delete_expired_limits(session, now)
            session.commit()
        return gone

    def size(self, limiter: str) -> int:
        """How many keys the limiter holds (expired ones until the next sweep)."""
        with Session(self.engine) as session:
            return shared_state.limit_count(session, limiter)
