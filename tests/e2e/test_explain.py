"""`kubectl explain` shows the CRDs' descriptions, as the API server publishes them."""

from __future__ import annotations

from pathlib import Path

from helix_batch.operator.crd import crd_schema
from tests.e2e.controlplane import KubeCluster
from tests.e2e.harness import wait_for
from tests.e2e.test_operator import installed  # noqa: F401 - a fixture
from tests.operator.test_schedule_crd import SCHEMA as SCHEDULE_SCHEMA


def test_kubectl_explain_describes_the_fields(
    control_plane: KubeCluster,
    installed: Path,  # noqa: F811
) -> None:
    def explained() -> str | None:  # once discovery serves the new CRD's schema
        result = control_plane.kubectl("explain", "hbj.spec.input")
        return result.stdout if result.returncode == 0 else None

    out = wait_for("kubectl explain", explained)
    spec = crd_schema()["properties"]["spec"]["properties"]
    words = " ".join(out.split())  # kubectl wraps long lines
    for field in ("uri", "startDate", "endDate", "allowEmpty"):
        assert " ".join(spec["input"]["properties"][field]["description"].split()) in words
    assert "NoInput" in control_plane.kubectl_ok("explain", "hbj.spec.input.allowEmpty")


def test_kubectl_explain_describes_the_schedule(
    control_plane: KubeCluster,
    installed: Path,  # noqa: F811
) -> None:
    def explained() -> str | None:
        result = control_plane.kubectl("explain", "hbs.spec")
        return result.stdout if result.returncode == 0 else None

    words = " ".join(wait_for("kubectl explain hbs", explained).split())
    spec = SCHEDULE_SCHEMA["properties"]["spec"]["properties"]
    for field in ("schedule", "timeZone", "concurrencyPolicy", "startingDeadlineSeconds"):
        assert " ".join(spec[field]["description"].split()) in words, field
    window = control_plane.kubectl_ok("explain", "hbs.spec.jobTemplate.spec.input.window")
    assert "yesterday" in window
    # The template's job fields explain themselves as the job's do.
    assert "NoInput" in control_plane.kubectl_ok(
        "explain", "hbs.spec.jobTemplate.spec.input.allowEmpty"
    )
