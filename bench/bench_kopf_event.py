"""kopf's CPU per job watch event, as the operator's status and label writes cause them.

    .venv/bin/python -m bench.bench_kopf_event [--events 3000] [--profile FILE]

Each event is a running job whose status changed (no spec change): kopf's processing of it
with the operator's own handlers and settings (handlers.py's startup), the job-cache handler
included, and no API call (nothing in it is kopf's to patch). ``--profile`` writes a cProfile
of the loop. Two such events per transition (the status write's and the phase label's) are
what the operator's burst pays in kopf beyond the minimal operator (bench_operator_scale).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import time
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from kopf._cogs.configs import configuration
from kopf._cogs.structs import ephemera, references
from kopf._core.actions import lifecycles
from kopf._core.engines import indexing
from kopf._core.reactor import inventory, processing

from helix_batch.operator import handlers
from helix_batch.operator.controller import Controller
from helix_batch.operator.kube import connect
from helix_batch.operator.names import FINALIZER, GROUP, LABEL_PHASE, PLURAL, VERSION
from tests.operator.helpers import job_doc


def running_job() -> dict[str, Any]:
    """A job as the watch brings it after its Running status: finalizer, diff base, label."""
    doc = job_doc("job-00001")
    spec = doc["spec"]
    doc["metadata"] |= {
        "namespace": "bench", "resourceVersion": "100", "finalizers": [FINALIZER],
        "labels": {LABEL_PHASE: "Running"},
        "annotations": {f"{GROUP}/last-handled-configuration": json.dumps({"spec": spec})},
    }  # fmt: skip
    conditions = [
        {"type": kind, "status": "True", "reason": "DriverRunning", "message": "running",
         "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}
        for kind in ("Submitted", "Running")
    ]  # fmt: skip
    doc["status"] = {
        "phase": "Running", "attempt": 1, "reason": "DriverRunning", "message": "running",
        "observedGeneration": 1, "conditions": conditions, "startTime": "2026-01-01T00:00:00Z",
        "driver": {"name": "job-00001-1-driver", "phase": "Running"},
    }  # fmt: skip
    return doc


async def run(events: int) -> tuple[float, float]:
    """(wall, CPU) seconds per event."""
    settings = configuration.OperatorSettings()
    # kopf's decorators type these as its activities; they are the module's coroutines.
    startup: Any = handlers.startup
    cleanup: Any = handlers.cleanup
    await startup(settings=settings)
    await cleanup()
    # A controller that is not started: the job cache the handler feeds, no watch or queue.
    handlers._controller = Controller(
        connect(pool_size=1), handlers.SETTINGS, lambda: datetime.now(UTC)
    )
    resource = references.Resource(GROUP, VERSION, PLURAL, namespaced=True, kind="HelixBatchJob")
    memories, indexers = inventory.ResourceMemories(), indexing.OperatorIndexers()
    raw = json.dumps(running_job())
    queue: asyncio.Queue[Any] = asyncio.Queue()
    wall = cpu = 0.0
    for i in range(events + 1):  # the first event: kopf's memory of the job is made
        body = json.loads(raw)  # the watch parses each event into a new body
        body["metadata"]["resourceVersion"] = str(101 + i)
        if i == 1:
            wall, cpu = time.perf_counter(), time.process_time()
        await processing.process_resource_event(
            lifecycle=lifecycles.all_at_once, indexers=indexers,
            registry=kopf.get_default_registry(), settings=settings, memories=memories,
            memobase=cast(Any, ephemera.Memo()), resource=resource,
            raw_event={"type": "MODIFIED", "object": body}, event_queue=queue, no_throttling=True,
        )  # fmt: skip
    return (time.perf_counter() - wall) / events, (time.process_time() - cpu) / events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--profile", help="write a cProfile of the loop to this file")
    args = parser.parse_args()
    profile = cProfile.Profile() if args.profile else None
    if profile:
        profile.enable()
    wall, cpu = asyncio.run(run(args.events))
    if profile:
        profile.disable()
        profile.dump_stats(args.profile)
    print(f"kopf per job event: {cpu * 1e6:.0f} µs CPU ({wall * 1e6:.0f} µs wall), {args.events:,} events")  # fmt: skip


if __name__ == "__main__":
    main()
