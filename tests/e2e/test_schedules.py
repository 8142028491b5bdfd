"""HelixBatchSchedules end to end: the real API server admits them by the schema generated from
the job CRD, and the operator (a real process, as its own ServiceAccount) creates their runs at
the minute boundary with absolute dates, waits under Forbid, keeps the history limits, and after
a restart creates neither a duplicate nor a burst. The harness plays the spark-operator's part
for the runs, as in test_operator.py."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config
from prometheus_client.parser import text_string_to_metric_families

from helix_batch.operator.kube import KubeApi
from helix_batch.operator.lifecycle import parse_time
from helix_batch.operator.schedules import reconcile_schedule
from helix_batch.operator.scheduling import load_schedule, render_run
from helix_batch.operator.settings import Settings
from tests.deploy.argocd import HELIXBATCHSCHEDULE, health
from tests.e2e.controlplane import ControlPlane, KubeCluster
from tests.e2e.harness import SCHEDULE_GRANTS, Cluster, Operator, terminated_state, wait_for
from tests.e2e.test_operator import fresh_namespace, installed, used_by_operator  # noqa: F401
from tests.operator.test_scheduling import schedule_doc

SCHEDULED = "batch.helixagent.io/scheduled-time"
# One wait spans at most a minute boundary and the operator's reaction to it.
BOUNDARY_WAIT = 90.0


def apply_schedule(cluster: Cluster, name: str, **spec: Any) -> dict[str, Any]:
    doc = schedule_doc(name, schedule="* * * * *", **spec)
    doc["metadata"] = {"name": name, "namespace": cluster.ns}
    result = cluster.apply(doc)
    assert result.returncode == 0, result.stderr
    return doc


def runs(cluster: Cluster, schedule: str) -> list[dict[str, Any]]:
    out = cluster.cp.kubectl_ok(
        "get", "hbj", "-n", cluster.ns, "-l", f"batch.helixagent.io/schedule={schedule}",
        "-o", "json",
    )  # fmt: skip
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return sorted(items, key=lambda j: j["metadata"]["name"])


def run_names(cluster: Cluster, schedule: str) -> list[str]:
    return [j["metadata"]["name"] for j in runs(cluster, schedule)]


def scheduled_time(job: dict[str, Any]) -> datetime:
    return parse_time(job["metadata"]["annotations"][SCHEDULED])


def succeed(cluster: Cluster, run: str) -> None:
    """The run's driver (played by the harness) succeeds."""
    pod = cluster.start_driver(f"{run}-1")
    result = json.dumps({"processedRows": 1, "outputRows": 1, "corruptRecords": 0})
    cluster.set_pod_status(pod, "Succeeded", terminated_state(0, "Completed", result))
    cluster.wait_phase(run, "Succeeded")


def schedule_status(cluster: Cluster, name: str) -> dict[str, Any]:
    return (cluster.get("hbs", name) or {}).get("status") or {}


def argocd_health(cluster: Cluster, name: str) -> tuple[str, str]:
    """What Argo CD shows for the schedule as the API server holds it."""
    obj = cluster.get("hbs", name)
    assert obj is not None
    return health(HELIXBATCHSCHEDULE, obj)


def past(moment: datetime, seconds: float) -> None:
    wait_for(
        f"the clock to pass {moment}",
        lambda: datetime.now(UTC) > moment + timedelta(seconds=seconds),
        timeout=BOUNDARY_WAIT,
    )


