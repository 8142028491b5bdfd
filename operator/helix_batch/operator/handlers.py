"""kopf wiring: job changes and deletions are triggers for the controller's reconcile, and every
job event refreshes its cache of waiting jobs; driver pods and deadlines reach it through its
own work queue (controller.py). Every schedule event, and every event of a schedule's run, is a
trigger of that schedule's reconcile (schedules.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import kopf

from helix_batch.operator.controller import Controller
from helix_batch.operator.kube import connect
from helix_batch.operator.names import FINALIZER, GROUP, PLURAL, SCHEDULE_PLURAL, VERSION
from helix_batch.operator.settings import Settings

log = logging.getLogger(__name__)
SETTINGS = Settings.from_env()
CACHE_HANDLER = "job-cache"
SCHEDULE_HANDLER = "schedules"
_controller: Controller | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _running() -> Controller:
    assert _controller is not None, "the startup handler creates the controller"
    return _controller


class SpecDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff base is the spec alone: otherwise every phase label the operator sets would
    be a change to kopf, which answers each with one more write of its annotation. kopf builds
    it on every event by deep-copying the whole body, status included, before dropping all
    but the spec: hand it the spec alone."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        spec = kopf.Body(kopf.BodyEssence(spec=body.get("spec", {})))
        return super().build(body=spec, extra_fields=extra_fields)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    global _controller
    # Keep kopf's bookkeeping in annotations: status is ours and its schema is strict.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = SpecDiffBase(prefix=GROUP)
    settings.persistence.finalizer = FINALIZER
    # Serve the namespaces we are told and the resources present at startup: no cluster-wide
    # list/watch of namespaces and CRDs, so RBAC can stay namespaced.
    settings.scanning.disabled = True
    settings.posting.level = logging.WARNING  # our own Events say what matters
    settings.execution.max_workers = 4
    settings.watching.server_timeout = 300
    # kopf runs one worker per object with events; thousands of new jobs at once would become
    # thousands of concurrent requests (and 429s from the API server's fairness limits).
    settings.queueing.worker_limit = SETTINGS.workers * 4
    settings.queueing.idle_timeout = 0.5
    settings.networking.error_backoffs = [1, 2, 5, 10]
    # Pooled connections hold TLS buffers: keep only as many as can be busy.
    api_client = connect(pool_size=SETTINGS.workers + len(SETTINGS.namespaces) + 4)
    _controller = Controller(api_client, SETTINGS, _now)
    _controller.start()


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if _controller is not None:
        await _controller.stop()
        await _controller.api_client.close()


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec.suspend")
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec.ttlSecondsAfterFinished")
async def changed(namespace: str | None, name: str, **_: Any) -> None:
    assert namespace, "HelixBatchJobs are namespaced"
    await _running().reconcile("change", (namespace, name))


@kopf.on.event(GROUP, VERSION, PLURAL, id=CACHE_HANDLER)
async def observed(event: kopf.RawEvent, **_: Any) -> None:
    _running().jobs.observe(event.get("type"), event["object"])
    _running().schedules.observe_job(event["object"])


@kopf.on.event(GROUP, VERSION, SCHEDULE_PLURAL, id=SCHEDULE_HANDLER)
async def schedule_observed(event: kopf.RawEvent, **_: Any) -> None:
    """Schedules need no finalizer and no diff: every event is a trigger of one reconcile."""
    _running().schedules.observe(event.get("type"), event["object"])


class _QuietCache(logging.Filter):
    """kopf logs each handler's success at INFO: for the event handlers, a line per event."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(
            message.startswith(f"Handler {h!r} succeeded")
            for h in (CACHE_HANDLER, SCHEDULE_HANDLER)
        )


logging.getLogger("kopf.objects").addFilter(_QuietCache())


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def deleted(namespace: str | None, name: str, **_: Any) -> None:
    """Runs through the finalizer, also for jobs deleted while the operator was down."""
    assert namespace, "HelixBatchJobs are namespaced"
    await _running().reconcile("delete", (namespace, name), deleting=True)
