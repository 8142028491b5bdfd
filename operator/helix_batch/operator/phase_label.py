"""The phase label (``batch.helixagent.io/phase``), written by a lane of its own after the status.

The label is a copy of ``status.phase`` for label selectors; the status is the truth, and what
``kubectl get`` and ``kubectl wait`` read. The status subresource cannot carry a label, so each
transition costs two writes; keeping the second off the reconcile's path lets the API server
answer the status writes of a burst first, and the labels follow (within one round trip when
it is not busy). While reconciles are waiting (a burst), a label gives way to them for up to
``GIVE_WAY_SECONDS`` after it was wanted: its write, and the watch event it causes, would take the
API server's and the operator's CPU from the statuses. Only the latest wanted phase of a job is
kept, so memory follows the backlog.
A label lost to a restart is set again: every job is reconciled on resume, and reconcile
compares the label with the phase."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from helix_batch.operator.kube import ClusterApi, JobKey
from helix_batch.operator.names import LABEL_PHASE
from helix_batch.operator.workqueue import GIVE_WAY_SECONDS, GiveWay, WorkQueue, no_wait

log = logging.getLogger(__name__)
LANES = 2  # enough for a steady stream, few enough to leave a burst's status writes ahead


class PhaseLabels:
    def __init__(self, api: ClusterApi, retry_seconds: float, give_way: GiveWay = no_wait) -> None:
        self._api = api
        self._retry_seconds = retry_seconds
        self._give_way = give_way
        self._wanted: dict[JobKey, str] = {}
        self._since: dict[JobKey, float] = {}  # loop time each wanted label was first wanted
        self._queue: WorkQueue[JobKey] = WorkQueue()

    def set(self, key: JobKey, phase: str) -> None:
        self._wanted[key] = phase
        self._since.setdefault(key, asyncio.get_running_loop().time())
        self._queue.add(key)

    def work(self) -> list[Coroutine[Any, Any, None]]:
        return [self._queue.release_due(), *(self._write_forever() for _ in range(LANES))]

    async def _write_forever(self) -> None:
        while True:
            key = await self._queue.get()
            try:
                if key in self._since:
                    await self._give_way(self._since.pop(key) + GIVE_WAY_SECONDS)
                if (phase := self._wanted.pop(key, None)) is not None:
                    await self._write(key, phase)
            finally:
                self._queue.done(key)

    async def _write(self, key: JobKey, phase: str) -> None:
        try:
            await self._api.set_job_label(*key, LABEL_PHASE, phase)
        except Exception as err:
            log.warning("could not label %s/%s %s: %r; retrying", *key, phase, err)
            self._wanted.setdefault(key, phase)  # unless a newer phase came meanwhile
            loop = asyncio.get_running_loop()
            self._queue.add_at(key, loop.time() + self._retry_seconds)
