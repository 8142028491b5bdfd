"""The job cache keeps only jobs that wait on a driver pod or a deadline, as last seen."""

from __future__ import annotations

from typing import Any

from helix_batch.job_cache import JobCache

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
