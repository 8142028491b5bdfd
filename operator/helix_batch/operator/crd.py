"""The HelixBatchJob CRD, the single source of its schema: the package holds the CRD files
(``crds/`` beside this module, shipped in the wheel), and the repository's crds/ kustomization
applies these very files."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

CRD_DIR = Path(__file__).resolve().parent / "crds"
JOB_CRD = CRD_DIR / "helixbatchjob.yaml"
SCHEDULE_CRD = CRD_DIR / "helixbatchschedule.yaml"


def crd_path() -> Path:
    return JOB_CRD


@cache
def crd() -> dict[str, Any]:
    with crd_path().open() as f:
        doc: dict[str, Any] = yaml.safe_load(f)
    return doc


def crd_schema() -> dict[str, Any]:
    schema: dict[str, Any] = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema
