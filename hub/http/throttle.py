"""Sign-in throttling: attempts per account and per client address, and lockouts that grow with failures.

Each key (an e-mail address, a client address) has a token bucket of attempts and a count of consecutive
failures. An attempt takes a token from both of its keys before any password is hashed, so a burst of
parallel guesses is cut at the bucket size, not after the hashes. Past `free_failures` failures in a row a
key is locked, for `lockout_s` doubled with every further failure up to `lockout_max_s`; a success clears
an account's count. A key unused for `forget_s` starts afresh. The policy here is pure; the keys' states live in
a store (hub/services/shared_limits.py): this process's memory, bounded by `max_keys` (the least recently used
key goes first), or the database when several hub nodes share it.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from hub.services.shared_limits import LimitStore, MemoryLimits, Written
from hub.store.shared_state import Slot

# Limiter names, as the shared store keys them.
ACCOUNT = "signin-account"
ADDRESS = "signin-address"


@dataclass(frozen=True)
class Policy:
    """Limits of one kind of key."""

    burst: int  # attempts allowed back to back
    per_minute: float  # how fast attempts come back
    free_failures: int  # failures in a row before lockouts start
    lockout_s: float  # the first lockout; doubles with each further failure
    lockout_max_s: float
    forget_s: float = 3600.0  # a key without attempts this long starts afresh
    max_keys: int = 50_000  # in memory; the database forgets by `forget_s` only


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
class KeyState:
    """What a limiter knows of one key."""

    tokens: float
    seen: float
    failures: int = 0
    locked_until: float = 0.0

    def dump(self) -> str:
        """The state as stored (compact JSON)."""
        return json.dumps([self.tokens, self.seen, self.failures, self.locked_until], separators=(",", ":"))

    @classmethod
    def load(cls, stored: str) -> KeyState | None:
        """A stored state; None for an empty or unreadable one (the key starts afresh)."""
        try:
            tokens, seen, failures, locked_until = json.loads(stored)
            return cls(float(tokens), float(seen), int(failures), float(locked_until))
        except (ValueError, TypeError):
            return None


class Limiter:
    """The policy of one kind of key: token buckets and lockouts; pure, times are epoch seconds.

    Each method works on the key's state as the store holds it; the store keeps it (hub/services/shared_limits).
    """

    def __init__(self, name: str, policy: Policy) -> None:
        self.name = name
        self.policy = policy

    def current(self, stored: str, now: float) -> KeyState:
        """The key's state at `now`: its bucket refilled, or afresh when new or unused for `forget_s`."""
        policy = self.policy
        state = KeyState.load(stored)
        if state is None or now - state.seen > policy.forget_s:
            return KeyState(tokens=float(policy.burst), seen=now)
        elapsed = max(0.0, now - state.seen)  # a clock stepping back refills nothing
        state.tokens = min(float(policy.burst), state.tokens + elapsed * policy.per_minute / 60.0)
        state.seen = max(state.seen, now)
        return state

    def wait(self, state: KeyState, now: float) -> float:
        """Seconds until the key may try again (0: now)."""
        if state.locked_until > now:
            return state.locked_until - now
        if state.tokens >= 1:
            return 0.0
        return (1 - state.tokens) * 60.0 / self.policy.per_minute

    @staticmethod
    def take(state: KeyState) -> None:
        """Spend one attempt (after `wait` said 0)."""
        state.tokens -= 1

    def failed(self, state: KeyState, now: float) -> None:
        """A wrong password: count it and lock the key once past the free failures."""
        state.failures += 1
        over = state.failures - self.policy.free_failures
        if over >= 0:
            lockout = min(self.policy.lockout_s * 2 ** min(over, 32), self.policy.lockout_max_s)
            state.locked_until = max(state.locked_until, now + lockout)

    @staticmethod
    def succeeded(state: KeyState) -> None:
        """The right password: failures and lockout are cleared."""
        state.failures = 0
        state.locked_until = 0.0

    def stored(self, state: KeyState) -> tuple[str, float]:
        """The state to store and when the store may forget it."""
        return state.dump(), max(state.seen + self.policy.forget_s, state.locked_until)


@dataclass(frozen=True)
class Attempt:
    """The keys of one admitted sign-in, to report its outcome with."""

    account: str | None
    address: str


class SignInGuard:
    """Per-account and per-address limits of sign-in (and sign-up) attempts, shared by API and dashboard.

    Its keys live in `store`: this process's memory until `share` hands it the database all hub nodes use.
    """

    def __init__(self, account: Policy, address: Policy, store: LimitStore | None = None) -> None:
        self.accounts = Limiter(ACCOUNT, account)
        self.addresses = Limiter(ADDRESS, address)
        self.store: LimitStore = store or MemoryLimits({ACCOUNT: account.max_keys, ADDRESS: address.max_keys})

    def share(self, store: LimitStore) -> None:
        """Keep the keys in `store` from now on (the hub's database when several nodes serve sign-ins)."""
        self.store = store

    def _slots(self, attempt: Attempt) -> list[tuple[Limiter, Slot]]:
        slots = [(self.addresses, (ADDRESS, attempt.address))]
        if attempt.account is not None:
            slots.append((self.accounts, (ACCOUNT, attempt.account)))
        return slots

    def admit(self, email: str | None, client: str, now: float) -> Attempt:
        """Spend an attempt of the account (when given) and of the client address, or raise Throttled."""
        attempt = Attempt(account_key(email) if email is not None else None, address_key(client))
        slots = self._slots(attempt)
        refused: list[Throttled] = []

        def change(stored: Mapping[Slot, str]) -> Written:
            states = [(limiter, slot, limiter.current(stored[slot], now)) for limiter, slot in slots]
            reasons = {
                ADDRESS: "too many sign-in attempts from this address",
                ACCOUNT: "too many sign-in attempts for this account",
            }
            wait, reason = max((limiter.wait(state, now), reasons[limiter.name]) for limiter, _, state in states)
            if wait > 0:
                refused.append(Throttled(wait, reason))
            else:
                for _, _, state in states:
                    Limiter.take(state)
            # Written either way: a refused key is still in use, so it is not forgotten meanwhile.
            return {slot: limiter.stored(state) for limiter, slot, state in states}

        self.store.update([slot for _, slot in slots], now, change)
        if refused:
            raise refused[0]
        return attempt

    def failed(self, attempt: Attempt, now: float) -> None:
        """The attempt's password was wrong (or the account does not exist)."""
        slots = self._slots(attempt)

        def change(stored: Mapping[Slot, str]) -> Written:
            written: Written = {}
            for limiter, slot in slots:
                state = limiter.current(stored[slot], now)
                limiter.failed(state, now)
                written[slot] = limiter.stored(state)
            return written

        self.store.update([slot for _, slot in slots], now, change)

    def succeeded(self, attempt: Attempt, now: float) -> None:
        """The attempt signed in: its account starts afresh. Not its address, where a guesser could sign in
        to an account of their own now and then to wipe their failures."""
        if attempt.account is None:
            return
        slot = (ACCOUNT, attempt.account)

        def change(stored: Mapping[Slot, str]) -> Written:
            state = self.accounts.current(stored[slot], now)
            Limiter.succeeded(state)
            return {slot: self.accounts.stored(state)}

        self.store.update([slot], now, change)


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
