"""The CRDs have one source: the package's files, which the wheel ships and which crds/
(the kustomization users apply) refers to."""

from __future__ import annotations

from importlib.metadata import version

import yaml
from click.testing import CliRunner

from helix_batch.cli.main import main
from helix_batch.operator.crd import CRD_DIR, JOB_CRD, SCHEDULE_CRD

from .manifests import REPO, kustomize


def test_crds_kustomization_applies_the_package_files() -> None:
    built = list(yaml.safe_load_all(kustomize(REPO / "crds")))
    shipped = [yaml.safe_load(path.read_text()) for path in (JOB_CRD, SCHEDULE_CRD)]
    assert sorted(built, key=str) == sorted(shipped, key=str)
    # No second copy anywhere under crds/ that could drift.
    assert sorted(p.name for p in (REPO / "crds").iterdir()) == ["kustomization.yaml"]
    assert sorted(p.name for p in CRD_DIR.glob("*.yaml")) == [
        "helixbatchjob.yaml",
        "helixbatchschedule.yaml",
        "kustomization.yaml",
    ]


def test_helixctl_version_is_the_distributions() -> None:
    out = CliRunner().invoke(main, ["--version"])
    assert out.exit_code == 0, out.output
    assert out.output == f"helixctl, version {version('helix-batch')}\n"
