"""The Grafana dashboard against a live operator: after jobs ran (one to Succeeded through
Running, one to Failed) and a schedule made a run, the operator's own /metrics has a series
for every selector the dashboard's queries use (tests/deploy/dashboard.py reads them with a
real PromQL parser), with the labels they match on and group by."""

from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.dashboard import TARGET_LABELS, metric_names, selectors
from tests.e2e.controlplane import KubeCluster
from tests.e2e.harness import Cluster, Operator, running_state, terminated_state, wait_for
from tests.e2e.test_operator import fresh_namespace, installed, job  # noqa: F401
from tests.operator.test_scheduling import schedule_doc

# One wait spans at most a minute boundary and the operator's reaction to it.
BOUNDARY_WAIT = 90.0
Series = dict[str, list[dict[str, str]]]  # sample name -> the label sets it has


def series(op: Operator) -> Series:
    answer = op.probe("/metrics")
    assert answer is not None and answer[0] == 200, answer
    found: Series = defaultdict(list)
    for family in text_string_to_metric_families(answer[1]):
        for sample in family.samples:
            found[sample.name].append(dict(sample.labels))
    return found


def schedule_ran(op: Operator) -> Series | None:
    found = series(op)
    created = [s for s in found.get("helix_schedule_runs_total", []) if s["outcome"] == "created"]
    return found if created else None


def test_every_series_the_dashboard_uses_is_exported(
    control_plane: KubeCluster,
    installed: Path,  # noqa: F811
) -> None:
    cluster = Cluster(control_plane, fresh_namespace())
    op = Operator(control_plane, installed, "op-mon", cluster.ns)
    try:
        wait_for("the leader", lambda: op.probe("/readyz") == (200, "leader"))
        every_minute = schedule_doc(f"mon-{uuid.uuid4().hex[:6]}", schedule="* * * * *")
        every_minute["metadata"] = {
            "name": every_minute["metadata"]["name"],
            "namespace": cluster.ns,
        }
        applied = cluster.apply(every_minute)
        assert applied.returncode == 0, applied.stderr

        job(cluster, "mon-ok")
        pod = cluster.start_driver("mon-ok-1")
        cluster.set_pod_status(pod, "Running", running_state())
        cluster.wait_phase("mon-ok", "Running")
        cluster.set_pod_status(pod, "Succeeded", terminated_state(0, "Completed", "{}"))
        cluster.wait_phase("mon-ok", "Succeeded")
        job(cluster, "mon-fail", backoffLimit=0)
        pod = cluster.start_driver("mon-fail-1")
        cluster.set_pod_status(pod, "Failed", terminated_state(1, "Error"))
        cluster.wait_phase("mon-fail", "Failed")

        scraped = wait_for("the schedule's first run", lambda: schedule_ran(op), BOUNDARY_WAIT)
    finally:
        op.stop()
    assert "Forbidden" not in op.log(), op.log()[-3000:]

    missing = sorted(metric_names() - set(scraped))
    assert not missing, f"the dashboard uses metrics the operator does not export: {missing}"
    for selector in selectors():
        label_sets = scraped[selector.metric]
        assert label_sets, f"{selector.where}: no {selector.metric} series"
        wanted = dict(selector.equal)
        assert any(wanted.items() <= labels.items() for labels in label_sets), (
            f"{selector.where}: no {selector.metric} series with {wanted}: {label_sets}"
        )
        exported = {name for labels in label_sets for name in labels}
        for label in selector.grouped_by:
            # Prometheus adds the target's labels (job, pod, ...) to every series it scrapes.
            assert label in exported | TARGET_LABELS, (
                f"{selector.where}: groups by {label!r}, which {selector.metric} lacks: {exported}"
            )
    # The jobs of this test, by namespace and phase, as the dashboard's first panels show them.
    jobs = {
        labels["phase"] for labels in scraped["helix_jobs"] if labels["namespace"] == cluster.ns
    }
    assert {"Succeeded", "Failed"} <= jobs, scraped["helix_jobs"]
