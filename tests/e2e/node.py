"""A real node for the suite's control plane: containerd and runc from Debian, the kubelet of the
same Kubernetes version (tests/controlplane/build.sh --node), a CNI bridge, and CoreDNS (built
there too) as the cluster DNS on the bridge's address, registered as NODE_NAME. Pods really run there, in containers, as what the kubelet reports them to be.
../shared/REAL-CLUSTER.md §7 is the recipe.

Everything lives under one scratch directory (containerd's root, state and socket, runc's state,
the kubelet's root, certificates and pod logs, the CNI config and IPAM data, the pods' network
namespaces), plus what cannot: the bridge BRIDGE, the cgroup CGROUP_ROOT in each hierarchy, the
shims' sockets in /run/containerd/s and the kubelet's links in /var/log/containers. stop()
removes all of it, even after a failed start; a start first removes what an earlier run killed
outright left behind. A lock serialises runs on one machine: the bridge and its address are
fixed (the kubelet rejects a loopback node IP).

Images come without a registry: made here from busybox-static with umoci and skopeo, cached by
content outside the repo, imported into containerd at each start: PAUSE_IMAGE, the pod sandbox,
and STUB_IMAGE, which stands in for the Spark image (user 185): its entry point writes a result
to the termination message as a driver would, and exits 0. The project's own images
(tests/e2e/images.py) are imported too when given.

Pods reach the API server (loopback only) through a forwarder on the bridge's address, which
the serving certificate names: a Spark driver's spark.kubernetes.driver.master (there is no
kube-proxy for kubernetes.default.svc).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, ClassVar

import yaml

from tests.e2e.controlplane import (
    BUILD_SCRIPT,
    REPO_ROOT,
    ControlPlane,
    ControlPlaneError,
    Process,
    free_port,
    openssl,
    write_kubeconfig,
)

NODE_NAME = "helix-node"
BRIDGE = "helixbr0"
NODE_IP = "10.244.77.1"
POD_SUBNET = "10.244.77.0/24"
CLUSTER_DOMAIN = "cluster.local"
CGROUP_ROOT = "helix-node"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
PAUSE_IMAGE = "docker.io/library/helix-pause:1"
STUB_IMAGE = "docker.io/library/helix-spark-stub:1"
SPARK_UID = 185
WORKDIR_PREFIX = "helix-node-"
LOCK_PATH = Path("/run/lock/helix-batch-node.lock")
SHIM_SOCKETS = Path("/run/containerd/s")
CONTAINER_LOG_LINKS = Path("/var/log/containers")
CNI_BIN_DIR = Path("/usr/lib/cni")
INSTALL_SCRIPT = REPO_ROOT / "tests" / "node" / "install-debian-packages.sh"
COMMANDS = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "umoci", "skopeo", "ip")
BUSYBOX = Path("/bin/busybox")
START_TIMEOUT = 120.0
LOCK_TIMEOUT = 600.0
K8S_NAMESPACE = "k8s.io"  # containerd's namespace of the CRI

# What the stub driver does: write a result (the job and attempt from its pod's name,
# <job>-<attempt>-driver, its uid and its first argument) as the termination message.
STUB_ENTRYPOINT = """#!/bin/sh
# Stands in for the Spark image's entry point (tests/e2e/node.py).
pod=$(hostname)
base=${pod%-driver}
printf '{"processedRows":5000,"outputRows":120,"corruptRecords":3,"job":"%s","attempt":"%s",\
"uid":%s,"role":"%s"}' "${base%-*}" "${base##*-}" "$(id -u)" "$1" >/dev/termination-log
echo "stub driver: $*"
exit 0
"""
APPLETS = ("sh", "cat", "echo", "hostname", "id", "printf", "sleep", "ls", "nslookup")


class NodeError(ControlPlaneError):
    pass


def prerequisites_missing() -> str | None:
    """One line naming what this machine lacks for a real node, or None."""
    if os.geteuid() != 0:
        return "the real node needs root (containerd, runc, a bridge, cgroups)"
    if not cgroup_hierarchies():
        return "the real node needs cgroups: none is mounted under /sys/fs/cgroup"
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    missing += [str(p) for p in (BUSYBOX, CNI_BIN_DIR / "bridge") if not p.exists()]
    if missing:
        return (
            f"the real node needs {', '.join(missing)}: run {INSTALL_SCRIPT.relative_to(REPO_ROOT)}"
        )
    return None


def ensure_node_binaries() -> tuple[Path, Path]:
    """Runs build.sh --node, which builds the kubelet and CoreDNS once into a cache outside the
    repo; returns their paths."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--node"], stdout=subprocess.PIPE, text=True, check=False
    )
    values = dict(line.partition("=")[::2] for line in result.stdout.splitlines())
    if result.returncode != 0 or not values.get("KUBELET") or not values.get("COREDNS"):
        raise NodeError(f"{BUILD_SCRIPT} --node failed with exit code {result.returncode}")
    return Path(values["KUBELET"]), Path(values["COREDNS"])


