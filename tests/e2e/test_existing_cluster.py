"""The existing-cluster mode of the suites (HELIX_E2E_KUBECONFIG, as tests/kind/e2e-kind.sh runs
them), checked against the session's cluster: the suite's own control plane here."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.e2e.controlplane import ControlPlane, ExistingCluster, KubeCluster
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
