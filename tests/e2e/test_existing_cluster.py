"""The existing-cluster mode of the suites (HELIX_E2E_KUBECONFIG, as tests/kind/e2e-kind.sh runs
them), checked against the session's cluster: the suite's own control plane here."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.controlplane import ControlPlane, ExistingCluster, KubeCluster
from tests.e2e.harness import (
    SPARK_OPERATOR_NAMESPACES_ENV,
    spark_operator_namespaces,
    watched_namespaces,
)
from tests.fixtures.controlplane import EXISTING_CLUSTER_ENV, session_cluster


def test_the_variable_picks_the_cluster(tmp_path: Path) -> None:
    own = session_cluster({})
    existing = session_cluster({EXISTING_CLUSTER_ENV: str(tmp_path / "kubeconfig")})
    try:
        assert isinstance(own, ControlPlane)
        assert isinstance(existing, ExistingCluster)
        assert existing.kubeconfig == tmp_path / "kubeconfig"
    finally:
        own.stop()
        existing.stop()


def test_existing_cluster_as_admin_and_as_a_service_account(control_plane: KubeCluster) -> None:
    namespace = f"existing-{uuid.uuid4().hex[:8]}"
    with ExistingCluster(control_plane.kubeconfig) as cluster:
        try:
            cluster.kubectl_ok("create", "namespace", namespace)
            cluster.kubectl_ok("create", "serviceaccount", "robot", "-n", namespace)
            robot = cluster.kubeconfig_for_service_account(namespace, "robot")
            assert robot.parent == cluster.workdir
            denied = cluster.kubectl("get", "pods", "-n", namespace, kubeconfig=robot)
            assert "Forbidden" in denied.stderr
            assert f"system:serviceaccount:{namespace}:robot" in denied.stderr
            cluster.apply_spark_crd()  # there already (session tests apply it) or installed now
            cluster.kubectl_ok("get", "sparkapplications", "-n", namespace)
        finally:
            cluster.kubectl("delete", "namespace", namespace, "--wait=false")
    assert not cluster.workdir.exists()


def controller(*args: str) -> dict[str, Any]:
    """A spark-operator controller Deployment as the Helm chart makes it (the parts read)."""
    containers = [{"name": "spark-operator-controller", "args": ["controller", "start", *args]}]
    return {"spec": {"template": {"spec": {"containers": containers}}}}


def test_spark_operator_namespaces_from_its_deployment() -> None:
    assert watched_namespaces([]) == []
    deployment = controller("--zap-log-level=info", "--namespaces=helix-batch,jobs")
    assert watched_namespaces([deployment]) == ["helix-batch", "jobs"]
    for everywhere in (controller(), controller('--namespaces=""')):
        with pytest.raises(AssertionError, match="watches every namespace"):
            watched_namespaces([everywhere])


def test_spark_operator_namespaces_override(
    control_plane: KubeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SPARK_OPERATOR_NAMESPACES_ENV, "helix-batch,")
    assert spark_operator_namespaces(control_plane) == ["helix-batch"]
    monkeypatch.setenv(SPARK_OPERATOR_NAMESPACES_ENV, "")
    assert spark_operator_namespaces(control_plane) == []
