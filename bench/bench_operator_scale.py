"""The operator at scale on the real control plane (tests/e2e): submission rate, status
propagation latency, memory and idle CPU.

    .venv/bin/python -m bench.bench_operator_scale [--jobs 1000] [--paced 500] [--rate 25]
                                                   [--present 10000] [--bursts-only] [--profile DIR]

1. ``--jobs`` HelixBatchJobs are created at once (64 concurrent requests); measured: time until
   every one of their SparkApplications exists.
2. Playing spark-operator, a driver pod is created for each and all are moved to Running at
   once, then to Succeeded at once (a burst); measured per job: from the pod's status write to
   the job's status showing the phase (p50, p99), seen through a watch.
3. The same for ``--paced`` more jobs whose drivers move at ``--rate`` pods per second, a load
   the API server of this machine keeps up with: the operator's own latency.
4. Operator resident memory with ``--jobs`` and then ``--present`` jobs present (the extra
   ones created suspended), the time until it has given them all a status and gone quiet, and
   its CPU over 30 s while idle. Every measurement starts from a quiet operator and API server.
5. The floor: the burst of step 2 in a namespace the operator does not serve, followed by
   ``bench.minimal_operator``: the operator's pod watch, decisions and status writes, with as
   many workers and nothing else (no kopf, reads, labels or Events). The same API server on the
   same machine, so what step 2 adds is the operator's, and what the floor shows is what any
   operator would get here.

Steps 2 and 3 also report when the phase label followed the status; steps 2, 3 and 5 the CPU
the operator (or the minimal one) spent on the transitions. ``--bursts-only`` runs
steps 1, 2 and 5 (and the memory at ``--jobs``): two minutes, for comparing changes run by run.
``--profile DIR`` samples the operator (and the minimal one) with py-spy during each transition
step, as collapsed stacks with sample counts in DIR/<step>.txt (``pip install py-spy`` first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from bench.cpu import cpu_seconds
from bench.minimal_operator import bench_job
from helix_batch.operator.crd import JOB_CRD
from helix_batch.operator.render import render_spark_application
from helix_batch.operator.settings import Settings
from tests.e2e.controlplane import ControlPlane
from tests.e2e.harness import OPERATOR_NAMESPACE, ROOT, Cluster, Operator
from tests.operator.helpers import job_doc

NS = "bench"
FLOOR_NS = "floor"  # served by bench.minimal_operator instead
CONCURRENCY = 64
RUNNING = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
PHASE_LABEL = "batch.helixagent.io/phase"
SUCCEEDED = {"terminated": {"exitCode": 0, "reason": "Completed", "message": json.dumps({"processedRows": 1})}}  # fmt: skip


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def name(i: int) -> str:
    return f"job-{i:05d}"


async def bounded(coros: list[Any]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(c: Any) -> None:
        async with gate:
            await c

    await asyncio.gather(*(run(c) for c in coros))


async def paced(coros: list[Any], rate: float) -> None:
    """Start one coroutine every 1/rate seconds."""
    started, tasks = time.perf_counter(), []
    for i, c in enumerate(coros):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(c))
    await asyncio.gather(*tasks)


class Bench:
    def __init__(
        self,
        api_client: client.ApiClient,
        busy: list[int],
        ns: str = NS,
        profile: Path | None = None,
    ) -> None:
        self.busy = busy  # the operator measured (first), the other processes of the machine
        self.profile = profile  # a folder for py-spy's samples of each transition's work
        self.ns = ns
        self.jobs = ("batch.helixagent.io", "v1alpha1", ns, "helixbatchjobs")
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    async def ready(self) -> None:
        """Until the API server serves watches of the new CRD ("storage is (re)initializing")."""
        while True:
            try:
                await self.seen(await self.version(), set(), {}, timeout=1)
                return
            except ApiException as err:
                if err.status != 429:
                    raise
                await asyncio.sleep(1)

    async def version(self) -> str:
        listing = await self.custom.list_namespaced_custom_object(*self.jobs, limit=1)
        version: str = listing["metadata"]["resourceVersion"]
        return version

    async def seen(
        self,
        version: str,
        names: set[str],
        states: dict[str, Callable[[dict[str, Any]], bool]],
        timeout: int = 900,
    ) -> dict[str, dict[str, float]]:
        """When each named job first reached each state, seen through a watch from ``version``."""
        seen: dict[str, dict[str, float]] = {state: {} for state in states}
        left = len(names) * len(states)
        stream = watch.Watch()
        async with stream.stream(self.custom.list_namespaced_custom_object, *self.jobs,
                                 resource_version=version, timeout_seconds=timeout) as events:  # fmt: skip
            async for event in events:
                obj = event["object"]
                job = obj["metadata"]["name"]
                for state, reached in states.items() if job in names else ():
                    if job not in seen[state] and reached(obj):
                        seen[state][job] = time.perf_counter()
                        left -= 1
                if not left:
                    break
        return seen

    async def submit(self, ids: range, **spec: Any) -> None:
        def body(i: int) -> dict[str, Any]:
            doc = job_doc(name(i), **spec)
            doc["metadata"] = {"name": name(i), "namespace": self.ns}
            return doc

        await bounded(
            [self.custom.create_namespaced_custom_object(*self.jobs, body(i)) for i in ids]
        )

    async def applications(self, ids: range) -> dict[str, dict[str, Any]]:
        wanted = {f"{name(i)}-1" for i in ids}
        while True:
            try:
                listing = await self.custom.list_namespaced_custom_object(
                    "sparkoperator.k8s.io", "v1beta2", self.ns, "sparkapplications"
                )
            except ApiException as err:
                if err.status != 429:  # e.g. "storage is (re)initializing" on a loaded machine
                    raise
                listing = {"items": []}
            apps = {a["metadata"]["name"]: a for a in listing["items"]}
            if wanted <= apps.keys():
                return apps
            await asyncio.sleep(0.25)

    async def drivers(self, ids: range, apps: dict[str, dict[str, Any]] | None) -> None:
        """Driver pods, created as spark-operator would (Pending, no status yet); without
        ``apps``, labelled as their applications would have been rendered."""

        async def make_pod(i: int) -> None:
            pod: Any = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{name(i)}-1-driver", "labels": {"spark-role": "driver"}},
                "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "spark:x"}]},
            }  # fmt: skip
            if apps is None:
                app = render_spark_application(bench_job(name(i), self.ns, Settings()), 1)
            else:
                app = apps[f"{name(i)}-1"]
                pod["metadata"]["ownerReferences"] = [{"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
                                                       "name": app["metadata"]["name"], "uid": app["metadata"]["uid"], "controller": True}]  # fmt: skip
            pod["metadata"]["labels"] |= app["metadata"]["labels"]
            await self.core.create_namespaced_pod(self.ns, pod)

        await bounded([make_pod(i) for i in ids])

    async def propagate(
        self, ids: range, phase: str, state: dict[str, Any], rate: float | None, floor: bool = False
    ) -> dict[str, float]:
        """With ``floor``, the jobs are the minimal operator's, which sets no label."""
        await quiet(*self.busy)  # not the tail of the previous step (e.g. pods just created)
        written: dict[str, float] = {}

        async def write(i: int) -> None:
            status = {"status": {"phase": phase, "containerStatuses": [
                {"name": "spark-kubernetes-driver", "state": state, "ready": False, "restartCount": 0, "image": "x", "imageID": ""}]}}  # fmt: skip
            await self.core.patch_namespaced_pod_status(f"{name(i)}-1-driver", self.ns, status)
            written[name(i)] = time.perf_counter()

        states = {"status": lambda o: (o.get("status") or {}).get("phase") == phase}
        if not floor:
            states["label"] = lambda o: o["metadata"].get("labels", {}).get(PHASE_LABEL) == phase
        follower = asyncio.create_task(self.seen(await self.version(), {name(i) for i in ids}, states))  # fmt: skip
        writes = [write(i) for i in ids]
        cpu_before = cpu_seconds(self.busy[0])
        kind = f"{'floor-' if floor else ''}{phase.lower()}-{'burst' if rate is None else 'paced'}"
        spy = self.spy(kind)
        await (bounded(writes) if rate is None else paced(writes, rate))
        seen = await asyncio.wait_for(follower, timeout=900)
        await quiet(self.busy[0])
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its samples as it stops
            spy.wait()
        # All the operator did for these transitions (labels and Events too), to within an idle window.
        result = {"operator_cpu_s": round(cpu_seconds(self.busy[0]) - cpu_before, 1)}
        progress(
            f"{phase}: {result['operator_cpu_s']} CPU-s of the {'minimal ' if floor else ''}operator"
        )
        for what in states:
            latencies = [seen[what][n] - written[n] for n in written]
            p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
            progress(f"{phase} {what} ({'floor ' if floor else ''}{'burst' if rate is None else f'paced {rate:g}/s'}): "
                     f"p50 {p50:.3f} s, p99 {p99:.3f} s")  # fmt: skip
            prefix = "" if what == "status" else "label_"
            result |= {f"{prefix}p50_s": round(p50, 3), f"{prefix}p99_s": round(p99, 3)}
        return result

    def spy(self, kind: str) -> subprocess.Popen[bytes] | None:
        """py-spy (``pip install py-spy``) sampling the measured operator, collapsed stacks
        with their sample counts, into <profile>/<kind>.txt."""
        if self.profile is None:
            return None
        self.profile.mkdir(parents=True, exist_ok=True)
        argv = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw",
                "--rate", "200", "--pid", str(self.busy[0]), "--output", str(self.profile / f"{kind}.txt")]  # fmt: skip
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL)


