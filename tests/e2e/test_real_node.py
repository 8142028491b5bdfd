"""The operator's job on a real node: its SparkApplication admitted by the real spark-operator
webhook, submitted by the real controller with spark-submit, the driver pod scheduled by the
real kube-scheduler onto the kubelet of tests/e2e/node.py and run by containerd and runc from
the stub image, whose entry point writes the result to the termination message.

On a control plane of its own, without kwok, so that the real node is the only one: the
session's control plane has a kwok node, which would take these pods too.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import pytest
import yaml

from tests.e2e.controlplane import ControlPlane
from tests.e2e.harness import Cluster, Operator, install_operator, wait_for
from tests.e2e.node import (
    CLUSTER_DOMAIN,
    NODE_IP,
    NODE_NAME,
    POD_SUBNET,
    SPARK_UID,
    STUB_IMAGE,
    RealNode,
    prerequisites_missing,
)
from tests.e2e.spark_chain import WEBHOOK_NAMESPACE, SparkChain
from tests.e2e.test_spark_chain import SAMPLE, SUBMIT_TIMEOUT, assert_credentials_only_by_reference
from tests.fixtures.spark_chain import PREREQUISITES

pytestmark = pytest.mark.own_control_plane


@dataclass(frozen=True)
class RealCluster:
    cp: ControlPlane
    chain: SparkChain
    node: RealNode


@pytest.fixture(scope="module")
def real_cluster() -> Iterator[RealCluster]:
    tools = [tool for tool in PREREQUISITES if shutil.which(tool) is None]
    missing = prerequisites_missing() or (tools and f"the spark chain needs {', '.join(tools)}")
    if missing:
        pytest.fail(missing, pytrace=False)
    with (
        ControlPlane(real_nodes=True) as cp,
        SparkChain(cp, kwok=False) as chain,
        RealNode(cp) as node,
    ):
        yield RealCluster(cp, chain, node)


@pytest.fixture
def served(real_cluster: RealCluster) -> Iterator[Cluster]:
    cp = real_cluster.cp
    kubeconfig = install_operator(cp)
    cluster = Cluster(cp, WEBHOOK_NAMESPACE)
    # The stub image is the operator's Spark image, as a deployment sets its own: the image
    # policy allows only that image's repository.
    name = f"node-{uuid.uuid4().hex[:4]}"
    op = Operator(cp, kubeconfig, name, WEBHOOK_NAMESPACE, HELIX_SPARK_IMAGE=STUB_IMAGE)
    yield cluster
    op.stop()
    assert "Forbidden" not in op.log(), op.log()[-3000:]


def stub_job(cluster: Cluster) -> str:
    doc = yaml.safe_load(SAMPLE.read_text())
    name = f"entities-{uuid.uuid4().hex[:6]}"
    doc["metadata"] = {"name": name, "namespace": cluster.ns}
    doc["spec"]["spark"] = {
        "driver": {"cores": 1, "memory": "512m"},
        "executor": {"cores": 1, "memory": "512m", "instances": 1},
    }
    result = cluster.apply(doc)
    assert result.returncode == 0, result.stderr
    return name


class PodWatch:
    """Every version of the namespace's pods from now on (``kubectl get --watch``): the
    operator deletes a finished attempt's application, and so its driver pod, at once."""

    def __init__(self, cluster: Cluster) -> None:
        self.output: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                cluster.cp.kubectl_path, f"--kubeconfig={cluster.cp.kubeconfig}",
                "get", "pods", "-n", cluster.ns, "--watch", "-o", "json",
            ],
            stdout=self.output,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def versions(self, name: str) -> list[dict[str, Any]]:
        self.output.seek(0)
        text, decoder, at = self.output.read().decode(), json.JSONDecoder(), 0
        found: list[dict[str, Any]] = []
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            if at >= len(text):
                return found
            try:
                pod, at = decoder.raw_decode(text, at)
            except ValueError:  # a version still being written
                return found
            if pod.get("metadata", {}).get("name") == name:
                found.append(pod)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.output.close()


@pytest.fixture
def pod_watch(served: Cluster) -> Iterator[PodWatch]:
    watch = PodWatch(served)
    yield watch
    watch.stop()


