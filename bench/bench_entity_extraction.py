"""entity_extraction side by side, in one run (local[2], 2 cores):

(a) the seed's approach, spark.read.json with schema inference over one JSON file per
    conversation (the raw layer), at --seed-size conversations, against our job on the same
    conversations as maintenance leaves them (compacted); target >= 10x faster;
(b) DuckDB (2 threads) computing the same output from the same compacted files, at --size
    conversations, against our job; target: within 3x of DuckDB.

    .venv/bin/python bench/bench_entity_extraction.py --seed-size 100000 --size 1000000 --repeat 3

Both baselines' outputs are checked against ours (entity count and total mentions).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from helix_batch.lake.seeding import seed
from helix_jobs import layout, main
from helix_jobs.entity_extraction import latest_name_and_type
from helix_jobs.session import build_session

START, END = date(2026, 1, 1), date(2026, 1, 30)


def ensure(workdir: Path, size: int, compacted: bool) -> Path:
    lake = workdir / f"lake-{size}" if compacted else workdir / f"raw-{size}"
    if not (lake / ".seeded").exists():
        began = time.monotonic()
        report = seed(lake.as_uri(), size, START, END, compacted=compacted)
        (lake / ".seeded").write_text(json.dumps(report.to_dict()))
        print(
            json.dumps({"seeded": str(lake), "seconds": round(time.monotonic() - began, 1)}),
            flush=True,
        )
    return lake


def ours(spark: SparkSession, lake: Path, out: Path) -> tuple[int, int]:
    argv = [
        "--job-type", "entity_extraction", "--input-path", (lake / "conversations").as_uri(),
        "--output-path", out.as_uri(), "--start-date", START.isoformat(), "--end-date", END.isoformat(),
    ]  # fmt: skip
    main.execute(spark, main.parse_request(main.parser().parse_args(argv)))
    return _summary(spark.read.parquet(out.as_uri()))


def seed_approach(spark: SparkSession, lake: Path, out: Path) -> tuple[int, int]:
    """The seed's job: infer the schema from every file, explode, aggregate, write Parquet."""
    conversations = spark.read.option("recursiveFileLookup", "true").json(
        (lake / "conversations").as_uri()
    )
    if "_corrupt_record" in conversations.columns:  # present when some files are not JSON
        conversations = conversations.where(F.col("_corrupt_record").isNull())
    mentions = conversations.select(
        "conversation_id",
        F.try_to_timestamp(F.col("started_at")).alias("started_at"),
        F.explode("entities").alias("e"),
    ).select("conversation_id", "started_at", "e.*")
    entities = mentions.groupBy("entity_id").agg(
        latest_name_and_type().alias("latest"),
        F.count(F.lit(1)).cast("int").alias("mention_count"),
        F.array_sort(F.collect_set("conversation_id")).alias("conversations"),
        F.avg("confidence").cast("float").alias("avg_confidence"),
        F.max("confidence").cast("float").alias("max_confidence"),
        F.min("started_at").alias("first_seen"),
        F.max("started_at").alias("last_seen"),
    )
    result = entities.select(
        "entity_id", F.col("latest.entity_type").alias("entity_type"), F.col("latest.name").alias("name"),
        "mention_count", "conversations", "avg_confidence", "max_confidence", "first_seen", "last_seen",
        (F.log("mention_count") * F.col("avg_confidence")).cast("float").alias("importance_score"),
    )  # fmt: skip
    result.write.mode("overwrite").partitionBy("entity_type").parquet(out.as_uri())
    return _summary(spark.read.parquet(out.as_uri()))


def compacted_files(lake: Path) -> list[str]:
    files = []
    for manifest_path in sorted(
        (lake / "conversations").glob("year=*/month=*/day=*/" + layout.MANIFEST_NAME)
    ):
        manifest = layout.Manifest.from_json(manifest_path.read_bytes())
        files += [str(manifest_path.parent / f.name) for f in manifest.files]
    return files


