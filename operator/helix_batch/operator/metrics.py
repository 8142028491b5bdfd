"""Prometheus metrics of the operator."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from helix_batch.operator.lifecycle import parse_time
from helix_batch.operator.spec import Job

TRANSITIONS = Counter(
    "helix_job_transitions_total", "Phase transitions of HelixBatchJobs", ["type", "phase"]
)
ATTEMPTS = Counter("helix_job_attempts_total", "SparkApplications created", ["type"])
RECONCILE_SECONDS = Histogram(
    "helix_reconcile_seconds", "Time of one reconcile, API calls included", ["trigger"]
)
SUBMIT_TO_RUNNING_SECONDS = Histogram(
    "helix_submit_to_running_seconds",
    "From creating an attempt's SparkApplication to its driver running",
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
SCHEDULED_RUNS = Counter(
    "helix_schedule_runs_total",
    "Scheduled times of HelixBatchSchedules: created (a run) or skipped (past its deadline)",
    ["outcome"],
)
SCHEDULE_DELAY_SECONDS = Histogram(
    "helix_schedule_delay_seconds",
    "From a run's scheduled time to its creation",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)

# The operator's work queue, named as client-go names its workqueue metrics.
QUEUE_DEPTH = Gauge("workqueue_depth", "Keys waiting for a worker", ["name"])
QUEUE_ADDS = Counter(
    "workqueue_adds_total", "Keys added (a key already waiting counts once)", ["name"]
)
QUEUE_WAIT = Histogram(
    "workqueue_queue_duration_seconds",
    "How long a key waited before a worker took it",
    ["name"],
    buckets=(0.001, 0.01, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
QUEUE_RETRIES = Counter("workqueue_retries_total", "Keys added again after a failure", ["name"])

JobCounts = Mapping[tuple[str, str, str], int]  # (namespace, type, phase) -> jobs
_job_counts: Callable[[], JobCounts] = dict  # until a controller watches jobs


class _JobsByPhase(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "helix_jobs",
            "HelixBatchJobs by phase, as the job watch last delivered them",
            labels=["namespace", "type", "phase"],
        )
        for labels, count in sorted(_job_counts().items()):
            family.add_metric(list(labels), count)
        yield family


REGISTRY.register(_JobsByPhase())


def count_jobs_from(source: Callable[[], JobCounts]) -> None:
    """``helix_jobs`` reports what ``source`` counts (the job watch's cache)."""
    global _job_counts
    _job_counts = source


def record_transition(
    job: Job, old: str | None, new: str | None, status: Mapping[str, Any], now: datetime
) -> None:
    if new is None:
        return
    TRANSITIONS.labels(job.spec.type, new).inc()
    if new == "Submitted":
        ATTEMPTS.labels(job.spec.type).inc()
    started = status.get("attemptStartTime")
    if new == "Running" and started:
        waited = (now - parse_time(started)).total_seconds()
        SUBMIT_TO_RUNNING_SECONDS.observe(max(0.0, waited))
