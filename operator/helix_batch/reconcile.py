"""One reconcile of one job: observe the objects, decide, act, write status.

Every trigger (create, resume, spec change, deadline, driver pod event, deletion) ends here, so
the order of events never matters: each run starts from the current state, as the watches last
delivered it or read live, and a status write from a stale copy is refused and re-decided.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from helix_batch import metrics
from helix_batch.kube import ClusterApi, Conflict, JobKey, PodKey
from helix_batch.lifecycle import (
    TERMINAL,
    CreateApp,
    Decision,
    DeleteApp,
    DeleteJob,
    Driver,
    Emit,
    decide,
    observe_driver,
)
from helix_batch.render import LABEL_PHASE, app_name, driver_pod_name, render_spark_application
from helix_batch.settings import Settings
from helix_batch.spec import Job, load_job

log = logging.getLogger(__name__)
EventSink = Callable[[Mapping[str, Any], str, str, str], None]
LabelSink = Callable[[JobKey, str], None]  # (job, phase): the phase label to set
MAX_CONFLICT_RETRIES = 5


async def reconcile(
    api: ClusterApi,
    namespace: str,
    name: str,
    settings: Settings,
    now: Callable[[], datetime],
    emit: EventSink,
    relabel: LabelSink,
    deleting: bool = False,
    drivers: Mapping[PodKey, Driver] = MappingProxyType({}),
    cached: Mapping[str, Any] | None = None,
) -> Decision | None:
    """Bring one job one step forward; returns what was decided (None if the job is gone).

    ``drivers`` are driver pods as last seen by a watch; a pod not among them is read live.
    ``cached`` is the job as last seen by a watch; without it, or once it proves stale (a
    refused status write), the job is read live."""
    body = cached
    for _ in range(MAX_CONFLICT_RETRIES):
        if body is None:
            body = await api.get_job(namespace, name)
        if body is None:
            return None
        try:
            return await _once(api, body, settings, now(), emit, relabel, deleting, drivers)
        except Conflict:
            log.debug("conflict on %s/%s, re-reading", namespace, name)
            body = None
    raise Conflict(f"{namespace}/{name}: status kept changing")


async def _once(
    api: ClusterApi,
    body: Mapping[str, Any],
    settings: Settings,
    now: datetime,
    emit: EventSink,
    relabel: LabelSink,
    deleting: bool,
    drivers: Mapping[PodKey, Driver],
) -> Decision:
    job = load_job(body, settings, check=False)
    status: Mapping[str, Any] = body.get("status") or {}
    attempt = int(status.get("attempt") or 0)
    app_exists, driver = False, None
    if attempt and status.get("phase") not in TERMINAL:
        pod_name = driver_pod_name(job.name, attempt)
        driver = drivers.get((job.namespace, pod_name))
        if driver is None:
            pod = await api.get_pod(job.namespace, pod_name)
            driver = observe_driver(pod) if pod else None
        # The application matters only while its driver pod is not there (yet).
        app_exists = driver is not None or (
            await api.get_app(job.namespace, app_name(job.name, attempt)) is not None
        )
    decision = decide(job, status, app_exists, driver, now, settings, deleting=deleting)

    # Create before recording: a crash in between leaves an app that the next run adopts.
    for action in decision.actions:
        if isinstance(action, CreateApp):
            await api.create_app(render_spark_application(job, action.attempt))
        elif isinstance(action, DeleteApp):
            await _delete_attempt(api, job, action.attempt)
    if deleting:
        for other in await api.list_apps(job.namespace, job.uid):
            await api.delete_app(job.namespace, other)

    if decision.status != status:
        resource_version = body["metadata"]["resourceVersion"]
        patch = merge_patch(status, decision.status)
        await api.patch_job_status(job.namespace, job.name, resource_version, patch)
    old_phase, new_phase = status.get("phase"), decision.status.get("phase")
    labels = body["metadata"].get("labels") or {}
    if new_phase and new_phase != labels.get(LABEL_PHASE) and not deleting:
        relabel((job.namespace, job.name), new_phase)
    if new_phase != old_phase:
        metrics.record_transition(job, old_phase, new_phase, decision.status, now)
    for action in decision.actions:
        if isinstance(action, Emit):
            emit(body, action.type, action.reason, action.message)
        elif isinstance(action, DeleteJob):
            await api.delete_job(job.namespace, job.name, job.uid)
    return decision


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``: ``new``, with null for
    each key that ``old`` has and ``new`` lacks, at every depth (a merge patch merges nested
    objects, so a key dropped inside ``driver`` would otherwise stay)."""
    patch: dict[str, Any] = dict.fromkeys(old)
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            value = merge_patch(before, value)
        patch[key] = value
    return patch


async def _delete_attempt(api: ClusterApi, job: Job, attempt: int) -> None:
    await api.delete_app(job.namespace, app_name(job.name, attempt))
    # The driver pod normally goes with its SparkApplication; make sure it does.
    await api.delete_pod(job.namespace, driver_pod_name(job.name, attempt))
