"""Tokens from the pooled random source: fresh every time, across refills and in a forked child."""

from __future__ import annotations

import multiprocessing
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.services.random_ids import RandomPool, token_hex


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=200))
def test_a_pool_never_hands_out_the_same_bytes_twice(sizes: list[int]) -> None:
    pool = RandomPool(size=128)  # small, so the lists cross refills
    taken = [pool.take(n) for n in sizes]
    assert [len(chunk) for chunk in taken] == sizes
    # 8 random bytes or more repeating would mean a slice was handed out twice.
    long = [chunk for chunk in taken if len(chunk) >= 8]
    assert len(set(long)) == len(long)


def test_order_ids_are_unique_over_many_refills() -> None:
    ids = {token_hex(5) for _ in range(50_000)}
    assert len(ids) == 50_000


def _child_token(queue: multiprocessing.Queue[str]) -> None:
    queue.put(token_hex(16))


def test_a_forked_child_does_not_repeat_its_parents_tokens() -> None:
    token_hex(1)  # the pool holds bytes the child would inherit
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = context.Queue()
    child = context.Process(target=_child_token, args=(queue,))
    child.start()
    theirs = queue.get(timeout=10)
    child.join(10)
    assert theirs != token_hex(16)
    assert os.getpid() != child.pid
