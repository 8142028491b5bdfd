"""Rendering the kustomize trees with the real kubectl and finding objects in them."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
OVERLAYS = ("dev", "production")
NAMESPACE = "helix-batch"
LAKE_SECRET = "helix-lake-credentials"  # noqa: S105 - a Secret's name
CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
KUBECTL = shutil.which("kubectl") or "kubectl"

Doc = dict[str, Any]


def kustomize(path: Path) -> str:
    result = subprocess.run(
        [KUBECTL, "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return result.stdout


@cache
def _render(relative: str) -> str:
    return kustomize(MANIFESTS / relative)


def render(relative: str) -> list[Doc]:
    """Fresh copies of the documents `kubectl kustomize manifests/<relative>` prints."""
    return [d for d in yaml.safe_load_all(_render(relative)) if d]


def overlay(name: str) -> list[Doc]:
    return render(f"overlays/{name}")


def find(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_templates(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    """(owner, pod template) of every Deployment and CronJob."""
    for d in docs:
        if d["kind"] == "Deployment":
            yield f"Deployment/{d['metadata']['name']}", d["spec"]["template"]
        elif d["kind"] == "CronJob":
            yield f"CronJob/{d['metadata']['name']}", d["spec"]["jobTemplate"]["spec"]["template"]


def container(template: Doc, name: str) -> Doc:
    found: Doc = next(c for c in template["spec"]["containers"] if c["name"] == name)
    return found


def env_of(c: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in c.get("env", [])}


def dump(docs: list[Doc]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)
