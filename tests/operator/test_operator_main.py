"""``helix-operator`` as its users start it: help, and settings it refuses before connecting."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from helix_batch.operator.operator_main import lease_namespace
from helix_batch.operator.settings import Settings, SettingsError, variable

HELIX_OPERATOR = Path(sys.executable).parent / "helix-operator"


def start(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The entry point with a clean HELIX_* environment and no cluster to reach."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HELIX_", "POD_"))}
    return subprocess.run(
        [str(HELIX_OPERATOR), *args],
        env={**base, "KUBECONFIG": "/nonexistent/kubeconfig", **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_help_lists_every_setting_and_exits_0() -> None:
    out = start("--help")
    assert out.returncode == 0, out.stderr
    assert "HelixBatchJob" in out.stdout
    for f in fields(Settings):
        assert variable(f.name) in out.stdout
    assert "HELIX_WORKERS                          32" in out.stdout
    assert out.stderr == ""


NS = {"POD_NAMESPACE": "helix-batch"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**NS, "HELIX_WORKERS": "abc"}, "HELIX_WORKERS: expected a whole number of at least 1"),
        ({**NS, "HELIX_WORKERS": "0"}, "HELIX_WORKERS: expected a whole number of at least 1"),
        ({**NS, "HELIX_BACKOFF_LIMIT": "-1"}, "HELIX_BACKOFF_LIMIT: expected a whole number of at least 0, got '-1'"),
        ({**NS, "HELIX_METRICS_PORT": "70000"}, "HELIX_METRICS_PORT: expected a whole number from 1 to 65535"),
        ({**NS, "HELIX_LOG_LEVEL": "loud"}, "HELIX_LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR"),
        ({"HELIX_NAMESPACES": "a,b"}, "POD_NAMESPACE is not set"),
        ({}, "POD_NAMESPACE is not set"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_one_line_and_exit_code_2(env: dict[str, str], message: str) -> None:
    out = start(**env)
    assert out.returncode == 2
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith(f"helix-operator: {message}"), out.stderr


def test_the_lease_namespace_defaults_to_the_one_served_namespace() -> None:
    one = Settings(namespaces=("analytics",))
    assert lease_namespace({"POD_NAMESPACE": "helix-batch"}, one) == "helix-batch"
    assert lease_namespace({}, one) == "analytics"
    assert lease_namespace({"POD_NAMESPACE": ""}, one) == "analytics"
    for unclear in (Settings(), Settings(namespaces=("a", "b"))):
        with pytest.raises(SettingsError, match="POD_NAMESPACE is not set"):
            lease_namespace({}, unclear)
