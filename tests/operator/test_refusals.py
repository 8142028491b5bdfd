"""Jobs the operator will not run: a policy violation or a spec it cannot read ends the job
Failed before any SparkApplication exists, and deleting such a job never needs its spec."""

from __future__ import annotations

from typing import Any

from tests.operator.helpers import RUNNING, job_doc, pod
from tests.operator.test_reconcile import Events, MemoryApi, run, status


def conditions(api: MemoryApi) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status(api)["conditions"]}


def test_a_policy_violation_fails_the_job_before_any_application() -> None:
    api, events = MemoryApi(job_doc(spark={"serviceAccount": "helix-operator"})), Events()
    run(api, 0, events)
    assert api.creates == 0 and api.apps == {}
    assert status(api)["phase"] == "Failed" and status(api)["reason"] == "PolicyViolation"
    assert "spec.spark.serviceAccount: helix-operator" in status(api)["message"]
    assert conditions(api)["Failed"] == "True" and "attempt" not in status(api)
    assert [(e[0], e[1]) for e in events] == [("Warning", "PolicyViolation")]
    run(api, 60, events)  # terminal: nothing more happens
    assert len(events) == 1 and api.creates == 0


def test_every_violation_is_named() -> None:
    doc = job_doc(spark={"image": "docker.io/evil/x:1", "executor": {"instances": 500}})
    api, events = MemoryApi(doc), Events()
    run(api, 0, events)
    message = status(api)["message"]
    assert "spec.spark.image" in message and "spec.spark.executor.instances" in message


def unreadable() -> dict[str, Any]:
    """A job stored while the CRD did not require an input (the API server kept it)."""
    doc = job_doc()
    del doc["spec"]["input"]
    return doc


def test_a_spec_that_cannot_be_read_fails_with_invalid_spec() -> None:
    api, events = MemoryApi(unreadable()), Events()
    run(api, 0, events)
    assert status(api)["phase"] == "Failed" and status(api)["reason"] == "InvalidSpec"
    assert "'input'" in status(api)["message"]
    assert conditions(api)["Failed"] == "True" and api.apps == {}
    assert [(e[0], e[1]) for e in events] == [("Warning", "InvalidSpec")]


def running_unreadable_job() -> MemoryApi:
    """A job that ran under an older operator whose spec this one cannot read."""
    api = MemoryApi(unreadable())
    assert api.job is not None
    api.job["status"] = {"phase": "Running", "attempt": 1, "sparkApplication": "entities-jan-1"}
    api.apps["entities-jan-1"] = {
        "metadata": {"name": "entities-jan-1", "labels": {"batch.helixagent.io/job-uid": "uid-1"}}
    }
    api.apps["other-1"] = {
        "metadata": {"name": "other-1", "labels": {"batch.helixagent.io/job-uid": "uid-2"}}
    }
    api.pods["entities-jan-1-driver"] = pod(1, driver=RUNNING)
    return api


def test_an_unreadable_running_job_is_cancelled_by_its_uid() -> None:
    api, events = running_unreadable_job(), Events()
    run(api, 0, events)
    assert status(api)["reason"] == "InvalidSpec"
    assert list(api.apps) == ["other-1"]  # another job's application is untouched
    assert api.deleted_pods == ["entities-jan-1-driver"]


def test_deleting_an_unreadable_job_cancels_it_without_reading_the_spec() -> None:
    api, events = running_unreadable_job(), Events()
    decision = run(api, 0, events, deleting=True)
    assert decision is not None
    assert list(api.apps) == ["other-1"] and api.deleted_pods == ["entities-jan-1-driver"]


def test_a_spec_no_application_can_be_made_of_fails_with_invalid_spec() -> None:
    """Read fine, but its type is no job's (stored while the CRD had no enum)."""
    api, events = MemoryApi(job_doc(type="Reporting")), Events()
    run(api, 0, events)
    assert status(api)["reason"] == "InvalidSpec" and "Reporting" in status(api)["message"]
    assert api.creates == 0


def test_an_application_the_api_server_refuses_fails_the_job_with_its_message() -> None:
    api, events = MemoryApi(job_doc()), Events()
    api.refuse_apps = 'spec.driver.cores: Invalid value: "string": must be of type integer'
    run(api, 0, events)
    assert status(api)["phase"] == "Failed" and status(api)["reason"] == "InvalidSpec"
    assert "spec.driver.cores: Invalid value" in status(api)["message"]
    run(api, 60, events)  # terminal: not tried again
    assert api.creates == 0 and len(events) == 1
