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

from helix_batch.operator import metrics, policy
from helix_batch.operator.kube import ClusterApi, Conflict, Invalid, JobKey, PodKey, SparkCrdMissing
from helix_batch.operator.lifecycle import (
    TERMINAL,
    App,
    CreateApp,
    Decision,
    DeleteApp,
    DeleteJob,
    Driver,
    Emit,
    decide,
    not_submitted,
    observe_app,
    observe_driver,
    refuse_invalid,
)
from helix_batch.operator.names import LABEL_PHASE, app_name, driver_pod_name
from helix_batch.operator.render import render_spark_application
from helix_batch.operator.settings import Settings
from helix_batch.operator.spec import Job, SpecError, load_job

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
    SparkCrdMissing: the job's attempt could not be created, and its status says so.

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
    status: Mapping[str, Any] = body.get("status") or {}
    try:
        job = load_job(body, settings, check=False)
    except SpecError as error:
        return await _invalid(api, body, status, now, emit, relabel, deleting, str(error))
    attempt = int(status.get("attempt") or 0)
    app: App | None = None
    driver = None
    if attempt and status.get("phase") not in TERMINAL:
        pod_name = driver_pod_name(job.name, attempt)
        driver = drivers.get((job.namespace, pod_name))
        if driver is None:
            pod = await api.get_pod(job.namespace, pod_name)
            driver = observe_driver(pod) if pod else None
        # The application matters only while its driver pod is not there (yet).
        if driver is not None:
            app = App()
        else:
            live = await api.get_app(job.namespace, app_name(job.name, attempt))
            app = observe_app(live) if live is not None else None
    decision = decide(job, status, app, driver, now, settings, deleting=deleting)
    try:
        if any(isinstance(action, CreateApp) for action in decision.actions):
            violations = policy.check(job.spec, policy.load(settings))
            if violations:
                refusal = "; ".join(map(str, violations))
                decision = decide(job, status, app, driver, now, settings, refusal=refusal)
        apps = [
            render_spark_application(job, a.attempt)
            for a in decision.actions
            if isinstance(a, CreateApp)
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        # A spec the CRD of its day let through, of which no SparkApplication can be made.
        problem = f"spec: cannot be checked and rendered: {error!r}"
        return await _invalid(api, body, status, now, emit, relabel, deleting, problem)
    # Create before recording: a crash in between leaves an app that the next run adopts.
    try:
        for action in decision.actions:
            if isinstance(action, CreateApp):
                await api.create_app(apps.pop(0))
            elif isinstance(action, DeleteApp):
                await _delete_attempt(api, job, action.attempt)
    except SparkCrdMissing as missing:
        # Nothing was created: the job says why it waits, and the caller retries it later.
        waiting = not_submitted(job, status, now, settings, missing.reason, str(missing))
        await _record(api, body, status, waiting, emit, relabel, deleting)
        raise
    except Invalid as refused:
        problem = f"spec: the API server refused its SparkApplication: {refused}"
        return await _invalid(api, body, status, now, emit, relabel, deleting, problem)
    if deleting:
        await _delete_apps_of(api, job.namespace, job.uid)

    await _record(api, body, status, decision, emit, relabel, deleting)
    old_phase, new_phase = status.get("phase"), decision.status.get("phase")
    if new_phase != old_phase:
        metrics.record_transition(job, old_phase, new_phase, decision.status, now)
    for action in decision.actions:
        if isinstance(action, DeleteJob):
            await api.delete_job(job.namespace, job.name, job.uid)
    return decision


async def _invalid(
    api: ClusterApi,
    body: Mapping[str, Any],
    status: Mapping[str, Any],
    now: datetime,
    emit: EventSink,
    relabel: LabelSink,
    deleting: bool,
    problem: str,
) -> Decision:
    """A job whose spec cannot be read, checked or rendered fails (InvalidSpec) and is cancelled
    by its uid label and its status, never by its spec, so that deleting it never depends on
    reading it."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if deleting or status.get("phase") not in TERMINAL:
        await _delete_apps_of(api, namespace, meta["uid"])
        attempt = int(status.get("attempt") or 0)
        if attempt:
            await api.delete_pod(namespace, driver_pod_name(name, attempt))
    if deleting:
        return Decision(dict(status))
    decision = refuse_invalid(status, int(meta.get("generation") or 1), now, problem)
    await _record(api, body, status, decision, emit, relabel, deleting)
    return decision


async def _record(
    api: ClusterApi,
    body: Mapping[str, Any],
    status: Mapping[str, Any],
    decision: Decision,
    emit: EventSink,
    relabel: LabelSink,
    deleting: bool,
) -> None:
    """Write the decided status, then the phase label and the Events that follow from it."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if decision.status != status:
        patch = merge_patch(status, decision.status)
        await api.patch_job_status(namespace, name, meta["resourceVersion"], patch)
    new_phase = decision.status.get("phase")
    if new_phase and new_phase != (meta.get("labels") or {}).get(LABEL_PHASE) and not deleting:
        relabel((namespace, name), new_phase)
    for action in decision.actions:
        if isinstance(action, Emit):
            emit(body, action.type, action.reason, action.message)


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


async def _delete_apps_of(api: ClusterApi, namespace: str, job_uid: str) -> None:
    """Every attempt's SparkApplication of a job, found by its job-uid label."""
    for app in await api.list_apps(namespace, job_uid):
        await api.delete_app(namespace, app)


async def _delete_attempt(api: ClusterApi, job: Job, attempt: int) -> None:
    await api.delete_app(job.namespace, app_name(job.name, attempt))
    # The driver pod normally goes with its SparkApplication; make sure it does.
    await api.delete_pod(job.namespace, driver_pod_name(job.name, attempt))
