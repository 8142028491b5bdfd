"""Named steps of the maintenance protocols, where tests inject failures.

Compaction and retention call ``Steps.reached(name)`` after each durable step. Tests pass a
callback that raises (a crash at that step) or inspects the lake (what a reader sees then). For
a real SIGKILL, ``HELIX_LAKE_PAUSE_AT=<step>`` makes the process announce the step on stderr
(``helix-lake: paused at <step>``) and wait there, so the test can kill it at that very point.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

COMPACT_STEPS = (
    "compact:listed",
    "compact:staged",
    "compact:verified",
    "compact:published",
    "compact:raw-deleted",  # after each batch of replaced originals
    "compact:cleaned",  # after superseded and staged files are removed
)
RETAIN_STEPS = (
    "retain:audit-started",
    "retain:replaced-deleted",
    "retain:manifest-deleted",
    "retain:batch-deleted",  # after each batch of the rest of a partition
    "retain:audit-completed",
)
PAUSE_ENV = "HELIX_LAKE_PAUSE_AT"


class Steps:
    def __init__(self, callback: Callable[[str], None] | None = None) -> None:
        self.callback = callback
        self.pause_at = os.environ.get(PAUSE_ENV, "")

    def reached(self, step: str) -> None:
        if self.callback is not None:
            self.callback(step)
        if self.pause_at and step == self.pause_at:
            print(f"helix-lake: paused at {step}", file=sys.stderr, flush=True)
            while True:
                time.sleep(3600)
