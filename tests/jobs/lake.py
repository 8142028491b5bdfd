"""A small generated lake in every compaction state, and the records it must read back as.

Days (all with malformed records, which stay raw):
- 2026-01-01, 2026-01-02: raw only;
- 2026-01-03: compacted (a published manifest, originals deleted);
- 2026-01-04: mid-compaction: published Parquet files whose originals are still there, three
  late raw records the manifest does not cover, a staged Parquet file no manifest lists (a
  duplicate of the whole day), and a stray non-record file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from helix_batch.lake.columnar import table_from_records
from helix_batch.lake.sample_data import GeneratedRecord, generate
from helix_jobs import layout, main, records

START = date(2026, 1, 1)
END = date(2026, 1, 4)
RAW_DAYS = (date(2026, 1, 1), date(2026, 1, 2))
COMPACTED_DAY = date(2026, 1, 3)
MIXED_DAY = date(2026, 1, 4)
LATE = 3  # raw records of MIXED_DAY that the manifest does not cover


@dataclass
class Lake:
    root: Path
    generated: list[GeneratedRecord] = field(default_factory=list)

    def uri(self, dataset: str) -> str:
        return (self.root / dataset).as_uri() + "/"

    def valid(self, dataset: str, start: date = START, end: date = END) -> list[dict[str, Any]]:
        return [
            json.loads(r.body)
            for r in self.generated
            if r.dataset == dataset and r.valid and start <= r.day <= end
        ]

    def malformed(
        self, dataset: str, start: date = START, end: date = END
    ) -> list[GeneratedRecord]:
        return [
            r
            for r in self.generated
            if r.dataset == dataset and not r.valid and start <= r.day <= end
        ]


def raw_path(root: Path, item: GeneratedRecord) -> Path:
    dataset = records.DATASETS[item.dataset]
    return (
        root
        / item.dataset
        / layout.day_path(item.day)
        / layout.raw_name(dataset.file_prefix, item.record_id)
    )


def build(root: Path, conversations: int = 320, seed: int = 11) -> Lake:
    lake = Lake(root, list(generate(conversations, START, END, seed=seed, malformed_share=0.05)))
    for name, dataset in records.DATASETS.items():
        if name == records.ENTITIES.name:
            continue
        for day in layout.days(START, END):
            items = [r for r in lake.generated if r.dataset == name and r.day == day]
            _write_day(root, dataset, day, items)
    return lake


def write(root: Path, items: dict[str, list[dict[str, Any]]]) -> Lake:
    """A lake of the given valid records (dataset name -> records, all within START..END) in the
    same compaction states as ``build``: raw, compacted and mixed days."""
    generated = [
        GeneratedRecord(
            name,
            r[records.DATASETS[name].id_field],
            records.parse_timestamp(r[records.DATASETS[name].time_field]).date(),
            json.dumps(r, ensure_ascii=False).encode(),
            True,
        )
        for name, rows in items.items()
        for r in rows
    ]
    lake = Lake(root, generated)
    for name in items:
        for day in layout.days(START, END):
            day_items = [r for r in generated if r.dataset == name and r.day == day]
            _write_day(root, records.DATASETS[name], day, day_items)
    return lake


def _write_day(
    root: Path, dataset: records.Dataset, day: date, items: list[GeneratedRecord]
) -> None:
    folder = root / dataset.name / layout.day_path(day)
    folder.mkdir(parents=True, exist_ok=True)
    valid = [r for r in items if r.valid]
    raw = list(items)
    if day == COMPACTED_DAY:
        _publish(folder, dataset, [valid], "run-a")
        raw = [r for r in items if not r.valid]
    elif day == MIXED_DAY:
        covered, late = valid[:-LATE], valid[-LATE:]
        half = len(covered) // 2
        _publish(folder, dataset, [covered[:half], covered[half:]], "run-b")
        _parquet(folder / layout.COMPACTED_DIR / "part-0000-run-c.parquet", dataset, valid)
        (folder / "notes.txt").write_text("not a record\n")
        assert late
    for item in raw:
        raw_path(root, item).write_bytes(item.body)


def _publish(
    folder: Path, dataset: records.Dataset, groups: list[list[GeneratedRecord]], run: str
) -> None:
    files = []
    for number, group in enumerate(groups):
        name = f"{layout.COMPACTED_DIR}/part-{number:04d}-{run}.parquet"
        size = _parquet(folder / name, dataset, group)
        files.append(layout.CompactedFile(name, len(group), size))
    replaced = frozenset(
        layout.raw_name(dataset.file_prefix, r.record_id) for g in groups for r in g
    )
    manifest = layout.Manifest(tuple(files), replaced, run, "2026-01-05T00:00:00.000Z")
    (folder / layout.MANIFEST_NAME).write_bytes(manifest.to_json())


def _parquet(path: Path, dataset: records.Dataset, group: list[GeneratedRecord]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = table_from_records(dataset, [json.loads(r.body) for r in group])
    pq.write_table(table, path, compression="zstd")
    return path.stat().st_size


def run_job(
    spark: SparkSession,
    lake: Lake,
    job_type: str,
    output: Path,
    *params: str,
    start: date = START,
    end: date = END,
    allow_empty: bool = False,
) -> dict[str, Any]:
    """Run a job through the entry point's own argument handling, on the shared session."""
    dataset = main.JOBS[job_type].dataset.name
    argv = [
        "--job-type", job_type,
        "--input-path", lake.uri(dataset),
        "--output-path", output.as_uri(),
        "--start-date", start.isoformat(),
        "--end-date", end.isoformat(),
    ]  # fmt: skip
    for param in params:
        argv += ["--param", param]
    if allow_empty:
        argv.append("--allow-empty")
    return main.execute(spark, main.parse_request(main.parser().parse_args(argv)))
