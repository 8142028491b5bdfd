"""The HelixBatchSchedule CRD: its job template is the HelixBatchJob CRD's spec (generated, and
in step), every field explains itself, and the sample schedule is valid."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml

from helix_batch.operator.crd import SCHEDULE_CRD, crd_schema
from helix_batch.operator.schedule_crd import regenerate, template_spec_schema
from helix_batch.operator.scheduling import load_schedule, render_run
from helix_batch.operator.spec import validate
from tests.operator.helpers import SCHEDULE_SAMPLES
from tests.operator.test_crd_docs import properties
from tests.operator.test_scheduling import schedule_doc, utc

CRD: dict[str, Any] = yaml.safe_load(SCHEDULE_CRD.read_text())
SCHEMA: dict[str, Any] = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
TEMPLATE: dict[str, Any] = SCHEMA["properties"]["spec"]["properties"]["jobTemplate"]


def test_the_generated_template_is_in_step_with_the_job_crd() -> None:
    """Run `python -m helix_batch.operator.schedule_crd` after changing crds/helixbatchjob.yaml."""
    text = SCHEDULE_CRD.read_text()
    assert regenerate(text) == text
    assert TEMPLATE["properties"]["spec"] == template_spec_schema(
        crd_schema()["properties"]["spec"]
    )


def test_the_template_is_the_job_spec_with_a_window() -> None:
    job = crd_schema()["properties"]["spec"]["properties"]
    template = TEMPLATE["properties"]["spec"]["properties"]
    assert set(template) == set(job)
    for name in set(job) - {"input", "output"}:
        assert template[name] == job[name], name
    assert set(template["input"]["properties"]) == {"uri", "allowEmpty", "window"}
    rules = " ".join(r["rule"] for r in TEMPLATE["properties"]["spec"]["x-kubernetes-validations"])
    assert "oldSelf" not in rules and "self.type == 'EntityExtraction'" in rules


def test_every_field_has_a_description() -> None:
    fields = dict(properties(SCHEMA))
    del fields["metadata"]
    assert len(fields) > 80
    assert [p for p, node in fields.items() if len(node.get("description", "")) < 8] == []


def test_names_leave_room_for_the_run_suffix() -> None:
    (rule,) = SCHEMA["x-kubernetes-validations"]
    assert "size(self.metadata.name) <= 49" in rule["rule"]


def crd_validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft4Validator(SCHEMA)


@pytest.mark.parametrize("sample", SCHEDULE_SAMPLES, ids=[p.stem for p in SCHEDULE_SAMPLES])
def test_sample_schedules_are_valid_and_make_valid_jobs(sample: Any) -> None:
    doc = yaml.safe_load(sample.read_text())
    assert list(crd_validator().iter_errors(doc)) == []
    validate(render_run(load_schedule(doc), utc("2026-11-29T01:00:00Z")))


def test_the_schema_refuses_what_it_should() -> None:
    bad = schedule_doc(concurrencyPolicy="Sometimes", successfulJobsHistoryLimit=101)
    bad["spec"]["jobTemplate"]["spec"]["input"]["window"] = {"days": 0}
    paths = sorted(".".join(map(str, e.absolute_path)) for e in crd_validator().iter_errors(bad))
    assert paths == [
        "spec.concurrencyPolicy",
        "spec.jobTemplate.spec.input.window.days",
        "spec.successfulJobsHistoryLimit",
    ]
