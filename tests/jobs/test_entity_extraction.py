"""entity_extraction against a plain-Python computation over the same generated records."""

from __future__ import annotations

import json
import math
import os
import re
from datetime import date
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    FloatType,
    IntegerType,
    StringType,
    TimestampType,
)

from helix_jobs import records
from helix_jobs.entity_extraction import entity_conversations, mentions
from helix_jobs.output import RESULT_FILE
from helix_jobs.reader import read_dataset
from tests.jobs import expected
from tests.jobs.lake import COMPACTED_DAY, END, START, Lake, run_job

SEED_SCHEMA = [
    ("entity_id", StringType()),
    ("name", StringType()),
    ("mention_count", IntegerType()),
    ("conversations", ArrayType(StringType())),
    ("avg_confidence", FloatType()),
    ("max_confidence", FloatType()),
    ("first_seen", TimestampType()),
    ("last_seen", TimestampType()),
    ("importance_score", FloatType()),
    ("entity_type", StringType()),  # the partition column comes last
]


def read(spark: SparkSession, output: Path) -> dict[str, dict[str, Any]]:
    frame = spark.read.parquet(output.as_uri())
    assert [(f.name, f.dataType) for f in frame.schema.fields] == SEED_SCHEMA
    rows = frame.select(
        "*",
        F.unix_micros("first_seen").alias("first_us"),
        F.unix_micros("last_seen").alias("last_us"),
    ).collect()
    return {r["entity_id"]: r.asDict() for r in rows}


def check(actual: dict[str, dict[str, Any]], wanted: dict[str, dict[str, Any]]) -> None:
    assert sorted(actual) == sorted(wanted)
    for entity_id, want in wanted.items():
        got = actual[entity_id]
        for key in ("entity_type", "name", "mention_count", "conversations"):
            assert got[key] == want[key], (entity_id, key)
        for key in ("avg_confidence", "max_confidence", "importance_score"):
            assert math.isclose(got[key], want[key], rel_tol=1e-6, abs_tol=1e-6), (entity_id, key)
        assert (got["first_us"], got["last_us"]) == (want["first_seen"], want["last_seen"])


def test_entities_match_an_independent_computation(
    spark: SparkSession, lake: Lake, tmp_path: Path
) -> None:
    result = run_job(spark, lake, "entity_extraction", tmp_path)
    wanted = expected.entities(lake.valid("conversations"))
    check(read(spark, tmp_path), wanted)
    assert len(wanted) > 50 and max(e["mention_count"] for e in wanted.values()) > 10  # Zipf head
    assert result["outputRows"] == result["entitiesExtracted"] == len(wanted)
    assert result["processedRows"] == len(lake.valid("conversations"))
    assert result["corruptRecords"] == len(lake.malformed("conversations"))
    on_disk = json.loads((tmp_path / RESULT_FILE).read_text())
    assert on_disk == json.loads(Path(os.environ["HELIX_TERMINATION_LOG"]).read_text())
    assert on_disk["outputUri"] == tmp_path.as_uri() and len(json.dumps(on_disk)) <= 4096


def test_filters_by_confidence_and_type(spark: SparkSession, lake: Lake, tmp_path: Path) -> None:
    run_job(
        spark, lake, "entity_extraction", tmp_path, "minConfidence=0.7", "entityTypes=PERSON,ORG"
    )
    wanted = expected.entities(lake.valid("conversations"), 0.7, ("PERSON", "ORG"))
    check(read(spark, tmp_path), wanted)
    assert {e["entity_type"] for e in wanted.values()} == {"PERSON", "ORG"}


def test_a_rerun_overwrites_and_dates_outside_the_data_are_ignored(
    spark: SparkSession, lake: Lake, tmp_path: Path
) -> None:
    run_job(spark, lake, "entity_extraction", tmp_path)
    end = date(2026, 3, 1)
    result = run_job(spark, lake, "entity_extraction", tmp_path, start=COMPACTED_DAY, end=end)
    check(read(spark, tmp_path), expected.entities(lake.valid("conversations", COMPACTED_DAY, end)))
    assert result["processedRows"] == len(lake.valid("conversations", COMPACTED_DAY, end))
    assert result["daysRead"] == 2


def test_an_empty_range_allowed_empty_succeeds_with_empty_output(
    spark: SparkSession, lake: Lake, tmp_path: Path
) -> None:
    result = run_job(
        spark,
        lake,
        "entity_extraction",
        tmp_path,
        start=date(2025, 1, 1),
        end=date(2025, 1, 3),
        allow_empty=True,
    )
    assert result["processedRows"] == result["outputRows"] == result["corruptRecords"] == 0
    frame = spark.read.parquet(tmp_path.as_uri())
    assert frame.count() == 0 and set(frame.columns) == {name for name, _ in SEED_SCHEMA}


def test_mentions_read_only_the_messages_times(spark: SparkSession, lake: Lake) -> None:
    """The latest mention needs each message's created_at and nothing else of the messages;
    read whole (their content too) they would cost more than the rest of the job. As the jobs
    take mentions: filtered (entity_extraction), or one per entity and conversation."""
    data = read_dataset(spark, lake.uri("conversations"), records.CONVERSATIONS, START, END)
    spark.conf.set("spark.sql.maxMetadataStringLength", "100000")  # whole schemas in the plan
    try:
        for frame in (
            mentions(data.records).where(F.col("confidence") >= 0.5),
            entity_conversations(data.records),
        ):
            plan = frame._jdf.queryExecution().executedPlan().toString()
            read = [s for s in re.findall(r"ReadSchema: (\S+)", plan) if "messages" in s]
            assert read, plan
            for schema in read:
                assert "messages:array<struct<created_at:timestamp>>" in schema, schema
    finally:
        spark.conf.unset("spark.sql.maxMetadataStringLength")
