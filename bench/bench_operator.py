"""Render + decide per second on one core: the operator's own work per reconcile.

    taskset -c 0 .venv/bin/python -m bench.bench_operator

Each iteration does what one reconcile does besides API calls: read the job (defaults
included), observe a driver pod, decide, and render the SparkApplication of the attempt.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from helix_batch.lifecycle import decide, observe_driver
from helix_batch.render import render_spark_application
from helix_batch.settings import Settings
from helix_batch.spec import load_job
from tests.operator.helpers import job_doc

SETTINGS = Settings()
JOB = job_doc(
    parameters={"minConfidence": 0.7, "entityTypes": ["PERSON", "ORG"]},
    spark={"executor": {"instances": 4, "memory": "4g", "cores": 2}},
)
POD = {
    "metadata": {"name": "entities-jan-1-driver", "labels": {"batch.helixagent.io/attempt": "1"}},
    "status": {
        "phase": "Running",
        "containerStatuses": [{"name": "spark-kubernetes-driver", "state": {"running": {}}}],
    },
}
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def one_round(n: int) -> float:
    job = load_job(JOB, SETTINGS, check=False)
    submitted = decide(job, {}, False, None, T0, SETTINGS).status
    started = time.perf_counter()
    for i in range(n):
        job = load_job(JOB, SETTINGS, check=False)
        driver = observe_driver(POD)
        decide(job, submitted, True, driver, T0 + timedelta(seconds=i % 50), SETTINGS)
        render_spark_application(job, 1)
    return n / (time.perf_counter() - started)


def main() -> None:
    rates = [one_round(20_000) for _ in range(7)]
    print(f"render+decide: median {statistics.median(rates):,.0f}/s "
          f"(min {min(rates):,.0f}, max {max(rates):,.0f}, 7 rounds of 20,000, one core)")  # fmt: skip


if __name__ == "__main__":
    main()
