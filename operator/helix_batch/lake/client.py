"""The data-lake client: the seed's DataLake API on top of a Storage backend.

Raw writes are create-only and idempotent: archiving the same record twice is a no-op, a
different record under an existing id is a RecordConflict unless ``overwrite=True``. Days
before today may already be compacted; there the manifest is consulted, so a record in Parquet
is neither duplicated by a new raw file nor silently shadowed, and deleting or overwriting it
rewrites the day's files (``compaction.rewrite_day``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from helix_batch.lake.columnar import normalize, read_parquet, records_from_table
from helix_batch.lake.compaction import MAX_RECORD_BYTES, rewrite_day, utc_today
from helix_batch.lake.concurrency import bounded_map
from helix_batch.lake.errors import InvalidRecord, NotFound, RecordConflict
from helix_batch.lake.partitions import list_days
from helix_batch.lake.paths import (
    ANALYTICS,
    AUDIT,
    QUARANTINE,
    dataset_prefix,
    in_day,
    manifest_key,
    raw_key,
)
from helix_batch.lake.reading import day_ids, parse_record
from helix_batch.lake.storage import DEFAULT_CONCURRENCY, Storage, open_storage
from helix_jobs import layout, records
from helix_jobs.records import Dataset

CREATED, UNCHANGED, OVERWRITTEN = "created", "unchanged", "overwritten"


def encode(record: dict[str, Any]) -> bytes:
    """The raw layer's form: compact JSON on one line."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class DatasetStats:
    objects: int = 0
    bytes: int = 0
    raw_objects: int = 0
    compacted_files: int = 0
    days: int = 0
    oldest_day: str | None = None
    newest_day: str | None = None
    _days: set[date] = field(default_factory=set, repr=False)

    def add(self, name: str, size: int, day: date | None) -> None:
        self.objects += 1
        self.bytes += size
        if name.endswith(".parquet"):
            self.compacted_files += 1
        elif name.endswith(".json") and not name.endswith(layout.MANIFEST_NAME):
            self.raw_objects += 1
        if day is not None:
            self._days.add(day)

    def to_dict(self) -> dict[str, Any]:
        if self._days:
            self.days = len(self._days)
            self.oldest_day = min(self._days).isoformat()
            self.newest_day = max(self._days).isoformat()
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class DataLake:
    def __init__(self, storage: Storage, max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        self.storage = storage
        self.max_record_bytes = max_record_bytes

    @classmethod
    def open(cls, uri: str, concurrency: int = DEFAULT_CONCURRENCY) -> DataLake:
        return cls(open_storage(uri, concurrency=concurrency))

    # -- writes ------------------------------------------------------------------------------

    def archive(
        self,
        dataset: Dataset,
        record: Any,
        overwrite: bool = False,
        manifests: dict[date, layout.Manifest | None] | None = None,
    ) -> str:
        """Store one record raw; returns "created", "unchanged" or "overwritten".

        ``manifests``: the days' manifests already read by the caller (bulk archiving reads
        each day's manifest once); absent days are read here.
        """
        record_id, day = self._check(dataset, record)
        body = encode(record)
        if len(body) > self.max_record_bytes:
            raise InvalidRecord(f"record {record_id} is {len(body)} bytes, over the limit")
        key = raw_key(dataset, day, record_id)
        if day < utc_today() and self._compacted(dataset, day, record_id, manifests):
            return self._archive_compacted(dataset, day, record, overwrite)
        if self.storage.create(key, body):
            return CREATED
        try:
            existing = parse_record(self.storage.get(key), 1 << 62)
        except (InvalidRecord, NotFound):
            existing = None
        if existing == record:
            return UNCHANGED
        if not overwrite:
            raise RecordConflict(
                f"{dataset.name} {record_id} already exists with different content "
                "(pass overwrite=True to replace it)"
            )
        self.storage.put(key, body)
        return OVERWRITTEN

    def _check(self, dataset: Dataset, record: Any) -> tuple[str, date]:
        errors = records.validate(record, dataset.schema)
        if errors:
            raise InvalidRecord(f"invalid {dataset.name} record: " + "; ".join(errors[:5]))
        try:
            record_id = layout.check_id(records.text_of(record[dataset.id_field]))
        except ValueError as error:
            raise InvalidRecord(str(error)) from None
        return record_id, records.parse_timestamp(record[dataset.time_field]).date()

    def _manifest(self, dataset: Dataset, day: date) -> layout.Manifest | None:
        try:
            return layout.Manifest.from_json(self.storage.get(manifest_key(dataset, day)))
        except NotFound:
            return None

    def _compacted(
        self,
        dataset: Dataset,
        day: date,
        record_id: str,
        manifests: dict[date, layout.Manifest | None] | None = None,
    ) -> bool:
        if manifests is not None and day in manifests:
            manifest = manifests[day]
        else:
            manifest = self._manifest(dataset, day)
        return manifest is not None and layout.raw_name(dataset.file_prefix, record_id) in (
            manifest.replaced
        )

    def _archive_compacted(
        self, dataset: Dataset, day: date, record: dict[str, Any], overwrite: bool
    ) -> str:
        record_id = str(record[dataset.id_field])
        existing = self._find_compacted(dataset, day, record_id)
        if existing == normalize(dataset, record):
            return UNCHANGED
        if existing is not None and not overwrite:
            raise RecordConflict(
                f"{dataset.name} {record_id} already exists (compacted) with different content "
                "(pass overwrite=True to replace it)"
            )
        rewrite_day(self.storage, dataset, day, upsert=[record])
        return CREATED if existing is None else OVERWRITTEN

    def archive_many(
        self, dataset: Dataset, items: Iterable[Any], overwrite: bool = False
    ) -> Counter[str]:
        """Archive many records with bounded concurrency; counts of each outcome.

        Each past day's manifest is read once for the whole batch, not once per record.
        """
        batch = list(items)
        today = utc_today()
        days: set[date] = set()
        for record in batch:
            try:
                days.add(records.parse_timestamp(record[dataset.time_field]).date())
            except (TypeError, KeyError, ValueError):
                continue  # archive() reports the bad record
        manifests = {d: self._manifest(dataset, d) for d in days if d < today}
        outcomes = bounded_map(
            lambda r: self.archive(dataset, r, overwrite, manifests),
            batch,
            self.storage.concurrency,
        )
        return Counter(outcomes)

    def archive_conversation(self, record: Any, overwrite: bool = False) -> str:
        return self.archive(records.CONVERSATIONS, record, overwrite)

    def archive_debate(self, record: Any, overwrite: bool = False) -> str:
        return self.archive(records.DEBATES, record, overwrite)

    def archive_entities(self, snapshot: Any, overwrite: bool = False) -> str:
        return self.archive(records.ENTITIES, snapshot, overwrite)

    # -- reads -------------------------------------------------------------------------------

    def get(self, dataset: Dataset, record_id: str, day: date) -> dict[str, Any]:
        layout.check_id(record_id)
        if not self._compacted(dataset, day, record_id):
            try:
                body = self.storage.get(raw_key(dataset, day, record_id))
            except NotFound:
                raise NotFound(f"no {dataset.name} record {record_id} on {day}") from None
            return parse_record(body, 1 << 62)
        found = self._find_compacted(dataset, day, record_id)
        if found is None:
            raise NotFound(f"no {dataset.name} record {record_id} on {day}")
        return found

    def _find_compacted(self, dataset: Dataset, day: date, record_id: str) -> dict[str, Any] | None:
        manifest = self._manifest(dataset, day)
        for info in manifest.files if manifest else ():
            table = read_parquet(self.storage.get(in_day(dataset, day, info.name)))
            ids = table.column(dataset.id_field).to_pylist()
            if record_id in ids:
                row = table.slice(ids.index(record_id), 1)
                return records_from_table(dataset, row)[0]
        return None

    def get_conversation(self, conversation_id: str, day: date) -> dict[str, Any]:
        return self.get(records.CONVERSATIONS, conversation_id, day)

    def list_ids(self, dataset: Dataset, start: date, end: date) -> list[str]:
        """Ids of every record in [start, end], each once, day by day (prefix listings only)."""
        return [
            i
            for day in list_days(self.storage, dataset, start, end)
            for i in sorted(day_ids(self.storage, dataset, day))
        ]

    def list_conversations(self, start: date, end: date) -> list[str]:
        return self.list_ids(records.CONVERSATIONS, start, end)

    # -- deletes -----------------------------------------------------------------------------

    def delete(self, dataset: Dataset, record_id: str, day: date) -> bool:
        """Remove one record wherever it lives; False when it did not exist."""
        layout.check_id(record_id)
        key = raw_key(dataset, day, record_id)
        if self._compacted(dataset, day, record_id):
            if self._find_compacted(dataset, day, record_id) is None:
                return False
            rewrite_day(self.storage, dataset, day, drop=[record_id])
            return True
        if not self.storage.exists(key):
            return False
        self.storage.delete(key)
        return True

    def delete_conversation(self, conversation_id: str, day: date) -> bool:
        return self.delete(records.CONVERSATIONS, conversation_id, day)

    # -- statistics --------------------------------------------------------------------------

    def storage_stats(self) -> dict[str, dict[str, Any]]:
        """Per dataset: objects, bytes, raw/compacted counts, days, oldest and newest day."""
        stats: dict[str, dict[str, Any]] = {}
        for name, dataset in records.DATASETS.items():
            acc = DatasetStats()
            for info in self.storage.list(dataset_prefix(dataset)):
                acc.add(info.key, info.size, layout.parse_day(info.key))
            stats[name] = acc.to_dict()
        for folder in (ANALYTICS, AUDIT, QUARANTINE):
            acc = DatasetStats()
            for info in self.storage.list(f"{folder}/"):
                acc.add("", info.size, None)
            stats[folder] = {"objects": acc.objects, "bytes": acc.bytes}
        return stats

    def close(self) -> None:
        self.storage.close()
