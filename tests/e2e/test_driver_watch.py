"""The operator's driver pod watch against the real API server: only driver pods of
HelixBatchJobs, each change reported with its job, deletions seen live and on a relist."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from kubernetes_asyncio import client, config

from helix_batch.operator.driver_watch import DriverPods
from helix_batch.operator.kube import JobKey
from helix_batch.operator.names import LABEL_ATTEMPT, LABEL_JOB
from tests.e2e.controlplane import KubeCluster


def pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"schedulingGates": [{"name": "batch.helixagent.io/e2e-harness"}],
                 "containers": [{"name": "spark-kubernetes-driver", "image": "spark:x"}]},
    }  # fmt: skip


def driver(job: str) -> dict[str, Any]:
    return pod(f"{job}-1-driver", {LABEL_JOB: job, LABEL_ATTEMPT: "1", "spark-role": "driver"})


async def until(what: str, probe: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_the_watch_follows_driver_pods_only(control_plane: KubeCluster) -> None:
    cp = control_plane
    ns = f"watch-{uuid.uuid4().hex[:8]}"
    cp.kubectl_ok("create", "namespace", ns)

    def create(body: dict[str, Any]) -> None:
        cp.kubectl_ok("create", "-n", ns, "-f", "-", input=json.dumps(body))

    create(driver("before"))
    create(pod("unrelated", {"app": "web"}))
    create(pod("executor", {LABEL_JOB: "before", "spark-role": "executor"}))

    async def scenario() -> None:
        await config.load_kube_config(str(cp.kubeconfig))
        async with client.ApiClient() as api_client:
            changed: list[JobKey] = []
            pods = DriverPods(api_client, changed.append)
            follower = asyncio.create_task(pods.follow(ns))
            await until("the initial list", lambda: (ns, "before") in changed)
            assert set(pods.drivers) == {(ns, "before-1-driver")}
            assert pods.drivers[(ns, "before-1-driver")].attempt == 1

            create(driver("later"))
            await until("a new driver", lambda: (ns, "later-1-driver") in pods.drivers)
            assert changed[-1] == (ns, "later")
            cp.kubectl_ok("delete", "pod", "later-1-driver", "-n", ns, "--wait=false")
            await until("a deletion", lambda: (ns, "later-1-driver") not in pods.drivers)
            follower.cancel()

            # Deleted while nobody watched: the next list forgets it and names its job.
            cp.kubectl_ok("delete", "pod", "before-1-driver", "-n", ns, "--wait=false")
            changed.clear()
            follower = asyncio.create_task(pods.follow(ns))
            await until("the relist", lambda: (ns, "before") in changed)
            assert pods.drivers == {}
            follower.cancel()

    asyncio.run(scenario())
