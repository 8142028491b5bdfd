"""The operator through the real chain: its SparkApplication admitted by the real spark-operator
webhook, submitted by the real controller with spark-submit, the driver pod scheduled by the
real kube-scheduler onto a kwok node, where kwok runs it and finishes it as the test says.

Last of the cluster suites by name on purpose: from here on the session's control plane has a
scheduler and a node, so pods the other suites leave ungated would start.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from helix_batch.operator.names import LABEL_ATTEMPT, LABEL_JOB, LABEL_JOB_UID
from helix_batch.operator.render import CREDENTIAL_KEYS
from tests.e2e.controlplane import KubeCluster
from tests.e2e.harness import ROOT, Cluster, Operator, install_operator, wait_for
from tests.e2e.spark_chain import (
    BARE_NAMESPACE,
    NO_DRIVER_SA_NAMESPACE,
    WEBHOOK_NAMESPACE,
    SparkChain,
)

pytestmark = pytest.mark.own_control_plane

SAMPLE = ROOT / "manifests" / "samples" / "entity-extraction.yaml"
# spark-submit inside the controller takes about 20 s on a loaded 2-core machine.
SUBMIT_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def operator_kubeconfig(control_plane: KubeCluster, spark_chain: SparkChain) -> Path:
    return install_operator(control_plane)


def serve(cp: KubeCluster, kubeconfig: Path, namespace: str) -> Iterator[Cluster]:
    cluster = Cluster(cp, namespace)
    op = Operator(cp, kubeconfig, f"chain-{uuid.uuid4().hex[:4]}", namespace)
    yield cluster
    op.stop()
    assert "Forbidden" not in op.log(), op.log()[-3000:]


@pytest.fixture(params=[WEBHOOK_NAMESPACE, BARE_NAMESPACE], ids=["with-webhook", "without-webhook"])
def served(
    request: pytest.FixtureRequest, control_plane: KubeCluster, operator_kubeconfig: Path
) -> Iterator[Cluster]:
    """A namespace of the spark-operator, with its mutating webhook, and one without: the
    operator's pod templates make the driver pods the same in both."""
    yield from serve(control_plane, operator_kubeconfig, request.param)


@pytest.fixture
def webhooked(control_plane: KubeCluster, operator_kubeconfig: Path) -> Iterator[Cluster]:
    yield from serve(control_plane, operator_kubeconfig, WEBHOOK_NAMESPACE)


@pytest.fixture
def without_driver_sa(control_plane: KubeCluster, operator_kubeconfig: Path) -> Iterator[Cluster]:
    yield from serve(control_plane, operator_kubeconfig, NO_DRIVER_SA_NAMESPACE)


def sample_job(cluster: Cluster, **spec: Any) -> str:
    doc = yaml.safe_load(SAMPLE.read_text())
    name = f"entities-{uuid.uuid4().hex[:6]}"
    doc["metadata"] = {"name": name, "namespace": cluster.ns}
    doc["spec"].update(spec)
    result = cluster.apply(doc)
    assert result.returncode == 0, result.stderr
    return name


def running_driver(cluster: Cluster, job: str, attempt: int) -> dict[str, Any]:
    """The driver pod the real controller made for the attempt, once kwok runs it."""
    name = f"{job}-{attempt}-driver"

    def running() -> dict[str, Any] | None:
        pod = cluster.get("pod", name)
        return pod if pod and pod["status"].get("phase") == "Running" else None

    pod: dict[str, Any] = wait_for(f"driver pod {name} running", running, SUBMIT_TIMEOUT)
    return pod


def test_sample_job_succeeds_through_the_real_chain(
    served: Cluster, spark_chain: SparkChain
) -> None:
    cluster = served
    name = sample_job(cluster)
    uid = (cluster.get("hbj", name) or {})["metadata"]["uid"]
    pod = running_driver(cluster, name, 1)

    labels = pod["metadata"]["labels"]
    assert labels[LABEL_JOB] == name
    assert labels[LABEL_JOB_UID] == uid
    assert labels[LABEL_ATTEMPT] == "1"
    assert labels["spark-role"] == "driver"
    spec = pod["spec"]
    assert spec["nodeName"] == "kwok-node-0"
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 185,
        "fsGroup": 185,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = spec["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
    }
    assert_credentials_only_by_reference(container)
    assert cluster.wait_phase(name, "Running")["reason"] == "DriverRunning"

    spark_chain.finish_driver(cluster.ns, pod["metadata"]["name"], 0)
    status = cluster.wait_phase(name, "Succeeded")
    # What kwok's stage wrote as the termination message, read back from the pod.
    assert status["result"] == {
        "processedRows": 5000,
        "outputRows": 120,
        "corruptRecords": 3,
        "job": name,
        "attempt": "1",
    }
    assert [a["outcome"] for a in status["attempts"]] == ["Succeeded"]


