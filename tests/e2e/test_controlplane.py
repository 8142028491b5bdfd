"""Smoke tests of the control plane itself: each one fails if that part is not the real thing."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from .controlplane import ControlPlane

# These check the control plane the suite starts (its binaries, controllers and processes).
pytestmark = pytest.mark.own_control_plane


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def manifest(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj)


def exists(cp: ControlPlane, *what: str) -> bool:
    return cp.kubectl("get", *what).returncode == 0


def create_namespace(cp: ControlPlane, labels: dict[str, str] | None = None) -> str:
    name = unique("smoke")
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels or {}},
    }
    cp.kubectl_ok("create", "-f", "-", input=manifest(ns))
    return name


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = create_namespace(control_plane)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false")


def test_kubectl_reaches_the_server(control_plane: ControlPlane) -> None:
    out = json.loads(control_plane.kubectl_ok("version", "-o", "json"))
    assert out["serverVersion"]["major"] == "1"
    assert out["serverVersion"]["gitVersion"].startswith("v1.")


def test_namespace_lifecycle(control_plane: ControlPlane) -> None:
    cp = control_plane
    name = create_namespace(cp)
    ns = json.loads(cp.kubectl_ok("get", "namespace", name, "-o", "json"))
    assert ns["status"]["phase"] == "Active"
    cp.kubectl_ok("create", "configmap", "content", "-n", name, "--from-literal=a=b")

    # Finishing the deletion of a namespace with content is the namespace controller's job.
    cp.kubectl_ok("delete", "namespace", name, "--wait=false")
    wait_for(lambda: not exists(cp, "namespace", name), f"namespace {name} to be removed")


def test_garbage_collector_deletes_dependents(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    cp.kubectl_ok("create", "configmap", "owner", "-n", namespace)
    owner_uid = cp.kubectl_ok(
        "get", "configmap", "owner", "-n", namespace, "-o", "jsonpath={.metadata.uid}"
    )
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dependent",
            "namespace": namespace,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
            ],
        },
    }
    cp.kubectl_ok("create", "-f", "-", input=manifest(dependent))
    assert exists(cp, "configmap", "dependent", "-n", namespace)

    cp.kubectl_ok("delete", "configmap", "owner", "-n", namespace)
    wait_for(
        lambda: not exists(cp, "configmap", "dependent", "-n", namespace),
        "the garbage collector to delete the dependent ConfigMap",
    )


def test_service_account_is_subject_to_rbac(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    cp.kubectl_ok("create", "serviceaccount", "robot", "-n", namespace)
    robot = cp.kubeconfig_for_service_account(namespace, "robot")

    denied = cp.kubectl("get", "pods", "-n", namespace, kubeconfig=robot)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr
    assert f"system:serviceaccount:{namespace}:robot" in denied.stderr

    cp.kubectl_ok(
        "create", "role", "pod-reader", "-n", namespace, "--verb=get,list", "--resource=pods"
    )
    cp.kubectl_ok(
        "create", "rolebinding", "robot-reads-pods", "-n", namespace,
        "--role=pod-reader", f"--serviceaccount={namespace}:robot",
    )  # fmt: skip
    wait_for(
        lambda: cp.kubectl("get", "pods", "-n", namespace, kubeconfig=robot).returncode == 0,
        "the RoleBinding to let the ServiceAccount list pods",
    )
    # The Role grants nothing outside its namespace.
    elsewhere = cp.kubectl("get", "pods", "-n", "default", kubeconfig=robot)
    assert elsewhere.returncode != 0
    assert "Forbidden" in elsewhere.stderr


def spark_application(name: str, namespace: str, executor_instances: object) -> dict[str, Any]:
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "Python",
            "mode": "cluster",
            "image": "spark:3.5.3",
            "mainApplicationFile": "local:///opt/spark/examples/src/main/python/pi.py",
            "sparkVersion": "3.5.3",
            "driver": {"cores": 1, "memory": "512m"},
            "executor": {"instances": executor_instances, "cores": 1, "memory": "512m"},
        },
    }


def test_spark_application_crd_validates(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    cp.apply_spark_crd()

    cp.kubectl_ok("create", "-f", "-", input=manifest(spark_application("good", namespace, 1)))
    stored = json.loads(
        cp.kubectl_ok("get", "sparkapplication", "good", "-n", namespace, "-o", "json")
    )
    assert stored["spec"]["executor"]["instances"] == 1

    bad = cp.kubectl(
        "create", "-f", "-", input=manifest(spark_application("bad", namespace, "two"))
    )
    assert bad.returncode != 0
    assert "spec.executor.instances" in bad.stderr
    assert "integer" in bad.stderr
    assert not exists(cp, "sparkapplication", "bad", "-n", namespace)


def privileged_pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {"name": "main", "image": "busybox", "securityContext": {"privileged": True}}
            ]
        },
    }


def wait_for_default_service_account(cp: ControlPlane, namespace: str) -> None:
    wait_for(
        lambda: exists(cp, "serviceaccount", "default", "-n", namespace),
        f"the default ServiceAccount in {namespace}",
    )


def test_pod_security_restricted_rejects_privileged_pod(control_plane: ControlPlane) -> None:
    cp = control_plane
    restricted = create_namespace(cp, {"pod-security.kubernetes.io/enforce": "restricted"})
    unrestricted = create_namespace(cp)
    try:
        # The ServiceAccount admission plugin refuses pods until the default account exists.
        for ns in (restricted, unrestricted):
            wait_for_default_service_account(cp, ns)

        rejected = cp.kubectl(
            "create", "-n", restricted, "-f", "-", input=manifest(privileged_pod("p"))
        )
        assert rejected.returncode != 0
        assert "violates PodSecurity" in rejected.stderr
        assert "privileged" in rejected.stderr

        # The same pod elsewhere is admitted: it is PodSecurity that said no above.
        cp.kubectl_ok("create", "-n", unrestricted, "-f", "-", input=manifest(privileged_pod("p")))
    finally:
        cp.kubectl("delete", "namespace", restricted, unrestricted, "--wait=false")


def test_stop_leaves_nothing_behind() -> None:
    cp = ControlPlane()
    cp.start()
    try:
        pids = cp.pids
        assert len(pids) == 3
        assert cp.kubectl("get", "namespaces").returncode == 0
    finally:
        cp.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    assert not cp.workdir.exists()
