"""Prometheus metrics of the operator."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from helix_batch.lifecycle import parse_time
from helix_batch.spec import Job

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

# (namespace, name) -> (type, phase) of every job this replica has seen.
_PHASES: dict[tuple[str, str], tuple[str, str]] = {}


class _JobsByPhase(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "helix_jobs", "HelixBatchJobs by phase", labels=["type", "phase"]
        )
        for (kind, phase), count in sorted(Tally(_PHASES.values()).items()):
            family.add_metric([kind, phase], count)
        yield family


REGISTRY.register(_JobsByPhase())


def record_transition(
    job: Job, old: str | None, new: str | None, status: Mapping[str, Any], now: datetime
) -> None:
    if new is None:
        return
    _PHASES[(job.namespace, job.name)] = (job.spec.type, new)
    TRANSITIONS.labels(job.spec.type, new).inc()
    if new == "Submitted":
        ATTEMPTS.labels(job.spec.type).inc()
    started = status.get("attemptStartTime")
    if new == "Running" and started:
        waited = (now - parse_time(started)).total_seconds()
        SUBMIT_TO_RUNNING_SECONDS.observe(max(0.0, waited))


def forget(namespace: str, name: str) -> None:
    _PHASES.pop((namespace, name), None)
