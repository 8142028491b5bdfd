"""The operator's job on a real node: its SparkApplication admitted by the real spark-operator
webhook, submitted by the real controller with spark-submit, the driver pod scheduled by the
real kube-scheduler onto the kubelet of tests/e2e/node.py and run by containerd and runc: from
the stub image, whose entry point writes the result to the termination message, and from the
project's Spark image (images/spark/Dockerfile, built by tests/e2e/images.py), where a real
Spark driver and executor read a lake on SeaweedFS over s3a.

On a control plane of its own, without kwok, so that the real node is the only one: the
session's control plane has a kwok node, which would take these pods too.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from helix_batch.operator.policy import DEFAULT_CONF_PREFIXES
from helix_jobs import layout
from helix_jobs.output import RESULT_FILE
from tests.e2e import images
from tests.e2e.controlplane import ControlPlane
from tests.e2e.harness import ROOT, Cluster, Operator, install_operator, wait_for
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
from tests.fixtures.s3 import S3Server, start_seaweedfs, stop_seaweedfs
from tests.fixtures.spark_chain import PREREQUISITES
from tests.jobs import lake as lakes

pytestmark = pytest.mark.own_control_plane

INSTALL = "tests/node/install-debian-packages.sh"
LAKE_BUCKET = "helixagent-datalake"  # the samples' bucket: helixctl run rebases it away
OUTPUT = "analytics/entities/real-spark/"
# Where a Spark job on the real node may reach beyond the defaults: the API server at the
# bridge's address (no kube-proxy serves kubernetes.default.svc), and CPU requests below the
# job's whole cores (the node has 2; a driver and an executor each asking 1 would take all).
CONF_PREFIXES = (
    *DEFAULT_CONF_PREFIXES,
    "spark.kubernetes.driver.master",
    "spark.kubernetes.driver.request.cores",
    "spark.kubernetes.executor.request.cores",
)
SPARK_RUN_TIMEOUT = 900.0
MAINTENANCE = ROOT / "manifests" / "base" / "lake-maintenance.yaml"
LAKE_POLICY = ROOT / "manifests" / "base" / "lake-policy.yaml"


@dataclass(frozen=True)
class RealCluster:
    cp: ControlPlane
    chain: SparkChain
    node: RealNode
    spark_image: str
    operator_image: str


@pytest.fixture(scope="module")
def real_cluster() -> Iterator[RealCluster]:
    tools = [tool for tool in PREREQUISITES if shutil.which(tool) is None]
    missing = prerequisites_missing() or (tools and f"the spark chain needs {', '.join(tools)}")
    if not missing and images.missing_commands():
        missing = f"the Spark image needs {', '.join(images.missing_commands())}: run {INSTALL}"
    if missing:
        pytest.fail(missing, pytrace=False)
    spark_image, spark_archive = images.build(images.SPARK)
    operator_image, operator_archive = images.build(images.OPERATOR)
    with (
        ControlPlane(real_nodes=True) as cp,
        SparkChain(cp, kwok=False) as chain,
        RealNode(cp, images=(spark_archive, operator_archive)) as node,
    ):
        yield RealCluster(cp, chain, node, spark_image, operator_image)


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
        return self.pods().get(name, [])

    def pods(self) -> dict[str, list[dict[str, Any]]]:
        """Every version seen of each pod, by name."""
        self.output.seek(0)
        text, decoder, at = self.output.read().decode(), json.JSONDecoder(), 0
        found: dict[str, list[dict[str, Any]]] = {}
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            if at >= len(text):
                return found
            try:
                pod, at = decoder.raw_decode(text, at)
            except ValueError:  # a version still being written
                return found
            found.setdefault(pod["metadata"]["name"], []).append(pod)

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


@dataclass(frozen=True)
class SeededLake:
    server: S3Server
    local: lakes.Lake  # the same files, for helixctl run


@pytest.fixture(scope="module")
def seeded_lake(
    real_cluster: RealCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeededLake]:
    """SeaweedFS on the bridge's address, where pods reach it, holding a small generated lake
    (raw, compacted and mid-compaction days) in the samples' bucket."""
    workdir = tmp_path_factory.mktemp("seaweedfs-node")
    server = start_seaweedfs(workdir, host=NODE_IP)
    try:
        local = lakes.build(tmp_path_factory.mktemp("lake"), conversations=60)
        client = server.client()
        client.create_bucket(Bucket=LAKE_BUCKET)
        for path in sorted(p for p in local.root.rglob("*") if p.is_file()):
            key = path.relative_to(local.root).as_posix()
            client.put_object(Bucket=LAKE_BUCKET, Key=key, Body=path.read_bytes())
        yield SeededLake(server, local)
    finally:
        stop_seaweedfs(server)