def cgroup_hierarchies() -> list[Path]:
    """The mounted cgroup hierarchies: each v1 controller's, or the one v2 hierarchy."""
    found: list[Path] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                found.append(Path(fields[4]))
    return found


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first."""
    points: list[Path] = []
    prefix = str(root).rstrip("/") + "/"
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == str(root) or point.startswith(prefix):
            points.append(Path(point))
    return sorted(points, key=lambda p: len(p.parts), reverse=True)


def _run(*args: str, timeout: float = 120.0) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise NodeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


# --- images -------------------------------------------------------------------------------------


def image_cache() -> Path:
    root = Path(os.environ.get("HELIX_CACHE", Path.home() / ".cache" / "helix-batch"))
    return root / "node-images"


def build_images() -> dict[str, Path]:
    """The pause and stub images as docker archives, built once per content."""
    recipe = hashlib.sha256()
    for part in (STUB_ENTRYPOINT, PAUSE_IMAGE, STUB_IMAGE, " ".join(APPLETS), str(SPARK_UID)):
        recipe.update(part.encode() + b"\0")
    recipe.update(hashlib.sha256(BUSYBOX.read_bytes()).digest())
    cache = image_cache()
    done = cache / recipe.hexdigest()[:16]
    archives = {PAUSE_IMAGE: done / "pause.tar", STUB_IMAGE: done / "stub.tar"}
    if done.is_dir():
        return archives
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.is_dir():
            return archives
        tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".tmp-"))
        try:
            _build_image(tmp, "pause", PAUSE_IMAGE, ["/bin/sleep", "inf"], None, {})
            files = {"opt/entrypoint.sh": STUB_ENTRYPOINT}
            _build_image(tmp, "stub", STUB_IMAGE, ["/opt/entrypoint.sh"], SPARK_UID, files)
            ready = tmp / "ready"
            ready.mkdir()
            for name in ("pause.tar", "stub.tar"):
                (tmp / name).rename(ready / name)
            ready.rename(done)  # atomic: a cache entry is complete or absent
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return archives


def _build_image(
    tmp: Path,
    name: str,
    reference: str,
    entrypoint: list[str],
    uid: int | None,
    files: dict[str, str],
) -> None:
    """An OCI image of one layer (busybox-static and ``files``), made with umoci, written as a
    docker archive tagged ``reference`` by skopeo (so that ``ctr images import`` names it)."""
    layout, bundle = f"{tmp}/oci", tmp / f"bundle-{name}"
    if not Path(layout).exists():
        _run("umoci", "init", "--layout", layout)
    image = f"{layout}:{name}"
    _run("umoci", "new", "--image", image)
    _run("umoci", "unpack", "--image", image, str(bundle))
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir(exist_ok=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    etc = rootfs / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(
        f"root:x:0:0:root:/root:/bin/sh\nspark:x:{SPARK_UID}:0::/opt/spark:/bin/sh\n"
    )
    (etc / "group").write_text("root:x:0:\n")
    for path, text in files.items():
        target = rootfs / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(0o755)
    _run("umoci", "repack", "--image", image, str(bundle))
    config = ["umoci", "config", "--image", image, "--config.env", "PATH=/bin"]
    config += [arg for part in entrypoint for arg in ("--config.entrypoint", part)]
    if uid is not None:
        config += ["--config.user", str(uid)]
    _run(*config)
    _run(
        "skopeo", "--insecure-policy", "copy", "--quiet",
        f"oci:{image}", f"docker-archive:{tmp / name}.tar:{reference}",
    )  # fmt: skip


# --- the node -----------------------------------------------------------------------------------


class RealNode:
    """containerd + kubelet as NODE_NAME on ``cp`` (a ControlPlane(real_nodes=True)). Use as a
    context manager, or call start() and stop(); stop() is safe after any failure."""

    running: ClassVar[list[RealNode]] = []  # whose logs a failed test shows

    def __init__(self, cp: ControlPlane, images: tuple[Path, ...] = ()) -> None:
        """``images``: docker archives imported besides the pause and stub images."""
        self.cp = cp
        self.images = images
        self.dir: Path | None = None
        self.api_forwarder: Forwarder | None = None
        self._lock: IO[str] | None = None
        self._processes: list[Process] = []

    def __enter__(self) -> RealNode:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def socket(self) -> Path:
        return self._dir / "containerd" / "containerd.sock"

    @property
    def _dir(self) -> Path:
        if self.dir is None:
            raise NodeError("the node is not started")
        return self.dir

    def start(self) -> None:
        missing = prerequisites_missing()
        if missing:
            raise NodeError(missing)
        if not self.cp.real_nodes:
            raise NodeError("the real node needs a ControlPlane(real_nodes=True)")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        kubelet, coredns = ensure_node_binaries()
        archives = build_images()
        self._acquire_lock()
        clean_leftovers()
        self.dir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        make_cgroup_root()
        self._start_coredns(coredns)
        self._start_containerd()
        for archive in (*archives.values(), *self.images):
            self.ctr("images", "import", str(archive))
        # The API server listens on loopback only; pods (a Spark driver creating its executors)
        # reach it on the bridge's address, which its serving certificate names.
        target = self.cp.server_url.removeprefix("https://").rpartition(":")
        self.api_forwarder = Forwarder(NODE_IP, (target[0], int(target[2])))
        RealNode.running.append(self)
        self._start_kubelet(kubelet)

    def _acquire_lock(self) -> None:
        LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
        self._lock = LOCK_PATH.open("w")
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NodeError(
                        f"another real node holds {LOCK_PATH} for over {LOCK_TIMEOUT:.0f}s"
                    ) from None
                time.sleep(1)

    def ctr(self, *args: str) -> str:
        return _run("ctr", "--address", str(self.socket), "--namespace", K8S_NAMESPACE, *args)

    def _spawn(self, name: str, args: list[str]) -> Process:
        process = Process(name, args, self._dir / f"{name}.log")
        self._processes.append(process)
        return process

    def _wait(self, process: Process, what: str, ready: Any) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not process.alive():
                self._fail(process, f"exited with code {process.popen.returncode}")
            with contextlib.suppress(NodeError, ControlPlaneError, subprocess.TimeoutExpired):
                if ready():
                    return
            time.sleep(0.5)
        self._fail(process, f"not {what} after {START_TIMEOUT:.0f}s")

    @staticmethod
    def _fail(process: Process, why: str) -> None:
        raise NodeError(
            f"{process.name} {why}; last lines of {process.log_path}:\n{process.log_tail()}"
        )

    def _start_containerd(self) -> None:
        d = self._dir
        cni = d / "cni"
        (cni / "net.d").mkdir(parents=True)
        (cni / "net.d" / "10-helix.conflist").write_text(json.dumps(cni_config(cni / "ipam")))
        config = CONTAINERD_CONFIG.format(
            root=d / "containerd" / "root",
            state=d / "containerd" / "state",
            socket=self.socket,
            pause=PAUSE_IMAGE,
            cni_bin=CNI_BIN_DIR,
            cni_conf=cni / "net.d",
            runc_root=d / "runc",
        )
        (d / "containerd.toml").write_text(config)
        containerd = self._spawn(
            "containerd", ["containerd", "--config", str(d / "containerd.toml")]
        )
        self._wait(containerd, "serving", lambda: bool(self.ctr("version")))

    def _start_coredns(self, binary: Path) -> None:
        """The cluster DNS, on the bridge's address: Services and pods from the API server."""
        ready = free_port()
        corefile = COREFILE.format(
            ip=NODE_IP,
            ready=ready,
            health=free_port(),
            domain=CLUSTER_DOMAIN,
            kubeconfig=self.cp.kubeconfig,
        )
        (self._dir / "Corefile").write_text(corefile)
        coredns = self._spawn("coredns", [str(binary), "-conf", str(self._dir / "Corefile")])
        url = f"http://127.0.0.1:{ready}/ready"
        self._wait(coredns, "ready", lambda: ControlPlane._http_ok(url, None))

    def _start_kubelet(self, binary: Path) -> None:
        d, pki = self._dir, self.cp.pki
        openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-CA", str(pki.ca_cert), "-CAkey", str(pki.ca_key),
            "-keyout", str(d / "node.key"), "-out", str(d / "node.crt"),
            "-subj", f"/O=system:nodes/CN=system:node:{NODE_NAME}",
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature",
            "-addext", "extendedKeyUsage=clientAuth",
        )  # fmt: skip
        kubeconfig = write_kubeconfig(
            d / "kubelet.kubeconfig",
            {"server": self.cp.server_url, "certificate-authority": str(pki.ca_cert)},
            {"client-certificate": str(d / "node.crt"), "client-key": str(d / "node.key")},
        )
        config = kubelet_config(self.socket, pki.ca_cert, d / "pod-logs")
        (d / "kubelet.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        kubelet = self._spawn(
            "kubelet",
            [
                str(binary),
                f"--config={d / 'kubelet.yaml'}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={d / 'kubelet'}",
                f"--cert-dir={d / 'kubelet-certs'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                f"--node-labels=batch.helixagent.io/e2e-node={NODE_NAME}",
                "--v=1",
            ],
        )
        self._wait(kubelet, "a Ready node", self.ready)
        # Admission taints a new node not-ready; with no node lifecycle controller, nothing
        # would lift it, and no pod would be scheduled.
        self.cp.kubectl_ok("taint", "node", NODE_NAME, f"{NOT_READY_TAINT}:NoSchedule-")

    def ready(self) -> bool:
        result = self.cp.kubectl("get", "node", NODE_NAME, "-o", "json")
        if result.returncode != 0:
            return False
        conditions = json.loads(result.stdout).get("status", {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def log(self, name: str) -> str:
        if self.dir is None:
            return ""
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Removes everything the node made, whatever state it is in."""
        if self in RealNode.running:
            RealNode.running.remove(self)
        try:
            if self.api_forwarder is not None:
                self.api_forwarder.stop()
                self.api_forwarder = None
            if self.dir is not None:
                self._drain()
                for process in reversed(self._processes):
                    process.stop()
                self._processes.clear()
                clean_node_dir(self.dir)
                self.dir = None
            clean_shared()
        finally:
            if self._lock is not None:
                self._lock.close()  # releases the flock
                self._lock = None

    def _drain(self) -> None:
        """Lets the kubelet stop the pods it runs (network torn down, sandboxes stopped), then
        forgets the node. Best effort: whatever is left is removed by force afterwards."""
        kubelet = next((p for p in self._processes if p.name == "kubelet"), None)
        if kubelet is None or not kubelet.alive():
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.cp.kubectl(
                "delete", "pods", "--all-namespaces", "--field-selector",
                f"spec.nodeName={NODE_NAME}", "--grace-period=1", "--wait=true", "--timeout=60s",
                timeout=90,
            )  # fmt: skip
            self.cp.kubectl("delete", "node", NODE_NAME, "--ignore-not-found", "--wait=false")


class Forwarder:
    """Forwards TCP connections from a port on ``host`` to ``target``, in threads."""

    def __init__(self, host: str, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server((host, 0))
        self.address: tuple[str, int] = self._server.getsockname()[:2]
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://{self.address[0]}:{self.address[1]}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self._server.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    source.close()


COREFILE = """.:53 {{
    bind {ip}
    ready 127.0.0.1:{ready}
    health 127.0.0.1:{health}
    errors
    kubernetes {domain} {{
        kubeconfig {kubeconfig}
    }}
}}
"""

CONTAINERD_CONFIG = """version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  disable_apparmor = true
  # Root here lacks CAP_SYS_RESOURCE: the pause container's oom_score_adj of -998 would fail.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{runc_root}"
"""


def cni_config(ipam_dir: Path) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "helix",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(ipam_dir),
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ],
    }


def kubelet_config(socket: Path, ca: Path, pod_logs: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "failCgroupV1": False,  # v1.36 still runs on cgroup v1, with a warning
        "containerRuntimeEndpoint": f"unix://{socket}",
        "address": NODE_IP,
        "port": free_port(),
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": free_port(),
        "readOnlyPort": 0,
        "failSwapOn": False,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        # The local images can never be pulled again: never collect them.
        "imageGCHighThresholdPercent": 100,
        "podLogsDir": str(pod_logs),
        "maxPods": 20,
        "serializeImagePulls": False,
        # Else it adds KUBE-FIREWALL (dropping non-local traffic to 127.0.0.0/8) and canary
        # chains to the host's iptables, and keeps them there.
        "makeIPTablesUtilChains": False,
        "clusterDNS": [NODE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
    }


# --- cleanup ------------------------------------------------------------------------------------


def make_cgroup_root() -> None:
    for hierarchy in cgroup_hierarchies():
        root = hierarchy / CGROUP_ROOT
        root.mkdir(exist_ok=True)
        # A new v1 cpuset has no CPUs and no memory nodes: nothing could join it.
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (hierarchy / name).exists() and not (root / name).read_text().strip():
                (root / name).write_text((hierarchy / name).read_text())


def remove_cgroup_root() -> None:
    """Kills every process left in CGROUP_ROOT (the containers) and removes its cgroups."""
    for _ in range(50):
        left = []
        for hierarchy in cgroup_hierarchies():
            root = hierarchy / CGROUP_ROOT
            if not root.is_dir():
                continue
            for directory in sorted(
                (p for p in [root, *root.rglob("*")] if p.is_dir()),
                key=lambda p: len(p.parts),
                reverse=True,
            ):
                with contextlib.suppress(OSError):
                    for pid in (directory / "cgroup.procs").read_text().split():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(pid), signal.SIGKILL)
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(directory)
        if not left:
            return
        time.sleep(0.2)
    raise NodeError(f"cannot remove the cgroups {', '.join(map(str, left))}")


def _cmdline(pid: str) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def kill_shims(workdir: Path | None) -> None:
    """Kills the containerd shims of the node in ``workdir`` (of any node run when None): the
    shims leave containerd's process group, and find it again by its socket."""
    prefix = str(workdir) + "/" if workdir else f"{tempfile.gettempdir()}/{WORKDIR_PREFIX}"
    for pid in (p.name for p in Path("/proc").iterdir() if p.name.isdigit()):
        args = _cmdline(pid)
        if not args or not args[0].endswith("containerd-shim-runc-v2") or "-address" not in args:
            continue
        address = args[args.index("-address") + 1] if args.index("-address") + 1 < len(args) else ""
        if address.startswith(prefix):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def shim_sockets(workdir: Path) -> Iterator[Path]:
    """The sockets containerd 1.6 gives its shims, in /run/containerd/s whatever its state
    directory: named by sha256("<containerd socket>/<namespace>/<task id>")."""
    socket = workdir / "containerd" / "containerd.sock"
    tasks = workdir / "containerd" / "state" / "io.containerd.runtime.v2.task" / K8S_NAMESPACE
    if not tasks.is_dir():
        return
    for task in tasks.iterdir():
        digest = hashlib.sha256(f"{socket}/{K8S_NAMESPACE}/{task.name}".encode()).hexdigest()
        yield SHIM_SOCKETS / digest


def clean_node_dir(workdir: Path) -> None:
    """What a node in ``workdir`` left: its containers, shims, mounts, sockets, files."""
    kill_shims(workdir)
    remove_cgroup_root()
    for shim_socket in list(shim_sockets(workdir)):
        shim_socket.unlink(missing_ok=True)
    for point in mounts_under(workdir):
        subprocess.run(["umount", "--lazy", str(point)], capture_output=True, check=False)
    if CONTAINER_LOG_LINKS.is_dir():
        logs = str(workdir / "pod-logs")
        for link in CONTAINER_LOG_LINKS.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and os.readlink(link).startswith(logs):
                    link.unlink()
    left = mounts_under(workdir)
    if left:
        raise NodeError(f"still mounted: {', '.join(map(str, left))}")
    shutil.rmtree(workdir, ignore_errors=True)


def clean_shared() -> None:
    """The node's names outside its directory: the bridge, the cgroups, and the shims' socket
    directory once empty (no containerd runs here otherwise)."""
    remove_cgroup_root()
    for directory in (SHIM_SOCKETS, SHIM_SOCKETS.parent):
        with contextlib.suppress(OSError):
            directory.rmdir()  # only when empty
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        _run("ip", "link", "delete", BRIDGE)


def clean_leftovers() -> None:
    """What earlier runs killed outright left (their directories, shims, containers, mounts,
    bridge). Only with the lock held: no other node is running."""
    kill_shims(None)
    for workdir in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        if workdir.is_dir():
            clean_node_dir(workdir)
    clean_shared()


def main() -> None:
    """``python -m tests.e2e.node``: a control plane, the spark-operator chain without kwok, and
    the real node with the project's Spark and operator images, for debugging by hand, until
    Ctrl-C."""
    from tests.e2e import images
    from tests.e2e.spark_chain import SparkChain

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    built = [images.build(image) for image in (images.SPARK, images.OPERATOR)]
    with (
        ControlPlane(real_nodes=True) as cp,
        SparkChain(cp, kwok=False) as chain,
        RealNode(cp, images=tuple(archive for _, archive in built)) as node,
    ):
        assert node.api_forwarder is not None
        print(f"up in {time.monotonic() - started:.0f}s; logs in {chain.dir}, {node.dir}")
        print(f"images: {', '.join(reference for reference, _ in built)}")
        print(f"pods reach the API server at {node.api_forwarder.url}")
        print(f"export KUBECONFIG={cp.kubeconfig}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