def test_runs_at_the_minute_with_dates_forbid_history_and_a_restart(
    control_plane: KubeCluster,
    installed: Path,  # noqa: F811
) -> None:
    cluster = Cluster(control_plane, fresh_namespace())
    operator = Operator(control_plane, installed, "op-sched-a", cluster.ns)
    try:
        apply_schedule(cluster, "every-minute", successfulJobsHistoryLimit=1)
        # Allow, and a deadline shorter than the downtime below: its missed run is skipped.
        apply_schedule(cluster, "deadline", concurrencyPolicy="Allow", startingDeadlineSeconds=10)
        created = parse_time((cluster.get("hbs", "every-minute") or {})["metadata"]["creationTimestamp"])  # fmt: skip

        # The first minute boundary after its creation: one run, named after it, with yesterday.
        first = wait_for("the first run", lambda: runs(cluster, "every-minute"), BOUNDARY_WAIT)
        (job,) = first
        at = scheduled_time(job)
        assert at.second == 0 and created < at <= datetime.now(UTC)
        assert job["metadata"]["name"] == f"every-minute-{at:%Y%m%d-%H%M}"
        day = (at - timedelta(days=1)).date().isoformat()
        assert job["spec"]["input"] == {
            "uri": "s3a://lake/conversations/", "startDate": day, "endDate": day,
        }  # fmt: skip
        assert job["spec"]["output"]["uri"] == f"s3a://lake/analytics/entities/daily/{day}_{day}/"
        (owner,) = job["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("HelixBatchSchedule", "every-minute")
        assert job["metadata"]["labels"]["team"] == "insights"
        wait_for(
            "the schedule's status",
            lambda: [a["name"] for a in schedule_status(cluster, "every-minute").get("active") or ()]
            == [job["metadata"]["name"]],
        )  # fmt: skip
        status = schedule_status(cluster, "every-minute")
        assert argocd_health(cluster, "every-minute") == ("Progressing", f"running {job['metadata']['name']}")  # fmt: skip
        assert status["lastScheduleTime"] == f"{at:%Y-%m-%dT%H:%M:%SZ}"
        assert parse_time(status["nextScheduleTime"]) == at + timedelta(minutes=1)
        table = cluster.cp.kubectl_ok("get", "hbs", "every-minute", "-n", cluster.ns)
        header, row = table.splitlines()[:2]
        assert header.split() == [
            "NAME",
            "SCHEDULE",
            "SUSPEND",
            "ACTIVE",
            "LAST",
            "SCHEDULE",
            "AGE",
        ]
        assert row.split()[:6] == ["every-minute", "*", "*", "*", "*", "*"]
        assert job["metadata"]["name"] in row
        wait_for("the deadline schedule's first run", lambda: runs(cluster, "deadline"))

        # Down across the next boundary, with the first run still active (Forbid).
        operator.kill()
        past(at + timedelta(minutes=1), 15)
        assert len(run_names(cluster, "every-minute")) == 1
        operator = Operator(control_plane, installed, "op-sched-b", cluster.ns)
        wait_for(
            "the restarted operator to say the missed run waits",
            lambda: "waits" in next(
                (c["message"] for c in schedule_status(cluster, "every-minute").get("conditions") or ()
                 if c["type"] == "Active"), "",
            ),
        )  # fmt: skip
        assert run_names(cluster, "every-minute") == [job["metadata"]["name"]]
        wait_for(
            "the deadline schedule's MissedSchedule",
            lambda: "MissedSchedule" in cluster.event_reasons("deadline"),
        )
        assert f"deadline-{at + timedelta(minutes=1):%Y%m%d-%H%M}" not in run_names(cluster, "deadline")  # fmt: skip

        # The active run ends: one missed run starts late, the most recent one, not a burst.
        succeed(cluster, job["metadata"]["name"])

        def two_runs() -> list[dict[str, Any]] | None:
            found = runs(cluster, "every-minute")
            return found if len(found) > 1 else None

        later = wait_for("the missed run", two_runs)
        assert len(later) == 2, [j["metadata"]["name"] for j in later]
        missed = later[1]
        made = parse_time(missed["metadata"]["creationTimestamp"])
        assert scheduled_time(missed) == made.replace(second=0) > at
        # Suspended: no more runs. History: once the second run has succeeded, the first goes
        # (successfulJobsHistoryLimit 1).
        cluster.cp.kubectl_ok(
            "patch", "hbs", "every-minute", "-n", cluster.ns, "--type=merge",
            "-p", json.dumps({"spec": {"suspend": True}}),
        )  # fmt: skip
        succeed(cluster, missed["metadata"]["name"])
        wait_for(
            "the history limit",
            lambda: run_names(cluster, "every-minute") == [missed["metadata"]["name"]],
        )
        status = wait_for(
            "the status of the last run",
            lambda: (st := schedule_status(cluster, "every-minute")).get("lastRun", {}).get("name")
            == missed["metadata"]["name"] and st,
        )  # fmt: skip
        assert status["lastRun"]["phase"] == "Succeeded" and "lastSuccessfulTime" in status
        assert "nextScheduleTime" not in status
        assert argocd_health(cluster, "every-minute")[0] == "Suspended"
        assert {"RunCreated"} <= set(cluster.event_reasons("every-minute"))
        scraped = operator.probe("/metrics")
        assert scraped is not None
        counts = {
            sample.labels["outcome"]: sample.value
            for family in text_string_to_metric_families(scraped[1])
            if family.name == "helix_schedule_runs"
            for sample in family.samples
            if sample.name == "helix_schedule_runs_total"
        }
        # This operator (the restarted one) made the missed run and skipped the deadline's.
        assert counts.get("created", 0) >= 1 and counts.get("skipped", 0) >= 1, counts
    finally:
        operator.stop()
        for op in Operator.started:
            assert "Forbidden" not in op.log(), op.log()[-3000:]
            assert "reconciling schedule" not in op.log(), op.log()[-3000:]  # no failed reconcile


def test_a_template_the_policy_refuses_is_a_condition_not_a_crash(
    control_plane: KubeCluster,
    installed: Path,  # noqa: F811
) -> None:
    cluster = Cluster(control_plane, fresh_namespace())
    operator = Operator(control_plane, installed, "op-sched-policy", cluster.ns)
    try:
        doc = schedule_doc("refused", schedule="0 2 * * *")
        doc["metadata"] = {"name": "refused", "namespace": cluster.ns}
        doc["spec"]["jobTemplate"]["spec"]["spark"] = {"serviceAccount": "helix-operator"}
        assert cluster.apply(doc).returncode == 0

        def ready() -> dict[str, Any] | None:
            conditions = schedule_status(cluster, "refused").get("conditions") or ()
            return next((c for c in conditions if c["type"] == "Ready"), None)

        condition = wait_for("the Ready condition", ready)
        assert (condition["status"], condition["reason"]) == ("False", "PolicyViolation")
        assert "spec.spark.serviceAccount" in condition["message"]
        wait_for("the Event", lambda: "PolicyViolation" in cluster.event_reasons("refused"))
        status, message = argocd_health(cluster, "refused")
        assert status == "Degraded" and message.startswith("PolicyViolation: spec.spark.")
        # Fixed by its author: Ready again.
        cluster.cp.kubectl_ok(
            "patch", "hbs", "refused", "-n", cluster.ns, "--type=json",
            "-p", json.dumps([{"op": "remove", "path": "/spec/jobTemplate/spec/spark"}]),
        )  # fmt: skip
        wait_for("Ready", lambda: (c := ready()) is not None and c["status"] == "True")
    finally:
        operator.stop()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"metadata": {"name": "n" * 50}}, "at most 49"),
        ({"spec": {"schedule": "0 2 * *"}}, "spec.schedule"),
        ({"spec": {"concurrencyPolicy": "Sometimes"}}, "spec.concurrencyPolicy"),
        ({"template": {"parameters": {"numTopics": 5}}}, "apply only to type TopicModeling"),
        ({"template": {"input": {"uri": "s3a://lake/conversations/"}}}, "window"),
        ({"template": {"output": {"uri": "s3a://lake/conversations/x/"}}}, "must not equal"),
    ],
)
def test_the_api_server_refuses_invalid_schedules(
    control_plane: KubeCluster,
    installed: Path,  # noqa: F811
    change: dict[str, Any],
    words: str,
) -> None:
    doc = schedule_doc("invalid")
    doc["metadata"] = {"name": "invalid", "namespace": "default"}
    doc["metadata"].update(change.get("metadata", {}))
    doc["spec"].update(change.get("spec", {}))
    doc["spec"]["jobTemplate"]["spec"].update(change.get("template", {}))
    result = control_plane.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(doc))
    assert result.returncode != 0 and words in result.stderr, result.stderr


