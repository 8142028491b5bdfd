"""The operator as `helm install` of charts/helix-batch leaves it, at work.

A control plane of its own (as tests/deploy/test_helm.py: kustomize's ClusterRoles would stop
Helm) gets the release with the production values, two watched namespaces and a job policy of
its own. There is no container runtime, so each replica of the installed Deployment runs as a
process configured from the installed objects only (tests/e2e/pod_process.py): the command and
environment of its container, the policy file from its ConfigMap volume, and a token of the
chart's ServiceAccount as its only credential. The e2e scenarios of test_operator.py then run
against it in each watched namespace, and the API server's audit log must hold no request of
the operator's that RBAC refused: whatever the chart fails to grant fails a scenario.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.manifests import MANIFESTS, NAMESPACE
from tests.deploy.test_helm import CHART, RELEASE, helm
from tests.e2e.controlplane import ControlPlane, free_port
from tests.e2e.harness import Cluster, OperatorProcess, wait_for
from tests.e2e.pod_process import pod_process
from tests.e2e.test_operator import (  # noqa: F401 - run here against the chart's operator
    job,
    test_deletion_cancels_and_garbage_collects,
    test_success_with_result_columns_and_wait,
    test_suspend_and_resume,
    test_ttl_after_finished,
)

pytestmark = pytest.mark.own_control_plane

TEAM = "helix-team"  # a watched namespace that is not the release's
WATCHED = (NAMESPACE, TEAM)
# values.yaml allows 8 cores per pod, as the operator does with no policy file: a job asking
# for 6 is refused only if the release's policy reached the operator.
MAX_CORES = 4
OPERATOR_USER = f"system:serviceaccount:{NAMESPACE}:helix-operator"
# What Spark's driver does with its ServiceAccount (Spark's "Running on Kubernetes" docs, RBAC).
DRIVER_NEEDS = (
    ("create", "pods"), ("get", "pods"), ("watch", "pods"), ("delete", "pods"),
    ("create", "services"), ("create", "configmaps"),
)  # fmt: skip


@pytest.fixture(scope="module")
def released() -> Iterator[ControlPlane]:
    with ControlPlane() as cp, tempfile.TemporaryDirectory() as tmp:
        cp.apply_spark_crd()
        cp.kubectl_ok("apply", "--server-side", "-f", str(MANIFESTS / "base" / "namespace.yaml"))
        cp.kubectl_ok("create", "namespace", TEAM)
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(f"maxCores: {MAX_CORES}\n")
        helm(
            "install", RELEASE, str(CHART), "-n", NAMESPACE,
            "-f", str(CHART / "values-production.yaml"),
            "--set", f"watchNamespaces={{{','.join(WATCHED)}}}", "--set-file", f"jobPolicy={policy}",
            kubeconfig=cp.kubeconfig,
        )  # fmt: skip
        yield cp


def probe_path(container: dict[str, Any], probe: str) -> str:
    path: str = container[probe]["httpGet"]["path"]
    return path


@pytest.fixture(scope="module")
def replicas(released: ControlPlane) -> Iterator[list[OperatorProcess]]:
    """One process per replica of the installed Deployment, all ready by its readiness probe."""
    deployment = json.loads(
        released.kubectl_ok("get", "deployment", "helix-operator", "-n", NAMESPACE, "-o", "json")
    )
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    # The probes reach the port named metrics; each process gets a free one of its own.
    port_setting = next(e for e in container["env"] if e["name"] == "HELIX_METRICS_PORT")
    (metrics,) = [p for p in container["ports"] if p["name"] == "metrics"]
    assert port_setting["value"] == str(metrics["containerPort"])
    started: list[OperatorProcess] = []
    try:
        for _ in range(deployment["spec"]["replicas"]):
            name = f"helix-operator-{uuid.uuid4().hex[:5]}"
            port = free_port()
            run = pod_process(
                released, NAMESPACE, template, name, released.workdir / name,
                overrides={"HELIX_METRICS_PORT": str(port)},
            )  # fmt: skip
            started.append(OperatorProcess(released, name, run.argv, run.env, port))
        for path in (
            probe_path(container, "livenessProbe"),
            probe_path(container, "readinessProbe"),
        ):
            for replica in started:
                wait_for(f"{replica.name} {path}", partial(answers, replica, path))
        yield started
    finally:
        for replica in started:
            replica.stop()
            # Their logs go with the control plane's folder.
            if replica in OperatorProcess.started:
                OperatorProcess.started.remove(replica)


def answers(replica: OperatorProcess, path: str) -> bool:
    return (replica.probe(path) or (0, ""))[0] == 200


@pytest.fixture(scope="module")
def leader(replicas: list[OperatorProcess]) -> OperatorProcess:
    leaders = [r for r in replicas if r.probe("/readyz") == (200, "leader")]
    assert len(leaders) == 1, [r.probe("/readyz") for r in replicas]
    return leaders[0]


@pytest.fixture(params=WATCHED)
def cluster(released: ControlPlane, request: pytest.FixtureRequest) -> Cluster:
    """A watched namespace as the release left it: no RoleBinding of the harness's."""
    return Cluster(released, request.param, bind_operator=False)


