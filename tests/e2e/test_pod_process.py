"""The $(VAR) expansion of tests/e2e/pod_process.py, as Kubernetes documents it for env values,
command and args (the chart's HELIX_NAMESPACES defaults to $(POD_NAMESPACE))."""

from __future__ import annotations

from tests.e2e.pod_process import expand


def test_references_to_earlier_variables_are_expanded() -> None:
    assert expand("$(POD_NAMESPACE)", {"POD_NAMESPACE": "helix-batch"}) == "helix-batch"
    assert expand("a-$(X)-$(X)", {"X": "1"}) == "a-1-1"


def test_escapes_and_unknown_references_stay_as_written() -> None:
    assert expand("$$(X)", {"X": "1"}) == "$(X)"
    assert expand("$(MISSING) $$ $", {}) == "$(MISSING) $ $"
    assert expand("$(not a name)", {}) == "$(not a name)"
