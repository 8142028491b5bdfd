"""Debates one by one and in aggregate: rounds, consensus, stance changes, winners.

Output (Parquet):
- <output>/debates/: debate_id, conversation_id, topic, started_at, rounds long (distinct
  round numbers), participants int, consensus_reached boolean, consensus_round long (null
  without consensus), stance_changes int (answers whose stance differs from the same
  provider/model's answer in the previous round), winner_provider, winner_model,
  duration_ms long, avg_confidence double, avg_score double; debates with >= minRounds rounds;
- <output>/winners/: one row per (winner_provider, winner_model) among the debates above that
  have a winner: wins long (those debates it won), consensus_wins long (of them, the ones that
  reached consensus), win_share double (wins / the debates above that have a winner);
- <output>/summary/: one row: debates, consensus_debates long, consensus_rate,
  avg_rounds, avg_rounds_to_consensus, avg_stance_changes double.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from helix_jobs import records
from helix_jobs.job import Job, Param, count_rows, integer, observed_rows
from helix_jobs.reader import join


def _changed(rounds: Column) -> Column:
    def differs(x: Column) -> Column:
        return F.exists(
            rounds,
            lambda y: (
                (y["provider"] == x["provider"])
                & (y["model"] == x["model"])
                & (y["round"] == x["round"] - 1)
                & (y["stance"] != x["stance"])
            ),
        )

    return F.size(F.filter(rounds, differs))


def _mean(values: Column) -> Column:
    total = F.aggregate(values, F.lit(0.0), lambda acc, v: acc + v)
    return F.when(F.size(values) > 0, total / F.size(values))


def per_debate(debates: DataFrame) -> DataFrame:
    # Renamed so that the output column "rounds" cannot shadow the input array.
    rounds = F.col("answers")
    return debates.withColumnRenamed("rounds", "answers").select(
        "debate_id",
        "conversation_id",
        "topic",
        "started_at",
        F.size(F.array_distinct(F.transform(rounds, lambda r: r["round"])))
        .cast("long")
        .alias("rounds"),
        F.size("participants").alias("participants"),
        "consensus_reached",
        F.when(F.col("consensus_reached"), F.col("consensus_round")).alias("consensus_round"),
        _changed(rounds).alias("stance_changes"),
        "winner_provider",
        "winner_model",
        (F.unix_millis("completed_at") - F.unix_millis("started_at")).alias("duration_ms"),
        _mean(F.transform(rounds, lambda r: r["confidence"])).alias("avg_confidence"),
        _mean(F.transform(rounds, lambda r: r["score"])).alias("avg_score"),
    )


def run(
    spark: SparkSession, debates: DataFrame, output: str, p: Mapping[str, Any]
) -> dict[str, Any]:
    kept = per_debate(debates).where(F.col("rounds") >= p["minRounds"])
    counted, rows = count_rows(kept, "debates")
    counted.write.mode("overwrite").parquet(join(output, "debates"))
    # The aggregates come from the small, columnar per-debate output, not the input again.
    written = spark.read.parquet(join(output, "debates"))
    consensus = F.col("consensus_reached")
    summary = written.agg(
        F.count(F.lit(1)).alias("debates"),
        F.count(F.when(consensus, 1)).alias("consensus_debates"),
        F.avg(consensus.cast("double")).alias("consensus_rate"),
        F.avg("rounds").alias("avg_rounds"),
        F.avg("consensus_round").alias("avg_rounds_to_consensus"),
        F.avg("stance_changes").alias("avg_stance_changes"),
    )
    summary.write.mode("overwrite").parquet(join(output, "summary"))
    decided = written.where(F.col("winner_provider").isNotNull())
    winners = decided.groupBy("winner_provider", "winner_model").agg(
        F.count(F.lit(1)).alias("wins"),
        F.count(F.when(consensus, 1)).alias("consensus_wins"),
    )
    total = decided.count()
    winners = winners.withColumn("win_share", F.col("wins") / F.lit(max(total, 1)))
    winners.coalesce(1).write.mode("overwrite").parquet(join(output, "winners"))
    row = spark.read.parquet(join(output, "summary")).first()
    top = (
        spark.read.parquet(join(output, "winners"))
        .orderBy(F.desc("wins"), "winner_provider", "winner_model")
        .first()
    )
    return {
        "outputRows": observed_rows(rows),
        "debates": int(row["debates"]) if row else 0,
        "consensusDebates": int(row["consensus_debates"]) if row else 0,
        "consensusRate": _number(row["consensus_rate"] if row else None),
        "avgRoundsToConsensus": _number(row["avg_rounds_to_consensus"] if row else None),
        "avgStanceChanges": _number(row["avg_stance_changes"] if row else None),
        "topWinner": f"{top['winner_provider']}/{top['winner_model']}" if top else None,
    }


def _number(value: float | None) -> float | None:
    """Full precision: the same double as in summary/ (JSON keeps every digit of a double)."""
    return None if value is None else float(value)


JOB = Job(
    name="debate_analysis",
    kind="DebateAnalysis",
    dataset=records.DEBATES,
    params={"minRounds": Param(integer(1), 1, "an integer >= 1")},
    run=run,
)
