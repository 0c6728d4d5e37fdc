"""A running hub has frozen what it loaded at start and collects young objects at the ingest thresholds."""

from __future__ import annotations

import gc
from collections.abc import Callable

from hub.ingest import heap
from tests.hub.conftest import HubServer


def test_a_started_hub_collects_at_the_ingest_thresholds(start_hub: Callable[..., HubServer]) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    start_hub()
    assert gc.get_threshold() == heap.THRESHOLDS
    assert gc.get_freeze_count() > 10_000  # modules, mappers and compiled SQL are left out of every collection


def test_objects_of_a_finished_batch_die_young_at_those_thresholds() -> None:
    heap.settle()
    before = [generation["collections"] for generation in gc.get_stats()]
    answers: list[list[dict[str, object]]] = []
    for _ in range(200):
        batch = [{"row": i, "tags": [i, str(i)]} for i in range(2_000)]  # what a large batch makes and drops
        answers = [*answers[-20:], batch[:50]]  # a few outlive it for a while, as its answers do
        del batch
    after = [generation["collections"] for generation in gc.get_stats()]
    # With the defaults (700, 10, 10) this ran some 900 young, 80 middle and 7 full collections.
    assert after[2] == before[2] and after[1] - before[1] <= 2
