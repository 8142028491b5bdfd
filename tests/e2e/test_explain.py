"""`kubectl explain` shows the CRD's descriptions, as the API server publishes them."""

from __future__ import annotations

from pathlib import Path

from helix_batch.crd import crd_schema
from tests.e2e.controlplane import KubeCluster
from tests.e2e.harness import wait_for
from tests.e2e.test_operator import installed  # noqa: F401 - a fixture


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
