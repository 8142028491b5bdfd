"""kopf wiring: every handler is a trigger for ``reconcile``; the logic lives elsewhere."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import kopf
from kubernetes_asyncio import client

from helix_batch import metrics
from helix_batch.kube import GROUP, PLURAL, VERSION, KubeApi
from helix_batch.lifecycle import TERMINAL, next_deadline
from helix_batch.reconcile import reconcile
from helix_batch.render import LABEL_JOB
from helix_batch.settings import Settings
from helix_batch.spec import load_job

log = logging.getLogger(__name__)
SETTINGS = Settings.from_env()
_api: KubeApi | None = None
_api_client: client.ApiClient | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _emit(body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    kopf.event(cast(kopf.Body, body), type=type_, reason=reason, message=message)


async def _run(trigger: str, namespace: str | None, name: str, deleting: bool = False) -> None:
    assert _api is not None, "the startup handler creates the API client"
    assert namespace, "HelixBatchJobs and pods are namespaced"
    started = time.perf_counter()
    try:
        await reconcile(_api, namespace, name, SETTINGS, _now, _emit, deleting=deleting)
    finally:
        metrics.RECONCILE_SECONDS.labels(trigger).observe(time.perf_counter() - started)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    global _api, _api_client
    # Keep kopf's bookkeeping in annotations: status is ours and its schema is strict.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.persistence.finalizer = f"{GROUP}/cancel"
    # Serve the namespaces we are told and the resources present at startup: no cluster-wide
    # list/watch of namespaces and CRDs, so RBAC can stay namespaced.
    settings.scanning.disabled = True
    settings.posting.level = logging.WARNING  # our own Events say what matters
    settings.execution.max_workers = 4
    settings.watching.server_timeout = 300
    settings.networking.error_backoffs = [1, 2, 5, 10]
    _api_client = client.ApiClient()
    _api = KubeApi(_api_client)


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if _api_client is not None:
        await _api_client.close()


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec.suspend")
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec.ttlSecondsAfterFinished")
async def changed(namespace: str | None, name: str, **_: Any) -> None:
    await _run("change", namespace, name)


def _timed(body: Mapping[str, Any], **_: Any) -> bool:
    """Jobs with a clock running: an attempt in flight, a retry due, or a TTL to honour."""
    phase = (body.get("status") or {}).get("phase")
    if phase in TERMINAL:
        return "ttlSecondsAfterFinished" in body["spec"]
    return phase != "Suspended"


@kopf.timer(GROUP, VERSION, PLURAL, interval=SETTINGS.resync_seconds, when=_timed)
async def resync(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> None:
    """Deadlines, retry backoff, TTL and a vanished driver pod: reconciled when one of them
    falls due before the next tick, so quiet jobs cost no API calls."""
    job = load_job(body, SETTINGS, check=False)
    due = next_deadline(job, body.get("status") or {}, SETTINGS)
    if due is not None and due <= _now() + timedelta(seconds=SETTINGS.resync_seconds):
        await _run("timer", namespace, name)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def deleted(namespace: str | None, name: str, **_: Any) -> None:
    """Runs through the finalizer, also for jobs deleted while the operator was down."""
    await _run("delete", namespace, name, deleting=True)
    metrics.forget(namespace or "", name)


@kopf.on.event("", "v1", "pods", labels={LABEL_JOB: kopf.PRESENT, "spark-role": "driver"})
async def driver_event(labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
    await _run("pod", namespace, labels[LABEL_JOB])
