"""The operator as a real process against the real API, and the spark-operator's part played
through the API (there is no kubelet here): driver pods created the way spark-operator names
and labels them, and moved through their phases via the status subresource."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from tests.e2e.controlplane import ControlPlane, free_port

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "helix-batch"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


class Operator:
    """``helix-operator`` in a subprocess, authenticated as its own ServiceAccount."""

    started: ClassVar[list[Operator]] = []

    def __init__(
        self, cp: ControlPlane, kubeconfig: Path, name: str, namespace: str, **env: str
    ) -> None:
        self.cp = cp
        self.name = name
        self.log_path = cp.workdir / f"operator-{name}-{time.monotonic_ns()}.log"
        self.port = free_port()
        settings = {
            "HELIX_NAMESPACES": namespace,
            "HELIX_RESYNC_SECONDS": "1",
            "HELIX_LEASE_SECONDS": "3",
            "HELIX_MISSING_DRIVER_GRACE_SECONDS": "2",
            "HELIX_RETRY_BACKOFF_BASE_SECONDS": "1",
            "HELIX_RETRY_BACKOFF_CAP_SECONDS": "4",
            "HELIX_METRICS_PORT": str(self.port),
            **env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "helix_batch.operator_main"],
            env={
                **os.environ,
                "KUBECONFIG": str(kubeconfig),
                "POD_NAMESPACE": OPERATOR_NAMESPACE,
                "POD_NAME": name,
                **settings,
            },
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        Operator.started.append(self)

    def log(self) -> str:
        return self.log_path.read_text()

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


class Cluster:
    """kubectl helpers for one test namespace, served by the operator through a RoleBinding
    of its ClusterRole, as manifests/base/operator-rbac.yaml does for its own namespace."""

    def __init__(self, cp: ControlPlane, namespace: str) -> None:
        self.cp = cp
        self.ns = namespace
        cp.kubectl_ok("create", "namespace", namespace)
        cp.kubectl_ok(
            "create", "rolebinding", "helix-operator", "-n", namespace,
            "--clusterrole=helix-operator", f"--serviceaccount={OPERATOR_NAMESPACE}:helix-operator",
        )  # fmt: skip

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
        """Create the driver pod spark-operator would create for the SparkApplication."""
        app = wait_for(
            f"SparkApplication {app_name}", lambda: self.get("sparkapplication", app_name)
        )
        spec = app["spec"]
        pod_name: str = spec["sparkConf"]["spark.kubernetes.driver.pod.name"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": self.ns,
                "labels": {
                    **spec["driver"]["labels"],
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
            "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": spec["image"]}]},
        }
        if sidecar:
            pod["spec"]["containers"].append({"name": "sidecar", "image": "proxy:1"})  # type: ignore[index]
        self.cp.kubectl_ok("create", "-f", "-", input=json.dumps(pod))
        return pod_name

    def set_pod_status(
        self,
        pod: str,
        phase: str,
        driver_state: dict[str, Any],
        sidecar: bool = False,
        **extra: Any,
    ) -> None:
        statuses = [{"name": "spark-kubernetes-driver", "state": driver_state, "ready": False,
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
