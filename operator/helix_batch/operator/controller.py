"""The operator's own work loop beside kopf's handlers: driver pod changes and deadlines become
keys of one work queue, served by ``Settings.workers`` workers, and every reconcile, whatever
triggered it, schedules the job's next deadline in that queue. One heap of deadlines instead
of a kopf timer per job, and one label-selected pod watch instead of kopf's: both keep memory
and CPU proportional to what changes, not to how many jobs exist."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from kubernetes_asyncio import client

from helix_batch.operator import metrics
from helix_batch.operator.driver_watch import DriverPods
from helix_batch.operator.events import EventRecorder
from helix_batch.operator.job_cache import JobCache
from helix_batch.operator.kube import JobKey, KubeApi, SparkCrdMissing
from helix_batch.operator.phase_label import PhaseLabels
from helix_batch.operator.reconcile import reconcile
from helix_batch.operator.schedules import Schedules
from helix_batch.operator.settings import Settings
from helix_batch.operator.workqueue import WorkQueue

log = logging.getLogger(__name__)
RETRY_AFTER_ERROR_SECONDS = 5.0
# A failed reconcile is retried after 1 s, doubled for each failure in a row, up to 5 min.
RETRY_BASE_SECONDS, RETRY_CAP_SECONDS = 1.0, 300.0


class Controller:
    def __init__(
        self,
        api_client: client.ApiClient,
        settings: Settings,
        now: Callable[[], datetime],
    ) -> None:
        self.api_client = api_client
        self.api = KubeApi(api_client)
        self.settings = settings
        self.now = now
        self.queue: WorkQueue[JobKey] = WorkQueue("jobs", RETRY_BASE_SECONDS, RETRY_CAP_SECONDS)
        # Labels and Events give way to the reconciles of a burst (phase_label.py).
        self.events = EventRecorder(api_client, self.queue.settled)
        self.labels = PhaseLabels(self.api, RETRY_AFTER_ERROR_SECONDS, self.queue.settled)
        self.jobs = JobCache()  # fed by kopf's watch (handlers.py)
        metrics.count_jobs_from(self.jobs.by_phase)
        self.pods = DriverPods(api_client, self.queue.add)
        self.schedules = Schedules(self.api, settings, now, self.events.emit)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        work: list[Coroutine[Any, Any, None]] = [
            self.pods.follow(namespace) for namespace in self.settings.namespaces or (None,)
        ]
        work += [self.queue.release_due(), self.events.post_forever(), *self.labels.work()]
        work += [self._serve() for _ in range(self.settings.workers)]
        work += self.schedules.work()
        self._tasks = [asyncio.create_task(w) for w in work]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def reconcile(self, trigger: str, key: JobKey, deleting: bool = False) -> None:
        started = time.perf_counter()
        try:
            decision = await reconcile(
                self.api, *key, self.settings, self.now, self.events.emit, self.labels.set,
                deleting=deleting, drivers=self.pods.drivers,
                # kopf's own triggers (changes, deletion) read the job afresh.
                cached=self.jobs.get(key) if trigger == "queue" else None,
            )  # fmt: skip
        except Exception as error:
            if trigger == "queue" or deleting:
                raise  # the queue's own retry; kopf retries a deletion (its finalizer stays)
            # kopf would retry a change in 60 s: the queue retries it after 1 s, doubling.
            self._retry(key, error)
            return
        finally:
            metrics.RECONCILE_SECONDS.labels(trigger).observe(time.perf_counter() - started)
        if decision is not None and decision.due is not None and not deleting:
            wait = (decision.due - self.now()).total_seconds()
            self.queue.add_at(key, asyncio.get_running_loop().time() + max(0.0, wait))

    async def _serve(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.reconcile("queue", key)
            except Exception as error:
                self._retry(key, error)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)

    def _retry(self, key: JobKey, error: Exception) -> None:
        if isinstance(error, SparkCrdMissing):  # the job's status says it all
            log.warning("%s/%s: %s", *key, error)
        else:
            log.error("reconciling %s/%s failed; retrying", *key, exc_info=error)
        self.queue.add_after_failure(key)
