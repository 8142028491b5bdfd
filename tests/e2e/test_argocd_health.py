"""Argo CD's health check (manifests/argocd/health) over HelixBatchJobs as the real API server
and operator leave them in each phase: what Argo CD would show for a job kept in Git."""

from __future__ import annotations

import json
from pathlib import Path

from tests.deploy.argocd import HELIXBATCHJOB, health
from tests.e2e.controlplane import KubeCluster
from tests.e2e.harness import Cluster, Operator, running_state, terminated_state
from tests.e2e.test_operator import fresh_namespace, installed, job  # noqa: F401 - a fixture


def test_health_follows_the_job_through_its_phases(
    control_plane: KubeCluster,
    installed: Path,  # noqa: F811
) -> None:
    cluster = Cluster(control_plane, fresh_namespace())
    operator = Operator(control_plane, installed, "op-health", cluster.ns)

    def seen(name: str) -> tuple[str, str]:
        obj = cluster.get("hbj", name)
        assert obj is not None
        return health(HELIXBATCHJOB, obj)

    try:
        job(cluster, "runs")
        job(cluster, "parked", suspend=True)
        job(cluster, "breaks", backoffLimit=0)
        job(cluster, "refused", spark={"serviceAccount": "helix-operator"})
        cluster.wait_phase("runs", "Submitted")
        assert seen("runs")[0] == "Progressing"
        pod = cluster.start_driver("runs-1")
        cluster.set_pod_status(pod, "Running", running_state())
        cluster.wait_phase("runs", "Running")
        assert seen("runs") == ("Progressing", "DriverRunning: driver runs-1-driver is running")
        result = json.dumps({"processedRows": 1, "outputRows": 1, "corruptRecords": 0})
        cluster.set_pod_status(pod, "Succeeded", terminated_state(0, "Completed", result))
        cluster.wait_phase("runs", "Succeeded")
        assert seen("runs") == ("Healthy", "Completed: the job completed")
        cluster.wait_phase("parked", "Suspended")
        assert seen("parked")[0] == "Suspended"
        broken = cluster.start_driver("breaks-1")
        cluster.set_pod_status(broken, "Failed", terminated_state(137, "OOMKilled"))
        cluster.wait_phase("breaks", "Failed")
        status, message = seen("breaks")
        assert status == "Degraded" and message.startswith("BackoffLimitExceeded: ")
        assert "OOMKilled" in message
        cluster.wait_phase("refused", "Failed")
        status, message = seen("refused")
        assert status == "Degraded" and message.startswith("PolicyViolation: spec.spark.")
    finally:
        operator.stop()
