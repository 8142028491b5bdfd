"""The Argo CD health checks of HelixBatchJobs and HelixBatchSchedules: the Lua scripts over
each state, and the kustomize component that puts them into argocd-cm."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.argocd import HEALTH, HELIXBATCHJOB, HELIXBATCHSCHEDULE, health
from tests.operator.helpers import job_doc
from tests.operator.test_scheduling import schedule_doc


def job(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    doc = job_doc(**spec)
    if status is not None:
        doc["status"] = status
    return doc


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (job(), ("Progressing", "waiting for the operator")),
        (job(suspend=True), ("Suspended", "created suspended")),
        (job({"phase": "Pending", "reason": "Retrying", "message": "attempt 1 failed"}),
         ("Progressing", "Retrying: attempt 1 failed")),
        (job({"phase": "Submitted", "reason": "Submitted"}), ("Progressing", "Submitted")),
        (job({"phase": "Running", "reason": "DriverRunning", "message": "driver x is running"}),
         ("Progressing", "DriverRunning: driver x is running")),
        (job({"phase": "Succeeded", "reason": "Completed", "message": "the job completed"}),
         ("Healthy", "Completed: the job completed")),
        (job({"phase": "Failed", "reason": "OOMKilled", "message": "driver exited with code 137"}),
         ("Degraded", "OOMKilled: driver exited with code 137")),
        (job({"phase": "Cancelled", "reason": "Deleted"}), ("Degraded", "Deleted")),
        (job({"phase": "Suspended", "reason": "Suspended", "message": "the job is suspended"}),
         ("Suspended", "Suspended: the job is suspended")),
        (job({"phase": "Failed"}), ("Degraded", "Failed")),
    ],
)  # fmt: skip
def test_each_phase_has_its_health(obj: dict[str, Any], expected: tuple[str, str]) -> None:
    assert health(HELIXBATCHJOB, obj) == expected


def schedule(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    doc = schedule_doc(**spec)
    if status is not None:
        doc["status"] = {"observedGeneration": 1, **status}
    return doc


READY = {"type": "Ready", "status": "True", "reason": "Scheduled", "message": "0 2 * * * (UTC)"}
FAILED_RUN = {"name": "nightly-20261128-0200", "phase": "Failed", "reason": "OOMKilled",
              "message": "driver exited with code 137"}  # fmt: skip
ACTIVE = [{"name": "nightly-20261129-0200"}, {"name": "nightly-20261130-0200"}]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (schedule(), ("Progressing", "waiting for the operator")),
        (schedule(suspend=True), ("Suspended", "spec.suspend is true: no new runs")),
        (schedule({"lastRun": FAILED_RUN}, suspend=True),
         ("Suspended", "spec.suspend is true: no new runs")),
        (schedule({"conditions": [READY]}), ("Healthy", "no run yet")),
        (schedule({"conditions": [READY], "active": ACTIVE}),
         ("Progressing", "running nightly-20261129-0200, nightly-20261130-0200")),
        (schedule({"conditions": [READY], "lastRun": {**FAILED_RUN, "phase": "Succeeded"}}),
         ("Healthy", "last run nightly-20261128-0200 Succeeded")),
        # The latest finished run failed: Degraded until a later run ends, active or not.
        (schedule({"conditions": [READY], "lastRun": FAILED_RUN, "active": ACTIVE[:1]}),
         ("Degraded", "OOMKilled: driver exited with code 137 (run nightly-20261128-0200)")),
        (schedule({"lastRun": {"name": "n", "phase": "Cancelled"}}),
         ("Degraded", "Cancelled (run n)")),
        (schedule({"conditions": [{"type": "Ready", "status": "False", "reason": "PolicyViolation",
                                   "message": "spec.spark.serviceAccount: x is not allowed"}]}),
         ("Degraded", "PolicyViolation: spec.spark.serviceAccount: x is not allowed")),
    ],
)  # fmt: skip
def test_each_schedule_state_has_its_health(obj: dict[str, Any], expected: tuple[str, str]) -> None:
    assert health(HELIXBATCHSCHEDULE, obj) == expected


def test_the_component_merges_the_script_into_argocd_cm(tmp_path: Path) -> None:
    """Built as an Argo CD install's kustomization would use it."""
    (tmp_path / "argocd-cm.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "argocd-cm", "namespace": "argocd"},
                "data": {"url": "https://argocd.example"},
            }
        )
    )
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {"resources": ["argocd-cm.yaml"], "components": [os.path.relpath(HEALTH, tmp_path)]}
        )
    )
    built = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    (config,) = yaml.safe_load_all(built)
    assert config["metadata"]["name"] == "argocd-cm" and config["data"]["url"]
    for kind, script in (
        ("HelixBatchJob", HELIXBATCHJOB),
        ("HelixBatchSchedule", HELIXBATCHSCHEDULE),
    ):
        key = f"resource.customizations.health.batch.helixagent.io_{kind}"
        assert config["data"][key] == script.read_text()
