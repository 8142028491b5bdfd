"""The operator at scale on the real control plane (tests/e2e): submission rate, status
propagation latency, memory and idle CPU.

    .venv/bin/python -m bench.bench_operator_scale [--jobs 1000] [--present 10000]

1. ``--jobs`` HelixBatchJobs are created at once (64 concurrent requests); measured: time until
   every one of their SparkApplications exists.
2. Playing spark-operator, a driver pod is created for each and moved to Running, then to
   Succeeded; measured per job: from the pod's status write to the job's status showing the
   phase (p50, p99), seen through a watch.
3. Operator resident memory with ``--jobs`` and then ``--present`` jobs present (the extra ones
   created suspended), and its CPU over 30 s while idle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config, watch

from tests.e2e.controlplane import ControlPlane
from tests.e2e.harness import OPERATOR_NAMESPACE, ROOT, Cluster, Operator
from tests.operator.helpers import job_doc

NS = "bench"
CONCURRENCY = 64


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


async def bounded(coros: list[Any]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(c: Any) -> None:
        async with gate:
            await c

    await asyncio.gather(*(run(c) for c in coros))


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def scenario(cp: ControlPlane, op: Operator, jobs: int, present: int) -> dict[str, Any]:
    await config.load_kube_config(str(cp.kubeconfig))
    async with client.ApiClient() as api_client:
        custom = client.CustomObjectsApi(api_client)
        core = client.CoreV1Api(api_client)

        def body(i: int, **spec: Any) -> dict[str, Any]:
            doc = job_doc(f"job-{i:05d}", **spec)
            doc["metadata"] = {"name": f"job-{i:05d}", "namespace": NS}
            return doc

        started = time.perf_counter()
        await bounded([
            custom.create_namespaced_custom_object("batch.helixagent.io", "v1alpha1", NS, "helixbatchjobs", body(i))
            for i in range(jobs)
        ])  # fmt: skip
        created = time.perf_counter() - started
        while True:
            apps = await custom.list_namespaced_custom_object(
                "sparkoperator.k8s.io", "v1beta2", NS, "sparkapplications"
            )
            if len(apps["items"]) >= jobs:
                break
            await asyncio.sleep(0.25)
        all_apps = time.perf_counter() - started
        progress(f"{jobs} SparkApplications in {all_apps:.1f} s")

        # Drivers, created as spark-operator would (Pending, no status yet).
        apps_by_name = {a["metadata"]["name"]: a for a in apps["items"]}

        async def make_pod(i: int) -> None:
            app = apps_by_name[f"job-{i:05d}-1"]
            pod: Any = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"job-{i:05d}-1-driver", "labels": {**app["spec"]["driver"]["labels"], "spark-role": "driver"},
                             "ownerReferences": [{"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
                                                  "name": app["metadata"]["name"], "uid": app["metadata"]["uid"], "controller": True}]},
                "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "spark:x"}]},
            }  # fmt: skip
            await core.create_namespaced_pod(NS, pod)

        await bounded([make_pod(i) for i in range(jobs)])
        latencies: dict[str, list[float]] = {}
        for phase, state, pod_phase in (
            ("Running", {"running": {"startedAt": "2026-01-01T00:00:00Z"}}, "Running"),
            (
                "Succeeded",
                {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "message": json.dumps({"processedRows": 1}),
                    }
                },
                "Succeeded",
            ),
        ):
            latencies[phase] = await propagate(custom, core, jobs, phase, state, pod_phase)
            progress(f"{phase}: p50 {statistics.median(latencies[phase]):.3f} s, "
                     f"p99 {percentile(latencies[phase], 0.99):.3f} s")  # fmt: skip

        rss_at_jobs = rss_mb(op.process.pid)
        progress(f"RSS with {jobs} jobs: {rss_at_jobs:.0f} MB")
        await bounded([
            custom.create_namespaced_custom_object("batch.helixagent.io", "v1alpha1", NS, "helixbatchjobs", body(i, suspend=True))
            for i in range(jobs, present)
        ])  # fmt: skip
        settle_started = time.perf_counter()
        while True:  # idle means: every job has been seen and given its status
            listing = await custom.list_namespaced_custom_object(
                "batch.helixagent.io", "v1alpha1", NS, "helixbatchjobs"
            )
            if all((j.get("status") or {}).get("phase") for j in listing["items"]):
                break
            await asyncio.sleep(2)
        settle = time.perf_counter() - settle_started
        await asyncio.sleep(10)
        rss_at_present = rss_mb(op.process.pid)
        cpu_before = cpu_seconds(op.process.pid)
        await asyncio.sleep(30)
        idle_cpu = (cpu_seconds(op.process.pid) - cpu_before) / 30
        return {
            "jobs": jobs,
            "create_requests_s": round(created, 1),
            "all_applications_s": round(all_apps, 1),
            "jobs_per_minute": round(jobs / all_apps * 60),
            **{f"{p.lower()}_p50_s": round(statistics.median(v), 3) for p, v in latencies.items()},
            **{f"{p.lower()}_p99_s": round(percentile(v, 0.99), 3) for p, v in latencies.items()},
            f"rss_mb_at_{jobs}": round(rss_at_jobs),
            f"rss_mb_at_{present}": round(rss_at_present),
            f"seconds_to_settle_{present - jobs}_new_suspended_jobs": round(settle, 1),
            "idle_cpu_percent": round(idle_cpu * 100, 1),
        }


async def propagate(
    custom: Any, core: Any, jobs: int, phase: str, state: dict[str, Any], pod_phase: str
) -> list[float]:
    written: dict[str, float] = {}
    seen: dict[str, float] = {}
    listing = await custom.list_namespaced_custom_object(
        "batch.helixagent.io", "v1alpha1", NS, "helixbatchjobs"
    )
    version = listing["metadata"]["resourceVersion"]

    async def follow() -> None:
        stream = watch.Watch()
        async with stream.stream(custom.list_namespaced_custom_object, "batch.helixagent.io", "v1alpha1", NS,
                                 "helixbatchjobs", resource_version=version, timeout_seconds=600) as events:  # fmt: skip
            async for event in events:
                obj = event["object"]
                name = obj["metadata"]["name"]
                if (obj.get("status") or {}).get("phase") == phase and name not in seen:
                    seen[name] = time.perf_counter()
                    if len(seen) >= jobs:
                        return

    follower = asyncio.create_task(follow())

    async def write(i: int) -> None:
        status = {"status": {"phase": pod_phase, "containerStatuses": [
            {"name": "spark-kubernetes-driver", "state": state, "ready": False, "restartCount": 0, "image": "x", "imageID": ""}]}}  # fmt: skip
        await core.patch_namespaced_pod_status(f"job-{i:05d}-1-driver", NS, status)
        written[f"job-{i:05d}"] = time.perf_counter()

    await bounded([write(i) for i in range(jobs)])
    await asyncio.wait_for(follower, timeout=600)
    return [seen[n] - written[n] for n in written]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--present", type=int, default=10000)
    args = parser.parse_args()
    with ControlPlane() as cp:
        cp.kubectl_ok("apply", "-f", str(ROOT / "crds" / "helixbatchjob.yaml"))
        cp.apply_spark_crd()
        cp.kubectl_ok(
            "wait", "--for=condition=Established", "crd/helixbatchjobs.batch.helixagent.io"
        )
        cp.kubectl_ok("create", "namespace", OPERATOR_NAMESPACE)
        cp.kubectl_ok("apply", "-f", str(ROOT / "manifests" / "base" / "operator-rbac.yaml"))
        Cluster(cp, NS)  # the namespace, and the operator's RoleBinding in it
        kubeconfig = cp.kubeconfig_for_service_account(OPERATOR_NAMESPACE, "helix-operator")
        # The default 15 s lease (the e2e harness shortens it to test failover quickly).
        op = Operator(
            cp, kubeconfig, "bench", NS, HELIX_LOG_LEVEL="WARNING", HELIX_LEASE_SECONDS="15"
        )
        try:
            time.sleep(3)
            result = asyncio.run(scenario(cp, op, args.jobs, args.present))
        except BaseException:
            print(op.log()[-4000:])
            raise
        finally:
            op.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
