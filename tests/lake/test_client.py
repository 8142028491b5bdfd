"""The DataLake client (the seed's API) on both backends, raw and compacted days alike."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from helix_batch.lake.client import CREATED, OVERWRITTEN, UNCHANGED, DataLake
from helix_batch.lake.compaction import compact_day
from helix_batch.lake.errors import InvalidRecord, NotFound, RecordConflict
from helix_batch.lake.storage import Storage
from helix_jobs import records
from tests.lake.helpers import CONV, assert_exactly_once, conversation, keys

DAY = date(2026, 1, 7)


@pytest.fixture
def lake(storage: Storage) -> DataLake:
    return DataLake(storage, max_record_bytes=20_000)


def test_archive_is_idempotent_and_refuses_silent_replacement(lake: DataLake) -> None:
    record = conversation("c1", DAY)
    assert lake.archive_conversation(record) == CREATED
    assert lake.archive_conversation(json.loads(json.dumps(record))) == UNCHANGED
    changed = conversation("c1", DAY, total_tokens=99)
    with pytest.raises(RecordConflict):
        lake.archive_conversation(changed)
    assert lake.get_conversation("c1", DAY) == record
    assert lake.archive_conversation(changed, overwrite=True) == OVERWRITTEN
    assert lake.get_conversation("c1", DAY)["total_tokens"] == 99


@pytest.mark.parametrize(
    "record",
    [
        conversation("../../etc", DAY),
        conversation("a/b", DAY),
        conversation("bad\nid", DAY),
        conversation("c2", DAY, message_count="two"),
        {k: v for k, v in conversation("c3", DAY).items() if k != "started_at"},
        conversation("c4", DAY, metadata={"blob": "x" * 30_000}),
        ["not", "an", "object"],
    ],
)
def test_bad_records_are_refused_and_nothing_is_written(lake: DataLake, record: object) -> None:
    with pytest.raises(InvalidRecord):
        lake.archive_conversation(record)
    assert keys(lake.storage) == set()


def test_list_get_delete_across_raw_and_compacted_days(lake: DataLake) -> None:
    for offset in range(4):
        for i in range(3):
            lake.archive_conversation(conversation(f"d{offset}-{i}", DAY + timedelta(days=offset)))
    compact_day(lake.storage, CONV, DAY + timedelta(days=1))
    assert lake.list_conversations(DAY + timedelta(days=1), DAY + timedelta(days=2)) == [
        "d1-0", "d1-1", "d1-2", "d2-0", "d2-1", "d2-2",
    ]  # fmt: skip
    compacted_day = DAY + timedelta(days=1)
    assert lake.get_conversation("d1-2", compacted_day) == conversation("d1-2", compacted_day)
    assert lake.delete_conversation("d1-2", compacted_day) is True  # rewrites the day's files
    assert lake.delete_conversation("d0-0", DAY) is True
    assert lake.delete_conversation("d0-0", DAY) is False
    with pytest.raises(NotFound):
        lake.get_conversation("d1-2", compacted_day)
    with pytest.raises(NotFound):
        lake.get_conversation("d0-0", DAY)
    everything = {f"d{o}-{i}" for o in range(4) for i in range(3)} - {"d1-2", "d0-0"}
    assert_exactly_once(lake.storage, everything)


def test_archive_into_a_compacted_day(lake: DataLake) -> None:
    record = conversation("p1", DAY)
    lake.archive_conversation(record)
    compact_day(lake.storage, CONV, DAY)
    assert lake.archive_conversation(record) == UNCHANGED  # no raw duplicate appears
    with pytest.raises(RecordConflict):
        lake.archive_conversation(conversation("p1", DAY, user_id="other"))
    assert lake.archive_conversation(conversation("p1", DAY, user_id="other"), True) == OVERWRITTEN
    assert lake.get_conversation("p1", DAY)["user_id"] == "other"
    lake.delete_conversation("p1", DAY)
    assert lake.archive_conversation(record) == CREATED  # deleted earlier: comes back once
    assert_exactly_once(lake.storage, {"p1"})


def test_debates_entities_and_stats(lake: DataLake) -> None:
    debate = {
        "debate_id": "deb-1",
        "conversation_id": "c1",
        "topic": "Which cloud?",
        "started_at": "2026-01-07T10:00:00.000Z",
        "completed_at": "2026-01-07T10:05:00.000Z",
        "participants": [{"provider": "openai", "model": "gpt-4o"}],
        "rounds": [],
        "consensus_reached": False,
        "metadata": {},
    }
    snapshot = {
        "snapshot_id": "20260108T000000Z",
        "snapshot_at": "2026-01-08T00:00:00.000Z",
        "entities": [
            {
                "entity_id": "ent-1",
                "entity_type": "ORG",
                "name": "Acme",
                "mention_count": 3,
                "avg_confidence": 0.8,
            }
        ],
    }
    assert lake.archive_debate(debate) == CREATED
    assert lake.archive_entities(snapshot) == CREATED
    counts = lake.archive_many(CONV, [conversation(f"m{i}", DAY) for i in range(20)])
    assert counts == {CREATED: 20}
    stats = lake.storage_stats()
    assert stats["conversations"]["objects"] == 20
    assert (
        stats["conversations"]["oldest_day"] == stats["conversations"]["newest_day"] == "2026-01-07"
    )
    assert stats["debates"]["raw_objects"] == 1
    assert stats["entities"]["newest_day"] == "2026-01-08"
    assert lake.get(records.ENTITIES, "20260108T000000Z", date(2026, 1, 8)) == snapshot
    assert stats["conversations"]["bytes"] == sum(
        i.size for i in lake.storage.list("conversations/")
    )
