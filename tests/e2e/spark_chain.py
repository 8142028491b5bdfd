"""The real spark-operator chain on the suite's control plane: kube-scheduler, the Kubeflow
spark-operator v2.4.0 controller and webhook (their own processes, as their own ServiceAccounts
with the chart's RBAC) and kwok, whose node runs the driver pods without containers and whose
stages (kwok-stages.yaml) finish them as a test says. ../shared/REAL-CLUSTER.md is the recipe.

The spark-operator serves only NAMESPACES: the rest of the suite plays its part itself
elsewhere. Driver pods in WEBHOOK_NAMESPACE pass its mutating webhook; in BARE_NAMESPACE only
the controller acts, as when the webhook is not installed; NO_DRIVER_SA_NAMESPACE lacks the
driver's ServiceAccount, so that every submission there fails.
"""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark
import yaml

from helix_batch.cli.run import ensure_java
from tests.e2e.controlplane import (
    BUILD_SCRIPT,
    ControlPlane,
    ControlPlaneError,
    Process,
    free_port,
    openssl,
)

HERE = Path(__file__).resolve().parent
WEBHOOK_NAMESPACE = "spark-chain"
BARE_NAMESPACE = "spark-chain-bare"
NO_DRIVER_SA_NAMESPACE = "spark-chain-no-sa"
NAMESPACES = (WEBHOOK_NAMESPACE, BARE_NAMESPACE, NO_DRIVER_SA_NAMESPACE)
OPERATOR_NAMESPACE = "spark-operator"
WEBHOOK_NAME = "spark-operator-webhook"
WEBHOOK_CERTS = "spark-operator-webhook-certs"
KWOK_NODE = "kwok-node-0"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
DRIVER_ROLE_MANIFEST = HERE.parents[1] / "manifests" / "base" / "spark-rbac.yaml"
# What a test annotates a running driver pod with to finish it (see kwok-stages.yaml).
EXIT_CODE_ANNOTATION = "e2e.batch.helixagent.io/exit-code"
REASON_ANNOTATION = "e2e.batch.helixagent.io/reason"
MESSAGE_ANNOTATION = "e2e.batch.helixagent.io/message"
CHAIN_BINARIES = ("KUBE_SCHEDULER", "SPARK_OPERATOR", "SPARK_OPERATOR_CRDS", "KWOK")
START_TIMEOUT = 120.0
# The controller writes each submission's pod templates under /tmp/spark/<submissionID>/ and
# never removes them: it runs in its own mount namespace, with a directory of the workdir there.
SUBMISSIONS_DIR = Path("/tmp/spark")
PRIVATE_MOUNT = 'mount --bind "$0" "$1" && shift && exec "$@"'


@dataclass(frozen=True)
class ChainAssets:
    kube_scheduler: Path
    spark_operator: Path
    crds: Path
    kwok: Path


