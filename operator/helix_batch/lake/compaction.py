"""Compaction: each finished day of raw records becomes a few Parquet files.

The protocol (DESIGN.md section 5, ``helix_jobs.layout``), per day:

1. list the day folder and read its manifest;
2. read the raw files a reader reads now (``layout.select``), validate them; bad ones are
   copied to ``_quarantine/<dataset>/<day>/`` (and replaced like the rest);
3. stage: write Parquet files under ``_compacted/`` whose names carry this run's id;
4. verify: read them back and compare the record count and ids with the originals;
5. publish: PUT a manifest listing every live compacted file (earlier generations too) and
   every replaced raw name; this single atomic write switches readers over;
6. delete the replaced originals in batches, then unlisted (staged or superseded) files.

A run killed anywhere leaves either the old manifest (staged files are ignored by readers and
removed by the next run) or the new one (leftover originals are ignored by readers and removed
by the next run), so re-running finishes the work and nothing is lost or read twice. One
maintenance run at a time per lake is assumed (the CronJob's concurrencyPolicy: Forbid).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from helix_batch.lake.columnar import read_parquet, table_from_records, to_parquet
from helix_batch.lake.errors import InvalidRecord, LakeError, PolicyError
from helix_batch.lake.faults import Steps
from helix_batch.lake.partitions import DayState, list_days, load_day
from helix_batch.lake.paths import in_day, manifest_key, quarantine_key
from helix_batch.lake.reading import compacted_ids, parse_record, read_day
from helix_batch.lake.storage import DELETE_BATCH, Storage
from helix_jobs import layout, records
from helix_jobs.records import Dataset

MAX_RECORD_BYTES = 16 << 20


@dataclass(frozen=True)
class CompactionOptions:
    max_file_bytes: int = 512 << 20  # raw JSON bytes per Parquet file
    max_record_bytes: int = MAX_RECORD_BYTES
    delete_batch: int = DELETE_BATCH


@dataclass
class DayReport:
    dataset: str
    day: str
    action: str = "nothing"  # compacted | cleaned | nothing | would-compact | would-clean
    run_id: str | None = None
    records: int = 0  # records newly written to Parquet
    files: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    quarantined: int = 0
    raw_deleted: int = 0
    files_removed: int = 0  # staged or superseded compacted files removed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CompactionReport:
    before: str
    dry_run: bool
    days: list[DayReport] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        keys = ("records", "files", "bytes_in", "bytes_out", "quarantined", "raw_deleted")
        out = {k: sum(int(getattr(d, k)) for d in self.days) for k in keys}
        out["days_compacted"] = sum(d.action == "compacted" for d in self.days)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "dry_run": self.dry_run,
            "totals": self.totals(),
            "days": [d.to_dict() for d in self.days if d.action != "nothing"],
        }


# The reason recorded for a raw record whose id the day's compacted files already hold; every
# other quarantined file's is records.Malformed's ("<reason>: <detail>").
DUPLICATE = "duplicate"


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)


def utc_today() -> date:
    return datetime.now(UTC).date()


def compact(
    storage: Storage,
    datasets: Sequence[Dataset],
    before: date | None = None,
    *,
    options: CompactionOptions | None = None,
    dry_run: bool = False,
    steps: Steps | None = None,
    on_day: Callable[[DayReport], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> CompactionReport:
    """Compact every day strictly before ``before`` (default: today, UTC) of the datasets."""
    today = utc_today()
    before = before or today
    if before > today:
        raise PolicyError(f"cannot compact days that are not finished: {before} is after {today}")
    plan = [(d, day) for d in datasets for day in list_days(storage, d, end=before - timedelta(1))]
    if on_plan:
        on_plan(len(plan))
    report = CompactionReport(before.isoformat(), dry_run)
    for dataset, day in plan:
        result = compact_day(storage, dataset, day, options=options, dry_run=dry_run, steps=steps)
        report.days.append(result)
        if on_day:
            on_day(result)
    return report


@dataclass
class _Batch:
    """What one run takes from the raw layer of a day."""

    good: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)  # name, rec, size
    bad: list[tuple[str, bytes, str]] = field(default_factory=list)  # name, body, reason


def compact_day(
    storage: Storage,
    dataset: Dataset,
    day: date,
    *,
    options: CompactionOptions | None = None,
    dry_run: bool = False,
    steps: Steps | None = None,
) -> DayReport:
    options = options or CompactionOptions()
    steps = steps or Steps()
    state = load_day(storage, dataset, day)
    report = DayReport(dataset.name, day.isoformat())
    steps.reached("compact:listed")
    raw = list(state.files().raw)
    if dry_run:
        report.records = len(raw)
        report.bytes_in = sum(state.objects[n].size for n in raw)
        leftovers = len(state.leftover_replaced()) + len(state.unlisted_compacted())
        report.action = "would-compact" if raw else "would-clean" if leftovers else "nothing"
        return report
    if not raw:
        _finish(storage, state, report, options, steps)
        report.action = "cleaned" if report.raw_deleted or report.files_removed else "nothing"
        return report
    batch = _take(storage, state, raw, options)
    run_id = new_run_id()
    manifest = publish_generation(
        storage,
        state,
        run_id,
        keep=state.manifest.files if state.manifest else (),
        rows=[(r, size) for _, r, size in batch.good],
        consumed=raw,
        quarantine=batch.bad,
        options=options,
        steps=steps,
    )
    new_files = manifest.files[len(state.manifest.files) if state.manifest else 0 :]
    report.action = "compacted"
    report.run_id = run_id
    report.records = len(batch.good)
    report.files = len(new_files)
    report.bytes_in = sum(size for _, _, size in batch.good)
    report.bytes_out = sum(f.bytes for f in new_files)
    report.quarantined = len(batch.bad)
    _finish(storage, load_day(storage, dataset, day), report, options, steps)
    return report


def _take(storage: Storage, state: DayState, raw: list[str], options: CompactionOptions) -> _Batch:
    """Read and check the raw files; records whose id is already compacted are quarantined."""
    dataset, day = state.dataset, state.day
    already = set(compacted_ids(storage, state)) if state.manifest else set()
    batch = _Batch()
    keys = [in_day(dataset, day, n) for n in raw]
    for name, (_, body) in zip(raw, storage.get_many(keys), strict=True):
        try:
            record = check_record(dataset, day, name, parse_record(body, options.max_record_bytes))
            if record[dataset.id_field] in already:
                raise InvalidRecord(f"{DUPLICATE}: its id is already in this day's compacted files")
        except InvalidRecord as problem:
            batch.bad.append((name, body, str(problem)))
            continue
        batch.good.append((name, record, len(body)))
    return batch


def check_record(dataset: Dataset, day: date, name: str, record: dict[str, Any]) -> dict[str, Any]:
    """The record as the Spark reader reads it (``records.conform``: the one definition of a
    valid record, its schema, file name and partition included), or InvalidRecord."""
    try:
        return records.conform(record, dataset, day, name)
    except records.Malformed as problem:
        raise InvalidRecord(str(problem)) from None


def publish_generation(
    storage: Storage,
    state: DayState,
    run_id: str,
    *,
    keep: Sequence[layout.CompactedFile],
    rows: Sequence[tuple[dict[str, Any], int]],
    consumed: Iterable[str],
    quarantine: Sequence[tuple[str, bytes, str]] = (),
    options: CompactionOptions,
    steps: Steps,
) -> layout.Manifest:
    """Stage, verify and publish a new generation of a day; returns the published manifest.

    ``keep``: live compacted files that stay; ``rows``: (record, JSON size) for new files;
    ``consumed``:
    raw names now covered (by ``rows``, by kept files, or by quarantine).
    """
    dataset, day = state.dataset, state.day
    storage.put_many((quarantine_key(dataset, day, name), body) for name, body, _ in quarantine)
    staged = _stage(storage, dataset, day, run_id, rows, options)
    steps.reached("compact:staged")
    _verify(storage, dataset, day, staged)
    steps.reached("compact:verified")
    old = state.manifest
    extra = dict(old.extra) if old else {}
    quarantined = dict(extra.get("quarantined", {}))
    quarantined.update({name: reason for name, _, reason in quarantine})
    extra.update(
        dataset=dataset.name,
        day=day.isoformat(),
        generation=int(extra.get("generation", 0)) + 1,
        quarantined=quarantined,
    )
    manifest = layout.Manifest(
        files=(*keep, *(f for f, _ in staged)),
        replaced=(old.replaced if old else frozenset()) | frozenset(consumed),
        run_id=run_id,
        created_at=records.format_timestamp(datetime.now(UTC)),
        extra=extra,
    )
    storage.put(manifest_key(dataset, day), manifest.to_json())
    steps.reached("compact:published")
    return manifest


def _stage(
    storage: Storage,
    dataset: Dataset,
    day: date,
    run_id: str,
    rows: Sequence[tuple[dict[str, Any], int]],
    options: CompactionOptions,
) -> list[tuple[layout.CompactedFile, list[str]]]:
    """Write the rows, sorted by id, into files of about max_file_bytes of JSON each."""
    ordered = sorted(rows, key=lambda r: str(r[0][dataset.id_field]))
    chunks: list[list[dict[str, Any]]] = []
    size = options.max_file_bytes
    for row, row_bytes in ordered:
        if size + row_bytes > options.max_file_bytes and (not chunks or chunks[-1]):
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += row_bytes
    staged = []
    for index, chunk in enumerate(chunks):
        name = f"{layout.COMPACTED_DIR}/part-{index:04d}-{run_id}.parquet"
        body = to_parquet(table_from_records(dataset, chunk))
        storage.put(in_day(dataset, day, name), body)
        ids = [str(r[dataset.id_field]) for r in chunk]
        staged.append((layout.CompactedFile(name, len(chunk), len(body)), ids))
    return staged


def _verify(
    storage: Storage,
    dataset: Dataset,
    day: date,
    staged: Sequence[tuple[layout.CompactedFile, list[str]]],
) -> None:
    """Read every staged file back from the store: same count, same ids, same size."""
    for info, ids in staged:
        body = storage.get(in_day(dataset, day, info.name))
        table: pa.Table = read_parquet(body, columns=[dataset.id_field])
        found = [str(v) for v in table.column(dataset.id_field).to_pylist()]
        if len(body) != info.bytes or table.num_rows != info.records or found != ids:
            raise LakeError(
                f"verification of {info.name} failed: {table.num_rows} records read back, "
                f"{info.records} written (ids equal: {found == ids}); nothing was published"
            )


def _finish(
    storage: Storage,
    state: DayState,
    report: DayReport,
    options: CompactionOptions,
    steps: Steps,
) -> None:
    """Delete replaced originals (in batches), then staged or superseded compacted files."""
    dataset, day = state.dataset, state.day
    leftovers = [in_day(dataset, day, n) for n in state.leftover_replaced()]

    storage.delete_many(
        leftovers,
        batch=options.delete_batch,
        on_batch=lambda _: steps.reached("compact:raw-deleted"),
    )
    report.raw_deleted += len(leftovers)
    unlisted = state.unlisted_compacted()
    if unlisted:
        storage.delete_many(in_day(dataset, day, n) for n in unlisted)
        report.files_removed += len(unlisted)
    steps.reached("compact:cleaned")


def rewrite_day(
    storage: Storage,
    dataset: Dataset,
    day: date,
    *,
    drop: Iterable[str] = (),
    upsert: Sequence[dict[str, Any]] = (),
    options: CompactionOptions | None = None,
    steps: Steps | None = None,
) -> layout.Manifest:
    """A new generation of a compacted day without ``drop`` ids and with ``upsert`` records.

    Deleting or overwriting a record that already lives in Parquet means rewriting the day's
    files; it follows the same stage, verify, publish, clean-up protocol as compaction.
    """
    options = options or CompactionOptions()
    steps = steps or Steps()
    state = load_day(storage, dataset, day)
    live: dict[str, dict[str, Any]] = {}
    consumed: list[str] = []
    for item in read_day(storage, dataset, day):
        record = item.record
        if item.body is not None:  # a raw file: taken over only when it is a valid record
            try:
                record = check_record(dataset, day, item.source, item.record or {})
            except InvalidRecord:
                continue
            consumed.append(item.source)
        if record is not None:
            live[item.record_id] = record
    for record_id in drop:
        live.pop(record_id, None)
    for record in upsert:
        live[str(record[dataset.id_field])] = record
        consumed.append(layout.raw_name(dataset.file_prefix, str(record[dataset.id_field])))
    rows = [(r, len(json.dumps(r))) for r in live.values()]
    manifest = publish_generation(
        storage,
        state,
        new_run_id(),
        keep=(),
        rows=rows,
        consumed=consumed,
        options=options,
        steps=steps,
    )
    _finish(
        storage, load_day(storage, dataset, day), DayReport(dataset.name, str(day)), options, steps
    )
    return manifest
