"""Handler-level tests: reconcile against an in-memory API with the API server's semantics
that matter here (merge patch, resourceVersion preconditions, AlreadyExists). The real-API
end-to-end suite lives in tests/e2e."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from helix_batch.operator.kube import Conflict, Invalid, SparkCrdMissing
from helix_batch.operator.lifecycle import Decision, Driver, observe_driver
from helix_batch.operator.names import LABEL_PHASE
from helix_batch.operator.reconcile import merge_patch, reconcile
from helix_batch.operator.settings import Settings
from tests.operator.helpers import RUNNING, at, job_doc, pod, terminated, waiting

SETTINGS = Settings(retry_backoff_base_seconds=10)


class MemoryApi:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job: dict[str, Any] | None = copy.deepcopy(job)
        assert self.job is not None
        self.job["metadata"]["resourceVersion"] = "1"
        self.apps: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, dict[str, Any]] = {}
        self.creates = 0
        self.deleted_pods: list[str] = []
        self.pod_reads = 0
        self.job_reads = 0
        self.job_writes = 0
        self.conflicts_to_inject = 0
        self.spark_crd = True
        self.refuse_apps = ""  # the API server's message when it refuses an application (422)

    def _bump(self) -> None:
        assert self.job is not None
        meta = self.job["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        self.job_writes += 1

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.job_reads += 1
        return copy.deepcopy(self.job)

    async def patch_job_status(
        self, namespace: str, name: str, resource_version: str, status: Mapping[str, Any]
    ) -> None:
        assert self.job is not None
        if self.conflicts_to_inject:
            self.conflicts_to_inject -= 1
            self._bump()  # someone else (kopf's annotations) wrote meanwhile
        if resource_version != self.job["metadata"]["resourceVersion"]:
            raise Conflict(name)
        _merge(self.job.setdefault("status", {}), status)
        self._bump()

    async def set_job_label(self, namespace: str, name: str, key: str, value: str) -> None:
        assert self.job is not None
        self.job["metadata"].setdefault("labels", {})[key] = value
        self._bump()

    async def delete_job(self, namespace: str, name: str, uid: str) -> None:
        self.job = None

    async def get_app(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.apps.get(name)

    async def create_app(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if not self.spark_crd:
            raise SparkCrdMissing
        if self.refuse_apps:
            raise Invalid(self.refuse_apps)
        self.creates += 1
        name = body["metadata"]["name"]
        return self.apps.setdefault(name, copy.deepcopy(dict(body)))

    async def delete_app(self, namespace: str, name: str) -> None:
        self.apps.pop(name, None)

    async def list_apps(self, namespace: str, job_uid: str) -> list[str]:
        return [
            n for n, a in self.apps.items()
            if a["metadata"]["labels"]["batch.helixagent.io/job-uid"] == job_uid
        ]  # fmt: skip

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.pod_reads += 1
        return self.pods.get(name)

    async def delete_pod(self, namespace: str, name: str) -> None:
        self.deleted_pods.append(name)
        self.pods.pop(name, None)


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """RFC 7386, as the API server applies a JSON merge patch: objects merge, null removes."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping):
            if not isinstance(target.get(key), dict):
                target[key] = {}
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class Events(list[tuple[str, str, str]]):
    def __call__(self, body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        self.append((type_, reason, message))


def run(
    api: MemoryApi,
    t: float,
    events: Events,
    deleting: bool = False,
    drivers: Mapping[tuple[str, str], Driver] | None = None,
    cached: Mapping[str, Any] | None = None,
) -> Decision | None:
    def now() -> datetime:
        return at(t)

    async def once() -> Decision | None:
        labels: list[tuple[tuple[str, str], str]] = []
        decision = await reconcile(
            api, "analytics", "entities-jan", SETTINGS, now, events,
            lambda key, phase: labels.append((key, phase)),
            deleting=deleting, drivers=drivers or {}, cached=cached,
        )  # fmt: skip
        for key, phase in labels:  # as the operator's label lane writes them, afterwards
            await api.set_job_label(*key, LABEL_PHASE, phase)
        return decision

    return asyncio.run(once())


def status(api: MemoryApi) -> dict[str, Any]:
    assert api.job is not None
    result: dict[str, Any] = api.job["status"]
    return result


def test_full_success_path_with_labels_and_events() -> None:
    api, events = MemoryApi(job_doc()), Events()
    run(api, 0, events)
    assert list(api.apps) == ["entities-jan-1"]
    assert status(api)["phase"] == "Submitted"
    assert api.job is not None and api.job["metadata"]["labels"][LABEL_PHASE] == "Submitted"
    api.pods["entities-jan-1-driver"] = pod(1, driver=RUNNING)
    run(api, 5, events)
    assert status(api)["phase"] == "Running"
    result = {"processedRows": 10, "outputRows": 4, "corruptRecords": 1}
    api.pods["entities-jan-1-driver"] = pod(
        1, phase="Succeeded", driver=terminated(0, "Completed", json.dumps(result))
    )
    run(api, 9, events)
    assert status(api)["result"] == result
    assert api.job["metadata"]["labels"][LABEL_PHASE] == "Succeeded"
    assert [e[1] for e in events] == ["Submitted", "DriverRunning", "Completed"]
    run(api, 10, events)  # nothing new: no new events, no writes
    assert len(events) == 3


def test_restart_adopts_the_attempt_created_before_the_crash() -> None:
    api, events = MemoryApi(job_doc()), Events()
    api.apps["entities-jan-1"] = {
        "metadata": {"name": "entities-jan-1", "labels": {"batch.helixagent.io/job-uid": "uid-1"}}
    }
    run(api, 0, events)
    assert list(api.apps) == ["entities-jan-1"]
    assert status(api)["attempt"] == 1 and status(api)["sparkApplication"] == "entities-jan-1"


def test_conflicting_writes_are_retried_without_duplicate_events() -> None:
    api, events = MemoryApi(job_doc()), Events()
    api.conflicts_to_inject = 2
    run(api, 0, events)
    assert status(api)["phase"] == "Submitted"
    assert [e[1] for e in events] == ["Submitted"]
    assert list(api.apps) == ["entities-jan-1"]


def test_removed_status_keys_are_removed() -> None:
    api, events = MemoryApi(job_doc(backoffLimit=1)), Events()
    run(api, 0, events)
    api.pods["entities-jan-1-driver"] = pod(1, phase="Failed", driver=terminated(1, "Error"))
    run(api, 5, events)
    assert "nextAttemptTime" in status(api)
    run(api, 5 + 10, events)
    assert "nextAttemptTime" not in status(api)
    assert status(api)["attempt"] == 2 and "entities-jan-2" in api.apps
    assert "entities-jan-1" in api.apps  # a failed attempt is kept for its logs


def test_keys_dropped_inside_nested_status_objects_are_removed() -> None:
    """A merge patch merges nested objects: the waiting reason must not outlive the wait."""
    api, events = MemoryApi(job_doc()), Events()
    run(api, 0, events)
    api.pods["entities-jan-1-driver"] = pod(1, phase="Pending", driver=waiting("ContainerCreating"))
    run(api, 2, events)
    assert status(api)["driver"]["reason"] == "ContainerCreating"
    api.pods["entities-jan-1-driver"] = pod(1, driver=RUNNING)
    run(api, 5, events)
    assert status(api)["phase"] == "Running"
    assert status(api)["driver"] == {"pod": "entities-jan-1-driver", "phase": "Running"}


def test_merge_patch_turns_the_old_status_into_the_new() -> None:
    old = {"phase": "Submitted", "driver": {"pod": "p", "reason": "ContainerCreating"}, "x": 1}
    new = {"phase": "Running", "driver": {"pod": "p", "phase": "Running"}, "result": {"a": 1}}
    patch = merge_patch(old, new)
    assert patch == {
        "phase": "Running",
        "driver": {"pod": "p", "reason": None, "phase": "Running"},
        "x": None,
        "result": {"a": 1},
    }
    applied = copy.deepcopy(old)
    _merge(applied, patch)
    assert applied == new


def test_deletion_cancels_every_attempt_and_the_driver() -> None:
    api, events = MemoryApi(job_doc(backoffLimit=1)), Events()
    run(api, 0, events)
    api.pods["entities-jan-1-driver"] = pod(1, phase="Failed", driver=terminated(1, "Error"))
    run(api, 5, events)
    run(api, 15, events)
    api.pods["entities-jan-2-driver"] = pod(2, driver=RUNNING, name="entities-jan-2-driver")
    run(api, 16, events)
    run(api, 20, events, deleting=True)
    assert api.apps == {}
    assert "entities-jan-2-driver" in api.deleted_pods
    assert status(api)["phase"] == "Cancelled"


def test_ttl_removes_the_finished_job() -> None:
    api, events = MemoryApi(job_doc(ttlSecondsAfterFinished=30)), Events()
    run(api, 0, events)
    api.pods["entities-jan-1-driver"] = pod(
        1, phase="Succeeded", driver=terminated(0, message="{}")
    )
    run(api, 5, events)
    run(api, 34, events)
    assert api.job is not None
    run(api, 35, events)
    assert api.job is None


def test_a_driver_seen_by_the_watch_is_not_read_again() -> None:
    api, events = MemoryApi(job_doc()), Events()
    run(api, 0, events)
    seen = {("analytics", "entities-jan-1-driver"): observe_driver(pod(1, driver=RUNNING))}
    decision = run(api, 5, events, drivers=seen)
    assert status(api)["phase"] == "Running"
    assert api.pod_reads == 0
    assert decision is not None and decision.due is None  # nothing left for the clock


def test_a_driver_the_watch_has_not_seen_is_read_live() -> None:
    api, events = MemoryApi(job_doc()), Events()
    run(api, 0, events)
    api.pods["entities-jan-1-driver"] = pod(1, driver=RUNNING)
    other_pod = pod(9, driver=RUNNING, name="entities-jan-9-driver")
    other = {("analytics", "entities-jan-9-driver"): observe_driver(other_pod)}
    run(api, 5, events, drivers=other)
    assert status(api)["phase"] == "Running"
    assert api.pod_reads == 1


def test_a_job_seen_by_the_watch_is_not_read_again() -> None:
    api, events = MemoryApi(job_doc()), Events()
    run(api, 0, events)
    reads = api.job_reads
    api.pods["entities-jan-1-driver"] = pod(1, driver=RUNNING)
    run(api, 5, events, cached=copy.deepcopy(api.job))
    assert status(api)["phase"] == "Running"
    assert api.job_reads == reads


def test_a_stale_cached_job_is_refused_and_read_afresh_without_repeating_a_step() -> None:
    api, events = MemoryApi(job_doc()), Events()
    run(api, 0, events)
    before_running = copy.deepcopy(api.job)  # the watch has not yet brought the next write
    api.pods["entities-jan-1-driver"] = pod(1, driver=RUNNING)
    run(api, 5, events)
    reads, writes = api.job_reads, api.job_writes
    run(api, 6, events, cached=before_running)
    assert api.job_reads == reads + 1  # refused once, then read live
    assert api.job_writes == writes  # and nothing left to write
    assert status(api)["phase"] == "Running"
    assert [e[1] for e in events] == ["Submitted", "DriverRunning"]
    assert list(api.apps) == ["entities-jan-1"]


def test_a_job_waits_in_pending_while_sparkapplications_are_not_served() -> None:
    api, events = MemoryApi(job_doc()), Events()
    api.spark_crd = False
    for t in (0, 1):  # retried: the same status, no second Event
        with pytest.raises(SparkCrdMissing):
            run(api, t, events)
        assert status(api)["phase"] == "Pending"
        assert status(api)["reason"] == "SparkApplicationCRDMissing"
        assert "spark-operator" in status(api)["message"]
        assert api.apps == {} and status(api).get("attempt") is None
    assert [(e[0], e[1]) for e in events] == [("Warning", "SparkApplicationCRDMissing")]
    api.spark_crd = True
    run(api, 2, events)
    assert status(api)["phase"] == "Submitted" and list(api.apps) == ["entities-jan-1"]
    submitted = next(c for c in status(api)["conditions"] if c["type"] == "Submitted")
    assert (submitted["status"], submitted["reason"]) == ("True", "Submitted")
