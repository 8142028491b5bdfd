"""The schedule's decision, with every expected time worked out by hand from the cron
expression, the time zone's offsets (Europe/Berlin: CET = UTC+1, CEST = UTC+2 from 2026-03-29
02:00 to 2026-10-25 03:00 local; America/Los_Angeles: PST = UTC-8 in November) and Debian
cron's rules at daylight-saving changes."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from helix_batch.cli.render import render as render_command
from helix_batch.operator.lifecycle import format_time
from helix_batch.operator.names import ANNOTATION_SCHEDULED_TIME, LABEL_SCHEDULE
from helix_batch.operator.scheduling import (
    Decision,
    Run,
    Schedule,
    ScheduleError,
    decide,
    load_schedule,
    observe_run,
    refuse_invalid,
    render_run,
    run_name,
    window,
)
from helix_batch.operator.spec import validate

CREATED = "2026-01-01T00:00:00Z"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def schedule_doc(name: str = "nightly", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "batch.helixagent.io/v1alpha1",
        "kind": "HelixBatchSchedule",
        "metadata": {
            "name": name, "namespace": "analytics", "uid": "sched-uid", "generation": 1,
            "creationTimestamp": CREATED,
        },
        "spec": {
            "schedule": "0 2 * * *",
            "jobTemplate": {
                "metadata": {"labels": {"team": "insights"}},
                "spec": {
                    "type": "EntityExtraction",
                    "input": {"uri": "s3a://lake/conversations/", "window": {"days": 1}},
                    "output": {"uri": "s3a://lake/analytics/entities/daily"},
                    "parameters": {"minConfidence": 0.5},
                },
            },
        },
    }  # fmt: skip
    body["spec"].update(copy.deepcopy(spec))
    return body


def schedule(**spec: Any) -> Schedule:
    return load_schedule(schedule_doc(**spec))


def run(scheduled: str, phase: str = "Running", **extra: Any) -> Run:
    stamp = utc(scheduled)
    return Run(
        name=run_name("nightly", stamp), uid=f"uid-{scheduled}", scheduled=stamp, phase=phase,
        **extra,
    )  # fmt: skip


def last(scheduled: str) -> dict[str, Any]:
    return {"lastScheduleTime": scheduled}


def created(d: Decision) -> str | None:
    return format_time(d.create) if d.create else None


def deleted(d: Decision) -> list[str]:
    return sorted(r.name for r in d.delete)


def reasons(d: Decision) -> list[str]:
    return [e.reason for e in d.events]


def test_run_names_are_the_schedule_and_the_utc_minute_within_a_dns_label() -> None:
    assert run_name("nightly", utc("2026-11-29T02:00:00Z")) == "nightly-20261129-0200"
    berlin = datetime(2026, 11, 29, 3, 0, tzinfo=load_schedule(schedule_doc()).spec.time_zone)
    assert run_name("nightly", berlin) == "nightly-20261129-0300"  # a UTC zone's 03:00
    assert len(run_name("x" * 49, utc("2026-11-29T02:00:00Z"))) == 63


@pytest.mark.parametrize(
    ("zone", "cron", "win", "scheduled", "expected"),
    [
        # 02:00 UTC on the 29th: yesterday is the 28th.
        ("UTC", "0 2 * * *", {"days": 1}, "2026-11-29T02:00:00Z", ("2026-11-28", "2026-11-28")),
        # 20:00 PST on the 28th is 04:00 UTC on the 29th: the day is the zone's 28th.
        ("America/Los_Angeles", "0 20 * * *", {"days": 1}, "2026-11-29T04:00:00Z",
         ("2026-11-27", "2026-11-27")),
        # 00:30 CET on 2026-03-29 is 23:30 UTC on the 28th.
        ("Europe/Berlin", "30 0 * * *", {"days": 1}, "2026-03-28T23:30:00Z",
         ("2026-03-28", "2026-03-28")),
        ("UTC", "0 2 * * MON", {"days": 7, "endOffsetDays": 1}, "2026-11-30T02:00:00Z",
         ("2026-11-23", "2026-11-29")),
        ("UTC", "0 23 * * *", {"days": 2, "endOffsetDays": 0}, "2026-11-29T23:00:00Z",
         ("2026-11-28", "2026-11-29")),
    ],
)  # fmt: skip
def test_window_is_counted_from_the_scheduled_day_in_the_zone(
    zone: str, cron: str, win: dict[str, int], scheduled: str, expected: tuple[str, str]
) -> None:
    doc = schedule_doc(schedule=cron, timeZone=zone)
    doc["spec"]["jobTemplate"]["spec"]["input"]["window"] = win
    start, end = window(load_schedule(doc), utc(scheduled))
    assert (start.isoformat(), end.isoformat()) == expected


def test_the_run_is_a_valid_job_owned_by_the_schedule() -> None:
    job = render_run(schedule(timeZone="Europe/Berlin"), utc("2026-11-29T01:00:00Z"))
    validate(job)  # the HelixBatchJob CRD's own schema and CEL rules
    meta = job["metadata"]
    assert meta["name"] == "nightly-20261129-0100"
    assert meta["namespace"] == "analytics"
    assert meta["labels"] == {"team": "insights", LABEL_SCHEDULE: "nightly"}
    assert meta["annotations"] == {ANNOTATION_SCHEDULED_TIME: "2026-11-29T01:00:00Z"}
    (owner,) = meta["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "HelixBatchSchedule", "nightly", "sched-uid", True,
    )  # fmt: skip
    assert job["spec"]["input"] == {
        "uri": "s3a://lake/conversations/", "startDate": "2026-11-28", "endDate": "2026-11-28",
    }  # fmt: skip
    assert (
        job["spec"]["output"]["uri"] == "s3a://lake/analytics/entities/daily/2026-11-28_2026-11-28/"
    )
    assert job["spec"]["parameters"] == {"minConfidence": 0.5}
    assert observe_run({**job, "metadata": {**meta, "uid": "u"}}, "sched-uid") == Run(
        "nightly-20261129-0100", "u", utc("2026-11-29T01:00:00Z")
    )
    assert observe_run(job, "another-schedule") is None


@pytest.mark.parametrize(
    ("spec", "runs", "status", "now", "create", "delete", "due"),
    [
        # On time.
        ({}, [], last("2026-11-28T02:00:00Z"), "2026-11-29T02:00:03Z",
         "2026-11-29T02:00:00Z", [], "2026-11-30T02:00:00Z"),
        # Not yet.
        ({}, [], last("2026-11-28T02:00:00Z"), "2026-11-29T01:59:59Z",
         None, [], "2026-11-29T02:00:00Z"),
        # Four days down, no deadline: the most recent missed run only, never a burst.
        ({}, [], last("2026-11-25T02:00:00Z"), "2026-11-29T05:00:00Z",
         "2026-11-29T02:00:00Z", [], "2026-11-30T02:00:00Z"),
        # Down past the deadline: 3 h late > 1 h, skipped.
        ({"startingDeadlineSeconds": 3600}, [], last("2026-11-25T02:00:00Z"),
         "2026-11-29T05:00:00Z", None, [], "2026-11-30T02:00:00Z"),
        # Down within the deadline: 3 h late < 4 h, one run.
        ({"startingDeadlineSeconds": 14400}, [], last("2026-11-25T02:00:00Z"),
         "2026-11-29T05:00:00Z", "2026-11-29T02:00:00Z", [], "2026-11-30T02:00:00Z"),
        # A new schedule waits for its first time after its creation (CREATED: Jan 1 00:00).
        ({}, [], {}, "2026-01-01T01:00:00Z", None, [], "2026-01-01T02:00:00Z"),
        ({}, [], {}, "2026-01-01T02:00:01Z", "2026-01-01T02:00:00Z", [], "2026-01-02T02:00:00Z"),
        # The run exists though the status never said so (a crash before the status write).
        ({}, [run("2026-11-29T02:00:00Z")], last("2026-11-28T02:00:00Z"),
         "2026-11-29T02:00:10Z", None, [], "2026-11-30T02:00:00Z"),
        # Forbid (the default) with an active run: the due run waits ...
        ({}, [run("2026-11-28T02:00:00Z")], last("2026-11-28T02:00:00Z"),
         "2026-11-29T02:00:03Z", None, [], "2026-11-30T02:00:00Z"),
        # ... and starts once the active run has ended, late but within no deadline ...
        ({}, [run("2026-11-28T02:00:00Z", "Succeeded")], last("2026-11-28T02:00:00Z"),
         "2026-11-29T04:00:00Z", "2026-11-29T02:00:00Z", [], "2026-11-30T02:00:00Z"),
        # ... or is skipped past its deadline.
        ({"startingDeadlineSeconds": 600}, [run("2026-11-28T02:00:00Z", "Failed")],
         last("2026-11-28T02:00:00Z"), "2026-11-29T04:00:00Z", None, [], "2026-11-30T02:00:00Z"),
        # A suspended run is active too.
        ({}, [run("2026-11-28T02:00:00Z", "Suspended")], last("2026-11-28T02:00:00Z"),
         "2026-11-29T02:00:03Z", None, [], "2026-11-30T02:00:00Z"),
        # Replace deletes the active runs, never finished ones, and starts the new one.
        ({"concurrencyPolicy": "Replace"},
         [run("2026-11-27T02:00:00Z", "Succeeded"), run("2026-11-28T02:00:00Z", "")],
         last("2026-11-28T02:00:00Z"), "2026-11-29T02:00:03Z", "2026-11-29T02:00:00Z",
         ["nightly-20261128-0200"], "2026-11-30T02:00:00Z"),
        # Allow runs both.
        ({"concurrencyPolicy": "Allow"}, [run("2026-11-28T02:00:00Z")],
         last("2026-11-28T02:00:00Z"), "2026-11-29T02:00:03Z", "2026-11-29T02:00:00Z", [],
         "2026-11-30T02:00:00Z"),
        # Suspended: nothing, and no time to come back.
        ({"suspend": True}, [], last("2026-11-25T02:00:00Z"), "2026-11-29T05:00:00Z",
         None, [], None),
        # Resumed four days later: one run, the most recent.
        ({"suspend": False}, [], last("2026-11-25T02:00:00Z"), "2026-11-29T05:00:00Z",
         "2026-11-29T02:00:00Z", [], "2026-11-30T02:00:00Z"),
        # Europe/Berlin, 2026-03-29: 02:30 does not exist; it runs once at 03:00 CEST (01:00Z).
        ({"timeZone": "Europe/Berlin", "schedule": "30 2 * * *"}, [],
         last("2026-03-28T01:30:00Z"), "2026-03-29T01:00:05Z", "2026-03-29T01:00:00Z", [],
         "2026-03-30T00:30:00Z"),
        # ... and not before: 00:59 UTC is 01:59 CET.
        ({"timeZone": "Europe/Berlin", "schedule": "30 2 * * *"}, [],
         last("2026-03-28T01:30:00Z"), "2026-03-29T00:59:00Z", None, [], "2026-03-29T01:00:00Z"),
        # 2026-10-25: 02:30 happens twice (00:30Z CEST, 01:30Z CET); it runs at the first only.
        ({"timeZone": "Europe/Berlin", "schedule": "30 2 * * *"}, [],
         last("2026-10-25T00:30:00Z"), "2026-10-25T01:30:05Z", None, [], "2026-10-26T01:30:00Z"),
        # Every 30 minutes runs through the repeated hour: 02:00 CET is 01:00Z.
        ({"timeZone": "Europe/Berlin", "schedule": "*/30 * * * *"}, [],
         last("2026-10-25T00:30:00Z"), "2026-10-25T01:00:05Z", "2026-10-25T01:00:00Z", [],
         "2026-10-25T01:30:00Z"),
    ],
)  # fmt: skip
def test_decisions(
    spec: dict[str, Any],
    runs: list[Run],
    status: dict[str, Any],
    now: str,
    create: str | None,
    delete: list[str],
    due: str | None,
) -> None:
    d = decide(schedule(**spec), runs, status, utc(now))
    assert (created(d), deleted(d), d.due and format_time(d.due)) == (create, delete, due)
    assert d.status.get("nextScheduleTime") == due
    if create:
        assert d.status["lastScheduleTime"] == create


def test_history_keeps_the_newest_finished_runs_per_outcome() -> None:
    runs = [
        run(f"2026-11-{day:02d}T02:00:00Z", phase)
        for day, phase in [
            (20, "Succeeded"), (21, "Failed"), (22, "Succeeded"), (23, "Cancelled"),
            (24, "Succeeded"), (25, "Succeeded"), (26, "Failed"), (27, "Succeeded"), (28, ""),
        ]
    ]  # fmt: skip
    d = decide(schedule(), runs, last("2026-11-28T02:00:00Z"), utc("2026-11-28T12:00:00Z"))
    assert deleted(d) == [
        "nightly-20261120-0200", "nightly-20261121-0200", "nightly-20261122-0200",
        "nightly-20261123-0200",
    ]  # fmt: skip
    assert [a["name"] for a in d.status["active"]] == ["nightly-20261128-0200"]
    zero = decide(
        schedule(successfulJobsHistoryLimit=0, failedJobsHistoryLimit=0),
        runs, last("2026-11-28T02:00:00Z"), utc("2026-11-28T12:00:00Z"),
    )  # fmt: skip
    assert len(zero.delete) == 8


def test_status_follows_the_runs() -> None:
    runs = [
        run("2026-11-26T02:00:00Z", "Succeeded", completion=utc("2026-11-26T02:40:00Z")),
        run("2026-11-27T02:00:00Z", "Failed", reason="OOMKilled", message="exit 137"),
        run("2026-11-28T02:00:00Z", "Running"),
    ]
    d = decide(schedule(), runs, last("2026-11-28T02:00:00Z"), utc("2026-11-28T03:00:00Z"))
    assert d.status["lastSuccessfulTime"] == "2026-11-26T02:40:00Z"
    assert d.status["lastRun"] == {
        "name": "nightly-20261127-0200", "scheduledTime": "2026-11-27T02:00:00Z",
        "phase": "Failed", "reason": "OOMKilled", "message": "exit 137",
    }  # fmt: skip
    assert d.status["active"] == [
        {"apiVersion": "batch.helixagent.io/v1alpha1", "kind": "HelixBatchJob",
         "name": "nightly-20261128-0200", "namespace": "analytics",
         "uid": "uid-2026-11-28T02:00:00Z"}
    ]  # fmt: skip
    conditions = {c["type"]: (c["status"], c["reason"]) for c in d.status["conditions"]}
    assert conditions == {"Ready": ("True", "Scheduled"), "Active": ("True", "RunActive")}
    # The history limit deleted the failed run: lastRun and lastSuccessfulTime stay.
    later = decide(schedule(), runs[2:], d.status, utc("2026-11-28T04:00:00Z"))
    assert later.status["lastRun"]["name"] == "nightly-20261127-0200"
    assert later.status["lastSuccessfulTime"] == "2026-11-26T02:40:00Z"


def test_forbid_says_what_waits() -> None:
    d = decide(
        schedule(), [run("2026-11-28T02:00:00Z")], last("2026-11-28T02:00:00Z"),
        utc("2026-11-29T02:00:03Z"),
    )  # fmt: skip
    active = next(c for c in d.status["conditions"] if c["type"] == "Active")
    assert "nightly-20261129-0200 waits" in active["message"]


def test_missed_deadline_is_a_warning() -> None:
    d = decide(
        schedule(startingDeadlineSeconds=60), [], last("2026-11-27T02:00:00Z"),
        utc("2026-11-29T02:05:00Z"),
    )  # fmt: skip
    assert reasons(d) == ["MissedSchedule"]
    assert "nightly-20261129-0200" in d.events[0].message
    assert d.status["lastMissedTime"] == "2026-11-29T02:00:00Z"
    assert d.status["lastScheduleTime"] == "2026-11-27T02:00:00Z"  # no run was created
    # Looked at again (a run's event, a restart): said once.
    again = decide(schedule(startingDeadlineSeconds=60), [], d.status, utc("2026-11-29T02:06:00Z"))
    assert again.events == [] and again.create is None
    # The next time runs as usual.
    nxt = decide(schedule(startingDeadlineSeconds=60), [], d.status, utc("2026-11-30T02:00:01Z"))
    assert created(nxt) == "2026-11-30T02:00:00Z"


def test_a_refused_template_creates_nothing_and_warns_once() -> None:
    refusal = ("PolicyViolation", "spec.spark.serviceAccount: x is not allowed")
    now = utc("2026-11-29T02:00:03Z")
    d = decide(schedule(), [], last("2026-11-28T02:00:00Z"), now, refusal)
    assert d.create is None and reasons(d) == ["PolicyViolation"]
    ready = next(c for c in d.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", *refusal)
    again = decide(schedule(), [], d.status, now, refusal)
    assert again.events == []
    # Fixed: the run still due is created.
    fixed = decide(schedule(), [], d.status, now)
    assert created(fixed) == "2026-11-29T02:00:00Z"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"schedule": "0 2 * *"}, "spec.schedule"),
        ({"schedule": "0 0 2 * * *"}, "spec.schedule"),  # no seconds field
        ({"schedule": "61 2 * * *"}, "spec.schedule"),
        ({"schedule": "0 2 31 2 *"}, "spec.schedule"),  # February 31st never comes
        ({"timeZone": "Mars/Olympus"}, "spec.timeZone"),
    ],
)
def test_invalid_schedules(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ScheduleError) as error:
        schedule(**spec)
    assert error.value.field == field
    d = refuse_invalid({}, 1, utc(CREATED), str(error.value))
    assert reasons(d) == ["InvalidSchedule"] and "nextScheduleTime" not in d.status


def test_dates_are_dates() -> None:
    start, end = window(schedule(), utc("2026-01-01T02:00:00Z"))
    assert (start, end) == (date(2025, 12, 31), date(2025, 12, 31))


def helixctl_render(tmp_path: Path, doc: dict[str, Any], *args: str) -> Result:
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(doc))
    return CliRunner().invoke(render_command, ["-f", str(path), *args])


def test_helixctl_render_at_prints_the_run_of_that_time(tmp_path: Path) -> None:
    doc = schedule_doc(timeZone="Europe/Berlin")
    out = helixctl_render(tmp_path, doc, "--at", "2026-11-29T02:00:00Z")
    assert out.exit_code == 0, out.output
    job = yaml.safe_load(out.output)
    # 02:00 UTC is 03:00 CET: the latest run before it was at 02:00 CET, 01:00 UTC.
    assert job["metadata"]["name"] == "nightly-20261129-0100"
    assert job["spec"]["input"]["startDate"] == job["spec"]["input"]["endDate"] == "2026-11-28"
    assert job == render_run(
        load_schedule(schedule_doc(timeZone="Europe/Berlin")), utc("2026-11-29T01:00:00Z")
    )


def test_helixctl_render_of_a_schedule_checks_like_the_operator(tmp_path: Path) -> None:
    assert helixctl_render(tmp_path, schedule_doc()).exit_code == 2  # --at is required
    assert helixctl_render(tmp_path, {**schedule_doc(), "kind": "HelixBatchJob"}).exit_code == 1
    refused = schedule_doc()
    refused["spec"]["jobTemplate"]["spec"]["spark"] = {"serviceAccount": "helix-operator"}
    out = helixctl_render(tmp_path, refused, "--at", "2026-11-29T02:00:00Z")
    assert out.exit_code == 1 and "spec.spark.serviceAccount" in out.output
    invalid = schedule_doc()
    invalid["spec"]["jobTemplate"]["spec"]["parameters"] = {"numTopics": 5}
    out = helixctl_render(tmp_path, invalid, "--at", "2026-11-29T02:00:00Z")
    assert out.exit_code == 1 and "TopicModeling" in out.output
    out = helixctl_render(tmp_path, schedule_doc(timeZone="Nowhere/Land"), "--at", "2026-11-29")
    assert out.exit_code == 1 and "spec.timeZone" in out.output


def test_a_job_the_schedule_does_not_control_is_never_one_of_its_runs() -> None:
    """History limits and Replace delete only runs; a job someone made by hand with the
    schedule's label and time, or one only referring to it, is not one, so it is never deleted."""
    job = render_run(schedule(), utc("2026-11-29T01:00:00Z"))
    meta = job["metadata"]
    by_hand = {**meta, "uid": "u", "ownerReferences": []}
    assert observe_run({**job, "metadata": by_hand}, "sched-uid") is None
    (owner,) = meta["ownerReferences"]
    referring = {**meta, "uid": "u", "ownerReferences": [{**owner, "controller": False}]}
    assert observe_run({**job, "metadata": referring}, "sched-uid") is None
