"""A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager.

The binaries are built from the Kubernetes and etcd Go modules by
tests/controlplane/build.sh (or taken from KUBEBUILDER_ASSETS), the way envtest does it. There is
no kubelet: pods are stored and admitted but never run, unless a test adds the real node of
tests/e2e/node.py to a ControlPlane(real_nodes=True).

The suites see it as a KubeCluster, as they see an existing cluster (ExistingCluster, e.g. kind).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tests" / "controlplane" / "build.sh"

# The names kube-controller-manager 1.36 lists (short ones like "garbagecollector" are aliases).
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "job-controller",
    "cronjob-controller",
    "serviceaccount-token-controller",
    "serviceaccount-controller",
    # The built-in edit/view roles take in helix-batch's aggregated ClusterRoles.
    "clusterrole-aggregation-controller",
)
# With real nodes: every namespace gets the kube-root-ca.crt ConfigMap that the kubelet mounts
# into each pod's ServiceAccount token volume, and Services their EndpointSlices, from which the
# cluster DNS answers (executors find their driver by its headless Service's name).
NODE_CONTROLLERS = ("root-ca-certificate-publisher-controller", "endpointslice-controller")
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
# Every request of a ServiceAccount, at Metadata level: what the tests prove RBAC against.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
"""
SPARK_CRD_NAME = "sparkapplications.sparkoperator.k8s.io"
START_TIMEOUT = 60.0
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


class ControlPlaneError(RuntimeError):
    pass


@dataclass(frozen=True)
class Assets:
    bin_dir: Path
    spark_crd: Path | None


def ensure_assets() -> Assets:
    """Runs build.sh, which builds the binaries once into a cache outside the repo."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=None, text=True, check=False
    )
    if result.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit code {result.returncode}")
    values: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value
    if not values.get("BIN_DIR"):
        raise ControlPlaneError(f"{BUILD_SCRIPT} printed no BIN_DIR:\n{result.stdout}")
    crd = values.get("SPARK_CRD", "")
    return Assets(bin_dir=Path(values["BIN_DIR"]), spark_crd=Path(crd) if crd else None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def openssl(*args: str) -> None:
    result = subprocess.run(
        ["openssl", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    if result.returncode != 0:
        raise ControlPlaneError(f"openssl {' '.join(args)} failed:\n{result.stdout}")


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path


def make_pki(directory: Path) -> Pki:
    """A CA, the apiserver's serving cert, an admin client cert and a service-account key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    d = str(directory)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2")
    openssl(
        "req", "-x509", *ec, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt",
        "-subj", "/CN=helix-batch-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    signed_by_ca = ("-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key")
    openssl(
        "req", "-x509", *ec, *signed_by_ca,
        "-keyout", f"{d}/apiserver.key", "-out", f"{d}/apiserver.crt",
        "-subj", "/CN=kube-apiserver",
        # 10.244.77.1: the real node's bridge, where its pods reach the API (tests/e2e/node.py).
        "-addext", "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,IP:10.244.77.1,DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature",
        "-addext", "extendedKeyUsage=serverAuth",
    )  # fmt: skip
    openssl(
        "req", "-x509", *ec, *signed_by_ca, "-keyout", f"{d}/admin.key", "-out", f"{d}/admin.crt",
        "-subj", "/O=system:masters/CN=helix-batch-test-admin",
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature",
        "-addext", "extendedKeyUsage=clientAuth",
    )  # fmt: skip
    openssl(
        "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", f"{d}/sa.key"
    )
    openssl("pkey", "-in", f"{d}/sa.key", "-pubout", "-out", f"{d}/sa.pub")
    return Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )


def write_kubeconfig(path: Path, cluster: dict[str, Any], user: dict[str, str]) -> Path:
    """A kubeconfig of one cluster entry (server, CA) and one user."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "helix-test", "cluster": cluster}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "helix-test", "context": {"cluster": "helix-test", "user": "user"}}],
        "current-context": "helix-test",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def _die_with_parent() -> None:
    # If the test process is killed outright (no teardown), the kernel kills the child too.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Process:
    """A child process in its own process group, its output going to a log file."""

    def __init__(
        self, name: str, args: list[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.popen = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            env={**os.environ, **env} if env else None,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Anything the process left behind in its group goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._log.close()


class KubeCluster(ABC):
    """A cluster the suites reach with kubectl as admin, and a scratch directory for their files.

    Use as a context manager, or call start() and stop().
    """

    def __init__(self, workdir_prefix: str) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=workdir_prefix))
        self.kubectl_path = shutil.which("kubectl") or "kubectl"

    @property
    @abstractmethod
    def kubeconfig(self) -> Path:
        """The admin kubeconfig."""

    @abstractmethod
    def start(self) -> None: ...

    def stop(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> KubeCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        input: str | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Runs the real kubectl against this cluster; never raises on a non-zero exit."""
        return subprocess.run(
            [self.kubectl_path, f"--kubeconfig={kubeconfig or self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def kubectl_ok(self, *args: str, input: str | None = None) -> str:
        """Runs kubectl as admin and returns its stdout, raising when it fails."""
        result = self.kubectl(*args, input=input)
        if result.returncode != 0:
            raise ControlPlaneError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
            )
        return result.stdout

    def kubeconfig_for_service_account(self, namespace: str, name: str) -> Path:
        """A kubeconfig authenticating as the ServiceAccount, through a TokenRequest token, to the
        server of the admin kubeconfig."""
        token = self.kubectl_ok("create", "token", name, "-n", namespace, "--duration=6h").strip()
        admin = json.loads(self.kubectl_ok("config", "view", "--minify", "--flatten", "-o", "json"))
        return write_kubeconfig(
            self.workdir / f"sa-{namespace}-{name}.kubeconfig",
            admin["clusters"][0]["cluster"],
            {"token": token},
        )

    def apply_spark_crd(self) -> None:
        """Installs the spark-operator's SparkApplication CRD and waits until it is served.

        A CRD already there is left alone: on a cluster with the real spark-operator, its Helm
        chart owns it."""
        if self.kubectl("get", "crd", SPARK_CRD_NAME).returncode != 0:
            crd = ensure_assets().spark_crd
            if crd is None:
                raise ControlPlaneError(
                    "the spark-operator SparkApplication CRD is not in the cache: "
                    f"see the warnings of {BUILD_SCRIPT}"
                )
            # Server-side: the CRD is too large for client-side apply's last-applied annotation.
            self.kubectl_ok("apply", "--server-side", "-f", str(crd))
        # Polled here: `kubectl wait` (and jsonpath filters) fail while the CRD has no conditions.
        deadline = time.monotonic() + START_TIMEOUT
        while not self._crd_established(SPARK_CRD_NAME):
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"CRD {SPARK_CRD_NAME} not established")
            time.sleep(0.2)

    def _crd_established(self, name: str) -> bool:
        crd = json.loads(self.kubectl_ok("get", "crd", name, "-o", "json"))
        conditions = crd.get("status", {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


class ExistingCluster(KubeCluster):
    """A cluster someone else runs (kind, in tests/kind/e2e-kind.sh), given by its kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        super().__init__("helix-e2e-")
        self._kubeconfig = kubeconfig

    @property
    def kubeconfig(self) -> Path:
        return self._kubeconfig

    def start(self) -> None:
        self.kubectl_ok("version")  # fails at once, and says why, if the cluster is unreachable


class ControlPlane(KubeCluster):
    """etcd + kube-apiserver + kube-controller-manager on free loopback ports.

    With ``real_nodes``, ready for a kubelet (tests/e2e/node.py): the Node authorizer and
    NodeRestriction for its requests, the kube-root-ca.crt ConfigMap its pods' token volumes
    need, and the apiserver's client certificate and address choice for calling it (logs)."""

    def __init__(self, real_nodes: bool = False) -> None:
        super().__init__("helix-controlplane-")
        self.real_nodes = real_nodes
        self._processes: list[Process] = []
        self._pki: Pki | None = None
        self._kubeconfig: Path | None = None
        self.server_url = ""

    @property
    def kubeconfig(self) -> Path:
        if self._kubeconfig is None:
            raise ControlPlaneError("control plane not started")
        return self._kubeconfig

    @property
    def pki(self) -> Pki:
        if self._pki is None:
            raise ControlPlaneError("control plane not started")
        return self._pki

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    def audit_events(self, username: str) -> list[dict[str, Any]]:
        """The audit records of one user's requests so far."""
        if not self.audit_log.exists():
            return []
        data = self.audit_log.read_bytes()
        # The API server may be writing the last record as we read: only whole lines count.
        whole = data[: data.rfind(b"\n") + 1].decode()
        events = (json.loads(line) for line in whole.splitlines() if line)
        return [e for e in events if e.get("user", {}).get("username") == username]

    @staticmethod
    def _write(path: Path, text: str) -> Path:
        path.write_text(text)
        return path

    @property
    def pids(self) -> list[int]:
        """Process ids (and process-group ids) of the running components."""
        return [p.popen.pid for p in self._processes]

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        bin_dir = ensure_assets().bin_dir
        self._pki = pki = make_pki(self.workdir / "pki")

        etcd_port, etcd_peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = self._spawn(
            "etcd",
            [
                str(bin_dir / "etcd"),
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer_port}",
                "--unsafe-no-fsync",  # throwaway data: durability only costs time
                "--log-level=warn",
            ],
        )
        self._wait_until(etcd, lambda: self._http_ok(f"{etcd_url}/health", None))

        api_port = free_port()
        self.server_url = f"https://127.0.0.1:{api_port}"
        apiserver = self._spawn(
            "kube-apiserver",
            [
                str(bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                *self._authorization_and_admission(),
                f"--audit-policy-file={self._write(self.workdir / 'audit-policy.yaml', AUDIT_POLICY)}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-mode=blocking",
                # Lets a privileged pod reach admission, so PodSecurity is what rejects it.
                "--allow-privileged=true",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            ],
        )
        api_ready = f"{self.server_url}/readyz"
        self._wait_until(apiserver, lambda: self._http_ok(api_ready, self._tls_context()))
        self._kubeconfig = write_kubeconfig(
            self.workdir / "admin.kubeconfig",
            {"server": self.server_url, "certificate-authority": str(pki.ca_cert)},
            {"client-certificate": str(pki.admin_cert), "client-key": str(pki.admin_key)},
        )

        kcm_port = free_port()
        controllers = CONTROLLERS + (NODE_CONTROLLERS if self.real_nodes else ())
        kcm = self._spawn(
            "kube-controller-manager",
            [
                str(bin_dir / "kube-controller-manager"),
                f"--kubeconfig={self._kubeconfig}",
                f"--authentication-kubeconfig={self._kubeconfig}",
                f"--authorization-kubeconfig={self._kubeconfig}",
                f"--controllers={','.join(controllers)}",
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                f"--root-ca-file={pki.ca_cert}",
                f"--service-account-private-key-file={pki.sa_key}",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
            ],
        )
        kcm_health = f"https://127.0.0.1:{kcm_port}/healthz"
        self._wait_until(kcm, lambda: self._http_ok(kcm_health, self._tls_context()))

    def _authorization_and_admission(self) -> list[str]:
        # PodSecurity is on by default; named so that turning it off is a visible change.
        # OwnerReferencesPermissionEnforcement: owner references that block deletion need
        # rights on the owner's finalizers, as on hardened clusters.
        admission = ["PodSecurity", "OwnerReferencesPermissionEnforcement"]
        if not self.real_nodes:
            return [
                "--authorization-mode=RBAC",
                f"--enable-admission-plugins={','.join(admission)}",
            ]
        pki = self.pki
        return [
            "--authorization-mode=Node,RBAC",
            f"--enable-admission-plugins={','.join([*admission, 'NodeRestriction'])}",
            # The kubelet trusts the CA's client certificates; the admin's has clientAuth.
            f"--kubelet-client-certificate={pki.admin_cert}",
            f"--kubelet-client-key={pki.admin_key}",
            # The node's name resolves nowhere: its InternalIP is the address to call.
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        super().stop()

    def _spawn(self, name: str, args: list[str]) -> Process:
        process = Process(name, args, self.workdir / f"{name}.log")
        self._processes.append(process)
        return process

    def _wait_until(self, process: Process, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not process.alive():
                self._fail(process, f"exited with code {process.popen.returncode}")
            if ready():
                return
            time.sleep(0.2)
        self._fail(process, f"not ready after {START_TIMEOUT:.0f}s")

    def _fail(self, process: Process, why: str) -> None:
        message = f"{process.name} {why}; last lines of {process.log_path}:\n{process.log_tail()}"
        print(message, file=sys.stderr)
        raise ControlPlaneError(message)

    def _tls_context(self) -> ssl.SSLContext:
        """Trusts the test CA and presents the admin client certificate."""
        if self._pki is None:
            raise ControlPlaneError("control plane not started")
        context = ssl.create_default_context(cafile=str(self._pki.ca_cert))
        context.load_cert_chain(str(self._pki.admin_cert), str(self._pki.admin_key))
        return context

    @staticmethod
    def _http_ok(url: str, context: ssl.SSLContext | None) -> bool:
        try:
            # Only loopback http(s) URLs built above reach this.
            with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False
