"""Render + decide per second on one core: the operator's own work per reconcile.

    taskset -c 0 .venv/bin/python -m bench.bench_operator

Steady state: what one reconcile does besides API calls while a driver runs (read the job,
defaults included, observe the driver pod, decide, render the attempt's SparkApplication).
Attempt start: read the job, decide (a new attempt), render it; once as before the job policy
existed and once with the policy check the operator now makes before rendering, in alternating
rounds of one run, so the two are compared on the same machine state.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from helix_batch.operator import policy
from helix_batch.operator.lifecycle import App, decide, observe_driver
from helix_batch.operator.render import render_spark_application
from helix_batch.operator.settings import Settings
from helix_batch.operator.spec import load_job
from tests.operator.helpers import job_doc

SETTINGS = Settings()
POLICY = policy.load(SETTINGS)
JOB = job_doc(
    parameters={"minConfidence": 0.7, "entityTypes": ["PERSON", "ORG"]},
    spark={
        "executor": {"instances": 4, "memory": "4g", "cores": 2},
        "conf": {"spark.sql.shuffle.partitions": "64"},
        "env": [{"name": "TZ", "value": "UTC"}],
    },
    lake={"endpoint": "http://minio.lake.svc:9000"},
)
POD = {
    "metadata": {"name": "entities-jan-1-driver", "labels": {"batch.helixagent.io/attempt": "1"}},
    "status": {
        "phase": "Running",
        "containerStatuses": [{"name": "spark-kubernetes-driver", "state": {"running": {}}}],
    },
}
T0 = datetime(2026, 3, 1, tzinfo=UTC)
N = 20_000
# Attempts start for different jobs: each writes its own output (a policy check cannot reuse
# another job's verdict), and they share the lake, its endpoint and the Spark sizes.
STARTS = [
    {**JOB, "spec": {**JOB["spec"], "output": {"uri": f"s3a://lake/analytics/run-{i}/"}}}
    for i in range(N)
]


def steady(i: int) -> None:
    job = load_job(JOB, SETTINGS, check=False)
    driver = observe_driver(POD)
    decide(job, SUBMITTED, App(), driver, T0 + timedelta(seconds=i % 50), SETTINGS)
    render_spark_application(job, 1)


def start_without_policy(i: int) -> None:
    job = load_job(STARTS[i], SETTINGS, check=False)
    decide(job, {}, None, None, T0, SETTINGS)
    render_spark_application(job, 1)


def start_with_policy(i: int) -> None:
    job = load_job(STARTS[i], SETTINGS, check=False)
    decide(job, {}, None, None, T0, SETTINGS)
    assert not policy.check(job.spec, POLICY)
    render_spark_application(job, 1)


SUBMITTED = decide(load_job(JOB, SETTINGS, check=False), {}, None, None, T0, SETTINGS).status


def rate(step: Callable[[int], None]) -> float:
    started = time.perf_counter()
    for i in range(N):
        step(i)
    return N / (time.perf_counter() - started)


def main() -> None:
    rates: dict[str, list[float]] = {"steady": [], "without": [], "with": []}
    for _ in range(7):
        rates["steady"].append(rate(steady))
        rates["without"].append(rate(start_without_policy))
        rates["with"].append(rate(start_with_policy))
    for name, label in (
        ("steady", "render+decide, driver running"),
        ("without", "attempt start, no policy check"),
        ("with", "attempt start, policy check"),
    ):
        r = rates[name]
        print(
            f"{label}: median {statistics.median(r):,.0f}/s (min {min(r):,.0f}, max {max(r):,.0f})"
        )
    ratios = [w / p for w, p in zip(rates["without"], rates["with"], strict=True)]
    print(f"policy check cost: median {statistics.median(ratios) - 1:+.1%} per attempt start "
          f"(7 alternating rounds of {N:,}, one core)")  # fmt: skip


if __name__ == "__main__":
    main()
