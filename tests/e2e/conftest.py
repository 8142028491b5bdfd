from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import Operator


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test shows the logs of the operators it ran."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for op in Operator.started:
            report.sections.append((f"operator {op.name} log", op.log()[-6000:]))
    if report.when == "teardown":
        Operator.started.clear()
