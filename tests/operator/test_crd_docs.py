"""The CRD explains itself (`kubectl explain`), and its job parameters are the Spark jobs' own:
names per type, defaults and bounds cannot drift apart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from helix_batch.operator.crd import crd_schema
from helix_batch.operator.spec import JOB_TYPES, SpecError, validate
from helix_jobs.main import JOBS
from tests.operator.helpers import job_doc

PARAMETERS: dict[str, Any] = crd_schema()["properties"]["spec"]["properties"]["parameters"][
    "properties"
]


def properties(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for key, child in (node.get("properties") or {}).items():
        yield f"{path}.{key}".lstrip("."), child
        yield from properties(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        yield from properties(node["items"], f"{path}[]")


def test_every_field_has_a_description() -> None:
    fields = dict(properties(crd_schema()))
    del fields["metadata"]  # the API server allows nothing but its type there
    assert len(fields) > 80
    assert [p for p, node in fields.items() if len(node.get("description", "")) < 8] == []


def owner(name: str) -> str:
    """The job type a CRD parameter belongs to, as its description says."""
    kind = str(PARAMETERS[name]["description"]).split(":")[0]
    assert kind in JOB_TYPES, name
    return kind


def test_each_type_has_exactly_the_parameters_its_spark_job_takes() -> None:
    for kind, job_type in JOB_TYPES.items():
        crd = {name for name in PARAMETERS if owner(name) == kind}
        assert crd == set(JOBS[job_type].params), kind
        other = next(n for n in PARAMETERS if owner(n) != kind)
        with pytest.raises(SpecError):  # the CEL rule agrees with the descriptions
            validate(job_doc(type=kind, parameters={other: PARAMETERS[other].get("minimum", 1)}))


def rendered(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return str(value).rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_defaults_and_bounds_are_the_spark_jobs_own(name: str) -> None:
    param = JOBS[JOB_TYPES[owner(name)]].params[name]
    node = PARAMETERS[name]
    assert f"default {rendered(param.default)}" in node["description"]
    if "minimum" in node and node["type"] == "integer":
        param.parse(str(node["minimum"]))
        with pytest.raises(ValueError):
            param.parse(str(node["minimum"] - 1))
    if "maximum" in node:
        param.parse(str(node["maximum"]))
