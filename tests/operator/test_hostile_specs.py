"""The hostile-spec corpus (tests/hostile/specs.yaml) through ``helixctl render``: each case gets
its verdict from the layer it names, in one line that names the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from helix_batch.cli.render import render as render_command
from helix_batch.operator import policy
from helix_batch.operator.settings import Settings
from helix_batch.operator.spec import SpecError, load_job, validate
from tests.operator.helpers import job_doc

CORPUS = Path(__file__).parents[1] / "hostile" / "specs.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(CORPUS.read_text())


def verdict(case: dict[str, Any]) -> tuple[str, str]:
    """("admission" | "policy" | "ok", field)."""
    kinds = [k for k in ("admission", "policy", "ok") if k in case]
    assert len(kinds) == 1, case
    return kinds[0], str(case[kinds[0]])


def case_doc(case: dict[str, Any]) -> dict[str, Any]:
    return job_doc(case["name"], **case["spec"])


def test_the_corpus_is_large_and_names_are_unique() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) >= 50 and len(set(names)) == len(names)
    kinds = {verdict(c)[0] for c in CASES}
    assert kinds == {"admission", "policy", "ok"}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_each_case_is_refused_by_the_layer_it_names(case: dict[str, Any]) -> None:
    kind, field = verdict(case)
    doc = case_doc(case)
    if kind == "admission":
        with pytest.raises(SpecError) as refused:
            validate(doc)
        assert field in str(refused.value)
        return
    validate(doc)  # the API server admits it
    violations = policy.check(load_job(doc, Settings()).spec, policy.load(Settings()))
    if kind == "ok":
        assert violations == []
    else:
        assert violations and all(v.field.startswith(field) for v in violations), violations


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_helixctl_render_gives_one_line_naming_the_field(
    case: dict[str, Any], tmp_path: Path
) -> None:
    kind, field = verdict(case)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(case_doc(case)))
    out = CliRunner().invoke(render_command, ["-f", str(path)])
    if kind == "ok":
        assert out.exit_code == 0, out.output
        assert yaml.safe_load(out.output)["kind"] == "SparkApplication"
        return
    assert out.exit_code == 1 and "Traceback" not in out.output, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and field in lines[0], out.output
    lead = "invalid HelixBatchJob" if kind == "admission" else "the job policy refuses"
    assert lead in lines[0]
