"""HelixBatchSchedules in the cluster: one work queue of schedules, fed by their own events,
by the events of their runs, and by their next scheduled times; each reconcile reads the
schedule and its runs, decides (scheduling.decide) and acts.

Two replicas never make a run twice: its name is deterministic and creating is create-only.
Deleting a schedule deletes its runs through their ownerReferences (the garbage collector),
which cancels the active ones."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any

from helix_batch.operator import metrics, policy
from helix_batch.operator import names as n
from helix_batch.operator.kube import Conflict, Invalid, JobKey, KubeApi
from helix_batch.operator.names import LABEL_SCHEDULE
from helix_batch.operator.reconcile import EventSink, merge_patch
from helix_batch.operator.scheduling import (
    Decision,
    Schedule,
    ScheduleError,
    decide,
    load_schedule,
    observe_run,
    refuse_invalid,
    render_run,
)
from helix_batch.operator.settings import Settings
from helix_batch.operator.spec import SpecError, load_job
from helix_batch.operator.workqueue import WorkQueue

log = logging.getLogger(__name__)
WORKERS = 2
MAX_CONFLICT_RETRIES = 5
# A scheduled time is looked at this long after it, so that the wall clock has surely reached it.
LATE_SECONDS = 0.2


def refusal(schedule: Schedule, scheduled: datetime, settings: Settings) -> tuple[str, str] | None:
    """Why the run at ``scheduled`` may not be created: the job CRD's schema and rules, then the
    job policy, as for any HelixBatchJob. None if it may."""
    try:
        job = load_job(render_run(schedule, scheduled), settings)
    except SpecError as error:
        return n.REASON_INVALID_TEMPLATE, f"spec.jobTemplate: {error}"
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return n.REASON_INVALID_TEMPLATE, f"spec.jobTemplate: cannot be rendered: {error!r}"
    violations = policy.check(job.spec, policy.load(settings))
    if violations:
        return n.REASON_POLICY_VIOLATION, "; ".join(map(str, violations))
    return None


async def reconcile_schedule(
    api: KubeApi,
    namespace: str,
    name: str,
    settings: Settings,
    now: Callable[[], datetime],
    emit: EventSink,
) -> Decision | None:
    """One step of one schedule; None if it is gone or going."""
    for _ in range(MAX_CONFLICT_RETRIES):
        body = await api.get_schedule(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        try:
            return await _once(api, body, settings, now(), emit)
        except Conflict:
            log.debug("conflict on schedule %s/%s, re-reading", namespace, name)
    raise Conflict(f"schedule {namespace}/{name}: status kept changing")


async def _once(
    api: KubeApi, body: Mapping[str, Any], settings: Settings, now: datetime, emit: EventSink
) -> Decision:
    meta = body["metadata"]
    status: Mapping[str, Any] = body.get("status") or {}
    try:
        schedule = load_schedule(body)
    except ScheduleError as error:
        decision = refuse_invalid(status, int(meta.get("generation") or 1), now, str(error))
        await _record(api, body, status, decision, emit)
        return decision
    jobs = await api.list_jobs(schedule.namespace, f"{LABEL_SCHEDULE}={schedule.name}")
    runs = [run for job in jobs if (run := observe_run(job, schedule.uid))]
    decision = decide(schedule, runs, status, now)
    # The run to create, or else the next one: a template the policy refuses says so at once.
    checked = decision.create or decision.due
    problem = refusal(schedule, checked, settings) if checked else None
    if problem:
        decision = decide(schedule, runs, status, now, problem)
    for run in decision.delete:
        await api.delete_job(schedule.namespace, run.name, run.uid)
    if decision.create:
        job = render_run(schedule, decision.create)
        try:
            if await api.create_job(job):
                emit(body, "Normal", n.REASON_RUN_CREATED, f"created {job['metadata']['name']}")
                metrics.SCHEDULED_RUNS.labels("created").inc()
                metrics.SCHEDULE_DELAY_SECONDS.observe((now - decision.create).total_seconds())
        except Invalid as refused:  # what the CRD of the API server refuses, beyond ours
            problem = (n.REASON_INVALID_TEMPLATE, f"the API server refused the run: {refused}")
            decision = decide(schedule, runs, status, now, problem)
    # After creating: a crash in between leaves a run that the next reconcile counts.
    await _record(api, body, status, decision, emit)
    if decision.status.get("lastMissedTime") != status.get("lastMissedTime"):
        metrics.SCHEDULED_RUNS.labels("skipped").inc()
    return decision


async def _record(
    api: KubeApi,
    body: Mapping[str, Any],
    status: Mapping[str, Any],
    decision: Decision,
    emit: EventSink,
) -> None:
    meta = body["metadata"]
    if decision.status != status:
        await api.patch_schedule_status(
            meta["namespace"], meta["name"], meta["resourceVersion"],
            merge_patch(status, decision.status),
        )  # fmt: skip
    for event in decision.events:
        emit(body, event.type, event.reason, event.message)


class Schedules:
    """The schedules' work queue and its workers."""

    def __init__(
        self, api: KubeApi, settings: Settings, now: Callable[[], datetime], emit: EventSink
    ) -> None:
        self.api = api
        self.settings = settings
        self.now = now
        self.emit = emit
        self.queue: WorkQueue[JobKey] = WorkQueue("schedules")

    def work(self) -> list[Coroutine[Any, Any, None]]:
        return [self.queue.release_due(), *(self._serve() for _ in range(WORKERS))]

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """An event of a schedule (the watch's initial list included)."""
        if event_type != "DELETED":
            meta = body["metadata"]
            self.queue.add((meta["namespace"], meta["name"]))

    def observe_job(self, body: Mapping[str, Any]) -> None:
        """An event of a job: if it is a run, its schedule looks again."""
        meta = body["metadata"]
        schedule = (meta.get("labels") or {}).get(LABEL_SCHEDULE)
        if schedule:
            self.queue.add((meta["namespace"], schedule))

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            key = await self.queue.get()
            try:
                decision = await reconcile_schedule(
                    self.api, *key, self.settings, self.now, self.emit
                )
            except Exception:
                log.exception("reconciling schedule %s/%s failed; retrying", *key)
                self.queue.add_after_failure(key)
            else:
                self.queue.forget(key)
                if decision is not None and decision.due is not None:
                    wait = (decision.due - self.now()).total_seconds() + LATE_SECONDS
                    self.queue.add_at(key, loop.time() + max(0.0, wait))
            finally:
                self.queue.done(key)
