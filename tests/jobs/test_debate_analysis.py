"""debate_analysis against a plain-Python computation over the same generated debates."""

from __future__ import annotations

import math
from pathlib import Path

from pyspark.sql import SparkSession

from tests.jobs import expected
from tests.jobs.lake import Lake, run_job


def test_debates_summary_and_winners(spark: SparkSession, lake: Lake, tmp_path: Path) -> None:
    result = run_job(spark, lake, "debate_analysis", tmp_path, "minRounds=2")
    wanted = expected.debates(lake.valid("debates"), min_rounds=2)
    rows = {
        r["debate_id"]: r.asDict()
        for r in spark.read.parquet((tmp_path / "debates").as_uri()).collect()
    }
    assert len(wanted) > 5 and sorted(rows) == sorted(wanted)
    for debate_id, want in wanted.items():
        got = rows[debate_id]
        for field, value in want.items():
            if isinstance(value, float):
                assert math.isclose(got[field], value, rel_tol=1e-9), (debate_id, field)
            else:
                assert got[field] == value, (debate_id, field)
    values = list(wanted.values())
    settled = [d for d in values if d["consensus_reached"]]
    assert 0 < len(settled) < len(values)  # some debates reach consensus, some do not
    assert any(d["stance_changes"] for d in values)

    summary = spark.read.parquet((tmp_path / "summary").as_uri()).collect()
    assert len(summary) == 1
    assert summary[0]["debates"] == len(values) and summary[0]["consensus_debates"] == len(settled)
    assert math.isclose(summary[0]["consensus_rate"], len(settled) / len(values))
    to_consensus = sum(d["consensus_round"] for d in settled) / len(settled)
    assert math.isclose(summary[0]["avg_rounds_to_consensus"], to_consensus)
    stance = sum(d["stance_changes"] for d in values) / len(values)
    assert math.isclose(summary[0]["avg_stance_changes"], stance)

    wins = expected.winners(wanted)
    winners = spark.read.parquet((tmp_path / "winners").as_uri()).collect()
    assert {(w["winner_provider"], w["winner_model"]): w["wins"] for w in winners} == {
        key: w["wins"] for key, w in wins.items()
    }
    assert math.isclose(sum(w["win_share"] for w in winners), 1.0)
    assert result["debates"] == result["outputRows"] == len(values)
    assert result["consensusRate"] == summary[0]["consensus_rate"]  # full precision
    top = max(w["wins"] for w in wins.values())
    assert result["topWinner"] == "/".join(min(k for k, w in wins.items() if w["wins"] == top))
