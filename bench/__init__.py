"""Benchmarks: print figures measured side by side; never assert on wall time."""