@pytest.fixture
def spark_cluster(cluster: Cluster) -> Cluster:
    return cluster


@pytest.fixture
def operator(
    released: ControlPlane, replicas: list[OperatorProcess], leader: OperatorProcess
) -> Iterator[OperatorProcess]:
    """The leading replica; nothing any replica asked for during the test was refused."""
    OperatorProcess.started.extend(r for r in replicas if r not in OperatorProcess.started)
    seen = len(released.audit_events(OPERATOR_USER))
    logged = {r.name: len(r.log()) for r in replicas}
    yield leader
    requests = released.audit_events(OPERATOR_USER)[seen:]
    assert requests, f"no request of {OPERATOR_USER} in the audit log"
    refused = [(e["verb"], e["requestURI"]) for e in requests if e["responseStatus"]["code"] == 403]
    assert refused == [], f"RBAC refused the operator: {refused}"
    for replica in replicas:
        assert "Forbidden" not in replica.log()[logged[replica.name] :], replica.log()[-3000:]


@pytest.fixture
def spark_operator(operator: OperatorProcess) -> OperatorProcess:
    return operator


def test_the_releases_job_policy_refuses_jobs(cluster: Cluster, operator: OperatorProcess) -> None:
    suffix = uuid.uuid4().hex[:6]
    cores = MAX_CORES + 2
    refused: list[tuple[str, dict[str, Any], str]] = [
        (
            f"cores-{suffix}",
            {"executor": {"cores": cores}},
            f"spec.spark.executor.cores: {cores} is above the policy's maximum of {MAX_CORES}",
        ),
        (
            f"image-{suffix}",
            {"image": "docker.io/evil/miner:latest"},
            "spec.spark.image: docker.io/evil/miner is not an allowed repository",
        ),
    ]
    for name, spark, _ in refused:
        job(cluster, name, spark=spark)
    for name, _, message in refused:
        status = cluster.wait_phase(name, "Failed")
        assert status["reason"] == "PolicyViolation" and message in status["message"], status
        assert cluster.get("sparkapplication", f"{name}-1") is None
        wait_for("the Warning Event", partial(posted, cluster, name, "PolicyViolation"))


def posted(cluster: Cluster, name: str, reason: str) -> bool:
    return reason in cluster.event_reasons(name)


def test_each_watched_namespace_has_the_driver_identity(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    """The ServiceAccount each SparkApplication names exists where it runs, with the rights
    Spark's driver uses."""
    name = f"identity-{uuid.uuid4().hex[:6]}"
    job(cluster, name)
    cluster.wait_phase(name, "Submitted")
    app = cluster.get("sparkapplication", f"{name}-1")
    assert app is not None
    account = app["spec"]["driver"]["serviceAccount"]
    assert cluster.get("serviceaccount", account) is not None
    subject = f"--as=system:serviceaccount:{cluster.ns}:{account}"
    for verb, resource in DRIVER_NEEDS:
        answer = cluster.cp.kubectl("auth", "can-i", verb, resource, "-n", cluster.ns, subject)
        assert answer.stdout.strip() == "yes", (verb, resource, answer.stdout, answer.stderr)
    other = "default"  # nor anywhere it was not granted
    answer = cluster.cp.kubectl("auth", "can-i", "create", "pods", "-n", other, subject)
    assert answer.stdout.strip() == "no", answer.stdout
