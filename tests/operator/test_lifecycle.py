"""Table-driven tests of the lifecycle decision (no cluster, no clock)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helix_batch.operator.lifecycle import (
    APP_POLL_SECONDS,
    MAX_APP_MESSAGE,
    App,
    CreateApp,
    Decision,
    DeleteApp,
    DeleteJob,
    Emit,
    backoff_seconds,
    decide,
    next_deadline,
    observe_app,
    observe_driver,
)
from helix_batch.operator.settings import Settings
from helix_batch.operator.spec import load_job
from tests.operator.helpers import RUNNING, at, job_doc, pod, terminated, waiting

SETTINGS = Settings(
    missing_driver_grace_seconds=30, retry_backoff_base_seconds=10, retry_backoff_cap_seconds=60
)
AN_APP = App()  # an attempt's SparkApplication, in no particular state
RESULT = {"processedRows": 1200, "outputRows": 310, "corruptRecords": 2, "entitiesExtracted": 310}


def step(
    status: dict[str, Any],
    t: float,
    driver_pod: dict[str, Any] | None = None,
    app: App | None = AN_APP,
    deleting: bool = False,
    **spec: Any,
) -> Decision:
    job = load_job(job_doc(**spec), SETTINGS)
    driver = observe_driver(driver_pod) if driver_pod else None
    return decide(job, status, app, driver, at(t), SETTINGS, deleting=deleting)


def submitted(t: float = 0, **spec: Any) -> dict[str, Any]:
    d = step({}, t, **spec)
    assert d.status["phase"] == "Submitted"
    return d.status


def running(**spec: Any) -> dict[str, Any]:
    return step(submitted(**spec), 5, pod(1, driver=RUNNING), **spec).status


def conditions(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status.get("conditions", ())}


def reasons(d: Decision) -> list[str]:
    return [a.reason for a in d.actions if isinstance(a, Emit)]


def test_new_job_creates_attempt_one() -> None:
    d = step({}, 0)
    assert d.actions[0] == CreateApp(1)
    assert d.status["attempt"] == 1
    assert d.status["sparkApplication"] == "entities-jan-1"
    assert d.status["startTime"] == "2026-03-01T12:00:00Z"
    assert conditions(d.status) == {"Submitted": "True"}
    assert reasons(d) == ["Submitted"]


def test_pending_then_running_then_succeeded_with_result() -> None:
    s = submitted()
    d = step(s, 2, pod(1, phase="Pending", driver=waiting("ContainerCreating")))
    assert d.status["phase"] == "Submitted" and d.actions == []
    d = step(d.status, 5, pod(1, driver=RUNNING))
    assert d.status["phase"] == "Running"
    assert conditions(d.status)["Running"] == "True"
    assert reasons(d) == ["DriverRunning"]
    d = step(
        d.status,
        65,
        pod(1, phase="Succeeded", driver=terminated(0, "Completed", json.dumps(RESULT))),
    )
    assert d.status["phase"] == "Succeeded"
    assert d.status["result"] == RESULT
    assert d.status["completionTime"] == "2026-03-01T12:01:05Z"
    assert d.status["durationSeconds"] == 65
    assert conditions(d.status) == {"Submitted": "True", "Running": "False", "Complete": "True"}
    assert d.status["attempts"][-1]["outcome"] == "Succeeded"
    assert reasons(d) == ["Completed"]


def test_terminal_phase_is_stable() -> None:
    s = step(running(), 65, pod(1, phase="Succeeded", driver=terminated(0, message="{}"))).status
    d = step(s, 100, pod(1, phase="Succeeded", driver=terminated(0, message="{}")))
    assert d.status == s and d.actions == []


@pytest.mark.parametrize(
    ("code", "expect_phase"), [(0, "Succeeded"), (3, "Pending")], ids=["exit0", "exit3"]
)
def test_driver_terminated_while_sidecar_keeps_pod_running(code: int, expect_phase: str) -> None:
    p = pod(
        1,
        phase="Running",
        driver=terminated(code, "Completed" if code == 0 else "Error", "{}"),
        sidecar=True,
    )
    d = step(running(), 30, p)
    assert d.status["phase"] == expect_phase
    assert DeleteApp(1) in d.actions  # the sidecar would keep the pod alive forever
    assert d.status["driver"]["phase"] == "Running"
    assert d.status["attempts"][-1]["exitCode"] == code


@pytest.mark.parametrize(
    ("state", "reason", "code"),
    [
        (terminated(137, "OOMKilled"), "OOMKilled", 137),
        (terminated(1, "Error"), "Error", 1),
        (terminated(143, ""), "Error", 143),
    ],
)
def test_failed_exit_codes_are_recorded(state: dict[str, Any], reason: str, code: int) -> None:
    d = step(running(backoffLimit=0), 30, pod(1, phase="Failed", driver=state), backoffLimit=0)
    assert d.status["phase"] == "Failed"
    assert d.status["reason"] == "BackoffLimitExceeded"
    assert f"attempt 1 failed ({reason})" in d.status["message"]
    assert d.status["driver"]["exitCode"] == code
    assert d.status["attempts"] == [
        {
            "attempt": 1,
            "name": "entities-jan-1",
            "startTime": "2026-03-01T12:00:00Z",
            "endTime": "2026-03-01T12:00:30Z",
            "outcome": "Failed",
            "exitCode": code,
            "reason": reason,
        }
    ]
    assert conditions(d.status)["Failed"] == "True"
    assert "Warning" in {a.type for a in d.actions if isinstance(a, Emit)}


def test_evicted_pod_without_container_termination_fails_attempt() -> None:
    p = pod(1, phase="Failed", driver=RUNNING, reason="Evicted")
    d = step(running(backoffLimit=0), 30, p, backoffLimit=0)
    assert d.status["phase"] == "Failed" and d.status["attempts"][-1]["reason"] == "Evicted"


@pytest.mark.parametrize(
    ("driver_pod", "reason"),
    [
        (
            pod(1, phase="Pending", driver=waiting("ImagePullBackOff", "no such image")),
            "ImagePullBackOff",
        ),
        (pod(1, phase="Pending", driver=waiting("ErrImagePull")), "ErrImagePull"),
        (
            pod(
                1,
                phase="Pending",
                conditions=[
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes",
                    }
                ],
            ),
            "Unschedulable",
        ),
        (None, "StartDeadlineExceeded"),
    ],
    ids=["image-pull-backoff", "err-image-pull", "unschedulable", "no-pod"],
)
def test_driver_that_never_starts_fails_at_start_deadline(
    driver_pod: dict[str, Any] | None, reason: str
) -> None:
    spec: dict[str, Any] = {"startDeadlineSeconds": 120, "backoffLimit": 0}
    s = submitted(**spec)
    before = step(s, 119, driver_pod, **spec)
    assert before.status["phase"] == "Submitted"
    assert not any(isinstance(a, DeleteApp) for a in before.actions)
    after = step(before.status, 120, driver_pod, **spec)
    assert after.status["phase"] == "Failed"
    assert after.status["attempts"][-1]["reason"] == reason
    assert "startDeadlineSeconds=120" in after.status["message"]
    assert DeleteApp(1) in after.actions


def test_active_deadline_fails_a_running_job() -> None:
    spec: dict[str, Any] = {"activeDeadlineSeconds": 300}
    s = running(**spec)
    assert step(s, 299, pod(1, driver=RUNNING), **spec).status["phase"] == "Running"
    d = step(s, 300, pod(1, driver=RUNNING), **spec)
    assert d.status["phase"] == "Failed"
    assert d.status["reason"] == "DeadlineExceeded"
    assert DeleteApp(1) in d.actions


def test_missing_driver_pod_within_and_past_grace() -> None:
    s = running(backoffLimit=0)
    d = step(s, 10, None, backoffLimit=0)
    assert d.status["phase"] == "Running"
    assert d.status["missingSince"] == "2026-03-01T12:00:10Z"
    assert not any(isinstance(a, CreateApp) for a in d.actions)
    d = step(d.status, 39, None, backoffLimit=0)
    assert d.status["phase"] == "Running"
    d = step(d.status, 40, None, backoffLimit=0)
    assert d.status["phase"] == "Failed"
    assert d.status["attempts"][-1]["reason"] == "DriverPodMissing"


def test_pod_that_comes_back_within_grace_clears_missing() -> None:
    s = step(running(), 10, None).status
    d = step(s, 20, pod(1, driver=RUNNING))
    assert "missingSince" not in d.status and d.status["phase"] == "Running"


def test_retries_with_capped_exponential_backoff_until_backoff_limit() -> None:
    spec: dict[str, Any] = {"backoffLimit": 3}
    s = running(**spec)
    t = 10.0
    delays = []
    for attempt in (1, 2, 3):
        name = f"entities-jan-{attempt}-driver"
        d = step(
            s, t, pod(attempt, phase="Failed", driver=terminated(1, "Error"), name=name), **spec
        )
        assert d.status["phase"] == "Pending" and d.status["reason"] == "Retrying"
        assert conditions(d.status).get("Failed") is None
        due = d.status["nextAttemptTime"]
        delays.append(backoff_seconds(attempt, SETTINGS))
        early = step(d.status, t + delays[-1] - 1, None, **spec)
        assert early.actions == [] and early.status["attempt"] == attempt
        d = step(d.status, t + delays[-1], None, app=None, **spec)
        assert d.actions[0] == CreateApp(attempt + 1)
        assert d.status["attempt"] == attempt + 1
        assert d.status["sparkApplication"] == f"entities-jan-{attempt + 1}"
        assert "nextAttemptTime" not in d.status and due
        s = step(
            d.status,
            t + delays[-1] + 1,
            pod(attempt + 1, driver=RUNNING, name=f"entities-jan-{attempt + 1}-driver"),
            **spec,
        ).status
        t += delays[-1] + 10
    assert delays == [10, 20, 40]
    assert backoff_seconds(4, SETTINGS) == 60  # capped
    final = step(
        s,
        t,
        pod(4, phase="Failed", driver=terminated(2, "Error"), name="entities-jan-4-driver"),
        **spec,
    )
    assert final.status["phase"] == "Failed"
    assert [a["attempt"] for a in final.status["attempts"]] == [1, 2, 3, 4]
    assert final.status["attempts"][-1]["exitCode"] == 2


def test_exhausted_retries_fail_with_backoff_limit_exceeded() -> None:
    """The job's reason says the retries ran out; the last attempt's own reason is in the
    message, and each attempt keeps its reason in the history."""
    spec: dict[str, Any] = {"backoffLimit": 1}
    first = step(running(**spec), 10, pod(1, phase="Failed", driver=terminated(1, "Error")), **spec)
    s = step(first.status, 20, None, app=None, **spec).status
    oom = pod(2, phase="Failed", driver=terminated(137, "OOMKilled"), name="entities-jan-2-driver")
    d = step(s, 30, oom, **spec)
    assert (d.status["phase"], d.status["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert d.status["message"] == (
        "attempt 2 failed (OOMKilled): driver exited with code 137 (OOMKilled); "
        "no retries left (backoffLimit=1)"
    )
    assert [a["reason"] for a in d.status["attempts"]] == ["Error", "OOMKilled"]
    failed = next(c for c in d.status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert reasons(d) == ["BackoffLimitExceeded"]


def test_events_from_an_older_attempt_are_ignored() -> None:
    s = running()
    s = step(s, 10, pod(1, phase="Failed", driver=terminated(1, "Error"))).status
    s = step(s, 20, None, app=None).status
    assert s["attempt"] == 2
    stale = pod(1, phase="Failed", driver=terminated(1, "Error"))
    d = step(s, 21, stale)
    assert d.status["phase"] == "Submitted" and d.status["attempt"] == 2
    assert len(d.status["attempts"]) == 1


def test_suspend_cancels_attempt_and_resume_starts_a_new_one() -> None:
    s = running()
    d = step(s, 10, pod(1, driver=RUNNING), suspend=True)
    assert d.status["phase"] == "Suspended"
    assert DeleteApp(1) in d.actions
    assert conditions(d.status)["Suspended"] == "True"
    assert d.status["attempts"][-1]["outcome"] == "Suspended"
    again = step(d.status, 20, None, suspend=True)
    assert again.actions == []
    resumed = step(d.status, 30, None, app=None, suspend=False)
    assert resumed.actions[0] == CreateApp(2)
    assert resumed.status["phase"] == "Submitted"
    assert conditions(resumed.status)["Suspended"] == "False"
    assert resumed.status["startTime"] == "2026-03-01T12:00:30Z"  # deadlines restart


@pytest.mark.parametrize("retrying", [False, True], ids=["running", "waiting-to-retry"])
def test_suspending_drops_the_live_state_of_the_cancelled_attempt(retrying: bool) -> None:
    s = running()
    if retrying:
        s = step(s, 5, pod(1, phase="Failed", driver=terminated(1, "Error"))).status
        assert "nextAttemptTime" in s
    assert "driver" in s
    d = step(s, 10, pod(1, driver=RUNNING), suspend=True)
    assert d.status["phase"] == "Suspended"
    running_condition = next(c for c in d.status["conditions"] if c["type"] == "Running")
    assert (running_condition["status"], running_condition["reason"]) == ("False", "Suspended")
    for key in ("driver", "sparkApplication", "attemptStartTime", "nextAttemptTime"):
        assert key not in d.status, key
    assert d.status["attempt"] == 1 and d.status["attempts"][-1]["name"] == "entities-jan-1"


def test_job_created_suspended_never_submits() -> None:
    d = step({}, 0, suspend=True)
    assert d.status["phase"] == "Suspended"
    assert not any(isinstance(a, CreateApp | DeleteApp) for a in d.actions)


def test_deletion_cancels_the_current_attempt() -> None:
    d = step(running(), 10, pod(1, driver=RUNNING), deleting=True)
    assert d.status["phase"] == "Cancelled"
    assert d.actions[0] == DeleteApp(1)
    assert reasons(d) == ["Deleted"]


def test_deletion_of_finished_job_changes_nothing() -> None:
    s = step(running(), 65, pod(1, phase="Succeeded", driver=terminated(0, message="{}"))).status
    d = step(s, 70, None, deleting=True)
    assert d.status == s and d.actions == []


def test_restart_finding_attempt_already_created_adopts_it() -> None:
    # The operator died after creating the app but before recording it: status is empty.
    d = step({}, 0, app=AN_APP)
    assert d.actions[0] == CreateApp(1)  # create is idempotent: the API layer adopts it
    # Recorded but the app is gone (never created): created again, same name.
    s = d.status
    again = step(s, 5, None, app=None)
    assert again.actions == [CreateApp(1)] and again.status["attempt"] == 1
    # Recorded and present: nothing to do.
    assert step(s, 5, None, app=AN_APP).actions == []


def test_ttl_deletes_finished_job() -> None:
    spec: dict[str, Any] = {"ttlSecondsAfterFinished": 60}
    s = step(
        running(**spec), 65, pod(1, phase="Succeeded", driver=terminated(0, message="{}")), **spec
    ).status
    assert step(s, 124, None, **spec).actions == []
    assert step(s, 125, None, **spec).actions == [DeleteJob()]


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("", "no result"),
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ("{" + " " * 5000 + "}", "4 KiB"),
    ],
)
def test_bad_result_message_still_succeeds_without_result(message: str, problem: str) -> None:
    d = step(running(), 30, pod(1, phase="Succeeded", driver=terminated(0, message=message)))
    assert d.status["phase"] == "Succeeded"
    assert "result" not in d.status
    assert problem in d.status["message"]


def test_observed_generation_is_recorded() -> None:
    job = load_job({**job_doc(), "metadata": {**job_doc()["metadata"], "generation": 4}}, SETTINGS)
    d = decide(job, {}, None, None, at(0), SETTINGS)
    assert d.status["observedGeneration"] == 4
    assert all(c["observedGeneration"] == 4 for c in d.status["conditions"])


def test_next_deadline_is_what_the_clock_can_change() -> None:
    spec: dict[str, Any] = {"startDeadlineSeconds": 120, "activeDeadlineSeconds": 600}
    job = load_job(job_doc(**spec), SETTINGS)
    assert next_deadline(job, {}, SETTINGS) is not None  # never reconciled: due now
    s = submitted(**spec)
    assert next_deadline(job, s, SETTINGS) == at(120)  # start deadline before active deadline
    r = step(s, 5, pod(1, driver=RUNNING), **spec).status
    assert next_deadline(job, r, SETTINGS) == at(600)
    gone = step(r, 10, None, **spec).status
    assert next_deadline(job, gone, SETTINGS) == at(40)  # missing-pod grace of 30 s
    quiet = load_job(job_doc(), SETTINGS)
    running_quietly = step(submitted(), 5, pod(1, driver=RUNNING)).status
    assert next_deadline(quiet, running_quietly, SETTINGS) is None  # only events can move it
    done = step(
        running_quietly, 9, pod(1, phase="Succeeded", driver=terminated(0, message="{}"))
    ).status
    assert next_deadline(quiet, done, SETTINGS) is None
    ttl = load_job(job_doc(ttlSecondsAfterFinished=60), SETTINGS)
    assert next_deadline(ttl, done, SETTINGS) == at(69)
    retry = step(
        running(backoffLimit=1),
        20,
        pod(1, phase="Failed", driver=terminated(1, "Error")),
        backoffLimit=1,
    ).status
    assert next_deadline(load_job(job_doc(backoffLimit=1), SETTINGS), retry, SETTINGS) == at(30)


def test_every_decision_says_when_the_clock_can_next_change_it() -> None:
    spec: dict[str, Any] = {"startDeadlineSeconds": 120}
    # Submitted: the application's state is read again soon, the start deadline comes later.
    assert step({}, 0, **spec).due == at(APP_POLL_SECONDS)
    assert step({}, 0, startDeadlineSeconds=1).due == at(1)
    assert step(submitted(**spec), 5, pod(1, driver=RUNNING), **spec).due is None
    gone = step(running(), 10, None)
    assert gone.due == at(40)  # a vanished driver: its grace ends


@pytest.mark.parametrize("reason", ["NoInput", "OutputConflict", "OutputNotOwned"])
def test_a_refusal_the_job_reports_fails_the_job_without_retries(reason: str) -> None:
    said = f"no conversations records under s3a://lake/conversations/ ({reason})"
    message = json.dumps({"error": reason, "message": said})
    d = step(running(), 9, pod(1, phase="Failed", driver=terminated(5, "Error", message)))
    assert d.status["phase"] == "Failed" and d.status["reason"] == reason
    assert d.status["message"] == said and "nextAttemptTime" not in d.status
    assert [a["reason"] for a in d.status["attempts"]] == [reason]
    assert conditions(d.status)["Failed"] == "True"


def test_a_crash_the_job_reports_is_retried_with_its_reason() -> None:
    message = json.dumps({"error": "JobFailed", "message": "java.io.IOException: reset"})
    d = step(running(), 9, pod(1, phase="Failed", driver=terminated(1, "Error", message)))
    assert d.status["phase"] == "Pending" and "nextAttemptTime" in d.status
    assert d.status["attempts"][0]["reason"] == "JobFailed"
    assert "java.io.IOException: reset" in d.status["conditions"][-1]["message"]


@pytest.mark.parametrize(
    "message", ["", "Error: boom", '{"error": "No Input!", "message": "x"}', '["NoInput"]', "{"]
)
def test_other_termination_messages_keep_the_container_reason(message: str) -> None:
    d = step(running(), 9, pod(1, phase="Failed", driver=terminated(1, "Error", message)))
    assert d.status["attempts"][0]["reason"] == "Error" and d.status["phase"] == "Pending"


# The spark-operator's errorMessage when Pod Security refuses the driver pod (shortened).
PSA_REFUSAL = """failed to submit spark application: failed to run spark-submit: WARNING: x
26/11/29 20:11:32 WARN Utils: Your hostname, vm, resolves to a loopback address: 127.0.0.1
26/11/29 20:11:47 ERROR Client: Please check "kubectl auth can-i create pod" first.
Exception in thread "main" io.fabric8.kubernetes.client.KubernetesClientException: Failure \
executing: POST at: https://127.0.0.1:51991/api/v1/namespaces/ns/pods. Message: pods \
"entities-jan-1-driver" is forbidden: violates PodSecurity "restricted:latest": \
allowPrivilegeEscalation != false
	at io.fabric8.kubernetes.client.KubernetesClientException.copyAsCause(Kube.java:205)