async def quiet(*pids: int, below: float = 0.1, window: float = 5.0) -> None:
    """Until each process used less than ``below`` of a core over ``window`` seconds."""
    while True:
        before = [cpu_seconds(pid) for pid in pids]
        await asyncio.sleep(window)
        if all(cpu_seconds(p) - b < below * window for p, b in zip(pids, before, strict=True)):
            return


async def scenario(
    cp: ControlPlane,
    op: Operator,
    minimal_pid: int,
    jobs: int,
    paced_jobs: int,
    rate: float,
    present: int,
    bursts_only: bool = False,
    profile: Path | None = None,
) -> dict[str, Any]:
    await config.load_kube_config(str(cp.kubeconfig))
    result: dict[str, Any] = {}
    async with client.ApiClient() as api_client:
        bench = Bench(api_client, [op.process.pid, *cp.pids], NS, profile)
        await bench.ready()
        burst = range(jobs)
        started = time.perf_counter()
        await bench.submit(burst)
        result["create_requests_s"] = round(time.perf_counter() - started, 1)
        apps = await bench.applications(burst)
        all_apps = time.perf_counter() - started
        progress(f"{jobs} SparkApplications in {all_apps:.1f} s")
        result |= {
            "all_applications_s": round(all_apps, 1),
            "jobs_per_minute": round(jobs / all_apps * 60),
        }
        await bench.drivers(burst, apps)
        result["running_burst"] = await bench.propagate(burst, "Running", RUNNING, None)
        result["succeeded_burst"] = await bench.propagate(burst, "Succeeded", SUCCEEDED, None)
        await quiet(op.process.pid)
        result[f"rss_mb_at_{jobs}"] = round(rss_mb(op.process.pid))
        if not bursts_only:
            result |= await later_steps(op, bench, jobs, paced_jobs, rate, present)

        floor = Bench(api_client, [minimal_pid, *bench.busy], FLOOR_NS, profile)
        await floor.submit(burst)
        await floor.drivers(burst, None)
        result["running_burst_floor"] = await floor.propagate(burst, "Running", RUNNING, None, True)
        result["succeeded_burst_floor"] = await floor.propagate(burst, "Succeeded", SUCCEEDED, None, True)  # fmt: skip
    return result