def test_two_replicas_at_once_make_one_run(
    control_plane: KubeCluster,
    installed: Path,  # noqa: F811
) -> None:
    """Two reconciles of one schedule at the same moment (two replicas while a lease changes
    hands): deterministic names and create-only make one run, whatever the interleaving."""
    cluster = Cluster(control_plane, fresh_namespace())
    apply_schedule(cluster, "twice")
    body = cluster.get("hbs", "twice")
    assert body is not None
    # A minute and a bit after its creation, a run is surely due.
    due = parse_time(body["metadata"]["creationTimestamp"]) + timedelta(seconds=61)
    events: list[str] = []

    async def scenario() -> bool:
        await config.load_kube_config(str(control_plane.kubeconfig))
        async with client.ApiClient() as api_client:
            api = KubeApi(api_client)
            await asyncio.gather(*(
                reconcile_schedule(
                    api, cluster.ns, "twice", Settings(), lambda: due,
                    lambda _obj, _type, reason, _message: events.append(reason),
                )
                for _ in range(2)
            ))  # fmt: skip
            # However late a replica comes, its create of the same run finds it made.
            return await api.create_job(render_run(load_schedule(body), due.replace(second=0)))

    assert asyncio.run(scenario()) is False
    (run,) = runs(cluster, "twice")
    assert scheduled_time(run) == due.replace(second=0)
    assert events.count("RunCreated") == 1
    # The run is the schedule's: deleting the schedule deletes it (the garbage collector).
    cluster.cp.kubectl_ok("delete", "hbs", "twice", "-n", cluster.ns)
    wait_for("the garbage collector", lambda: runs(cluster, "twice") == [])


@pytest.mark.own_control_plane
def test_rbac_for_schedules_was_used(control_plane: ControlPlane) -> None:
    """Runs last: what the operator's roles grant for schedules alone, it used here."""
    assert SCHEDULE_GRANTS - used_by_operator(control_plane) == set()
