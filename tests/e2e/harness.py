"""The operator as a real process against the real API, and the spark-operator's part played
through the API where no real spark-operator serves the namespace: driver pods created the way
spark-operator names and labels them, and moved through their phases via the status subresource.

On a cluster with a real spark-operator (tests/kind/e2e-kind.sh installs one for the namespace
helix-batch only), its namespaces get real driver pods from it, run by the real kubelet. The
test namespaces (e2e-xxxx) are not among them: there the harness plays spark-operator, for
scenarios a real kubelet cannot produce (OOMKilled, a driver that never starts, given exit
codes, sidecars), and a scheduling gate keeps the scheduler, and so any kubelet, away from its
pods.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from helix_batch.operator.crd import CRD_DIR
from helix_batch.operator.names import DRIVER_CONTAINER
from tests.e2e.controlplane import KubeCluster, free_port

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "helix-batch"
# Comma-separated namespaces a real spark-operator serves (empty: none); overrides detection.
SPARK_OPERATOR_NAMESPACES_ENV = "HELIX_E2E_SPARK_OPERATOR_NAMESPACES"
SPARK_OPERATOR_SELECTOR = (
    "app.kubernetes.io/name=spark-operator,app.kubernetes.io/component=controller"
)
# Never lifted: the harness's driver pods are never scheduled, so no kubelet overwrites the
# status the harness gives them.
HARNESS_SCHEDULING_GATE = "batch.helixagent.io/e2e-harness"
# A real driver pod comes from spark-submit inside the spark-operator's pod.
REAL_DRIVER_TIMEOUT = 180.0
T = TypeVar("T")
# What the operator's roles grant for schedules alone (test_schedules.py proves them used):
# (group, resource, verb), as the API server's audit log names them.
SCHEDULE_GRANTS = frozenset({
    ("batch.helixagent.io", "helixbatchschedules", "get"),
    ("batch.helixagent.io", "helixbatchschedules/status", "patch"),
    ("batch.helixagent.io", "helixbatchjobs", "create"),
})  # fmt: skip


def watched_namespaces(controllers: list[dict[str, Any]]) -> list[str]:
    """The namespaces the spark-operator controller Deployments (of the Helm chart) serve."""
    namespaces: list[str] = []
    for deployment in controllers:
        containers = deployment["spec"]["template"]["spec"]["containers"]
        args = [a for c in containers for a in c.get("args", [])]
        flag = "--namespaces="
        watched = [n for a in args if a.startswith(flag) for n in a.removeprefix(flag).split(",")]
        if not watched or any(n in ("", '""') for n in watched):
            raise AssertionError(
                "the spark-operator watches every namespace, so it would race the harness in "
                "the test namespaces: install it with spark.jobNamespaces"
            )
        namespaces += watched
    return namespaces


def spark_operator_namespaces(cp: KubeCluster) -> list[str]:
    """The namespaces a real spark-operator serves: none on the suite's own control plane."""
    override = os.environ.get(SPARK_OPERATOR_NAMESPACES_ENV)
    if override is not None:
        return [n for n in override.split(",") if n]
    out = cp.kubectl_ok("get", "deployments", "-A", "-l", SPARK_OPERATOR_SELECTOR, "-o", "json")
    return watched_namespaces(json.loads(out)["items"])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def install_operator(cp: KubeCluster) -> Path:
    """CRDs and the operator's RBAC installed; returns the operator's own kubeconfig."""
    for crd in ("helixbatchjob.yaml", "helixbatchschedule.yaml"):
        cp.kubectl_ok("apply", "-f", str(CRD_DIR / crd))
    cp.apply_spark_crd()
    for crd in ("helixbatchjobs", "helixbatchschedules"):
        cp.kubectl_ok("wait", "--for=condition=Established", f"crd/{crd}.batch.helixagent.io")
    # Idempotent: the deploy suite may have installed the base into the same control plane.
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}}
    cp.kubectl_ok("apply", "-f", "-", input=json.dumps(namespace))
    cp.kubectl_ok("apply", "-f", str(ROOT / "manifests" / "base" / "operator-rbac.yaml"))
    return cp.kubeconfig_for_service_account(OPERATOR_NAMESPACE, "helix-operator")


