"""The operator end to end: a real kopf operator process, as its own ServiceAccount, against a
real kube-apiserver (CRD validation and CEL, status subresource, finalizers, garbage collection
by kube-controller-manager, RBAC); on a cluster with a real spark-operator, the success path
runs a real Spark driver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.controlplane import SPARK_CRD_NAME, ControlPlane, KubeCluster
from tests.e2e.harness import (
    OPERATOR_NAMESPACE,
    ROOT,
    SCHEDULE_GRANTS,
    Cluster,
    Operator,
    install_operator,
    running_state,
    spark_operator_namespaces,
    terminated_state,
    wait_for,
)
from tests.operator.helpers import SAMPLES, job_doc

RESULT = {
    "processedRows": 5000,
    "outputRows": 120,
    "corruptRecords": 3,
    "entitiesExtracted": 120,
    "outputUri": "s3a://lake/analytics/entities/",
}
# A HelixBatchJob that really runs on the cluster's lake and Spark image, for the success path
# with a real spark-operator (tests/kind/e2e-kind.sh gives its sample job).
SPARK_JOB_ENV = "HELIX_E2E_SPARK_JOB"


@pytest.fixture(scope="module")
def installed(control_plane: KubeCluster) -> Path:
    """CRDs and the operator's RBAC installed; returns the operator's own kubeconfig."""
    return install_operator(control_plane)


def fresh_namespace() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cluster(control_plane: KubeCluster, installed: Path) -> Cluster:
    return Cluster(control_plane, fresh_namespace())


@pytest.fixture
def spark_cluster(control_plane: KubeCluster, installed: Path) -> Cluster:
    """A namespace a real spark-operator serves, if the cluster has one, else a fresh one where
    the harness plays spark-operator."""
    served = spark_operator_namespaces(control_plane)
    return Cluster(control_plane, served[0] if served else fresh_namespace())


def serve(cp: KubeCluster, kubeconfig: Path, cluster: Cluster) -> Iterator[Operator]:
    op = Operator(cp, kubeconfig, "op-a", cluster.ns)
    yield op
    op.stop()
    assert "Forbidden" not in op.log(), op.log()[-3000:]


@pytest.fixture
def operator(control_plane: KubeCluster, installed: Path, cluster: Cluster) -> Iterator[Operator]:
    yield from serve(control_plane, installed, cluster)


@pytest.fixture
def spark_operator(
    control_plane: KubeCluster, installed: Path, spark_cluster: Cluster
) -> Iterator[Operator]:
    yield from serve(control_plane, installed, spark_cluster)


def job(cluster: Cluster, name: str, **spec: Any) -> dict[str, Any]:
    doc = job_doc(name, **spec)
    doc["metadata"] = {"name": name, "namespace": cluster.ns}
    result = cluster.apply(doc)
    assert result.returncode == 0, result.stderr
    return doc


def real_job_spec() -> dict[str, Any]:
    path = os.environ.get(SPARK_JOB_ENV)
    assert path, f"a real spark-operator runs the driver: {SPARK_JOB_ENV} must name a job to run"
    spec: dict[str, Any] = yaml.safe_load(Path(path).read_text())["spec"]
    return spec


def test_success_with_result_columns_and_wait(
    spark_cluster: Cluster, spark_operator: Operator
) -> None:
    """Through a real spark-operator and a real Spark driver where the cluster has them, else
    with the harness playing both: either way, the result is what the driver reported."""
    cluster = spark_cluster
    name = f"entities-{uuid.uuid4().hex[:6]}"
    real = cluster.spark_operator_is_real
    job(cluster, name, **(real_job_spec() if real else {}))
    cluster.wait_phase(name, "Submitted")
    app = cluster.get("sparkapplication", f"{name}-1")
    assert app is not None
    assert app["metadata"]["ownerReferences"][0]["kind"] == "HelixBatchJob"
    pod = cluster.start_driver(f"{name}-1")
    if not real:
        cluster.set_pod_status(pod, "Running", running_state())
        cluster.wait_phase(name, "Running")
        cluster.set_pod_status(
            pod, "Succeeded", terminated_state(0, "Completed", json.dumps(RESULT))
        )
    timeout = "600s" if real else "30s"
    waited = cluster.cp.kubectl(
        "wait", "--for=condition=Complete", f"hbj/{name}", "-n", cluster.ns, f"--timeout={timeout}",
        timeout=700,
    )  # fmt: skip
    assert waited.returncode == 0, waited.stderr
    status = cluster.status(name)
    assert status["phase"] == "Succeeded"
    result = cluster.driver_result(pod)
    assert status["result"] == result
    table = cluster.cp.kubectl_ok("get", "hbj", name, "-n", cluster.ns)
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "TYPE", "PHASE", "ATTEMPT", "ROWS", "AGE"]
    rows = str(result["processedRows"])
    assert row.split()[:5] == [name, "EntityExtraction", "Succeeded", "1", rows]
    # The phase label follows the status in a lane of its own.
    wait_for(
        "the phase label",
        lambda: f"helixbatchjob.batch.helixagent.io/{name}" in cluster.cp.kubectl_ok(
            "get", "hbj", "-n", cluster.ns, "-l", "batch.helixagent.io/phase=Succeeded", "-o", "name"
        ).split(),
    )  # fmt: skip
    wait_for(  # Events are posted in the background too
        "the Events",
        lambda: {"Submitted", "DriverRunning", "Completed"} <= set(cluster.event_reasons(name)),
    )
    # The operator's job cache sees every job event: kopf would log each one at INFO.
    assert "Handler 'job-cache'" not in spark_operator.log()


def test_failure_retries_with_new_attempts_then_fails(cluster: Cluster, operator: Operator) -> None:
    job(cluster, "retry", backoffLimit=1)
    pod = cluster.start_driver("retry-1")
    cluster.set_pod_status(pod, "Failed", terminated_state(1, "Error"))
    wait_for("attempt 2", lambda: cluster.status("retry").get("attempt") == 2)
    pod2 = cluster.start_driver("retry-2")
    assert pod2 == "retry-2-driver"
    cluster.set_pod_status(pod2, "Failed", terminated_state(137, "OOMKilled"))
    status = cluster.wait_phase("retry", "Failed")
    assert status["reason"] == "BackoffLimitExceeded"
    assert "attempt 2 failed (OOMKilled)" in status["message"]
    assert status["driver"]["exitCode"] == 137
    assert [
        (a["attempt"], a["outcome"], a.get("exitCode"), a["reason"]) for a in status["attempts"]
    ] == [
        (1, "Failed", 1, "Error"),
        (2, "Failed", 137, "OOMKilled"),
    ]
    assert cluster.names("sparkapplication") == ["retry-1", "retry-2"]
    assert any(c["type"] == "Failed" and c["status"] == "True" for c in status["conditions"])


def test_driver_that_never_starts(cluster: Cluster, operator: Operator) -> None:
    job(cluster, "stuck", startDeadlineSeconds=3, backoffLimit=0)
    pod = cluster.start_driver("stuck-1")
    cluster.set_pod_status(
        pod, "Pending", {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}
    )
    status = cluster.wait_phase("stuck", "Failed", timeout=20)
    assert status["attempts"][-1]["reason"] == "ImagePullBackOff"
    assert "startDeadlineSeconds=3" in status["message"]
    wait_for("attempt cleaned up", lambda: cluster.get("sparkapplication", "stuck-1") is None)


def test_sidecar_does_not_keep_a_finished_job_running(cluster: Cluster, operator: Operator) -> None:
    job(cluster, "sidecar")
    pod = cluster.start_driver("sidecar-1", sidecar=True)
    cluster.set_pod_status(pod, "Running", terminated_state(0, "Completed", "{}"), sidecar=True)
    cluster.wait_phase("sidecar", "Succeeded")


def test_deletion_cancels_and_garbage_collects(cluster: Cluster, operator: Operator) -> None:
    job(cluster, "cancel-me")
    pod = cluster.start_driver("cancel-me-1")
    cluster.set_pod_status(pod, "Running", running_state())
    cluster.wait_phase("cancel-me", "Running")
    cluster.cp.kubectl_ok(
        "delete", "hbj", "cancel-me", "-n", cluster.ns, "--wait=true", "--timeout=30s"
    )
    assert cluster.get("sparkapplication", "cancel-me-1") is None
    wait_for("driver pod gone", lambda: cluster.get("pod", pod) is None)


def test_deletion_while_operator_is_down(
    control_plane: KubeCluster, installed: Path, cluster: Cluster
) -> None:
    op = Operator(control_plane, installed, "op-down", cluster.ns)
    try:
        job(cluster, "orphan")
        cluster.wait_phase("orphan", "Submitted")
    finally:
        op.kill()
    cluster.cp.kubectl_ok("delete", "hbj", "orphan", "-n", cluster.ns, "--wait=false")
    body = cluster.get("hbj", "orphan")
    assert body is not None and body["metadata"].get("deletionTimestamp")  # held by the finalizer
    assert cluster.get("sparkapplication", "orphan-1") is not None
    op = Operator(control_plane, installed, "op-back", cluster.ns)
    try:
        try:
            wait_for("job gone", lambda: cluster.get("hbj", "orphan") is None, timeout=60)
        except AssertionError:
            print(op.log()[-5000:])
            raise
        assert cluster.get("sparkapplication", "orphan-1") is None
    finally:
        op.stop()


def test_restart_in_every_phase_keeps_one_application_per_attempt(
    control_plane: KubeCluster, installed: Path, cluster: Cluster
) -> None:
    def restart(op: Operator) -> Operator:
        op.kill()
        return Operator(control_plane, installed, "op-r", cluster.ns)

    def posted(reason: str) -> None:
        """Events follow the status write, best effort (as client-go's recorder): a kill in
        between loses the Event, so each kill waits for the one asserted at the end."""
        wait_for(reason, lambda: reason in cluster.event_reasons("phoenix"), timeout=30)

    op = Operator(control_plane, installed, "op-r", cluster.ns)
    try:
        job(cluster, "phoenix", backoffLimit=1)
        try:
            cluster.wait_phase("phoenix", "Submitted")
        except AssertionError:
            print(op.log()[-6000:])
            raise
        posted("Submitted")
        op = restart(op)
        pod = cluster.start_driver("phoenix-1")
        cluster.set_pod_status(pod, "Running", running_state())
        cluster.wait_phase("phoenix", "Running")
        posted("DriverRunning")
        op.kill()
        cluster.set_pod_status(pod, "Failed", terminated_state(1, "Error"))  # while down
        op = Operator(control_plane, installed, "op-r", cluster.ns)
        wait_for("retry attempt", lambda: cluster.status("phoenix").get("attempt") == 2, timeout=60)
        posted("AttemptFailed")
        op = restart(op)
        pod2 = cluster.start_driver("phoenix-2")
        cluster.set_pod_status(pod2, "Succeeded", terminated_state(0, "Completed", "{}"))
        status = cluster.wait_phase("phoenix", "Succeeded")
        assert [a["outcome"] for a in status["attempts"]] == ["Failed", "Succeeded"]
        assert cluster.names("sparkapplication", "batch.helixagent.io/job=phoenix") == [
            "phoenix-1",
            "phoenix-2",
        ]
        reasons = cluster.event_reasons("phoenix")
        for expected in ("Submitted", "DriverRunning", "AttemptFailed", "Completed"):
            assert expected in reasons, reasons
    finally:
        op.stop()


def test_suspend_and_resume(cluster: Cluster, operator: Operator) -> None:
    job(cluster, "pausable")
    pod = cluster.start_driver("pausable-1")
    cluster.set_pod_status(pod, "Pending", {"waiting": {"reason": "ContainerCreating"}})
    wait_for(
        "the waiting reason",
        lambda: cluster.status("pausable").get("driver", {}).get("reason") == "ContainerCreating",
    )
    cluster.set_pod_status(pod, "Running", running_state())
    status = cluster.wait_phase("pausable", "Running")
    assert status["driver"] == {"pod": pod, "phase": "Running"}  # the reason went with the wait
    assert cluster.patch_job("pausable", {"spec": {"suspend": True}}).returncode == 0
    status = cluster.wait_phase("pausable", "Suspended")
    assert "driver" not in status and "sparkApplication" not in status
    running = next(c for c in status["conditions"] if c["type"] == "Running")
    assert (running["status"], running["reason"]) == ("False", "Suspended")
    wait_for("attempt 1 cancelled", lambda: cluster.get("sparkapplication", "pausable-1") is None)
    assert cluster.patch_job("pausable", {"spec": {"suspend": False}}).returncode == 0
    status = cluster.wait_phase("pausable", "Submitted")
    assert status["attempt"] == 2
    assert cluster.get("sparkapplication", "pausable-2") is not None


def test_ttl_after_finished(cluster: Cluster, operator: Operator) -> None:
    job(cluster, "short-lived", ttlSecondsAfterFinished=2)
    pod = cluster.start_driver("short-lived-1")
    cluster.set_pod_status(pod, "Succeeded", terminated_state(0, "Completed", "{}"))
    cluster.wait_phase("short-lived", "Succeeded")
    wait_for("job removed by TTL", lambda: cluster.get("hbj", "short-lived") is None, timeout=20)


def test_two_replicas_only_one_acts(
    control_plane: KubeCluster, installed: Path, cluster: Cluster
) -> None:
    first = Operator(control_plane, installed, "replica-1", cluster.ns)
    second = Operator(control_plane, installed, "replica-2", cluster.ns)
    try:
        job(cluster, "shared")
        cluster.wait_phase("shared", "Submitted")
        lease = json.loads(
            control_plane.kubectl_ok(
                "get", "lease", "helix-batch-operator", "-n", OPERATOR_NAMESPACE, "-o", "json"
            )
        )
        holder = lease["spec"]["holderIdentity"]
        leaders = [op for op in (first, second) if "became leader" in op.log()]
        assert len(leaders) == 1, (first.log()[-2000:], second.log()[-2000:])
        assert holder.startswith(leaders[0].name + "-")
        assert cluster.names("sparkapplication") == ["shared-1"]
    finally:
        first.stop()
        second.stop()


def test_metrics_after_a_restart_count_the_jobs_as_kubectl_lists_them(
    control_plane: KubeCluster, installed: Path, cluster: Cluster
) -> None:
    op = Operator(control_plane, installed, "op-m", cluster.ns)
    try:
        for name in ("m-wait", "m-run", "m-done"):
            job(cluster, name)
        job(cluster, "m-park", suspend=True)
        for name, phase in (("m-run", "Running"), ("m-done", "Succeeded")):
            pod = cluster.start_driver(f"{name}-1")
            state = running_state() if phase == "Running" else terminated_state(0, "Completed")
            cluster.set_pod_status(pod, phase, state)
            cluster.wait_phase(name, phase)
        cluster.wait_phase("m-park", "Suspended")
        cluster.wait_phase("m-wait", "Submitted")
        op.kill()
        op = Operator(control_plane, installed, "op-m", cluster.ns)
        wait_for("the new leader", lambda: op.probe("/readyz") == (200, "leader"))
        assert op.probe("/healthz") == (200, "ok")
        listed = json.loads(cluster.cp.kubectl_ok("get", "hbj", "-n", cluster.ns, "-o", "json"))
        expected = Counter((i["spec"]["type"], i["status"]["phase"]) for i in listed["items"])
        assert set(expected) == {
            ("EntityExtraction", p) for p in ("Submitted", "Running", "Succeeded", "Suspended")
        }
        wait_for("helix_jobs", lambda: jobs_by_phase(op, cluster.ns) == expected)
        samples = scrape(op)
        assert samples[("workqueue_depth", (("name", "jobs"),))] == 0
        assert ("workqueue_retries_total", (("name", "jobs"),)) in samples
        assert samples[("workqueue_queue_duration_seconds_count", (("name", "jobs"),))] >= 0
    finally:
        op.stop()


def scrape(op: Operator) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = op.probe("/metrics")
    assert answer is not None and answer[0] == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer[1])
        for sample in family.samples
    }


def jobs_by_phase(op: Operator, namespace: str) -> dict[tuple[str, str], float]:
    return {
        (labels["type"], labels["phase"]): value
        for (name, key), value in scrape(op).items()
        for labels in [dict(key)]
        if name == "helix_jobs" and labels["namespace"] == namespace
    }


def test_readyz_fails_until_the_operator_can_lead_or_stand_by(
    control_plane: KubeCluster, installed: Path, cluster: Cluster
) -> None:
    """Its ServiceAccount may not read Leases in ``default``: that replica never leads nor
    stands by, and must not look ready."""
    lost = Operator(control_plane, installed, "op-lost", cluster.ns, POD_NAMESPACE="default")
    try:
        wait_for("the probes", lambda: lost.probe("/healthz") == (200, "ok"))
        wait_for("a refused Lease read", lambda: "Error retrieving resource lock" in lost.log())
        answer = lost.probe("/readyz")
        assert answer is not None and answer[0] == 503, answer
        assert "became leader" not in lost.log()
        # Without POD_NAMESPACE, the Lease is in the one namespace served.
        here = Operator(control_plane, installed, "op-here", OPERATOR_NAMESPACE, POD_NAMESPACE="")
        try:
            wait_for("a leader or standby", lambda: (here.probe("/readyz") or (0, ""))[0] == 200)
        finally:
            here.stop()
    finally:
        lost.stop()


@pytest.mark.own_control_plane
def test_a_job_waits_while_sparkapplications_are_not_served(
    control_plane: KubeCluster, installed: Path, cluster: Cluster, operator: Operator
) -> None:
    """The SparkApplication CRD is removed for this test and put back, whatever happens."""
    control_plane.kubectl_ok("delete", "crd", SPARK_CRD_NAME, "--wait=true")
    try:
        job(cluster, "no-crd")
        status = cluster.wait_phase("no-crd", "Pending")
        assert status["reason"] == "SparkApplicationCRDMissing", status
        submitted = next(c for c in status["conditions"] if c["type"] == "Submitted")
        assert submitted["status"] == "False"
        wait_for(
            "the Warning Event",
            lambda: "SparkApplicationCRDMissing" in cluster.event_reasons("no-crd"),
        )
    finally:
        control_plane.apply_spark_crd()
    status = cluster.wait_phase("no-crd", "Submitted", timeout=90)
    assert status["attempt"] == 1
    assert cluster.get("sparkapplication", "no-crd-1") is not None
    assert "Traceback" not in operator.log()


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "Bogus"}, "spec.type"),
        ({"parameters": {"numTopics": 3}}, "spec.parameters"),
        (
            {"input": {"uri": "s3a://lake/c/", "startDate": "2026-02-01", "endDate": "2026-01-01"}},
            "spec.input.endDate",
        ),
        (
            {"input": {"uri": "s3a://lake/c/", "startDate": "2026-02-30", "endDate": "2026-03-01"}},
            "spec.input.startDate",
        ),
        (
            {
                "input": {
                    "uri": "s3a://lake/$(reboot)/",
                    "startDate": "2026-01-01",
                    "endDate": "2026-01-02",
                }
            },
            "spec.input.uri",
        ),
        (
            {"spark": {"env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "x"}]}},
            "spec.spark.env[0]",
        ),
        ({"spark": {"conf": {"spark.hadoop.fs.s3a.secret.key": "x"}}}, "spec.spark.conf"),
        ({"spark": {"driver": {"memory": "2g; rm -rf /"}}}, "spec.spark.driver.memory"),
    ],
)
def test_invalid_and_hostile_specs_are_rejected(
    cluster: Cluster, spec: dict[str, Any], field: str
) -> None:
    doc = job_doc("bad", **spec)
    doc["metadata"] = {"name": "bad", "namespace": cluster.ns}
    result = cluster.apply(doc)
    assert result.returncode != 0
    assert field in result.stderr, result.stderr
    assert cluster.get("hbj", "bad") is None


def test_long_names_are_rejected_by_the_api_server(cluster: Cluster) -> None:
    doc = job_doc("x" * 64)
    doc["metadata"] = {"name": "x" * 64, "namespace": cluster.ns}
    result = cluster.apply(doc)
    assert result.returncode != 0 and "63" in result.stderr


def test_spec_edits_are_refused_except_suspend_and_ttl(cluster: Cluster) -> None:
    job(cluster, "frozen")
    for patch, field in (
        ({"spec": {"output": {"uri": "s3a://lake/elsewhere/"}}}, "spec.output"),
        ({"spec": {"parameters": {"minConfidence": 0.9}}}, "spec.parameters"),
        ({"spec": {"backoffLimit": 5}}, "spec.backoffLimit"),
    ):
        result = cluster.patch_job("frozen", patch)
        assert result.returncode != 0 and "immutable" in result.stderr and field in result.stderr, (
            result.stderr
        )
    for allowed in ({"spec": {"suspend": True}}, {"spec": {"ttlSecondsAfterFinished": 60}}):
        assert cluster.patch_job("frozen", allowed).returncode == 0


def test_rendered_application_is_valid_for_the_real_spark_operator_crd(cluster: Cluster) -> None:
    """Strict server-side validation against the spark-operator's published v1beta2 schema:
    an unknown or mistyped field would be refused."""
    for sample in SAMPLES:
        out = subprocess.run(
            [sys.executable, "-m", "helix_batch.cli", "render", "-f", str(sample)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        app = yaml.safe_load(out.stdout)
        app["metadata"]["namespace"] = cluster.ns
        result = cluster.cp.kubectl(
            "create", "--dry-run=server", "--validate=strict", "-f", "-", input=json.dumps(app)
        )
        assert result.returncode == 0, (sample.name, result.stderr)
    broken = {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
              "metadata": {"name": "broken", "namespace": cluster.ns},
              "spec": {"type": "Python", "sparkVersion": "4.0.1", "mainApplicationFile": "x",
                       "driver": {"podName": 7}, "executor": {}, "restartPolicy": {"type": "Never"}}}  # fmt: skip
    result = cluster.cp.kubectl(
        "create", "--dry-run=server", "--validate=strict", "-f", "-", input=json.dumps(broken)
    )
    assert result.returncode != 0


@pytest.mark.own_control_plane
def test_the_operator_streams_only_driver_pods(control_plane: ControlPlane) -> None:
    """Pods are listed and watched with a server-side label selector: other pods of a served
    namespace never reach the operator (kopf would have streamed them all)."""
    reads = [
        (e["verb"], unquote(e["requestURI"]))
        for e in control_plane.audit_events("system:serviceaccount:helix-batch:helix-operator")
        if e.get("objectRef", {}).get("resource") == "pods" and e["verb"] in ("list", "watch")
    ]
    assert {verb for verb, _ in reads} == {"list", "watch"}
    assert all("labelSelector=batch.helixagent.io/job,spark-role=driver" in uri for _, uri in reads)


@pytest.mark.own_control_plane
def test_rbac_grants_nothing_the_operator_did_not_use(control_plane: ControlPlane) -> None:
    """Runs last: every (group, resource, verb) the operator's roles grant was used by the
    operator in this module, as the API server's audit log records it. A 404 counts: it is
    answered after authorization (the live read that confirms a driver pod is gone)."""
    used = used_by_operator(control_plane)
    granted = granted_by_operator_roles()
    # Checked by OwnerReferencesPermissionEnforcement inside SparkApplication creates (it sets
    # blockOwnerDeletion), so it never shows up as a request of its own; so for schedules.
    granted.discard(("batch.helixagent.io", "helixbatchjobs/finalizers", "update"))
    granted.discard(("batch.helixagent.io", "helixbatchschedules/finalizers", "update"))
    # Used by the schedules' tests, which may run after this module or alone.
    assert granted - SCHEDULE_GRANTS - used == set()


def granted_by_operator_roles() -> set[tuple[str, str, str]]:
    docs = yaml.safe_load_all((ROOT / "manifests" / "base" / "operator-rbac.yaml").read_text())
    return {
        (group, resource, verb)
        for doc in docs if doc["kind"] in ("Role", "ClusterRole")
        for rule in doc["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }  # fmt: skip


def used_by_operator(control_plane: ControlPlane) -> set[tuple[str, str, str]]:
    """(group, resource, verb) of the operator's authorized requests, from the audit log. A
    404 counts: it is answered after authorization."""
    return {
        (e["objectRef"].get("apiGroup", ""), _resource(e["objectRef"]), e["verb"])
        for e in control_plane.audit_events("system:serviceaccount:helix-batch:helix-operator")
        if "objectRef" in e
        and (e["responseStatus"]["code"] < 400 or e["responseStatus"]["code"] == 404)
    }


def _resource(ref: dict[str, str]) -> str:
    return ref["resource"] + ("/" + ref["subresource"] if ref.get("subresource") else "")
