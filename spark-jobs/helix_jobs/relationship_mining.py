"""Pairs of entities mentioned close together in conversations.

A co-occurrence is a pair of mentions of two different entities in one conversation whose
message indexes differ by at most windowSize (0: the same message); repeated mentions of an
entity in one message count once. Pairs seen at least minCooccurrence times are kept.

Output (Parquet): entity_a, entity_a_name, entity_a_type, entity_b, entity_b_name,
entity_b_type (entity_a < entity_b), cooccurrence_count long, conversation_count long,
conversations array<string> (sorted), first_seen, last_seen timestamp (conversations'
started_at), association_strength double: the Jaccard index of the two entities' sets of
conversations, conversation_count / (conversations_a + conversations_b - conversation_count).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from helix_jobs import records
from helix_jobs.entity_extraction import latest_name_and_type, mentions
from helix_jobs.job import Job, Param, count_rows, integer, observed_rows


def _pairs(conversations: DataFrame, window: int) -> DataFrame:
    """One row per co-occurring mention pair, built inside each conversation (no join)."""
    spots = F.array_distinct(
        F.transform(
            "entities",
            lambda e: F.struct(e["entity_id"].alias("id"), e["message_index"].alias("at")),
        )
    )

    def close(pair: Column) -> Column:
        return (pair["a"]["id"] < pair["b"]["id"]) & (
            F.abs(pair["a"]["at"] - pair["b"]["at"]) <= window
        )

    every = F.flatten(
        F.transform(
            "spots", lambda a: F.transform("spots", lambda b: F.struct(a.alias("a"), b.alias("b")))
        )
    )
    return (
        conversations.select("conversation_id", "started_at", spots.alias("spots"))
        .select("conversation_id", "started_at", F.explode(F.filter(every, close)).alias("p"))
        .select(
            "conversation_id",
            "started_at",
            F.col("p.a.id").alias("entity_a"),
            F.col("p.b.id").alias("entity_b"),
        )
    )


def run(
    spark: SparkSession, conversations: DataFrame, output: str, p: Mapping[str, Any]
) -> dict[str, Any]:
    pairs = (
        _pairs(conversations, p["windowSize"])
        .groupBy("entity_a", "entity_b")
        .agg(
            F.count(F.lit(1)).alias("cooccurrence_count"),
            F.array_sort(F.collect_set("conversation_id")).alias("conversations"),
            F.min("started_at").alias("first_seen"),
            F.max("started_at").alias("last_seen"),
        )
        # From the set, not countDistinct: that would make Spark expand every row first.
        .withColumn("conversation_count", F.size("conversations").cast("long"))
    )
    pairs, candidates = count_rows(pairs, "candidate_pairs")
    kept = pairs.where(F.col("cooccurrence_count") >= p["minCooccurrence"])
    entity = (
        mentions(conversations)
        .groupBy("entity_id")
        .agg(F.countDistinct("conversation_id").alias("n"), latest_name_and_type().alias("latest"))
    )
    a = entity.select(
        F.col("entity_id").alias("entity_a"),
        F.col("n").alias("n_a"),
        F.col("latest.name").alias("entity_a_name"),
        F.col("latest.entity_type").alias("entity_a_type"),
    )
    b = entity.select(
        F.col("entity_id").alias("entity_b"),
        F.col("n").alias("n_b"),
        F.col("latest.name").alias("entity_b_name"),
        F.col("latest.entity_type").alias("entity_b_type"),
    )
    together = F.col("conversation_count")
    result = (
        kept.join(a, "entity_a")
        .join(b, "entity_b")
        .select(
            "entity_a",
            "entity_a_name",
            "entity_a_type",
            "entity_b",
            "entity_b_name",
            "entity_b_type",
            "cooccurrence_count",
            "conversation_count",
            "conversations",
            "first_seen",
            "last_seen",
            (together / (F.col("n_a") + F.col("n_b") - together)).alias("association_strength"),
        )
    )
    counted, rows = count_rows(result, "relationships")
    counted.write.mode("overwrite").parquet(output)
    found = observed_rows(rows)
    return {
        "outputRows": found,
        "relationshipsFound": found,
        "candidatePairs": observed_rows(candidates),
    }


JOB = Job(
    name="relationship_mining",
    kind="RelationshipMining",
    dataset=records.CONVERSATIONS,
    params={
        "minCooccurrence": Param(integer(1), 2, "an integer >= 1"),
        "windowSize": Param(integer(0), 3, "an integer >= 0 (messages)"),
    },
    run=run,
)