def assert_credentials_only_by_reference(container: dict[str, Any]) -> None:
    env = {e["name"]: e for e in container.get("env", ())}
    for key in CREDENTIAL_KEYS:
        assert "value" not in env[key], env[key]
        assert env[key]["valueFrom"]["secretKeyRef"] == {
            "name": "helix-lake-credentials",
            "key": key,
        }
    text = json.dumps(container)
    assert "e2e-secret" not in text and "e2e-key" not in text


@pytest.mark.parametrize(("code", "reason"), [(3, "Error"), (137, "OOMKilled")])
def test_failing_driver_is_retried_as_a_new_attempt(
    webhooked: Cluster, spark_chain: SparkChain, code: int, reason: str
) -> None:
    cluster = webhooked
    name = sample_job(cluster, backoffLimit=1)
    first = running_driver(cluster, name, 1)
    spark_chain.finish_driver(cluster.ns, first["metadata"]["name"], code, reason=reason)

    second = running_driver(cluster, name, 2)
    assert second["metadata"]["labels"][LABEL_ATTEMPT] == "2"
    spark_chain.finish_driver(cluster.ns, second["metadata"]["name"], 0)
    status = cluster.wait_phase(name, "Succeeded")
    failed, succeeded = status["attempts"]
    assert (failed["outcome"], failed["exitCode"], failed["reason"]) == ("Failed", code, reason)
    assert succeeded["outcome"] == "Succeeded"
    assert status["result"]["attempt"] == "2"
    assert "AttemptFailed" in cluster.event_reasons(name)


def test_suspend_and_delete_cancel_the_real_application(webhooked: Cluster) -> None:
    cluster = webhooked
    name = sample_job(cluster)
    first = running_driver(cluster, name, 1)["metadata"]["name"]
    cluster.wait_phase(name, "Running")
    assert cluster.patch_job(name, {"spec": {"suspend": True}}).returncode == 0
    cluster.wait_phase(name, "Suspended")
    wait_for(
        "attempt 1's application gone", lambda: not cluster.get("sparkapplication", f"{name}-1")
    )
    wait_for("attempt 1's driver pod gone", lambda: cluster.get("pod", first) is None)

    assert cluster.patch_job(name, {"spec": {"suspend": False}}).returncode == 0
    second = running_driver(cluster, name, 2)["metadata"]["name"]
    cluster.wait_phase(name, "Running")
    cluster.cp.kubectl_ok("delete", "hbj", name, "-n", cluster.ns, "--wait=true", "--timeout=60s")
    assert cluster.get("sparkapplication", f"{name}-2") is None
    wait_for("attempt 2's driver pod gone", lambda: cluster.get("pod", second) is None)


def test_submission_failure_fails_the_attempt_within_seconds(without_driver_sa: Cluster) -> None:
    """The API server refuses the driver pod (its ServiceAccount does not exist): the
    spark-operator marks the application failed with spark-submit's output, and the attempt
    fails with the refusal's own words long before startDeadlineSeconds (600 in the sample)."""
    cluster = without_driver_sa
    name = sample_job(cluster, backoffLimit=1)
    status = cluster.wait_phase(name, "Failed", 2 * SUBMIT_TIMEOUT)
    assert [a["reason"] for a in status["attempts"]] == ["SparkApplicationFailed"] * 2
    refusal = 'serviceaccount "helix-spark-driver" not found'
    assert all(refusal in a["message"] for a in status["attempts"]), status["attempts"]
    assert status["reason"] == "BackoffLimitExceeded" and refusal in status["message"]
    assert status["durationSeconds"] < 2 * SUBMIT_TIMEOUT
    reasons = cluster.event_reasons(name)
    assert "AttemptFailed" in reasons and "BackoffLimitExceeded" in reasons
    assert cluster.get("sparkapplication", f"{name}-2") is None
