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

from helix_batch.render import CREDENTIAL_KEYS, LABEL_ATTEMPT, LABEL_JOB, LABEL_JOB_UID
from tests.e2e.controlplane import KubeCluster
from tests.e2e.harness import ROOT, Cluster, Operator, install_operator, wait_for
from tests.e2e.spark_chain import BARE_NAMESPACE, WEBHOOK_NAMESPACE, SparkChain

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


@pytest.fixture
def webhooked(control_plane: KubeCluster, operator_kubeconfig: Path) -> Iterator[Cluster]:
    """The namespace where the spark-operator's webhook completes the driver pods."""
    yield from serve(control_plane, operator_kubeconfig, WEBHOOK_NAMESPACE)


@pytest.fixture
def bare(control_plane: KubeCluster, operator_kubeconfig: Path) -> Iterator[Cluster]:
    """The namespace the spark-operator's controller serves without its webhook."""
    yield from serve(control_plane, operator_kubeconfig, BARE_NAMESPACE)


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
    webhooked: Cluster, spark_chain: SparkChain
) -> None:
    cluster = webhooked
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


def test_failing_exit_code_is_retried_as_a_new_attempt(
    webhooked: Cluster, spark_chain: SparkChain
) -> None:
    cluster = webhooked
    name = sample_job(cluster, backoffLimit=1)
    first = running_driver(cluster, name, 1)
    spark_chain.finish_driver(cluster.ns, first["metadata"]["name"], 3, reason="Error")

    second = running_driver(cluster, name, 2)
    assert second["metadata"]["labels"][LABEL_ATTEMPT] == "2"
    spark_chain.finish_driver(cluster.ns, second["metadata"]["name"], 0)
    status = cluster.wait_phase(name, "Succeeded")
    failed, succeeded = status["attempts"]
    assert (failed["outcome"], failed["exitCode"], failed["reason"]) == ("Failed", 3, "Error")
    assert succeeded["outcome"] == "Succeeded"
    assert status["result"]["attempt"] == "2"
    assert "AttemptFailed" in cluster.event_reasons(name)


def test_submission_failure_fails_the_attempt_within_seconds(bare: Cluster) -> None:
    """Without the webhook, the driver pod the controller submits lacks the security contexts,
    and Pod Security refuses it: the application fails with the API server's words, and the
    attempt fails with them long before startDeadlineSeconds (600 in the sample)."""
    cluster = bare
    name = sample_job(cluster, backoffLimit=0)
    status = cluster.wait_phase(name, "Failed", SUBMIT_TIMEOUT)
    (attempt,) = status["attempts"]
    assert attempt["reason"] in ("SubmissionFailed", "SparkApplicationFailed"), attempt
    assert "violates PodSecurity" in attempt["message"]
    assert "violates PodSecurity" in status["message"]
    assert status["reason"] == "BackoffLimitExceeded"
    assert status["durationSeconds"] < SUBMIT_TIMEOUT
    assert "AttemptFailed" not in cluster.event_reasons(name)  # no retries with backoffLimit 0
    assert "BackoffLimitExceeded" in cluster.event_reasons(name)
    assert cluster.get("sparkapplication", f"{name}-1") is None