async def later_steps(
    op: Operator, bench: Bench, jobs: int, paced_jobs: int, rate: float, present: int
) -> dict[str, Any]:
    """Steps 3 and 4."""
    result: dict[str, Any] = {}
    steady = range(jobs, jobs + paced_jobs)
    await bench.submit(steady)
    await bench.drivers(steady, await bench.applications(steady))
    result["running_paced"] = await bench.propagate(steady, "Running", RUNNING, rate)
    result["succeeded_paced"] = await bench.propagate(steady, "Succeeded", SUCCEEDED, rate)

    parked = range(steady.stop, present)
    settle_started = time.perf_counter()
    given_status = asyncio.create_task(bench.seen(await bench.version(), {name(i) for i in parked},
                                                  {"status": lambda o: bool((o.get("status") or {}).get("phase"))}))  # fmt: skip
    await bench.submit(parked, suspend=True)
    await given_status
    result[f"seconds_until_{len(parked)}_suspended_jobs_have_status"] = round(
        time.perf_counter() - settle_started, 1
    )
    await quiet(op.process.pid)
    result[f"seconds_until_operator_quiet_after_{len(parked)}_new_jobs"] = round(
        time.perf_counter() - settle_started, 1
    )
    result[f"rss_mb_at_{present}"] = round(rss_mb(op.process.pid))
    cpu_before = cpu_seconds(op.process.pid)
    await asyncio.sleep(30)
    result["idle_cpu_percent"] = round((cpu_seconds(op.process.pid) - cpu_before) / 30 * 100, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--paced", type=int, default=500)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--present", type=int, default=10000)
    parser.add_argument("--bursts-only", action="store_true")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy samples of each step")
    args = parser.parse_args()
    with ControlPlane() as cp:
        cp.kubectl_ok("apply", "-f", str(JOB_CRD))
        cp.apply_spark_crd()
        cp.kubectl_ok(
            "wait", "--for=condition=Established", "crd/helixbatchjobs.batch.helixagent.io"
        )
        cp.kubectl_ok("create", "namespace", OPERATOR_NAMESPACE)
        cp.kubectl_ok("apply", "-f", str(ROOT / "manifests" / "base" / "operator-rbac.yaml"))
        for namespace in (NS, FLOOR_NS):
            Cluster(cp, namespace)  # the namespace, and the operator's RoleBinding in it
        kubeconfig = cp.kubeconfig_for_service_account(OPERATOR_NAMESPACE, "helix-operator")
        # The default 15 s lease (the e2e harness shortens it to test failover quickly).
        op = Operator(
            cp, kubeconfig, "bench", NS, HELIX_LOG_LEVEL="WARNING", HELIX_LEASE_SECONDS="15"
        )
        minimal = subprocess.Popen(
            [sys.executable, "-m", "bench.minimal_operator", FLOOR_NS],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)}, cwd=ROOT,
        )  # fmt: skip
        try:
            time.sleep(3)
            result = asyncio.run(scenario(cp, op, minimal.pid, args.jobs, args.paced, args.rate,
                                          args.present, args.bursts_only, args.profile))  # fmt: skip
        except BaseException:
            print(op.log()[-4000:])
            raise
        finally:
            minimal.kill()
            minimal.wait()
            op.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
