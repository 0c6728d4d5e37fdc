"""Device credential checks for the embedded broker: the interface, and an argon2-backed helper."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# docs/protocol.md §1; also the guarantee that an id is safe inside a topic (no '/', '+', '#').
DEVICE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{2,31}$")
# Default hub account name; it can never be a device id, which starts with a letter or digit.
HUB_USERNAME = "_hub"


def is_device_id(value: str) -> bool:
    """True if value is a well-formed device id (docs/protocol.md §1)."""
    return DEVICE_ID_RE.fullmatch(value) is not None


class CredentialStore(Protocol):
    """Answers whether a device may log in; the hub database implements it."""

    async def check_device(self, device_id: str, secret: str) -> bool:
        """True only for a known, active device whose secret matches."""
        ...


HashLookup = Callable[[str], Awaitable[str | None]]


# Device secrets are 192-bit random tokens, not passwords a person chose: nobody can guess them, so the
# memory-hard defaults (64 MiB, 3 passes per check) buy nothing but slow provisioning and reconnect storms.
# A light argon2id keeps the stored value useless to a thief of the database all the same.
DEVICE_SECRET_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


def hash_secret(secret: str, hasher: PasswordHasher | None = None) -> str:
    """Hash a device secret for storage (argon2id with light parameters, see DEVICE_SECRET_HASHER)."""
    return (hasher or DEVICE_SECRET_HASHER).hash(secret)


class Argon2CredentialStore:
    """CredentialStore over stored argon2 hashes, verified off the event loop and cached briefly."""

    def __init__(
        self,
        lookup: HashLookup,
        *,
        cache_ttl: float = 60.0,
        max_parallel: int = 2,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = cache_ttl
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        # One entry per device (the last secret that verified), so the cache is bounded by the fleet size.
        self._cache: dict[str, tuple[bytes, float]] = {}
        # argon2 is deliberately CPU-heavy; a reconnect storm of wrong secrets must not take every core.
        self._slots = asyncio.Semaphore(max_parallel)

    async def check_device(self, device_id: str, secret: str) -> bool:
        """True if the secret matches the device's stored hash (cached for cache_ttl seconds)."""
        digest = hashlib.sha256(secret.encode()).digest()
        cached = self._cache.get(device_id)
        if cached is not None and cached[1] > self._clock() and hmac.compare_digest(cached[0], digest):
            return True
        stored = await self._lookup(device_id)
        if stored is None:
            # Device ids are not secret (they are in every topic), so no dummy hash to hide timing.
            return False
        async with self._slots:
            ok = await asyncio.to_thread(self._verify, stored, secret)
        if ok:
            self._cache[device_id] = (digest, self._clock() + self._ttl)
        # A failure leaves the cache alone: wrong guesses must not force the real device back onto argon2.
        return ok

    def forget(self, device_id: str) -> None:
        """Drop a cached verification, e.g. when the device is revoked or its secret rotated."""
        self._cache.pop(device_id, None)

    def clear(self) -> None:
        """Drop every cached verification."""
        self._cache.clear()

    def _verify(self, stored: str, secret: str) -> bool:
        try:
            return self._hasher.verify(stored, secret)
        except (VerificationError, InvalidHashError):
            return False
