"""How each provider and model performs in debates.

Output (Parquet), one row per (provider, model) that took part in at least minDebates debates:
provider, model, debates long (debates it answered in), rounds long (answers given),
wins long (debates whose winner it was), win_rate double (wins / debates),
avg_response_time_ms double, response_time_ms_p<P> long for each requested percentile P
(e.g. p50, p90, p99, p99_9; nearest-rank, from Spark's percentile_approx at accuracy 10000,
exact below 10000 answers per group), avg_confidence double, avg_score double,
total_tokens long.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from helix_jobs import records
from helix_jobs.job import Job, Param, count_rows, integer, listed, number, observed_rows

PERCENTILE_ACCURACY = 10_000


def percentile_column(p: float) -> str:
    return "response_time_ms_p" + f"{p * 100:g}".replace(".", "_")


def answers(debates: DataFrame) -> DataFrame:
    """One row per provider answer: debate_id and the round's fields."""
    return debates.select("debate_id", F.explode("rounds").alias("r")).select("debate_id", "r.*")


def run(
    spark: SparkSession, debates: DataFrame, output: str, p: Mapping[str, Any]
) -> dict[str, Any]:
    percentiles = list(p["percentiles"])
    rows = answers(debates)
    # Counted apart: next to a distinct count, Spark would keep a percentile sketch per
    # (provider, model, debate) instead of one per (provider, model).
    taken = rows.select("provider", "model", "debate_id").distinct()
    participation = taken.groupBy("provider", "model").agg(F.count(F.lit(1)).alias("debates"))
    stats = rows.groupBy("provider", "model").agg(
        F.count(F.lit(1)).alias("rounds"),
        F.avg("response_time_ms").alias("avg_response_time_ms"),
        F.percentile_approx("response_time_ms", percentiles, PERCENTILE_ACCURACY).alias("pct"),
        F.avg("confidence").alias("avg_confidence"),
        F.avg("score").alias("avg_score"),
        F.sum("tokens").alias("total_tokens"),
    )
    wins = (
        debates.where(F.col("winner_provider").isNotNull())
        .groupBy(F.col("winner_provider").alias("provider"), F.col("winner_model").alias("model"))
        .agg(F.count(F.lit(1)).alias("wins"))
    )
    joined = (
        stats.join(participation, ["provider", "model"])
        .where(F.col("debates") >= p["minDebates"])
        .join(wins, ["provider", "model"], "left")
    )
    won = F.coalesce(F.col("wins"), F.lit(0)).cast("long")
    result = joined.select(
        "provider",
        "model",
        "debates",
        "rounds",
        won.alias("wins"),
        (won / F.col("debates")).alias("win_rate"),
        "avg_response_time_ms",
        *[F.col("pct")[i].alias(percentile_column(q)) for i, q in enumerate(percentiles)],
        "avg_confidence",
        "avg_score",
        "total_tokens",
    )
    counted, written_rows = count_rows(result.coalesce(1), "providers")
    counted.write.mode("overwrite").parquet(output)
    written = spark.read.parquet(output)
    providers = written.select("provider").distinct().count()
    return {
        "outputRows": observed_rows(written_rows),
        "providers": providers,
        "models": observed_rows(written_rows),
    }


JOB = Job(
    name="provider_performance",
    kind="ProviderPerformance",
    dataset=records.DEBATES,
    params={
        "minDebates": Param(integer(1), 1, "an integer >= 1"),
        "percentiles": Param(
            listed(number(0.0, 1.0, open_interval=True)),
            (0.5, 0.9, 0.99),
            "a comma-separated list of numbers strictly between 0 and 1",
        ),
    },
    run=run,
)