def ensure_chain_assets() -> ChainAssets:
    """Runs build.sh --chain, which builds the binaries once into a cache outside the repo."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--chain"], stdout=subprocess.PIPE, text=True, check=False
    )
    if result.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT} --chain failed with exit code {result.returncode}")
    values = dict(line.partition("=")[::2] for line in result.stdout.splitlines())
    missing = [key for key in CHAIN_BINARIES if not values.get(key)]
    if missing:
        raise ControlPlaneError(f"{BUILD_SCRIPT} --chain printed no {', '.join(missing)}")
    return ChainAssets(*(Path(values[key]) for key in CHAIN_BINARIES))


def spark_home() -> Path:
    """The pyspark package directory: a Spark distribution with bin/spark-submit."""
    return Path(pyspark.__file__).resolve().parent


class SparkChain:
    """Starts the chain on ``cp``. Its processes die with the test process at the latest
    (PR_SET_PDEATHSIG). Use as a context manager, or call start() and stop().

    Without ``kwok``, there is no kwok node: the pods go to the real node of tests/e2e/node.py."""

    def __init__(self, cp: ControlPlane, kwok: bool = True) -> None:
        self.cp = cp
        self.kwok = kwok
        self.dir = cp.workdir / "spark-chain"
        self._processes: list[Process] = []

    def __enter__(self) -> SparkChain:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        # Webhooks on a port nobody serves would refuse every later driver pod and application.
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            self.cp.kubectl("delete", kind, WEBHOOK_NAME, "--ignore-not-found")

    def _start(self) -> None:
        assets = ensure_chain_assets()
        ensure_java()  # spark-submit, run by the controller, needs Java 17+
        self.dir.mkdir(parents=True, exist_ok=True)
        self._spawn_scheduler(assets.kube_scheduler)
        self._install(assets.crds)
        webhook_port = self._spawn_webhook(assets.spark_operator)
        self._register_webhook(webhook_port)
        self._spawn_controller(assets.spark_operator)
        if self.kwok:
            self._spawn_kwok(assets.kwok)

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Process:
        process = Process(name, args, self.dir / f"{name}.log", env)
        self._processes.append(process)
        return process

    def _wait(self, process: Process, what: str, ready: Any) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not process.alive():
                self._fail(process, f"exited with code {process.popen.returncode}")
            if ready():
                return
            time.sleep(0.3)
        self._fail(process, f"not {what} after {START_TIMEOUT:.0f}s")

    @staticmethod
    def _fail(process: Process, why: str) -> None:
        raise ControlPlaneError(
            f"{process.name} {why}; last lines of {process.log_path}:\n{process.log_tail()}"
        )

    def _spawn_scheduler(self, binary: Path) -> None:
        port = free_port()
        scheduler = self._spawn(
            "kube-scheduler",
            [
                str(binary),
                f"--kubeconfig={self.cp.kubeconfig}",
                f"--authentication-kubeconfig={self.cp.kubeconfig}",
                f"--authorization-kubeconfig={self.cp.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.dir / 'scheduler-certs'}",
            ],
        )
        self._wait(scheduler, "healthy", lambda: _https_ok(f"https://127.0.0.1:{port}/healthz"))

    def _install(self, crds: Path) -> None:
        """All three spark-operator CRDs (Established), its RBAC, and the job namespaces."""
        for crd in sorted(crds.glob("*.yaml")):
            self.cp.kubectl_ok("apply", "--server-side", "--force-conflicts", "-f", str(crd))
        for crd in sorted(crds.glob("*.yaml")):
            name = yaml.safe_load(crd.read_text())["metadata"]["name"]
            self.cp.kubectl_ok("wait", "--for=condition=Established", f"crd/{name}")
        self.cp.kubectl_ok("apply", "-f", str(HERE / "spark-operator-rbac.yaml"))
        driver_rbac = list(yaml.safe_load_all(DRIVER_ROLE_MANIFEST.read_text()))
        items: list[dict[str, Any]] = []
        for namespace in NAMESPACES:
            items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            for doc in driver_rbac if namespace != NO_DRIVER_SA_NAMESPACE else ():
                doc = json.loads(json.dumps(doc))
                doc["metadata"]["namespace"] = namespace
                for subject in doc.get("subjects", ()):
                    subject["namespace"] = namespace
                items.append(doc)
            items.append(_lake_secret(namespace))
            for who in ("controller", "webhook"):
                items.append(_job_namespace_binding(namespace, who))
        self.cp.kubectl_ok(
            "apply",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
        )
        # Labelled, not applied: the harness applies these namespaces again without labels.
        self.cp.kubectl_ok(
            "label", "--overwrite", "namespace", *NAMESPACES,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/enforce-version=latest",
        )  # fmt: skip

    def _operator_kubeconfig(self, who: str) -> Path:
        return self.cp.kubeconfig_for_service_account(OPERATOR_NAMESPACE, f"spark-operator-{who}")

    def _common_flags(self, kubeconfig: Path) -> list[str]:
        return [
            f"--kubeconfig={kubeconfig}",
            f"--namespaces={','.join(NAMESPACES)}",
            "--leader-election=false",
            "--metrics-bind-address=0",
        ]

    def _spawn_webhook(self, binary: Path) -> int:
        """The webhook in cert-manager mode: it serves the certificate of the Secret made here,
        signed by the control plane's CA for IP 127.0.0.1, and never makes its own."""
        pki = self.cp.pki
        d = self.dir
        # PKCS#1: the webhook reads only "RSA PRIVATE KEY".
        openssl("genrsa", "-traditional", "-out", str(d / "tls.key"), "2048")
        openssl(
            "req", "-x509", "-key", str(d / "tls.key"), "-CA", str(pki.ca_cert),
            "-CAkey", str(pki.ca_key), "-days", "2", "-out", str(d / "tls.crt"),
            "-subj", "/CN=spark-operator-webhook",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-addext", "extendedKeyUsage=serverAuth",
        )  # fmt: skip
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": WEBHOOK_CERTS, "namespace": OPERATOR_NAMESPACE},
            "data": {
                "ca.crt": _b64(pki.ca_cert),
                "tls.crt": _b64(d / "tls.crt"),
                "tls.key": _b64(d / "tls.key"),
            },
        }
        self.cp.kubectl_ok("apply", "-f", "-", input=json.dumps(secret))
        port, health = free_port(), free_port()
        webhook = self._spawn(
            "spark-operator-webhook",
            [
                str(binary), "webhook", "start",
                *self._common_flags(self._operator_kubeconfig("webhook")),
                "--enable-cert-manager=true",
                f"--webhook-secret-name={WEBHOOK_CERTS}",
                f"--webhook-secret-namespace={OPERATOR_NAMESPACE}",
                f"--webhook-cert-dir={d / 'webhook-certs'}",
                f"--webhook-port={port}",
                f"--health-probe-bind-address=127.0.0.1:{health}",
            ],
        )  # fmt: skip
        self._wait(webhook, "serving TLS", lambda: _tls_serves(port, pki.ca_cert))
        return port

    def _register_webhook(self, port: int) -> None:
        ca_bundle = _b64(self.cp.pki.ca_cert)
        only_webhook_namespace = {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "In",
                    "values": [WEBHOOK_NAMESPACE],
                }
            ]
        }

        def hook(path: str, rule: dict[str, list[str]]) -> dict[str, Any]:
            return {
                "name": f"{path.lstrip('/')}.sparkoperator.k8s.io",
                "admissionReviewVersions": ["v1"],
                "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca_bundle},
                "sideEffects": "NoneOnDryRun",
                "failurePolicy": "Fail",
                "timeoutSeconds": 10,
                "namespaceSelector": only_webhook_namespace,
                "rules": [rule],
            }

        pod_hook = hook(
            "/mutate--v1-pod",
            {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
             "operations": ["CREATE"]},
        )  # fmt: skip
        pod_hook["objectSelector"] = {
            "matchLabels": {"sparkoperator.k8s.io/launched-by-spark-operator": "true"}
        }
        apps = {"apiGroups": ["sparkoperator.k8s.io"], "apiVersions": ["v1beta2"],
                "resources": ["sparkapplications"], "operations": ["CREATE", "UPDATE"]}  # fmt: skip
        path = "sparkoperator-k8s-io-v1beta2-sparkapplication"
        mutating = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": WEBHOOK_NAME},
            "webhooks": [pod_hook, hook(f"/mutate-{path}", apps)],
        }
        validating = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": WEBHOOK_NAME},
            "webhooks": [hook(f"/validate-{path}", apps)],
        }
        items = {"apiVersion": "v1", "kind": "List", "items": [mutating, validating]}
        self.cp.kubectl_ok("apply", "-f", "-", input=json.dumps(items))

    def _spawn_controller(self, binary: Path) -> None:
        kubeconfig = self._operator_kubeconfig("controller")
        health = free_port()
        server = self.cp.server_url.removeprefix("https://")
        host, _, port = server.rpartition(":")
        submissions = self.dir / "submissions"
        submissions.mkdir()
        SUBMISSIONS_DIR.mkdir(parents=True, exist_ok=True)
        controller = self._spawn(
            "spark-operator-controller",
            [
                "unshare",
                "--mount",
                "--map-root-user",
                "--propagation",
                "private",
                "sh",
                "-c",
                PRIVATE_MOUNT,
                str(submissions),
                str(SUBMISSIONS_DIR),
                str(binary),
                "controller",
                "start",
                *self._common_flags(kubeconfig),
                f"--health-probe-bind-address=127.0.0.1:{health}",
                "--enable-ui-service=false",
            ],
            env={
                "SPARK_HOME": str(spark_home()),
                # The controller's spark-submit gets its master URL from these, as in a pod.
                "KUBERNETES_SERVICE_HOST": host,
                "KUBERNETES_SERVICE_PORT": port,
                "KUBECONFIG": str(kubeconfig),  # what spark-submit authenticates with
            },
        )
        self._wait(controller, "ready", lambda: _http_ok(f"http://127.0.0.1:{health}/readyz"))

    def _spawn_kwok(self, binary: Path) -> None:
        kwok = self._spawn(
            "kwok",
            [
                str(binary),
                f"--kubeconfig={self.cp.kubeconfig}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--manage-nodes-with-label-selector=",
                "--cidr=10.250.0.1/24",
                "--node-ip=10.250.0.1",
                f"--server-address=127.0.0.1:{free_port()}",
                f"--config={HERE / 'kwok-stages.yaml'}",
            ],
        )
        self.cp.kubectl_ok("apply", "-f", "-", input=json.dumps(_kwok_node()))
        self._wait(kwok, "managing a Ready node", self._node_ready)
        # Admission taints a new node not-ready; with no node lifecycle controller, nothing
        # would lift it, and no pod would be scheduled.
        self.cp.kubectl("taint", "node", KWOK_NODE, f"{NOT_READY_TAINT}:NoSchedule-")

    def _node_ready(self) -> bool:
        node = json.loads(self.cp.kubectl_ok("get", "node", KWOK_NODE, "-o", "json"))
        conditions = node.get("status", {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def finish_driver(self, namespace: str, pod: str, exit_code: int, **notes: str) -> None:
        """Lets kwok end the running driver ``pod`` with ``exit_code``; ``notes``: reason and
        message (the termination message) to report instead of the defaults."""
        annotations = {EXIT_CODE_ANNOTATION: str(exit_code)}
        if "reason" in notes:
            annotations[REASON_ANNOTATION] = notes["reason"]
        if "message" in notes:
            annotations[MESSAGE_ANNOTATION] = notes["message"]
        self.cp.kubectl_ok(
            "annotate", "pod", pod, "-n", namespace, *(f"{k}={v}" for k, v in annotations.items())
        )

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _lake_secret(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "helix-lake-credentials", "namespace": namespace},
        "stringData": {"AWS_ACCESS_KEY_ID": "e2e-key", "AWS_SECRET_ACCESS_KEY": "e2e-secret"},
    }


def _job_namespace_binding(namespace: str, who: str) -> dict[str, Any]:
    name = f"spark-operator-{who}"
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": f"{name}-jobs",
        },
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": OPERATOR_NAMESPACE}],
    }


def _kwok_node() -> dict[str, Any]:
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": KWOK_NODE,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": KWOK_NODE},
        },
        "status": {"capacity": resources, "allocatable": resources},
    }


def _https_ok(url: str) -> bool:
    # A component's self-signed serving certificate, on loopback: reachability is the question.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return _http_ok(url, context)


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    return ControlPlane._http_ok(url, context)


def _tls_serves(port: int, ca: Path) -> bool:
    """Whether the webhook answers TLS on 127.0.0.1 with a certificate the CA signed."""
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return True
    except OSError:
        return False


def main() -> None:
    """``python -m tests.e2e.spark_chain``: the control plane and the chain, for debugging by
    hand, until Ctrl-C."""
    # Ctrl-C, or a SIGTERM, stops everything; a shell ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    with ControlPlane() as cp, SparkChain(cp) as chain:
        print(f"up in {time.monotonic() - started:.0f}s; logs in {chain.dir}", flush=True)
        print(f"export KUBECONFIG={cp.kubeconfig}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
