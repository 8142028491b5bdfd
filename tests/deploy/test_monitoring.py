"""The monitoring components (manifests/components/monitoring): the Grafana dashboard's shape and
queries, and the ServiceMonitor/PodMonitor as `kubectl kustomize` renders them over each overlay,
matched against the Service and pods the same build renders. That every metric the dashboard
uses is exported is checked against a live operator in tests/e2e/test_monitoring.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.dashboard import (
    DASHBOARD,
    MONITORING,
    load,
    metric_names,
    panels,
    queries,
    selectors,
    selectors_of,
)

from .manifests import MANIFESTS, NAMESPACE, OVERLAYS, Doc, find, kustomize, pod_templates

MONITORS = {"service-monitor": "ServiceMonitor", "pod-monitor": "PodMonitor"}


def test_the_dashboard_has_grafanas_shape() -> None:
    dashboard = load()
    assert dashboard["uid"] and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    every = list(panels(dashboard))
    ids = [p["id"] for p in every]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {sorted(ids)}"
    for panel in every:
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid) and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["refId"], panel["title"]
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    # No two panels overlap on the grid (Grafana would move one).
    cells = [
        (x, y, p["title"])
        for p in every
        for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
        for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])
    ]
    taken: dict[tuple[int, int], str] = {}
    for x, y, title in cells:
        assert (x, y) not in taken, f"{title!r} overlaps {taken[(x, y)]!r}"
        taken[(x, y)] = title
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_query_parses_and_names_its_metric() -> None:
    found = list(queries(load()))
    assert len(found) >= 10
    for where, expr in found:
        assert selectors_of(where, expr), where


def test_a_query_that_does_not_parse_fails() -> None:
    with pytest.raises(ValueError):
        selectors_of("broken", "sum by (phase (helix_jobs)")
    with pytest.raises(AssertionError):
        selectors_of("nameless", '{phase="Failed"}')


def test_the_parser_finds_what_a_query_selects() -> None:
    (quantile,) = selectors_of(
        "q", 'histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket{job=~"$job"}[5m])))'
    )
    assert (quantile.metric, quantile.equal, quantile.grouped_by) == (
        "x_seconds_bucket",
        (),
        ("le",),
    )
    failed, now = selectors_of(
        "f", 'sum by (type) (increase(t_total{phase="Failed"}[1h])) + on() group_left count(up)'
    )
    assert (failed.metric, failed.equal, failed.grouped_by) == (
        "t_total",
        (("phase", "Failed"),),
        ("type",),
    )
    assert (now.metric, now.grouped_by) == ("up", ())


def test_the_dashboard_covers_what_issue_17_asks() -> None:
    """Jobs by phase and namespace, transitions, submit→running latency, failures, the work
    queue's depth and wait, schedule runs, the operator's CPU and RSS."""
    used = metric_names()
    for metric in (
        "helix_jobs",
        "helix_job_transitions_total",
        "helix_submit_to_running_seconds_bucket",
        "workqueue_depth",
        "workqueue_queue_duration_seconds_bucket",
        "helix_schedule_runs_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ):
        assert metric in used, metric
    grouped = {(s.metric, label) for s in selectors() for label in s.grouped_by}
    assert {("helix_jobs", "namespace"), ("helix_jobs", "phase")} <= grouped
    assert ("helix_job_transitions_total", "phase", "Failed") in {
        (s.metric, *pair) for s in selectors() for pair in s.equal
    }
    # Every histogram quantile aggregates by le, or it computes nothing.
    for s in selectors():
        if s.metric.endswith("_bucket"):
            assert "le" in s.grouped_by, s.where
    # Every operator-wide panel can be narrowed to the scrape job chosen on top.
    for where, expr in queries(load()):
        if where.startswith("panel"):
            assert '"$job"' in expr, where


def build(tmp_path: Path, overlay: str, *components: str) -> list[Doc]:
    """An overlay with components added, as a user's kustomization adds them."""
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(MANIFESTS / "overlays" / overlay, tmp_path)],
                "components": [os.path.relpath(MONITORING / c, tmp_path) for c in components],
            }
        )
    )
    return [d for d in yaml.safe_load_all(kustomize(tmp_path)) if d]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) over a label set."""
    assert selector, "an empty selector selects everything"
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = (
            expression["key"],
            expression["operator"],
            expression.get("values", []),
        )
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def in_namespaces(monitor: Doc, namespace: str) -> bool:
    chosen = monitor["spec"].get("namespaceSelector", {})
    if chosen.get("any"):
        return True
    return namespace in chosen.get("matchNames", [monitor["metadata"]["namespace"]])


def metrics_container_port(template: Doc, port: str | int) -> int:
    """The containerPort a named (or numbered) port of a pod template is."""
    for c in template["spec"]["containers"]:
        for p in c.get("ports", []):
            if port in (p.get("name"), p["containerPort"]):
                number: int = p["containerPort"]
                return number
    raise AssertionError(f"no container port {port!r}")


def operator_port(docs: list[Doc]) -> int:
    """Where the operator serves /metrics: its HELIX_METRICS_PORT."""
    template = find(docs, "Deployment", "helix-operator")["spec"]["template"]
    env = {
        e["name"]: e.get("value") for c in template["spec"]["containers"] for e in c.get("env", [])
    }
    return int(env["HELIX_METRICS_PORT"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_service_monitor_scrapes_the_operator_through_its_service(
    tmp_path: Path, overlay: str
) -> None:
    docs = build(tmp_path, overlay, "service-monitor")
    monitor = find(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert not [d for d in docs if d["kind"] == "PodMonitor"]
    services = [
        d
        for d in docs
        if d["kind"] == "Service"
        and in_namespaces(monitor, d["metadata"]["namespace"])
        and selects(monitor["spec"]["selector"], d["metadata"].get("labels", {}))
    ]
    assert [s["metadata"]["name"] for s in services] == ["helix-operator-metrics"]
    (service,) = services
    # Its endpoints are the operator's pods, and each endpoint port is the metrics port there.
    targets = [
        (owner, template)
        for owner, template in pod_templates(docs)
        if selects({"matchLabels": service["spec"]["selector"]}, template["metadata"]["labels"])
    ]
    assert [owner for owner, _ in targets] == ["Deployment/helix-operator"]
    (template,) = [t for _, t in targets]
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in ports, endpoint
        assert metrics_container_port(
            template, ports[endpoint["port"]]["targetPort"]
        ) == operator_port(docs)
        assert endpoint.get("path", "/metrics") == "/metrics"
        # helix_jobs has a label "namespace" (the job's), which would else become exported_namespace.
        assert endpoint["honorLabels"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_monitor_scrapes_the_operator_pods_only(tmp_path: Path, overlay: str) -> None:
    docs = build(tmp_path, overlay, "pod-monitor")
    monitor = find(docs, "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert not [d for d in docs if d["kind"] == "ServiceMonitor"]
    matched = [
        (owner, template)
        for owner, template in pod_templates(docs)
        if in_namespaces(monitor, NAMESPACE)
        and selects(monitor["spec"]["selector"], template["metadata"]["labels"])
    ]
    # Not the lake maintenance CronJob's pods, nor anything else the overlay runs.
    assert [owner for owner, _ in matched] == ["Deployment/helix-operator"]
    (template,) = [t for _, t in matched]
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        assert metrics_container_port(template, endpoint["port"]) == operator_port(docs)
        assert endpoint.get("path", "/metrics") == "/metrics"
        assert endpoint["honorLabels"] is True


@pytest.mark.parametrize("component", sorted(MONITORS))
def test_each_monitor_brings_the_dashboard_for_grafanas_sidecar(
    tmp_path: Path, component: str
) -> None:
    docs = build(tmp_path, "production", component)
    config = find(docs, "ConfigMap", "helix-batch-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config["metadata"]["namespace"] == NAMESPACE
    (name, text) = next(iter(config["data"].items()))
    assert name.endswith(".json") and json.loads(text) == load()
    assert text == DASHBOARD.read_text()
    # Only the monitor and the dashboard are added; the overlay's objects are unchanged.
    (tmp_path / "plain").mkdir()
    plain = build(tmp_path / "plain", "production")
    added = [d for d in docs if d not in plain]
    assert sorted(d["kind"] for d in added) == sorted(["ConfigMap", MONITORS[component]])
