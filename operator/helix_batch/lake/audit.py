"""Audit records of maintenance runs, under ``<root>/_audit/<kind>/YYYY/MM/<run_id>.json``.

A run writes its record with ``status: "started"`` and the full list of what it is about to
remove before it removes anything, and rewrites it with ``status: "completed"`` (and what was
removed) at the end; a killed run leaves its "started" record behind. Dry runs write nothing:
their report goes to the command's output only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from helix_batch.lake.keys import check_key
from helix_batch.lake.paths import AUDIT
from helix_batch.lake.storage import Storage
from helix_jobs.records import format_timestamp

AUDIT_VERSION = 1


def audit_key(kind: str, run_id: str, when: datetime) -> str:
    return check_key(f"{AUDIT}/{kind}/{when:%Y}/{when:%m}/{run_id}.json")


def write_audit(storage: Storage, key: str, body: dict[str, Any]) -> None:
    record = {"version": AUDIT_VERSION, "written_at": format_timestamp(datetime.now(UTC)), **body}
    storage.put(key, json.dumps(record, indent=1, sort_keys=False).encode())
