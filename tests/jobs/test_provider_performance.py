"""provider_performance against a plain-Python computation over the same generated debates."""

from __future__ import annotations

import math
from pathlib import Path

from pyspark.sql import SparkSession

from helix_jobs.provider_performance import percentile_column
from tests.jobs import expected
from tests.jobs.lake import Lake, run_job


def test_provider_statistics(spark: SparkSession, lake: Lake, tmp_path: Path) -> None:
    percentiles = (0.5, 0.9, 0.999)
    result = run_job(
        spark, lake, "provider_performance", tmp_path, "percentiles=0.5,0.9,0.999", "minDebates=3"
    )
    debates = lake.valid("debates")
    wanted = expected.providers(debates, percentiles, min_debates=3)
    rows = {
        (r["provider"], r["model"]): r.asDict()
        for r in spark.read.parquet(tmp_path.as_uri()).collect()
    }
    assert len(wanted) >= 5 and sorted(rows) == sorted(wanted)
    assert {percentile_column(p) for p in percentiles} == {
        "response_time_ms_p50", "response_time_ms_p90", "response_time_ms_p99_9"}  # fmt: skip
    for key, want in wanted.items():
        got = rows[key]
        for field in ("debates", "rounds", "wins", "total_tokens"):
            assert got[field] == want[field], (key, field)
        for field in ("win_rate", "avg_response_time_ms", "avg_confidence", "avg_score"):
            assert math.isclose(got[field], want[field], rel_tol=1e-9), (key, field)
        for p in percentiles:
            assert got[percentile_column(p)] == want[f"p{p}"], (key, p)
    assert result["outputRows"] == result["models"] == len(wanted)
    assert result["providers"] == len({p for p, _ in wanted})
    assert sum(w["wins"] for w in expected.providers(debates, (0.5,), 1).values()) > 0
