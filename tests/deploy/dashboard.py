"""The Grafana dashboard shipped in manifests/components/monitoring/dashboard: its queries, parsed
by a real PromQL parser (promql-parser, the Rust parser's bindings), and what they select.

One source for the deploy test (the dashboard's shape, every query parses) and the e2e test
(every series it selects is in a live operator's /metrics)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser

from tests.deploy.manifests import MANIFESTS

MONITORING = MANIFESTS / "components" / "monitoring"
DASHBOARD = MONITORING / "dashboard" / "helix-batch.json"
# Labels Prometheus gives every scraped series (the target's), besides the metric's own.
TARGET_LABELS = frozenset(
    {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}
)
LABEL_VALUES = "label_values("


@dataclass(frozen=True)
class Selector:
    """One vector selector of a query: a metric, its fixed label matchers (name = value, not a
    template variable), and the labels the innermost aggregation around it groups by."""

    where: str
    metric: str
    equal: tuple[tuple[str, str], ...]
    grouped_by: tuple[str, ...]


def load(path: Path = DASHBOARD) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' collapsed panels included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable's series selector."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        # Grafana's label_values(<series selector>, <label>): the selector is PromQL.
        assert text.startswith(LABEL_VALUES) and text.endswith(")"), text
        selector, _, label = text[len(LABEL_VALUES) : -1].rpartition(",")
        assert label.strip() == variable["name"], text
        yield f"variable {variable['name']}", selector.strip()


def parse(expr: str) -> promql_parser.Expr:
    return promql_parser.parse(expr)


def selectors_of(where: str, expr: str) -> list[Selector]:
    found: list[Selector] = []
    groupings: list[tuple[str, ...]] = []

    def enter(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.AggregateExpr):
            modifier = node.modifier
            by = modifier is not None and modifier.type == promql_parser.AggModifierType.By
            groupings.append(tuple(modifier.labels) if by and modifier is not None else ())
        elif isinstance(node, promql_parser.VectorSelector):
            matchers = node.matchers.matchers
            name = node.name or next(
                (
                    m.value
                    for m in matchers
                    if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal
                ),
                None,
            )
            assert name, f"{where}: a selector without a metric name: {expr}"
            equal = tuple(
                sorted(
                    (m.name, m.value)
                    for m in matchers
                    if m.op == promql_parser.MatchOp.Equal
                    and m.name != "__name__"
                    and "$" not in m.value
                )
            )
            found.append(Selector(where, name, equal, groupings[-1] if groupings else ()))

    def leave(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.AggregateExpr):
            groupings.pop()

    promql_parser.walk(parse(expr), enter, leave)
    assert found, f"{where}: selects no series: {expr}"
    return found


@cache
def selectors() -> tuple[Selector, ...]:
    """Every series selector of the shipped dashboard."""
    return tuple(s for where, expr in queries(load()) for s in selectors_of(where, expr))


def metric_names() -> frozenset[str]:
    """The metric names the dashboard's queries use, as Prometheus stores them (a histogram's
    as <name>_bucket, _sum or _count)."""
    return frozenset(s.metric for s in selectors())
