"""Unguessable random tokens for the hot path, from the system's random source a few kilobytes at a time.

`secrets.token_hex` asks the kernel (getrandom) for every token, and CPython releases the interpreter lock
around that call. In an ingest process that is the worst moment to let go of it: the event loop, busy with the
MQTT socket under load, takes the lock and the apply thread waits for it again, up to the switch interval, once
per order (py-spy showed the apply thread waiting there more than in any query). Bytes read in one call and
handed out in slices are as unpredictable as bytes read one token at a time.
"""

from __future__ import annotations

import os
import threading

POOL_BYTES = 4096


class RandomPool:
    """Bytes from `os.urandom`, read `POOL_BYTES` at a time and never handed out twice."""

    def __init__(self, size: int = POOL_BYTES) -> None:
        self.size = size
        self._buffer = b""
        self._pos = 0
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def take(self, n: int) -> bytes:
        """`n` fresh random bytes."""
        with self._lock:
            # A forked child must not hand out the bytes its parent hands out too.
            if self._pos + n > len(self._buffer) or self._pid != os.getpid():
                self._buffer = os.urandom(max(self.size, n))
                self._pos = 0
                self._pid = os.getpid()
            chunk = self._buffer[self._pos : self._pos + n]
            self._pos += n
            return chunk


_pool = RandomPool()


def token_hex(nbytes: int) -> str:
    """Like `secrets.token_hex`: `nbytes` random bytes as hex."""
    return _pool.take(nbytes).hex()