def test_driver_runs_in_containerd_on_the_real_node(
    served: Cluster, pod_watch: PodWatch, real_cluster: RealCluster
) -> None:
    cluster = served
    namespace = cluster.cp.kubectl_ok("get", "namespace", cluster.ns, "-o", "yaml")
    labels = yaml.safe_load(namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"

    name = stub_job(cluster)
    job = cluster.wait_phase(name, "Succeeded", 2 * SUBMIT_TIMEOUT)
    # What the stub's entry point wrote to /dev/termination-log: spark-submit started it as
    # the driver (its first argument), as the Spark user.
    assert job["result"] == {
        "processedRows": 5000,
        "outputRows": 120,
        "corruptRecords": 3,
        "job": name,
        "attempt": "1",
        "uid": SPARK_UID,
        "role": "driver",
    }
    assert [a["outcome"] for a in job["attempts"]] == ["Succeeded"]

    driver = f"{name}-1-driver"

    def succeeded() -> dict[str, Any] | None:
        done = [p for p in pod_watch.versions(driver) if p["status"].get("phase") == "Succeeded"]
        return done[-1] if done else None

    pod = wait_for(f"the watch to show {driver} Succeeded", succeeded)
    assert pod["spec"]["nodeName"] == NODE_NAME
    assert pod["status"]["hostIP"] == NODE_IP
    assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(POD_SUBNET)
    assert pod["spec"]["securityContext"]["runAsUser"] == SPARK_UID
    (container,) = pod["spec"]["containers"]
    assert_credentials_only_by_reference(container)
    (status,) = pod["status"]["containerStatuses"]
    terminated = status["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert json.loads(terminated["message"]) == job["result"]
    # Run by this node's containerd, from the stub image.
    assert status["image"] == STUB_IMAGE
    runtime, _, container_id = status["containerID"].partition("://")
    assert runtime == "containerd"
    started = f'StartContainer for \\"{container_id}\\" returns successfully'
    assert started in real_cluster.node.log("containerd")


def test_a_missing_prerequisite_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert prerequisites_missing() == (
        "the real node needs root (containerd, runc, a bridge, cgroups)"
    )


def test_pods_find_a_headless_service_by_its_name(real_cluster: RealCluster) -> None:
    """What executors need to reach their driver: the cluster DNS answers a headless Service's
    name with the pod's address (no kube-proxy: a headless Service needs none)."""
    cp, suffix = real_cluster.cp, uuid.uuid4().hex[:6]
    server, client = f"server-{suffix}", f"client-{suffix}"

    def pod(name: str, command: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "containers": [
                    {"name": "main", "image": STUB_IMAGE, "command": ["/bin/sh", "-c", command]}
                ],
            },
        }

    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": server, "namespace": "default"},
        "spec": {"clusterIP": "None", "selector": {"app": server}, "ports": [{"port": 7078}]},
    }
    items = [pod(server, "trap 'exit 0' TERM; sleep 3600 & wait"), service]
    cp.kubectl_ok(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )

    def pod_status(name: str, phases: tuple[str, ...]) -> dict[str, Any] | None:
        body = json.loads(cp.kubectl_ok("get", "pod", name, "-n", "default", "-o", "json"))
        status: dict[str, Any] = body["status"]
        return status if status.get("phase") in phases else None

    address = wait_for(f"{server} running", lambda: pod_status(server, ("Running",)))["podIP"]
    # Spark names the driver's Service <service>.<namespace>.svc, which the search domains of
    # the pod's resolv.conf complete (busybox's nslookup takes names as they are).
    name = f"{server}.default.svc.{CLUSTER_DOMAIN}"
    lookup = f"(cat /etc/resolv.conf; nslookup {name}) >/dev/termination-log 2>&1; exit 0"
    cp.kubectl_ok("apply", "-f", "-", input=json.dumps(pod(client, lookup)))
    done = wait_for(f"{client} done", lambda: pod_status(client, ("Succeeded", "Failed")))
    (status,) = done["containerStatuses"]
    answer = status["state"]["terminated"]["message"]
    assert f"nameserver {NODE_IP}" in answer, answer
    assert f"search default.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN}" in answer, answer
    assert f"Name:\t{name}\nAddress: {address}" in answer, answer
    cp.kubectl("delete", "pod", server, client, "-n", "default", "--wait=false")
