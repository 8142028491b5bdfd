"""A work queue of keys, as client-go has it: a key waits at most once however often it is
added, is never handed to two workers at once (added while in work, it runs again after), and
can be added for later (a deadline), where only its earliest moment counts, or again after a
failure, later after each failure in a row. Its depth, waits, adds and retries are metrics named
like client-go's. Writes of lower priority (phase labels, Events) can give way to its backlog
(``settled``)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from helix_batch.operator import metrics

K = TypeVar("K", bound=Hashable)
# How long a write of lower priority gives way at most, from when it was wanted.
GIVE_WAY_SECONDS = 30.0
GiveWay = Callable[[float], Awaitable[None]]  # ``settled`` of a queue, or ``no_wait``


async def no_wait(deadline: float) -> None:
    return None


class WorkQueue(Generic[K]):
    def __init__(
        self, name: str = "jobs", retry_base_seconds: float = 1.0, retry_cap_seconds: float = 300.0
    ) -> None:
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._waiting: dict[K, float] = {}  # in _ready, since (monotonic time)
        self._working: set[K] = set()
        self._again: set[K] = set()  # added while in work
        self._later: list[tuple[float, K]] = []  # heap; stale entries are skipped
        self._due: dict[K, float] = {}  # the earliest pending moment of each key
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()  # no key waits or is in work
        self._idle.set()
        self._failures: dict[K, int] = {}  # failures in a row, of keys that failed last
        self._retry = (retry_base_seconds, retry_cap_seconds)
        self._depth = metrics.QUEUE_DEPTH.labels(name)
        self._adds = metrics.QUEUE_ADDS.labels(name)
        self._waits = metrics.QUEUE_WAIT.labels(name)
        self._retries = metrics.QUEUE_RETRIES.labels(name)

    def add(self, key: K) -> None:
        if key in self._working:
            self._again.add(key)
        elif key not in self._waiting:
            self._waiting[key] = time.monotonic()
            self._idle.clear()
            self._ready.put_nowait(key)
            self._adds.inc()
            self._depth.inc()

    def add_at(self, key: K, when: float) -> None:
        """Add ``key`` at loop time ``when``, unless it is already due earlier."""
        if self._due.get(key, float("inf")) <= when:
            return
        self._due[key] = when
        heapq.heappush(self._later, (when, key))
        self._wakeup.set()

    def add_after_failure(self, key: K) -> None:
        """Add ``key`` again after the base delay, doubled for each failure in a row (capped),
        until ``forget``."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        base, cap = self._retry
        delay = min(cap, base * 2 ** min(failures, 30))
        self._retries.inc()
        self.add_at(key, asyncio.get_running_loop().time() + delay)

    def forget(self, key: K) -> None:
        """``key`` succeeded: its next failure waits the base delay again."""
        self._failures.pop(key, None)

    async def get(self) -> K:
        key = await self._ready.get()
        self._waits.observe(time.monotonic() - self._waiting.pop(key))
        self._depth.dec()
        self._working.add(key)
        return key

    def done(self, key: K) -> None:
        self._working.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)
        elif not self._working and not self._waiting:
            self._idle.set()

    async def settled(self, deadline: float) -> None:
        """Until no key waits or is in work, but no later than loop time ``deadline``."""
        timeout = deadline - asyncio.get_running_loop().time()
        if not self._idle.is_set() and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)

    async def release_due(self) -> None:
        """Forever: move keys whose moment has come to the ready queue."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            while self._later and self._later[0][0] <= now:
                when, key = heapq.heappop(self._later)
                if self._due.get(key) == when:
                    del self._due[key]
                    self.add(key)
            self._wakeup.clear()
            timeout = self._later[0][0] - now if self._later else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)