def output_rows(files: dict[str, bytes]) -> list[str]:
    """The rows of a job output's Parquet files (relative path -> content), each with its
    folder (a partition's values live there), sorted: comparable across runs."""
    rows: list[str] = []
    for name, body in files.items():
        if not name.endswith(".parquet") or name.startswith("_corrupt/"):
            continue
        folder = name.rpartition("/")[0]
        table = pq.read_table(pa.BufferReader(body))
        rows += [json.dumps({"folder": folder, **r}, sort_keys=True, default=str)
                 for r in table.to_pylist()]  # fmt: skip
    return sorted(rows)


def s3_files(server: S3Server, prefix: str) -> dict[str, bytes]:
    client = server.client()
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=LAKE_BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=LAKE_BUCKET, Key=item["Key"])["Body"].read()
            found[item["Key"].removeprefix(prefix)] = body
    return found


def test_entity_extraction_runs_on_real_spark_driver_and_executor(
    real_cluster: RealCluster, seeded_lake: SeededLake, tmp_path: Path
) -> None:
    """The EntityExtraction sample, from the operator through the real spark-operator to a real
    Spark driver and executor from the project's image, under restricted Pod Security, reading
    the lake over s3a with the keys of the Secret; its output is what helixctl run makes of
    the same spec."""
    cp, server = real_cluster.cp, seeded_lake.server
    cluster = Cluster(cp, WEBHOOK_NAMESPACE)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "helix-lake-credentials", "namespace": cluster.ns},
        "stringData": {
            "AWS_ACCESS_KEY_ID": server.access_key,
            "AWS_SECRET_ACCESS_KEY": server.secret_key,
        },
    }
    cp.kubectl_ok("apply", "-f", "-", input=json.dumps(secret))
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"sparkConfPrefixes": list(CONF_PREFIXES)}))

    doc = yaml.safe_load(SAMPLE.read_text())
    name = f"entities-{uuid.uuid4().hex[:6]}"
    doc["metadata"] = {"name": name, "namespace": cluster.ns}
    spec = doc["spec"]
    spec["input"].update(startDate=lakes.START.isoformat(), endDate=lakes.END.isoformat())
    spec["output"]["uri"] = f"s3a://{LAKE_BUCKET}/{OUTPUT}"
    spec["lake"]["endpoint"] = server.endpoint
    assert real_cluster.node.api_forwarder is not None
    spec["spark"] = {
        "driver": {"cores": 1, "memory": "512m"},
        "executor": {"cores": 1, "memory": "512m", "instances": 1},
        "conf": {
            "spark.kubernetes.driver.master": real_cluster.node.api_forwarder.url,
            "spark.kubernetes.driver.request.cores": "250m",
            "spark.kubernetes.executor.request.cores": "250m",
            "spark.sql.shuffle.partitions": "4",
        },
    }
    manifest = tmp_path / "job.yaml"
    manifest.write_text(yaml.safe_dump(doc))

    kubeconfig = install_operator(cp)
    op = Operator(
        cp, kubeconfig, f"spark-{uuid.uuid4().hex[:4]}", cluster.ns,
        HELIX_SPARK_IMAGE=real_cluster.spark_image, HELIX_POLICY_FILE=str(policy),
    )  # fmt: skip
    watch = PodWatch(cluster)
    try:
        result = cluster.apply(doc)
        assert result.returncode == 0, result.stderr
        job = cluster.wait_phase(name, "Succeeded", SPARK_RUN_TIMEOUT)
    finally:
        op.stop()
    assert "Forbidden" not in op.log(), op.log()[-3000:]
    try:
        pods = watch.pods()
    finally:
        watch.stop()

    files = s3_files(server, OUTPUT)
    assert job["result"] == json.loads(files[RESULT_FILE])
    assert job["result"]["processedRows"] == len(seeded_lake.local.valid("conversations"))

    driver = f"{name}-1-driver"
    executors = [
        versions for versions in pods.values()
        if versions[-1]["metadata"].get("labels", {}).get("spark-role") == "executor"
    ]  # fmt: skip
    assert executors, f"no executor pod among {sorted(pods)}"
    for versions in [pods[driver], *executors]:
        pod = versions[-1]
        assert pod["spec"]["nodeName"] == NODE_NAME
        (container,) = pod["spec"]["containers"]
        assert container["image"] == real_cluster.spark_image
        assert_credentials_only_by_reference(container)
        assert pod["spec"]["securityContext"]["runAsUser"] == SPARK_UID
        # Really ran: containerd started its container.
        started = [
            s for v in versions for s in v["status"].get("containerStatuses", [])
            if "running" in s["state"] or "terminated" in s["state"]
        ]  # fmt: skip
        assert started, pod["metadata"]["name"]
    (status,) = pods[driver][-1]["status"]["containerStatuses"]
    assert status["state"]["terminated"]["exitCode"] == 0
    assert json.loads(status["state"]["terminated"]["message"]) == job["result"]

    # The same spec on local Spark (helixctl run), over the same files.
    local = subprocess.run(
        [sys.executable, "-m", "helix_batch.cli", "run", "-f", str(manifest),
         "--lake", seeded_lake.local.root.as_uri()],
        env={**os.environ, "HELIX_POLICY_FILE": str(policy)},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr[-3000:]
    folder = seeded_lake.local.root / OUTPUT
    local_files = {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
    local_result = json.loads(local_files[RESULT_FILE])
    counts = ("processedRows", "outputRows", "corruptRecords")
    assert {k: local_result[k] for k in counts} == {k: job["result"][k] for k in counts}
    assert output_rows(files) == output_rows(local_files)
    assert output_rows(files)


def test_lake_maintenance_cronjob_runs_once_from_the_operator_image(
    real_cluster: RealCluster, seeded_lake: SeededLake
) -> None:
    """manifests/base/lake-maintenance.yaml, run once (a Job from the CronJob) as a real pod
    from the project's operator image, under restricted Pod Security, against the same lake:
    it compacts each raw day into Parquet, the valid records in, the malformed quarantined."""
    cp, server = real_cluster.cp, seeded_lake.server
    namespace = f"maintenance-{uuid.uuid4().hex[:4]}"
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    items: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}
    ]
    for doc in yaml.safe_load_all(MAINTENANCE.read_text()):
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "CronJob":
            pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            container["image"] = real_cluster.operator_image
            # As the dev overlay points it at its in-cluster SeaweedFS.
            container["env"].append({"name": "HELIX_S3_ENDPOINT", "value": server.endpoint})
        items.append(doc)
    items.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "helix-lake-policy", "namespace": namespace},
            "data": {"policy.yaml": LAKE_POLICY.read_text()},
        }
    )
    items.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "helix-lake-credentials", "namespace": namespace},
            "stringData": {
                "AWS_ACCESS_KEY_ID": server.access_key,
                "AWS_SECRET_ACCESS_KEY": server.secret_key,
            },
        }
    )
    cp.kubectl_ok(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    cp.kubectl_ok("create", "job", "once", "-n", namespace, "--from=cronjob/helix-lake-maintenance")

    def finished() -> dict[str, Any] | None:
        job = json.loads(cp.kubectl_ok("get", "job", "once", "-n", namespace, "-o", "json"))
        status: dict[str, Any] = job.get("status", {})
        return status if status.get("succeeded") or status.get("failed") else None

    status = wait_for("the maintenance Job to finish", finished, timeout=600)
    pods = json.loads(
        cp.kubectl_ok("get", "pods", "-n", namespace, "-l", "job-name=once", "-o", "json")
    )["items"]
    log = cp.kubectl("logs", "-n", namespace, "job/once").stdout
    assert status.get("succeeded") == 1, log[-3000:]
    (pod,) = pods
    assert pod["spec"]["nodeName"] == NODE_NAME
    (container_status,) = pod["status"]["containerStatuses"]
    assert container_status["image"] == real_cluster.operator_image
    assert container_status["state"]["terminated"]["exitCode"] == 0
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001

    report = json.loads(log[log.index("{") :])
    days = {(d["dataset"], d["day"]): d for d in report["compaction"]["days"]}
    client = server.client()
    raw_days = [
        (dataset, day)
        for dataset in ("conversations", "debates")
        for day in lakes.RAW_DAYS
        if seeded_lake.local.valid(dataset, day, day)
    ]
    assert ("conversations", lakes.RAW_DAYS[0]) in raw_days
    for dataset, day in raw_days:
        done = days[(dataset, day.isoformat())]
        valid = seeded_lake.local.valid(dataset, day, day)
        malformed = seeded_lake.local.malformed(dataset, day, day)
        assert (done["action"], done["records"], done["quarantined"]) == (
            "compacted",
            len(valid),
            len(malformed),
        ), done
        key = f"{dataset}/{layout.day_path(day)}/{layout.MANIFEST_NAME}"
        manifest = layout.Manifest.from_json(
            client.get_object(Bucket=LAKE_BUCKET, Key=key)["Body"].read()
        )
        assert sum(f.records for f in manifest.files) == len(valid)


def test_the_images_hold_this_trees_code(real_cluster: RealCluster) -> None:
    """What the pods ran is this working tree: the operator image's installed helix_batch and
    the Spark image's jobs are the repository's files (a stale build cache would not be)."""
    package = ROOT / "operator" / "helix_batch"
    with images.mounted(real_cluster.operator_image) as root:
        (site,) = root.glob("opt/helix/venv/lib/python3*/site-packages")
        sources = sorted(package.rglob("*.py"))
        assert sources
        for source in sources:
            installed = site / source.relative_to(package.parent)
            assert installed.read_bytes() == source.read_bytes(), source
    jobs = ROOT / "spark-jobs"
    with images.mounted(real_cluster.spark_image) as root:
        for source in sorted(jobs.rglob("*.py")):
            copied = root / "opt" / "helix" / "spark-jobs" / source.relative_to(jobs)
            assert copied.read_bytes() == source.read_bytes(), source
