"""The hub's clock: real UTC time, or an offset one that tests and simulations can move forward."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Aware UTC time with an adjustable offset (zero in production)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Current time in UTC."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward (simulations, tests)."""
        with self._lock:
            self._offset += delta
