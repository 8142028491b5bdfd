from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import Operator
from tests.e2e.node import RealNode


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test shows the logs of the operators it ran, and of the real node's
    containerd and kubelet."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for op in Operator.started:
            report.sections.append((f"operator {op.name} log", op.log()[-6000:]))
        for node in RealNode.running:
            for name in ("containerd", "kubelet"):
                report.sections.append((f"real node {name} log", node.log(name)[-6000:]))
    if report.when == "teardown":
        Operator.started.clear()
