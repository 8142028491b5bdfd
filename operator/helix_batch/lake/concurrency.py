"""Bounded concurrency: run a function over many items with at most N in flight."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """Like map(), in order, with at most ``workers`` calls running and ~2x queued.

    Items are consumed lazily, so a generator of a million items never becomes a million
    pending futures. The first exception is raised (after the running calls finish).
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    window = 2 * workers
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lake") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def run_all(fn: Callable[[T], object], items: Iterable[T], workers: int) -> int:
    """Call fn on every item with bounded concurrency; return how many calls ran."""
    return sum(1 for _ in bounded_map(fn, items, workers))
