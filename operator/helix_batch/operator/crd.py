"""The HelixBatchJob CRD as shipped in crds/, the single source of its schema."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

# In a source checkout the CRD sits at <repo>/crds; images set HELIX_CRD_FILE.
_DEFAULT = Path(__file__).resolve().parents[3] / "crds" / "helixbatchjob.yaml"


def crd_path() -> Path:
    return Path(os.environ.get("HELIX_CRD_FILE", _DEFAULT))


@cache
def crd() -> dict[str, Any]:
    with crd_path().open() as f:
        doc: dict[str, Any] = yaml.safe_load(f)
    return doc


def crd_schema() -> dict[str, Any]:
    schema: dict[str, Any] = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema
