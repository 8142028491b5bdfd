"""The latest body of each job that waits on a driver pod or a deadline, as kopf's watch delivers
it: a reconcile triggered by a driver pod or a deadline starts from it instead of reading the
job again. Jobs that wait on neither (finished, suspended, not yet given a status) are not kept,
so memory follows the running work, not the jobs present. Of every job it keeps only its type
and phase, which ``helix_jobs`` counts: right after a restart or a failover, the watch's initial
list brings them all.

A body older than the job (the watch has not yet brought our own last write) decides a step
already taken: its creates and deletes are idempotent, and its status write is refused by the
resourceVersion precondition, after which reconcile reads the job afresh."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any

from helix_batch.operator.kube import JobKey

WAITING = frozenset({"Pending", "Submitted", "Running"})


class JobCache:
    def __init__(self) -> None:
        self._bodies: dict[JobKey, Mapping[str, Any]] = {}
        self._phases: dict[JobKey, tuple[str, str, str]] = {}  # (namespace, type, phase)

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        phase = (body.get("status") or {}).get("phase")
        if event_type == "DELETED":
            self._phases.pop(key, None)
        elif phase:
            kind = (body.get("spec") or {}).get("type") or ""
            # Interned: thousands of jobs share a few namespaces, types and phases.
            self._phases[key] = (sys.intern(key[0]), sys.intern(kind), sys.intern(phase))
        if event_type == "DELETED" or phase not in WAITING:
            self._bodies.pop(key, None)
        else:
            self._bodies[key] = body

    def get(self, key: JobKey) -> Mapping[str, Any] | None:
        return self._bodies.get(key)

    def __len__(self) -> int:
        return len(self._bodies)

    def by_phase(self) -> Counter[tuple[str, str, str]]:
        """Jobs by (namespace, type, phase), of every job with a phase."""
        return Counter(self._phases.values())
