"""Lake benchmarks against SeaweedFS on loopback, each side by side in one run.

    .venv/bin/python bench/bench_lake.py [--records 2000] [--delete-keys 5000] [--repeat 3]

1. archive: DataLake.archive_many with bounded concurrency vs one record at a time;
2. retention: deleting expired partitions with DeleteObjects batches of 1000 vs one key per
   request, sequentially;
3. compaction: raw JSON MB/s through list, GET, validate, Parquet, verify, publish, delete
   (on SeaweedFS, and on a local directory for comparison).

Prints medians of --repeat runs and the ratios, as text and (with --json) as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helix_batch.lake.client import DataLake
from helix_batch.lake.compaction import compact, utc_today
from helix_batch.lake.local_storage import LocalStorage
from helix_batch.lake.paths import day_prefix
from helix_batch.lake.retention import RetentionRules, retain
from helix_batch.lake.s3_settings import S3Settings
from helix_batch.lake.s3_storage import S3Storage
from helix_batch.lake.sample_data import generate
from helix_batch.lake.storage import Storage
from helix_jobs import records
from tests.fixtures.s3 import S3Server, start_seaweedfs, stop_seaweedfs

CONCURRENCY = 32


def storage_for(server: S3Server, bucket: str, concurrency: int) -> S3Storage:
    settings = S3Settings(server.endpoint, server.region, server.access_key, server.secret_key)
    return S3Storage(bucket, f"bench-{uuid.uuid4().hex[:10]}", settings, concurrency)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def conversations(count: int, start: date) -> list[dict[str, Any]]:
    return [
        json.loads(g.body)
        for g in generate(count, start, start + timedelta(days=2), malformed_share=0.0)
        if g.dataset == "conversations"
    ]


def bench_archive(server: S3Server, bucket: str, count: int) -> dict[str, float]:
    docs = conversations(count, date(2026, 1, 1))
    out = {}
    for label, concurrency in (("concurrent", CONCURRENCY), ("one_at_a_time", 1)):
        storage = storage_for(server, bucket, concurrency)
        lake = DataLake(storage)
        seconds = timed(partial(lake.archive_many, records.CONVERSATIONS, docs))
        out[label] = len(docs) / seconds
    return out


def bench_retention(server: S3Server, bucket: str, count: int) -> dict[str, float]:
    out = {}
    old = utc_today() - timedelta(days=400)
    rules = RetentionRules({"conversations": 30}, floor_days=7)
    for label, concurrency, batch in (("batched", CONCURRENCY, 1000), ("one_key_at_a_time", 1, 1)):
        storage = storage_for(server, bucket, CONCURRENCY)
        days = [old - timedelta(days=i) for i in range(5)]
        storage.put_many(
            (f"{day_prefix(records.CONVERSATIONS, days[i % 5])}conversation_k{i}.json", b"{}")
            for i in range(count)
        )
        storage.concurrency = concurrency
        seconds = timed(partial(retain, storage, rules, batch=batch))
        assert not list(storage.list("conversations/")), "retention left keys behind"
        out[label] = count / seconds
    return out


def bench_compaction(storage: Storage, count: int) -> dict[str, float]:
    start = date(2026, 1, 1)
    items = [g for g in generate(count, start, start + timedelta(days=2), malformed_share=0.0)]
    storage.put_many(
        (
            f"{day_prefix(records.DATASETS[g.dataset], g.day)}"
            f"{records.DATASETS[g.dataset].file_prefix}{g.record_id}.json",
            g.body,
        )
        for g in items
    )
    report = None

    def run() -> None:
        nonlocal report
        report = compact(storage, list(records.DATASETS.values()), before=start + timedelta(days=3))

    seconds = timed(run)
    assert report is not None
    totals = report.totals()
    assert totals["records"] == len(items), totals
    return {
        "mb_per_s": totals["bytes_in"] / seconds / 1e6,
        "records_per_s": totals["records"] / seconds,
        "ratio_json_to_parquet": totals["bytes_in"] / max(1, totals["bytes_out"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--delete-keys", type=int, default=5000)
    parser.add_argument("--compact-records", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="helix-bench-"))
    server = start_seaweedfs(workdir)
    try:
        bucket = server.create_bucket("helix-bench")
        runs: dict[str, list[dict[str, float]]] = {
            "archive": [],
            "retention": [],
            "compaction": [],
            "compaction_local": [],
        }
        for _ in range(args.repeat):
            runs["archive"].append(bench_archive(server, bucket, args.records))
            runs["retention"].append(bench_retention(server, bucket, args.delete_keys))
            s3 = storage_for(server, bucket, CONCURRENCY)
            runs["compaction"].append(bench_compaction(s3, args.compact_records))
            local = LocalStorage(workdir / f"local-{uuid.uuid4().hex[:8]}")
            runs["compaction_local"].append(bench_compaction(local, args.compact_records))
    finally:
        stop_seaweedfs(server)
    med = {
        name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()
    }
    med["archive"]["ratio"] = med["archive"]["concurrent"] / med["archive"]["one_at_a_time"]
    med["retention"]["ratio"] = med["retention"]["batched"] / med["retention"]["one_key_at_a_time"]
    if args.json:
        print(json.dumps({"args": vars(args), "medians": med, "runs": runs}, indent=1))
        return
    a, r, c, cl = med["archive"], med["retention"], med["compaction"], med["compaction_local"]
    print(f"SeaweedFS on loopback, medians of {args.repeat} runs")
    print(
        f"archive    {a['concurrent']:8.0f} rec/s with {CONCURRENCY} in flight vs "
        f"{a['one_at_a_time']:6.0f} rec/s one at a time: {a['ratio']:.1f}x (target >= 5x)"
    )
    print(
        f"retention  {r['batched']:8.0f} keys/s batched vs {r['one_key_at_a_time']:6.0f} keys/s "
        f"one key at a time: {r['ratio']:.1f}x (target >= 20x)"
    )
    print(
        f"compaction {c['mb_per_s']:8.1f} MB/s of raw JSON ({c['records_per_s']:.0f} records/s, "
        f"JSON/Parquet size {c['ratio_json_to_parquet']:.1f}x)"
    )
    print(
        f"compaction {cl['mb_per_s']:8.1f} MB/s of raw JSON on a local directory "
        f"({cl['records_per_s']:.0f} records/s)"
    )


if __name__ == "__main__":
    main()
