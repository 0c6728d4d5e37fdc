"""Sign-in throttling: attempts per account and per client address, and lockouts that grow with failures.

Each key (an e-mail address, a client address) has a token bucket of attempts and a count of consecutive
failures. An attempt takes a token from both of its keys before any password is hashed, so a burst of
parallel guesses is cut at the bucket size, not after the hashes. Past `free_failures` failures in a row a
key is locked, for `lockout_s` doubled with every further failure up to `lockout_max_s`; a success clears
an account's count. State lives in this process only (a restart forgets it) and is bounded: past `max_keys`
the least recently used key goes, and a key unused for `forget_s` starts afresh.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """Limits of one kind of key."""

    burst: int  # attempts allowed back to back
    per_minute: float  # how fast attempts come back
    free_failures: int  # failures in a row before lockouts start
    lockout_s: float  # the first lockout; doubles with each further failure
    lockout_max_s: float
    forget_s: float = 3600.0  # a key without attempts this long starts afresh
    max_keys: int = 50_000


class Throttled(Exception):
    """Refused before the password was checked; try again after `retry_after` seconds."""

    def __init__(self, retry_after: float, reason: str) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.reason = reason

    @property
    def retry_after_header(self) -> str:
        """Whole seconds for the Retry-After header (at least 1)."""
        return str(max(1, math.ceil(self.retry_after)))


@dataclass
class _Key:
    tokens: float
    seen: float
    failures: int = 0
    locked_until: float = 0.0


class Limiter:
    """Token buckets and lockouts for one kind of key; times are seconds on any monotonic-enough clock."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._keys: OrderedDict[str, _Key] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may try again (0: now). Not thread-safe: the guard holds its lock."""
        state = self._state(key, now)
        if state.locked_until > now:
            return state.locked_until - now
        if state.tokens >= 1:
            return 0.0
        return (1 - state.tokens) * 60.0 / self.policy.per_minute

    def take(self, key: str, now: float) -> None:
        """Spend one attempt of `key` (after `wait` said 0)."""
        self._state(key, now).tokens -= 1

    def failed(self, key: str, now: float) -> None:
        """A wrong password: count it and lock the key once past the free failures."""
        state = self._state(key, now)
        state.failures += 1
        over = state.failures - self.policy.free_failures
        if over >= 0:
            lockout = min(self.policy.lockout_s * 2 ** min(over, 32), self.policy.lockout_max_s)
            state.locked_until = max(state.locked_until, now + lockout)

    def succeeded(self, key: str, now: float) -> None:
        """The right password: failures and lockout are cleared."""
        state = self._state(key, now)
        state.failures = 0
        state.locked_until = 0.0

    def _state(self, key: str, now: float) -> _Key:
        policy = self.policy
        state = self._keys.get(key)
        if state is None or now - state.seen > policy.forget_s:
            state = _Key(tokens=float(policy.burst), seen=now)
        else:
            elapsed = max(0.0, now - state.seen)  # a clock stepping back refills nothing
            state.tokens = min(float(policy.burst), state.tokens + elapsed * policy.per_minute / 60.0)
            state.seen = max(state.seen, now)
        self._keys[key] = state
        self._keys.move_to_end(key)
        while len(self._keys) > policy.max_keys:
            self._keys.popitem(last=False)
        return state


@dataclass(frozen=True)
class Attempt:
    """The keys of one admitted sign-in, to report its outcome with."""

    account: str | None
    address: str


class SignInGuard:
    """Per-account and per-address limits of sign-in (and sign-up) attempts, shared by API and dashboard."""

    def __init__(self, account: Policy, address: Policy) -> None:
        self.accounts = Limiter(account)
        self.addresses = Limiter(address)
        self._lock = threading.Lock()

    def admit(self, email: str | None, client: str, now: float) -> Attempt:
        """Spend an attempt of the account (when given) and of the client address, or raise Throttled."""
        attempt = Attempt(account_key(email) if email is not None else None, address_key(client))
        with self._lock:
            waits = [(self.addresses.wait(attempt.address, now), "too many sign-in attempts from this address")]
            if attempt.account is not None:
                waits.append((self.accounts.wait(attempt.account, now), "too many sign-in attempts for this account"))
            wait, reason = max(waits)
            if wait > 0:
                raise Throttled(wait, reason)
            self.addresses.take(attempt.address, now)
            if attempt.account is not None:
                self.accounts.take(attempt.account, now)
        return attempt

    def failed(self, attempt: Attempt, now: float) -> None:
        """The attempt's password was wrong (or the account does not exist)."""
        with self._lock:
            self.addresses.failed(attempt.address, now)
            if attempt.account is not None:
                self.accounts.failed(attempt.account, now)

    def succeeded(self, attempt: Attempt, now: float) -> None:
        """The attempt signed in: its account starts afresh. Not its address, where a guesser could sign in
        to an account of their own now and then to wipe their failures."""
        if attempt.account is not None:
            with self._lock:
                self.accounts.succeeded(attempt.account, now)


def account_key(email: str) -> str:
    """Accounts are looked up case-insensitively, so they are throttled that way too."""
    return email.strip().lower()


def address_key(client: str) -> str:
    """An IPv4 address as is; IPv6 by its /64, which one host can fill with addresses at will."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
