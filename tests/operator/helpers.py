"""Plain-data builders shared by the operator tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from helix_batch.operator.names import DRIVER_CONTAINER, LABEL_ATTEMPT, LABEL_JOB

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
_SAMPLE_FILES = sorted(
    p
    for p in (Path(__file__).parents[2] / "manifests" / "samples").glob("*.yaml")
    if p.name != "kustomization.yaml"
)
SAMPLES = [p for p in _SAMPLE_FILES if "\nkind: HelixBatchJob\n" in p.read_text()]
SCHEDULE_SAMPLES = [p for p in _SAMPLE_FILES if "\nkind: HelixBatchSchedule\n" in p.read_text()]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def job_doc(name: str = "entities-jan", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "batch.helixagent.io/v1alpha1",
        "kind": "HelixBatchJob",
        "metadata": {"name": name, "namespace": "analytics", "uid": "uid-1", "generation": 1},
        "spec": {
            "type": "EntityExtraction",
            "input": {
                "uri": "s3a://lake/conversations/",
                "startDate": "2026-01-01",
                "endDate": "2026-01-31",
            },
            "output": {"uri": "s3a://lake/analytics/entities/"},
        },
    }
    body["spec"].update(copy.deepcopy(spec))
    return body


def pod(
    attempt: int,
    phase: str = "Running",
    driver: dict[str, Any] | None = None,
    name: str = "entities-jan-1-driver",
    sidecar: bool = False,
    conditions: list[dict[str, Any]] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    statuses = []
    if driver is not None:
        statuses.append({"name": DRIVER_CONTAINER, "state": driver})
    if sidecar:
        statuses.append({"name": "istio-proxy", "state": {"running": {}}})
    status: dict[str, Any] = {"phase": phase, "containerStatuses": statuses}
    if conditions:
        status["conditions"] = conditions
    if reason:
        status["reason"] = reason
    return {
        "metadata": {
            "name": name,
            "labels": {LABEL_JOB: "entities-jan", LABEL_ATTEMPT: str(attempt)},
        },
        "status": status,
    }


RUNNING = {"running": {"startedAt": "2026-03-01T12:00:05Z"}}


def terminated(code: int, reason: str = "", message: str = "") -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason, "message": message}}


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"waiting": {"reason": reason, "message": message}}
