"""Compaction on both backends: results, quarantine, generations, and crashes at every step."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta

import pytest

from helix_batch.lake.compaction import CompactionOptions, compact, compact_day, utc_today
from helix_batch.lake.errors import PolicyError
from helix_batch.lake.faults import COMPACT_STEPS, Steps
from helix_batch.lake.partitions import load_day
from helix_batch.lake.paths import day_prefix, in_day, manifest_key, quarantine_key
from helix_batch.lake.reading import read_day
from helix_batch.lake.storage import Storage
from helix_jobs import layout
from tests.lake.helpers import (
    CONV,
    assert_clean,
    assert_exactly_once,
    conversation,
    keys,
    put_raw,
)

DAY = date(2026, 1, 5)


class Crash(Exception):
    pass


def _fill(storage: Storage, day: date, count: int, start: int = 0) -> set[str]:
    ids = {f"c{day:%m%d}-{i:04d}" for i in range(start, start + count)}
    storage.put_many(
        (k, v)
        for i in sorted(ids)
        for k, v in [(f"{day_prefix(CONV, day)}conversation_{i}.json", _body(i, day))]
    )
    return ids


def _body(record_id: str, day: date) -> bytes:
    return json.dumps(conversation(record_id, day)).encode()


def test_compaction_replaces_raw_with_parquet_and_quarantines_bad_input(storage: Storage) -> None:
    good = _fill(storage, DAY, 30)
    prefix = day_prefix(CONV, DAY)
    bad = {
        "conversation_notjson.json": b"<html>502</html>",
        "conversation_truncated.json": _body("truncated", DAY)[:40],
        "conversation_wrongtype.json": json.dumps(
            conversation("wrongtype", DAY, message_count="n/a")
        ).encode(),
        "conversation_missing.json": json.dumps(
            {k: v for k, v in conversation("missing", DAY).items() if k != "user_id"}
        ).encode(),
        "conversation_otherid.json": _body("someone-else", DAY),
        "conversation_otherday.json": _body("otherday", DAY + timedelta(days=1)),
        "conversation_huge.json": _body("huge", DAY)[:-1] + b',"pad":"' + b"x" * 5000 + b'"}',
    }
    for name, body in bad.items():
        storage.put(prefix + name, body)
    storage.put(prefix + "notes.txt", b"not a record, not touched")

    report = compact_day(storage, CONV, DAY, options=CompactionOptions(max_record_bytes=4000))

    assert (report.action, report.records, report.quarantined) == ("compacted", 30, len(bad))
    assert report.raw_deleted == 30 + len(bad) and report.bytes_out > 0
    for name, body in bad.items():
        assert storage.get(quarantine_key(CONV, DAY, name)) == body
    manifest = layout.Manifest.from_json(storage.get(manifest_key(CONV, DAY)))
    assert set(manifest.extra["quarantined"]) == set(bad)
    assert "user_id: missing" in manifest.extra["quarantined"]["conversation_missing.json"]
    assert manifest.records == 30
    assert keys(storage, prefix) == {
        prefix + "notes.txt",
        prefix + layout.MANIFEST_NAME,
        *(prefix + f.name for f in manifest.files),
    }
    assert_exactly_once(storage, good)
    # Records read back from Parquet equal what was archived.
    back = {r.record_id: r.record for r in read_day(storage, CONV, DAY)}
    assert back["c0105-0007"] == conversation("c0105-0007", DAY)
    # A second run has nothing to do.
    assert compact_day(storage, CONV, DAY).action == "nothing"


def test_new_raw_records_make_a_second_generation(storage: Storage) -> None:
    first = _fill(storage, DAY, 5)
    compact_day(storage, CONV, DAY)
    second = _fill(storage, DAY, 4, start=100)
    assert_exactly_once(storage, first | second)  # the straggler is visible before compaction
    compact_day(storage, CONV, DAY, options=CompactionOptions(max_file_bytes=1))
    manifest = layout.Manifest.from_json(storage.get(manifest_key(CONV, DAY)))
    assert len(manifest.files) == 1 + 4  # the first generation's file stays listed
    assert manifest.extra["generation"] == 2
    assert len(manifest.replaced) == 9
    assert_exactly_once(storage, first | second)
    assert_clean(storage)


def test_only_finished_days_are_compacted(storage: Storage) -> None:
    today = utc_today()
    old = _fill(storage, today - timedelta(days=1), 3)
    fresh = _fill(storage, today, 3)
    report = compact(storage, [CONV])
    assert [d.day for d in report.days if d.action == "compacted"] == [
        (today - timedelta(days=1)).isoformat()
    ]
    assert load_day(storage, CONV, today).manifest is None
    assert_exactly_once(storage, old | fresh)
    with pytest.raises(PolicyError):
        compact(storage, [CONV], before=today + timedelta(days=1))


def test_dry_run_changes_nothing(storage: Storage) -> None:
    _fill(storage, DAY, 6)
    before = keys(storage)
    report = compact(storage, [CONV], before=DAY + timedelta(days=1), dry_run=True)
    assert [(d.action, d.records) for d in report.days] == [("would-compact", 6)]
    assert keys(storage) == before


@pytest.mark.parametrize("step", COMPACT_STEPS)
def test_a_crash_at_any_step_loses_nothing(storage: Storage, step: str) -> None:
    ids = _fill(storage, DAY, 25)
    compact_day(storage, CONV, DAY)  # an earlier generation, so superseded files exist too
    ids |= _fill(storage, DAY, 25, start=200)
    storage.put(in_day(CONV, DAY, "_compacted/part-0000-staged-by-a-dead-run.parquet"), b"junk")
    seen: list[str] = []
    occurrence = 2 if step == "compact:raw-deleted" else 1

    lock = threading.Lock()

    def crash(reached: str) -> None:  # batches are deleted concurrently: decide under a lock
        with lock:
            seen.append(reached)
            hit = reached == step and seen.count(step) == occurrence
        assert_exactly_once(storage, ids)  # what a reader sees at every step
        if hit:
            raise Crash(step)

    options = CompactionOptions(delete_batch=10)
    with pytest.raises(Crash):
        compact_day(storage, CONV, DAY, options=options, steps=Steps(crash))
    assert_exactly_once(storage, ids)
    compact_day(storage, CONV, DAY, options=options)
    assert_exactly_once(storage, ids)
    assert_clean(storage)
    state = load_day(storage, CONV, DAY)
    assert state.files().raw == () and state.manifest is not None
    assert state.manifest.records == 50


def test_records_with_an_id_already_compacted_are_quarantined(storage: Storage) -> None:
    ids = _fill(storage, DAY, 3)
    compact_day(storage, CONV, DAY)
    # Written behind the library's back: same id as a compacted record, under another name
    # that is not in the manifest's replaced list.
    record = conversation("c0105-0001", DAY)
    storage.put(in_day(CONV, DAY, "conversation_c0105-0001.json"), json.dumps(record).encode())
    manifest = layout.Manifest.from_json(storage.get(manifest_key(CONV, DAY)))
    replaced = manifest.replaced - {"conversation_c0105-0001.json"}
    storage.put(
        manifest_key(CONV, DAY),
        layout.Manifest(manifest.files, replaced, manifest.run_id, manifest.created_at).to_json(),
    )
    report = compact_day(storage, CONV, DAY)
    assert report.quarantined == 1 and report.records == 0
    assert_exactly_once(storage, ids)


def test_compact_all_days_of_a_range(storage: Storage) -> None:
    ids: set[str] = set()
    for offset in range(3):
        ids |= _fill(storage, DAY + timedelta(days=offset), 4)
    put_raw(storage, conversation("later", DAY + timedelta(days=5)))
    report = compact(storage, [CONV], before=DAY + timedelta(days=3))
    assert report.totals()["days_compacted"] == 3 and report.totals()["records"] == 12
    assert_exactly_once(storage, ids | {"later"})
    assert load_day(storage, CONV, DAY + timedelta(days=5)).manifest is None