Caused by: io.fabric8.kubernetes.client.KubernetesClientException: Failure executing: POST
26/11/29 20:11:48 INFO ShutdownHookManager: Shutdown hook called
"""
PSA_WHY = (
    'pods "entities-jan-1-driver" is forbidden: violates PodSecurity "restricted:latest": '
    "allowPrivilegeEscalation != false"
)


@pytest.mark.parametrize(
    ("state", "reason"),
    [("SUBMISSION_FAILED", "SubmissionFailed"), ("FAILED", "SparkApplicationFailed")],
)
def test_app_that_failed_before_its_driver_fails_the_attempt_at_once(
    state: str, reason: str
) -> None:
    d = step(submitted(), 3, None, app=App(state, PSA_REFUSAL))
    assert d.actions[0] == DeleteApp(1)
    assert d.status["phase"] == "Pending" and d.status["reason"] == "Retrying"
    (attempt,) = d.status["attempts"]
    assert attempt["reason"] == reason
    assert attempt["message"] == PSA_WHY
    event = next(a for a in d.actions if isinstance(a, Emit))
    assert event.reason == "AttemptFailed" and PSA_WHY in event.message

    last = step(submitted(backoffLimit=0), 3, None, app=App(state, PSA_REFUSAL), backoffLimit=0)
    assert last.status["phase"] == "Failed"
    assert last.status["reason"] == "BackoffLimitExceeded"
    assert PSA_WHY in last.status["message"]


@pytest.mark.parametrize("state", ["", "SUBMITTED", "RUNNING", "PENDING_RERUN"])
def test_app_on_its_way_waits_for_its_driver_and_is_read_again_soon(state: str) -> None:
    d = step(submitted(), 3, None, app=App(state))
    assert d.actions == [] and d.status["phase"] == "Submitted"
    assert d.due == at(3 + APP_POLL_SECONDS)


def test_app_failure_message_is_trimmed_to_one_short_line() -> None:
    d = step(submitted(), 3, None, app=App("FAILED", "x\n" * 2000))
    message = d.status["attempts"][0]["message"]
    assert len(message) == MAX_APP_MESSAGE and message.endswith("…") and "\n" not in message
    assert step(submitted(), 3, None, app=App("FAILED")).status["attempts"][0]["message"] == (
        "no error message"
    )


def test_app_failure_after_the_driver_was_seen_is_the_driver_pods_business() -> None:
    s = running()
    d = step(s, 10, None, app=App("FAILED", "driver pod deleted"))
    assert "attempts" not in d.status and d.status["missingSince"]


def test_observe_app_reads_the_spark_operators_state() -> None:
    app = {"status": {"applicationState": {"state": "FAILED", "errorMessage": "boom"}}}
    assert observe_app(app) == App("FAILED", "boom")
    assert observe_app({}) == App()
