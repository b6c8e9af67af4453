"""Tiny timing helper for the benchmarks: best of ``repeat`` runs of ``number`` calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_time(fn: Callable[[], Any], *, number: int = 1, repeat: int = 5) -> float:
    """Seconds per call: the minimum over ``repeat`` batches of ``number`` calls (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best
