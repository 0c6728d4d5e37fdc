"""The garbage collector's settings for a process that runs ingest.

An ingest batch makes and drops tens of thousands of small objects (messages, rows, feedback, ORM state), and
almost all of them are gone by the batch's end. With the collector's defaults (a young collection every 700
allocations) objects still in a batch's hands get promoted, the older generations fill, and full collections
come back every few seconds; under overload the read-ahead's tens of thousands of waiting messages sit in the
oldest generation and each full collection walks them (14 ms each at first, 40 ms as the backlog grew). Young
collections every 20,000 allocations let a batch's objects die young: over a bench run (`bench.ingest`,
2 × 10 s saturated, 10 s at 500/s, 10 s overload) the time in the collector fell from 2.4 s to 0.3-0.5 s and no
full collection ran. Memory stays bounded: a young collection still runs every 20,000 container objects.
"""

from __future__ import annotations

import gc

# (young, middle, old): a young collection every YOUNG allocations; the defaults are (700, 10, 10).
THRESHOLDS = (20_000, 20, 10)


def settle() -> None:
    """Call once everything long-lived is loaded: collect, freeze what is left (full collections never walk it
    again: modules, mappers, compiled SQL) and set the thresholds above."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