class OperatorProcess:
    """An operator process of a test, its output going to a log file, its metrics port on
    this host."""

    started: ClassVar[list[OperatorProcess]] = []

    def __init__(
        self, cp: KubeCluster, name: str, argv: list[str], env: dict[str, str], port: int
    ) -> None:
        self.cp = cp
        self.name = name
        self.log_path = cp.workdir / f"operator-{name}-{time.monotonic_ns()}.log"
        self.port = port
        self.process = subprocess.Popen(
            argv, env=env, stdout=self.log_path.open("w"), stderr=subprocess.STDOUT, cwd=ROOT
        )
        OperatorProcess.started.append(self)

    def log(self) -> str:
        return self.log_path.read_text()

    def probe(self, path: str) -> tuple[int, str] | None:
        """(status, body) of a GET on the operator's metrics port; None until it listens."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError:
            return None

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Operator(OperatorProcess):
    """``helix-operator`` in a subprocess, authenticated as its own ServiceAccount."""

    def __init__(
        self, cp: KubeCluster, kubeconfig: Path, name: str, namespace: str, **env: str
    ) -> None:
        port = free_port()
        settings = {
            "HELIX_NAMESPACES": namespace,
            "HELIX_LEASE_SECONDS": "3",
            "HELIX_MISSING_DRIVER_GRACE_SECONDS": "2",
            "HELIX_RETRY_BACKOFF_BASE_SECONDS": "1",
            "HELIX_RETRY_BACKOFF_CAP_SECONDS": "4",
            "HELIX_METRICS_PORT": str(port),
            **env,
        }
        argv = [sys.executable, "-m", "helix_batch.operator.operator_main"]
        environment = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "POD_NAMESPACE": OPERATOR_NAMESPACE,
            "POD_NAME": name,
            **settings,
        }
        super().__init__(cp, name, argv, environment, port)


class Cluster:
    """kubectl helpers for one namespace (created if missing), served by the operator through a
    RoleBinding of its ClusterRole, as manifests/base/operator-rbac.yaml does for its own (but
    not with ``bind_operator=False``: an installation's own RoleBinding serves it)."""

    def __init__(self, cp: KubeCluster, namespace: str, bind_operator: bool = True) -> None:
        self.cp = cp
        self.ns = namespace
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "helix-operator", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "helix-operator",
            },
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": "helix-operator",
                    "namespace": OPERATOR_NAMESPACE,
                }
            ],
        }
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        objects = [ns, binding] if bind_operator else [ns]
        items = {"apiVersion": "v1", "kind": "List", "items": objects}
        cp.kubectl_ok("apply", "-f", "-", input=json.dumps(items))
        self.spark_operator_is_real = namespace in spark_operator_namespaces(cp)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        result = self.cp.kubectl("get", kind, name, "-n", self.ns, "-o", "json")
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        obj: dict[str, Any] = json.loads(result.stdout)
        return obj

    def names(self, kind: str, selector: str = "") -> list[str]:
        args = ["get", kind, "-n", self.ns, "-o", "json"] + (["-l", selector] if selector else [])
        return sorted(i["metadata"]["name"] for i in json.loads(self.cp.kubectl_ok(*args))["items"])

    def apply(self, doc: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return self.cp.kubectl("apply", "-n", self.ns, "-f", "-", input=json.dumps(doc))

    def patch_job(self, job: str, patch: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return self.cp.kubectl(
            "patch", "hbj", job, "-n", self.ns, "--type=merge", "-p", json.dumps(patch)
        )

    def event_reasons(self, job: str) -> list[str]:
        selector = f"involvedObject.name={job}"
        out = self.cp.kubectl_ok(
            "get", "events", "-n", self.ns, "--field-selector", selector, "-o", "json"
        )
        return [e["reason"] for e in json.loads(out)["items"]]

    def status(self, job: str) -> dict[str, Any]:
        body = self.get("hbj", job)
        return (body or {}).get("status") or {}

    def wait_phase(self, job: str, phase: str, timeout: float = 60.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status(job)
            return status if status.get("phase") == phase else None

        return wait_for(
            f"{job} to be {phase} (now {self.status(job).get('phase')})", reached, timeout
        )

    def start_driver(self, app_name: str, sidecar: bool = False) -> str:
        """The driver pod of the SparkApplication: the real spark-operator's, once it has made
        it, or else one the harness makes as spark-operator would."""
        app = wait_for(
            f"SparkApplication {app_name}", lambda: self.get("sparkapplication", app_name)
        )
        spec = app["spec"]
        pod_name: str = spec["driver"]["podName"]
        if self.spark_operator_is_real:
            wait_for(
                f"the spark-operator's driver pod {pod_name}",
                lambda: self.get("pod", pod_name),
                timeout=REAL_DRIVER_TIMEOUT,
            )
            return pod_name
        # spark-submit builds the pod from the application's template: its security contexts
        # let it into a namespace that enforces restricted Pod Security.
        template = spec["driver"].get("template", {}).get("spec", {})
        driver: dict[str, Any] = {"name": DRIVER_CONTAINER, "image": spec["image"]}
        for c in template.get("containers", []):
            if c["name"] == DRIVER_CONTAINER and "securityContext" in c:
                driver["securityContext"] = c["securityContext"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": self.ns,
                "labels": {
                    **app["metadata"]["labels"],
                    "spark-role": "driver",
                    "sparkoperator.k8s.io/app-name": app_name,
                    "sparkoperator.k8s.io/launched-by-spark-operator": "true",
                },
                "ownerReferences": [
                    {
                        "apiVersion": app["apiVersion"],
                        "kind": "SparkApplication",
                        "name": app_name,
                        "uid": app["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "schedulingGates": [{"name": HARNESS_SCHEDULING_GATE}],
                "securityContext": template.get("securityContext", {}),
                "containers": [driver],
            },
        }
        if sidecar:
            pod["spec"]["containers"].append({"name": "sidecar", "image": "proxy:1"})  # type: ignore[index]
        self.cp.kubectl_ok("create", "-f", "-", input=json.dumps(pod))
        return pod_name

    def driver_result(self, pod: str) -> dict[str, Any]:
        """The result the finished driver wrote as its termination message."""
        body = self.get("pod", pod) or {}
        statuses = body.get("status", {}).get("containerStatuses") or []
        driver = next(s for s in statuses if s["name"] == DRIVER_CONTAINER)
        result: dict[str, Any] = json.loads(driver["state"]["terminated"]["message"])
        return result

    def set_pod_status(
        self,
        pod: str,
        phase: str,
        driver_state: dict[str, Any],
        sidecar: bool = False,
        **extra: Any,
    ) -> None:
        statuses = [{"name": DRIVER_CONTAINER, "state": driver_state, "ready": False,
                     "restartCount": 0, "image": "x", "imageID": ""}]  # fmt: skip
        if sidecar:
            statuses.append({"name": "sidecar", "state": {"running": {}}, "ready": True,
                             "restartCount": 0, "image": "x", "imageID": ""})  # fmt: skip
        patch = {"status": {"phase": phase, "containerStatuses": statuses, **extra}}
        self.cp.kubectl_ok(
            "patch", "pod", pod, "-n", self.ns, "--subresource=status", "--type=merge",
            "-p", json.dumps(patch),
        )  # fmt: skip


def running_state() -> dict[str, Any]:
    return {"running": {"startedAt": "2026-01-01T00:00:00Z"}}


def terminated_state(code: int, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "terminated": {
            "exitCode": code,
            "reason": reason,
            "message": message,
            "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:01:00Z",
        }
    }
