"""Every reason the operator writes into a status, a condition or an Event is explained in
docs/operations.md, so that a user who reads one in `kubectl describe` finds what it means."""

from __future__ import annotations

import re
from pathlib import Path

from helix_batch.operator import lifecycle, names
from helix_batch.operator.kube import SparkCrdMissing
from helix_jobs import failure

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def operator_reasons() -> set[str]:
    constants = {v for k, v in vars(names).items() if k.startswith("REASON_")}
    reported = set(failure.EXIT_CODES)  # what the Spark jobs' entry point reports
    return constants | reported | lifecycle.START_FAILURES | {SparkCrdMissing.reason}


def documented_reasons() -> set[str]:
    """The reasons named in the first cell of the tables' rows."""
    found: set[str] = set()
    for line in DOC.read_text().splitlines():
        cells = line.split("|")
        if len(cells) > 2 and "`" in cells[1]:
            found |= set(re.findall(r"`([A-Za-z]+)`", cells[1]))
    return found


def test_every_reason_of_the_operator_is_explained() -> None:
    assert operator_reasons() - documented_reasons() == set()


def test_the_tables_explain_no_reason_the_operator_does_not_give() -> None:
    # Reasons Kubernetes gives a driver container or pod, which the operator passes on.
    from_kubernetes = {"OOMKilled", "Evicted"}
    assert documented_reasons() - operator_reasons() - from_kubernetes == set()
