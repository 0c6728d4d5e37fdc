"""Argon2CredentialStore: argon2 verification off the event loop, a short success cache, forget()."""

from __future__ import annotations

import threading

from argon2 import PasswordHasher

from hub.broker.credentials import Argon2CredentialStore, hash_secret, is_device_id

# Cheap parameters: these tests check behaviour, not hash strength.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class RecordingHasher(PasswordHasher):
    """A real PasswordHasher that remembers which threads verified."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.threads: list[threading.Thread] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.threads.append(threading.current_thread())
        return super().verify(hash, password)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_store(**kw: object) -> tuple[Argon2CredentialStore, list[str], RecordingHasher]:
    hashes = {"dev-a": hash_secret("secret-a", FAST), "dev-bad": "not-an-argon2-hash"}
    lookups: list[str] = []

    async def lookup(device_id: str) -> str | None:
        lookups.append(device_id)
        return hashes.get(device_id)

    hasher = RecordingHasher()
    return Argon2CredentialStore(lookup, hasher=hasher, **kw), lookups, hasher  # type: ignore[arg-type]


async def test_verdicts() -> None:
    store, _, hasher = make_store()
    assert await store.check_device("dev-a", "secret-a")
    assert not await store.check_device("dev-a", "secret-b")
    assert not await store.check_device("dev-zz", "secret-a")
    assert not await store.check_device("dev-bad", "anything")
    assert hasher.threads and all(t is not threading.main_thread() for t in hasher.threads)


async def test_success_is_cached_until_ttl_or_forget() -> None:
    clock = Clock()
    store, lookups, hasher = make_store(cache_ttl=60.0, clock=clock)
    assert await store.check_device("dev-a", "secret-a")
    assert await store.check_device("dev-a", "secret-a")
    assert (len(lookups), len(hasher.threads)) == (1, 1)
    assert not await store.check_device("dev-a", "wrong")  # a cached success never vouches for another secret
    assert len(lookups) == 2
    clock.now += 59
    assert await store.check_device("dev-a", "secret-a")  # still cached, wrong guesses did not evict it
    assert len(lookups) == 2
    clock.now += 2
    assert await store.check_device("dev-a", "secret-a")  # expired: verified again
    assert len(lookups) == 3
    store.forget("dev-a")
    assert await store.check_device("dev-a", "secret-a")
    assert len(lookups) == 4


def test_device_id_rule() -> None:
    assert is_device_id("dash-01")
    for bad in ("ab", "-dash", "_hub", "Dash", "dash/01", "dash+", "a" * 33):
        assert not is_device_id(bad)
