"""Records and lake inspection shared by the lake tests."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from helix_batch.lake.partitions import list_days, load_day
from helix_batch.lake.paths import raw_key
from helix_batch.lake.reading import day_ids
from helix_batch.lake.storage import Storage
from helix_jobs import records
from helix_jobs.records import Dataset

CONV = records.CONVERSATIONS


def conversation(record_id: str, day: date, **overrides: Any) -> dict[str, Any]:
    start = datetime(day.year, day.month, day.day, 10, 0, tzinfo=UTC)
    ts = records.format_timestamp
    record: dict[str, Any] = {
        "conversation_id": record_id,
        "user_id": "user-1",
        "session_id": "session-1",
        "started_at": ts(start),
        "completed_at": ts(start + timedelta(minutes=5)),
        "message_count": 2,
        "entity_count": 1,
        "total_tokens": 42,
        "messages": [
            {
                "message_id": f"{record_id}-m0",
                "role": "user",
                "content": "Where is the Kubernetes cluster?",
                "created_at": ts(start),
                "tokens": 12,
            },
            {
                "message_id": f"{record_id}-m1",
                "role": "assistant",
                "content": "In Frankfurt.",
                "created_at": ts(start + timedelta(seconds=3)),
                "tokens": 30,
                "provider": "openai",
                "model": "gpt-4o",
                "latency_ms": 950,
            },
        ],
        "entities": [
            {
                "entity_id": "ent-1",
                "entity_type": "TECHNOLOGY",
                "name": "Kubernetes",
                "confidence": 0.9,
                "message_index": 0,
            }
        ],
        "debate_rounds": [],
        "metadata": {"channel": "web"},
    }
    record.update(overrides)
    return record


def put_raw(storage: Storage, record: dict[str, Any], dataset: Dataset = CONV) -> str:
    day = records.parse_timestamp(record[dataset.time_field]).date()
    key = raw_key(dataset, day, record[dataset.id_field])
    storage.put(key, json.dumps(record).encode())
    return key


def seen_ids(storage: Storage, dataset: Dataset = CONV) -> Counter[str]:
    """How many times a reader sees each id, over every day of the dataset."""
    counts: Counter[str] = Counter()
    for day in list_days(storage, dataset):
        counts.update(day_ids(storage, dataset, day))
    return counts


def assert_exactly_once(storage: Storage, expected: set[str], dataset: Dataset = CONV) -> None:
    counts = seen_ids(storage, dataset)
    duplicates = {i: n for i, n in counts.items() if n > 1}
    assert not duplicates, f"read more than once: {duplicates}"
    assert set(counts) == expected, (
        f"missing {sorted(expected - set(counts))[:5]}, extra {sorted(set(counts) - expected)[:5]}"
    )


def assert_clean(storage: Storage, dataset: Dataset = CONV) -> None:
    """No leftover replaced originals and no staged or superseded files in any day."""
    for day in list_days(storage, dataset):
        state = load_day(storage, dataset, day)
        assert state.leftover_replaced() == []
        assert state.unlisted_compacted() == []


def keys(storage: Storage, prefix: str = "") -> set[str]:
    return {info.key for info in storage.list(prefix)}
