"""``seed``: fill a lake with the sample-data generator's records, raw or already compacted.

Raw: one object per record, the generator's bytes as they are (malformed ones included),
written with bounded concurrency (plain file writes for a local directory). Compacted: each
day's valid records go through the compactor's writer (stage, verify, publish a manifest that
marks their raw names as replaced); malformed records stay raw, as they would after a
compaction that had not yet run over them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from helix_batch.lake.compaction import CompactionOptions, new_run_id, publish_generation
from helix_batch.lake.faults import Steps
from helix_batch.lake.local_storage import LocalStorage
from helix_batch.lake.partitions import load_day
from helix_batch.lake.paths import raw_key
from helix_batch.lake.sample_data import GeneratedRecord, generate
from helix_batch.lake.storage import DEFAULT_CONCURRENCY, Storage, open_storage
from helix_jobs import layout, records


@dataclass
class SeedReport:
    lake: str
    records: int = 0
    valid: int = 0
    malformed: int = 0
    raw_objects: int = 0
    compacted_days: int = 0
    compacted_files: int = 0
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seed(
    lake_uri: str,
    conversations: int,
    start: date,
    end: date,
    compacted: bool = False,
    seed: int = 7,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    malformed_share: float = 0.002,
    on_records: Callable[[int], None] | None = None,
) -> SeedReport:
    storage = open_storage(lake_uri, concurrency=concurrency)
    report = SeedReport(storage.uri)
    generated = _counted(generate(conversations, start, end, seed, malformed_share), report)
    try:
        if compacted:
            _seed_compacted(storage, generated, report, on_records)
        else:
            _write_raw(storage, generated, report, on_records)
    finally:
        storage.close()
    return report


def _counted(items: Iterator[GeneratedRecord], report: SeedReport) -> Iterator[GeneratedRecord]:
    for item in items:
        report.records += 1
        report.bytes += len(item.body)
        if item.valid:
            report.valid += 1
        else:
            report.malformed += 1
        yield item


def _key(item: GeneratedRecord) -> str:
    return raw_key(records.DATASETS[item.dataset], item.day, item.record_id)


def _write_raw(
    storage: Storage,
    items: Iterable[GeneratedRecord],
    report: SeedReport,
    on_records: Callable[[int], None] | None,
) -> None:
    pairs = ((_key(item), item.body) for item in items)
    if isinstance(storage, LocalStorage):
        writer = _LocalWriter(storage)
        for key, body in pairs:
            writer.write(key, body)
            report.raw_objects += 1
            if on_records and report.raw_objects % 1000 == 0:
                on_records(1000)
        if on_records:
            on_records(report.raw_objects % 1000)
        return

    def tick(pair: tuple[str, bytes]) -> tuple[str, bytes]:
        report.raw_objects += 1
        if on_records:
            on_records(1)
        return pair

    storage.put_many(tick(pair) for pair in pairs)


class _LocalWriter:
    """The fast path for a fresh local lake: plain writes, each folder created once."""

    def __init__(self, storage: LocalStorage) -> None:
        self.storage = storage
        self.folders: set[str] = set()

    def write(self, key: str, body: bytes) -> None:
        path = self.storage.path(key)
        folder = str(path.parent)
        if folder not in self.folders:
            os.makedirs(folder, exist_ok=True)
            self.folders.add(folder)
        with open(path, "wb") as handle:
            handle.write(body)


def _seed_compacted(
    storage: Storage,
    items: Iterable[GeneratedRecord],
    report: SeedReport,
    on_records: Callable[[int], None] | None,
) -> None:
    pending: dict[str, list[GeneratedRecord]] = {}
    current: date | None = None
    malformed: list[GeneratedRecord] = []
    for item in items:
        if item.day != current:
            _flush(storage, current, pending, report, on_records)
            current, pending = item.day, {}
        if item.valid:
            pending.setdefault(item.dataset, []).append(item)
        else:
            malformed.append(item)
    _flush(storage, current, pending, report, on_records)
    _write_raw(storage, malformed, report, on_records)


def _flush(
    storage: Storage,
    day: date | None,
    pending: dict[str, list[GeneratedRecord]],
    report: SeedReport,
    on_records: Callable[[int], None] | None,
) -> None:
    if day is None:
        return
    for name, items in pending.items():
        dataset = records.DATASETS[name]
        manifest = publish_generation(
            storage,
            load_day(storage, dataset, day),
            new_run_id(),
            keep=(),
            rows=[(json.loads(i.body), len(i.body)) for i in items],
            consumed=[layout.raw_name(dataset.file_prefix, i.record_id) for i in items],
            options=CompactionOptions(),
            steps=Steps(),
        )
        report.compacted_days += 1
        report.compacted_files += len(manifest.files)
        if on_records:
            on_records(len(items))
