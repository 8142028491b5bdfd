"""A work queue of keys, as client-go has it: a key waits at most once however often it is
added, is never handed to two workers at once (added while in work, it runs again after), and
can be added for later (a deadline), where only its earliest moment counts."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._waiting: set[K] = set()  # in _ready
        self._working: set[K] = set()
        self._again: set[K] = set()  # added while in work
        self._later: list[tuple[float, K]] = []  # heap; stale entries are skipped
        self._due: dict[K, float] = {}  # the earliest pending moment of each key
        self._wakeup = asyncio.Event()

    def add(self, key: K) -> None:
        if key in self._working:
            self._again.add(key)
        elif key not in self._waiting:
            self._waiting.add(key)
            self._ready.put_nowait(key)

    def add_at(self, key: K, when: float) -> None:
        """Add ``key`` at loop time ``when``, unless it is already due earlier."""
        if self._due.get(key, float("inf")) <= when:
            return
        self._due[key] = when
        heapq.heappush(self._later, (when, key))
        self._wakeup.set()

    async def get(self) -> K:
        key = await self._ready.get()
        self._waiting.discard(key)
        self._working.add(key)
        return key

    def done(self, key: K) -> None:
        self._working.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)

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
