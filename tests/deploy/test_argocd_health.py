"""The Argo CD health check of HelixBatchJobs: the Lua script over each phase, and the
kustomize component that puts it into argocd-cm."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.argocd import HEALTH, HELIXBATCHJOB, health
from tests.operator.helpers import job_doc


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
    key = "resource.customizations.health.batch.helixagent.io_HelixBatchJob"
    assert config["data"][key] == HELIXBATCHJOB.read_text()
