"""The floor of bench_operator_scale's burst rows: the least any operator must do per driver change.

    python -m bench.minimal_operator NAMESPACE [WORKERS]   (KUBECONFIG names the identity)

It follows driver pods with the operator's own watch, decides with the operator's own
``decide`` and writes the same status the operator would, with as many workers. What it leaves
out is what the operator adds: kopf and its job watch, reads, the phase label, Events,
deadlines, optimistic concurrency. It knows every job's spec (the bench's) and its status
(the one it last wrote), so it never reads a job.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import config

from helix_batch.operator.driver_watch import DriverPods
from helix_batch.operator.kube import JobKey, KubeApi, connect
from helix_batch.operator.lifecycle import App, decide
from helix_batch.operator.names import driver_pod_name
from helix_batch.operator.settings import Settings
from helix_batch.operator.spec import Job, load_job
from helix_batch.operator.workqueue import WorkQueue
from tests.operator.helpers import job_doc


def bench_job(name: str, namespace: str, settings: Settings) -> Job:
    """A job as the bench submits it."""
    doc = job_doc(name)
    doc["metadata"]["namespace"] = namespace
    return load_job(doc, settings, check=False)


class MinimalOperator:
    def __init__(self, api: KubeApi, pods: DriverPods, queue: WorkQueue[JobKey]) -> None:
        self.api, self.pods, self.queue = api, pods, queue
        self.settings = Settings()
        self.written: dict[JobKey, dict[str, Any]] = {}

    async def serve(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self._step(key)
            except Exception as err:  # e.g. the API server busy (429): as the operator, again
                print(f"{key}: {err!r}; retrying", file=sys.stderr, flush=True)
                self.queue.add_at(key, asyncio.get_running_loop().time() + 1)
            finally:
                self.queue.done(key)

    async def _step(self, key: JobKey) -> None:
        namespace, name = key
        job = bench_job(name, namespace, self.settings)
        now = datetime.now(UTC)
        old = self.written.get(key)
        # The status the operator gave the job when it created the application.
        status = old or decide(job, {}, None, None, now, self.settings).status
        driver = self.pods.drivers.get((namespace, driver_pod_name(name, 1)))
        if driver is not None:
            status = decide(job, status, App(), driver, now, self.settings).status
        if status != old:
            patch = {**dict.fromkeys(old or ()), **status}
            await self.api.merge_patch_job(namespace, name, {"status": patch}, status=True)
            self.written[key] = status


async def run(namespace: str, workers: int) -> None:
    await config.load_kube_config()
    api_client = connect(pool_size=workers + 2)
    queue: WorkQueue[JobKey] = WorkQueue()
    pods = DriverPods(api_client, queue.add)
    operator = MinimalOperator(KubeApi(api_client), pods, queue)
    await asyncio.gather(pods.follow(namespace), *(operator.serve() for _ in range(workers)))


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else Settings().workers))
