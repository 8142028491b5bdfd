"""relationship_mining against a plain-Python computation over the same generated records."""

from __future__ import annotations

import math
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tests.jobs import expected
from tests.jobs.lake import Lake, run_job


def test_pairs_within_the_window_match_an_independent_computation(
    spark: SparkSession, lake: Lake, tmp_path: Path
) -> None:
    result = run_job(
        spark, lake, "relationship_mining", tmp_path, "windowSize=1", "minCooccurrence=2"
    )
    wanted = expected.relationships(lake.valid("conversations"), window=1, min_count=2)
    rows = (
        spark.read.parquet(tmp_path.as_uri())
        .select(
            "*",
            F.unix_micros("first_seen").alias("first_us"),
            F.unix_micros("last_seen").alias("last_us"),
        )
        .collect()
    )
    actual = {(r["entity_a"], r["entity_b"]): r.asDict() for r in rows}
    assert len(wanted) > 10 and sorted(actual) == sorted(wanted)
    for key, want in wanted.items():
        got = actual[key]
        for field in ("entity_a_name", "entity_a_type", "entity_b_name", "entity_b_type",
                      "cooccurrence_count", "conversation_count", "conversations"):  # fmt: skip
            assert got[field] == want[field], (key, field)
        assert (got["first_us"], got["last_us"]) == (want["first_seen"], want["last_seen"])
        assert math.isclose(
            got["association_strength"], want["association_strength"], rel_tol=1e-12
        )
    assert result["relationshipsFound"] == result["outputRows"] == len(wanted)
    assert result["candidatePairs"] >= len(wanted)


def test_window_zero_means_the_same_message(
    spark: SparkSession, lake: Lake, tmp_path: Path
) -> None:
    result = run_job(
        spark, lake, "relationship_mining", tmp_path, "windowSize=0", "minCooccurrence=1"
    )
    wanted = expected.relationships(lake.valid("conversations"), window=0, min_count=1)
    counts = {(r[0], r[1]): r[2] for r in spark.read.parquet(tmp_path.as_uri()).select(
        "entity_a", "entity_b", "cooccurrence_count").collect()}  # fmt: skip
    assert counts == {k: v["cooccurrence_count"] for k, v in wanted.items()}
    assert result["outputRows"] == len(wanted)
