"""tests/kind/e2e-kind.sh cannot run here (no Docker engine, no kind); its early failure can."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .manifests import REPO

SCRIPT = REPO / "tests" / "kind" / "e2e-kind.sh"


def run(path: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={"PATH": path, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def fake(directory: Path, name: str, exit_code: int) -> None:
    """A stand-in executable for one tool the script checks for before doing anything."""
    directory.mkdir(exist_ok=True)
    exe = directory / name
    exe.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    exe.chmod(0o755)


def base_path(tmp_path: Path) -> str:
    """bash and coreutils only: none of docker, kind, helm."""
    tools = tmp_path / "base"
    tools.mkdir()
    for name in ("bash", "dirname", "mktemp", "rm", "cat", "grep"):
        found = shutil.which(name)
        assert found, name
        (tools / name).symlink_to(found)
    return str(tools)


def test_fails_early_without_a_docker_daemon(tmp_path: Path) -> None:
    """Like this machine: a docker CLI whose `docker info` finds no daemon."""
    fake(tmp_path / "bin", "docker", 1)
    result = run(f"{tmp_path / 'bin'}:{base_path(tmp_path)}", tmp_path)
    assert result.returncode == 2, result.stderr
    assert "the Docker daemon is not reachable" in result.stderr
    assert "==>" not in result.stderr  # nothing was attempted


def test_fails_early_without_docker(tmp_path: Path) -> None:
    result = run(base_path(tmp_path), tmp_path)
    assert result.returncode == 2
    assert "docker not found on PATH" in result.stderr


def test_fails_early_without_kind(tmp_path: Path) -> None:
    fake(tmp_path / "bin", "docker", 0)  # a daemon that answers `docker info`
    result = run(f"{tmp_path / 'bin'}:{base_path(tmp_path)}", tmp_path)
    assert result.returncode == 2
    assert "kind not found on PATH" in result.stderr


def test_fails_early_without_helm(tmp_path: Path) -> None:
    fake(tmp_path / "bin", "docker", 0)
    fake(tmp_path / "bin", "kind", 0)
    result = run(f"{tmp_path / 'bin'}:{base_path(tmp_path)}", tmp_path)
    assert result.returncode == 2
    assert "helm not found on PATH" in result.stderr
