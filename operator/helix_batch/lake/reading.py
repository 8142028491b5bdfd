"""Reading a day the way every reader must: ``layout.select`` decides which files count."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from helix_batch.lake.columnar import read_parquet, records_from_table
from helix_batch.lake.errors import InvalidRecord
from helix_batch.lake.partitions import DayState, load_day
from helix_batch.lake.paths import in_day, record_id_of
from helix_batch.lake.storage import Storage
from helix_jobs import records
from helix_jobs.records import Dataset


@dataclass(frozen=True)
class ReadRecord:
    record_id: str
    source: str  # name relative to the day folder
    record: dict[str, Any] | None  # None: a raw file that is not a JSON object
    body: bytes | None = None  # raw files only


def compacted_ids(storage: Storage, state: DayState, names: list[str] | None = None) -> list[str]:
    """Ids in the day's live compacted files (or the given ones), duplicates kept."""
    files = names if names is not None else list(state.files().compacted)
    ids: list[str] = []
    for name in files:
        table = read_parquet(storage.get(in_day(state.dataset, state.day, name)))
        ids.extend(str(v) for v in table.column(state.dataset.id_field).to_pylist())
    return ids


def day_ids(storage: Storage, dataset: Dataset, day: date) -> list[str]:
    """Every record id a reader sees in the day, once per time it sees it."""
    state = load_day(storage, dataset, day)
    raw = [record_id_of(dataset, n) for n in state.files().raw]
    return raw + compacted_ids(storage, state)


def read_day(storage: Storage, dataset: Dataset, day: date) -> Iterator[ReadRecord]:
    """Every record of the day exactly once: live compacted files, then unreplaced raw files."""
    state = load_day(storage, dataset, day)
    files = state.files()
    for name in files.compacted:
        table = read_parquet(storage.get(in_day(dataset, day, name)))
        for record in records_from_table(dataset, table):
            yield ReadRecord(str(record[dataset.id_field]), name, record)
    keys = [in_day(dataset, day, n) for n in files.raw]
    for (_, body), name in zip(storage.get_many(keys), files.raw, strict=True):
        yield ReadRecord(record_id_of(dataset, name), name, parse_object(body), body)


def parse_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = records.parse_raw(body)
    except records.Malformed:
        return None
    return value if isinstance(value, dict) else None


def parse_record(body: bytes, max_bytes: int) -> dict[str, Any]:
    """A JSON object no larger than max_bytes (``records.parse_raw``), or InvalidRecord."""
    if len(body) > max_bytes:
        raise InvalidRecord(f"too_large: {len(body)} bytes, over the {max_bytes}-byte limit")
    try:
        value = records.parse_raw(body)
    except records.Malformed as error:
        raise InvalidRecord(str(error)) from None
    if not isinstance(value, dict):
        raise InvalidRecord(
            f"{records.WRONG_TYPE}:{records.ROOT}: not a JSON object but {type(value).__name__}"
        )
    return value
