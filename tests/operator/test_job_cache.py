"""The job cache keeps only jobs that wait on a driver pod or a deadline, as last seen."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from helix_batch.operator import metrics
from helix_batch.operator.job_cache import JobCache

KEY = ("analytics", "entities-jan")


def body(phase: str | None, version: str = "1") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "metadata": {"namespace": KEY[0], "name": KEY[1], "resourceVersion": version}
    }
    if phase:
        doc["status"] = {"phase": phase}
    return doc


def test_a_waiting_job_is_kept_as_last_seen() -> None:
    cache = JobCache()
    cache.observe(None, body("Submitted", "1"))  # the initial listing
    cache.observe("MODIFIED", body("Running", "2"))
    kept = cache.get(KEY)
    assert kept is not None and kept["metadata"]["resourceVersion"] == "2"


def test_jobs_that_wait_on_nothing_are_not_kept() -> None:
    for phase in (None, "Suspended", "Succeeded", "Failed", "Cancelled"):
        cache = JobCache()
        cache.observe("MODIFIED", body("Running"))
        cache.observe("MODIFIED", body(phase, "2"))
        assert cache.get(KEY) is None and len(cache) == 0, phase


def test_a_deleted_job_is_forgotten() -> None:
    cache = JobCache()
    cache.observe("ADDED", body("Pending"))
    cache.observe("DELETED", body("Pending", "2"))
    assert cache.get(KEY) is None


def test_jobs_by_phase_count_every_job_the_watch_has_seen() -> None:
    def job(namespace: str, name: str, kind: str, phase: str | None) -> dict[str, Any]:
        doc: dict[str, Any] = {"metadata": {"namespace": namespace, "name": name}}
        doc["spec"] = {"type": kind}
        doc["status"] = {"phase": phase} if phase else {}
        return doc

    cache = JobCache()
    for namespace, name, kind, phase in [
        ("a", "done", "TopicModeling", "Succeeded"),  # the initial listing, after a restart
        ("a", "runs", "TopicModeling", "Running"),
        ("b", "runs", "TopicModeling", "Running"),
        ("b", "new", "DebateAnalysis", None),  # no phase yet: not counted
    ]:
        cache.observe(None, job(namespace, name, kind, phase))
    cache.observe("MODIFIED", job("a", "runs", "TopicModeling", "Failed"))
    cache.observe("DELETED", job("b", "runs", "TopicModeling", "Running"))
    assert cache.by_phase() == {
        ("a", "TopicModeling", "Succeeded"): 1,
        ("a", "TopicModeling", "Failed"): 1,
    }
    metrics.count_jobs_from(cache.by_phase)
    labels = {"namespace": "a", "type": "TopicModeling", "phase": "Failed"}
    assert REGISTRY.get_sample_value("helix_jobs", labels) == 1
    assert REGISTRY.get_sample_value("helix_jobs", {**labels, "phase": "Running"}) is None