DUCKDB_SQL = """
COPY (
  WITH m AS (
    SELECT conversation_id, started_at, unnest(entities, recursive := true)
    FROM conversations
  ), g AS (
    SELECT entity_id,
           max({'t': started_at, 'n': name, 'k': entity_type}) AS latest,
           count(*) AS n,
           list_sort(list(DISTINCT conversation_id)) AS conversations,
           avg(confidence) AS avg_c, max(confidence) AS max_c,
           min(started_at) AS first_seen, max(started_at) AS last_seen
    FROM m GROUP BY entity_id
  )
  SELECT entity_id, latest.k AS entity_type, latest.n AS name, n::INTEGER AS mention_count,
         conversations, avg_c::FLOAT AS avg_confidence, max_c::FLOAT AS max_confidence,
         first_seen, last_seen, (ln(n) * avg_c)::FLOAT AS importance_score
  FROM g
) TO '{out}' (FORMAT parquet, PARTITION_BY (entity_type), OVERWRITE_OR_IGNORE)
"""


def with_duckdb(files: list[str], out: Path) -> tuple[int, int]:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'UTC'")
    con.read_parquet(files).create_view("conversations")
    con.execute(DUCKDB_SQL.replace("{out}", str(out)))
    row = con.execute(
        "SELECT count(*), sum(mention_count) FROM read_parquet(?, hive_partitioning = true)",
        [f"{out}/**/*.parquet"],
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _summary(frame: DataFrame) -> tuple[int, int]:
    row = frame.agg(F.count(F.lit(1)), F.sum("mention_count")).first()
    assert row is not None
    return int(row[0]), int(row[1])


def timed(
    label: str, repeat: int, fn: Callable[[], tuple[int, int]]
) -> tuple[float, tuple[int, int]]:
    times = []
    summary = (0, 0)
    for attempt in range(repeat):
        began = time.monotonic()
        summary = fn()
        times.append(time.monotonic() - began)
        print(json.dumps({"run": label, "attempt": attempt, "seconds": round(times[-1], 2),
                          "entities": summary[0], "mentions": summary[1]}), flush=True)  # fmt: skip
    return statistics.median(times), summary


def run(args: argparse.Namespace) -> dict[str, Any]:
    work: Path = args.workdir
    raw = ensure(work, args.seed_size, compacted=False)
    small = ensure(work, args.seed_size, compacted=True)
    big = ensure(work, args.size, compacted=True)
    shutil.rmtree(work / "out-duckdb", ignore_errors=True)
    spark = build_session("bench-entities", master="local[2]", driver_memory=args.driver_memory)
    spark.sparkContext.setLogLevel("ERROR")
    try:
        seed_s, seed_sum = timed(
            "a: seed approach, raw JSON",
            args.repeat,
            lambda: seed_approach(spark, raw, work / "out-seed"),
        )
        ours_small, ours_small_sum = timed(
            "a: ours, compacted", args.repeat, lambda: ours(spark, small, work / "out-ours-small")
        )
        ours_big, ours_big_sum = timed(
            "b: ours, compacted", args.repeat, lambda: ours(spark, big, work / "out-ours-big")
        )
    finally:
        spark.stop()
    files = compacted_files(big)

    def duck() -> tuple[int, int]:
        shutil.rmtree(work / "out-duckdb", ignore_errors=True)
        return with_duckdb(files, work / "out-duckdb")

    duck_s, duck_sum = timed("b: duckdb, compacted", args.repeat, duck)
    # The seed's job also counts records that are malformed in ways inference tolerates.
    assert abs(seed_sum[1] - ours_small_sum[1]) <= 0.01 * ours_small_sum[1], (
        seed_sum,
        ours_small_sum,
    )
    assert duck_sum == ours_big_sum, (duck_sum, ours_big_sum)
    return {
        "a": {"conversations": args.seed_size, "seed_approach_s": round(seed_s, 1), "ours_s": round(ours_small, 1),
              "speedup": round(seed_s / ours_small, 1)},
        "b": {"conversations": args.size, "duckdb_s": round(duck_s, 1), "ours_s": round(ours_big, 1),
              "ratio_to_duckdb": round(ours_big / duck_s, 2)},
    }  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seed-size", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/helix-bench"))
    ap.add_argument("--driver-memory", default="8g")
    print(json.dumps(run(ap.parse_args())))
    sys.exit(0)
