"""Rate-limiter keys in a store: the policy decides the same whether its keys live in memory or in the database,
and on PostgreSQL parallel attempts on one key (as from several hub nodes) are counted one at a time."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from hub.http.throttle import ACCOUNT, KeyState, Policy, SignInGuard, Throttled
from hub.services.devices import ClaimLimiter
from hub.services.shared_limits import DatabaseLimits, MemoryLimits
from hub.store.db import make_engine, migrate
from tests.hub.conftest import PG_ENV, reset_postgres

ACCOUNT_POLICY = Policy(burst=3, per_minute=6, free_failures=2, lockout_s=10, lockout_max_s=40, forget_s=120)
STORIES = itertools.count()
ADDRESS_POLICY = Policy(burst=5, per_minute=12, free_failures=4, lockout_s=5, lockout_max_s=20, forget_s=120)


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One SQLite database with the hub's tables for the whole module (hypothesis runs many examples)."""
    path: Path = tmp_path_factory.mktemp("limits") / "limits.db"
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


# One step of a sign-in story: (seconds since the previous step, which e-mail, which address, right password?)
steps = st.lists(
    st.tuples(st.floats(0, 30, allow_nan=False), st.sampled_from("ab"), st.sampled_from("xy"), st.booleans()),
    max_size=40,
)


def _play(guard: SignInGuard, story: list[tuple[float, str, str, bool]], start: float, tag: int) -> list[str]:
    """What each step of a story came to: 'ok', 'wrong' or the throttle's reason and whole seconds; `tag` keeps
    one story's keys apart from another's."""
    outcomes, now = [], start
    for gap, email, address, right in story:
        now += gap
        try:
            attempt = guard.admit(f"{email}{tag}@example.org", f"10.{tag // 256 % 256}.{tag % 256}.{ord(address)}", now)
        except Throttled as refused:
            outcomes.append(f"{refused.reason} {refused.retry_after_header}")
            continue
        if right:
            guard.succeeded(attempt, now)
            outcomes.append("ok")
        else:
            guard.failed(attempt, now)
            outcomes.append("wrong")
    return outcomes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(story=steps, start=st.floats(1e9, 2e9))
def test_the_policy_decides_alike_on_memory_and_database_keys(
    sqlite_engine: Engine, story: list[tuple[float, str, str, bool]], start: float
) -> None:
    tag = next(STORIES)
    in_memory = SignInGuard(ACCOUNT_POLICY, ADDRESS_POLICY)
    in_database = SignInGuard(ACCOUNT_POLICY, ADDRESS_POLICY, DatabaseLimits(sqlite_engine))
    assert _play(in_database, story, start, tag) == _play(in_memory, story, start, tag)


@given(st.builds(KeyState, st.floats(-5, 50), st.floats(0, 2e9), st.integers(0, 1000), st.floats(0, 2e9)))
def test_a_key_state_survives_its_stored_form(state: KeyState) -> None:
    assert KeyState.load(state.dump()) == state


@pytest.mark.parametrize("stored", ["", "[]", "{}", "not json", '["a", 1, 2, 3]', "[1, 2]"])
def test_an_unreadable_stored_key_starts_afresh(stored: str) -> None:
    guard = SignInGuard(ACCOUNT_POLICY, ADDRESS_POLICY)
    assert guard.accounts.current(stored, 100.0) == KeyState(tokens=3.0, seen=100.0)


def test_failures_past_the_free_ones_lock_longer_each_time_and_a_success_clears_them() -> None:
    guard = SignInGuard(ACCOUNT_POLICY, ADDRESS_POLICY)
    email = "c@example.org"
    for n, locked_s in enumerate([0, 10, 20, 40, 40]):  # free, then 10 s doubling up to the 40 s cap
        now = 1000.0 + n * 100  # far enough apart that the bucket is full and the last lockout over
        address = f"192.0.2.{n}"  # the account's own count, not an address's
        guard.failed(guard.admit(email, address, now), now)
        if locked_s:
            with pytest.raises(Throttled) as refused:
                guard.admit(email, address, now)
            assert refused.value.retry_after == pytest.approx(locked_s)
        else:
            guard.admit(email, address, now)
    now, address = 1000.0 + 5 * 100, "192.0.2.99"
    guard.succeeded(guard.admit(email, address, now), now)
    guard.failed(guard.admit(email, address, now + 1), now + 1)
    guard.admit(email, address, now + 2)  # one failure after a success is free again


needs_postgres = pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"row locks are PostgreSQL's: set {PG_ENV}")


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """The PostgreSQL test database, emptied and migrated."""
    url = os.environ[PG_ENV]
    reset_postgres(url)
    migrate(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.mark.postgres
@needs_postgres
def test_parallel_attempts_on_one_key_from_many_connections_spend_the_bucket_exactly(pg_engine: Engine) -> None:
    # Separate guards and stores, as on separate hub nodes; only the database's row lock orders them.
    guards = [SignInGuard(ACCOUNT_POLICY, ADDRESS_POLICY, DatabaseLimits(pg_engine)) for _ in range(4)]

    def attempt(n: int) -> bool:
        try:
            guards[n % 4].admit("race@example.org", f"192.0.2.{n}", 5000.0)
        except Throttled:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = sum(pool.map(attempt, range(24)))
    assert admitted == ACCOUNT_POLICY.burst
    assert DatabaseLimits(pg_engine).size(ACCOUNT) == 1


@pytest.mark.postgres
@needs_postgres
def test_claim_failures_counted_on_any_node_block_every_node_and_old_keys_are_swept(pg_engine: Engine) -> None:
    now = [10_000.0]
    nodes = [
        ClaimLimiter(attempts=3, window_s=60, clock=lambda: now[0], store=DatabaseLimits(pg_engine)) for _ in range(2)
    ]
    for n in range(3):
        assert not nodes[n % 2].blocked(7)
        nodes[n % 2].failed(7)
    assert all(node.blocked(7) for node in nodes)
    now[0] += 61  # the window has passed
    assert not any(node.blocked(7) for node in nodes)
    store = DatabaseLimits(pg_engine)
    assert store.sweep(now[0]) == 1 and store.size(ClaimLimiter.NAME) == 0


def test_the_claim_limiter_keeps_only_what_can_decide() -> None:
    store = MemoryLimits({})
    limiter = ClaimLimiter(attempts=3, window_s=60, clock=lambda: 5.0, store=store)
    for _ in range(50):
        limiter.failed(1)
    assert limiter.blocked(1) and not limiter.blocked(2)
    assert store.size(ClaimLimiter.NAME) == 1
