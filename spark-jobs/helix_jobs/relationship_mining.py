"""Pairs of entities mentioned close together in conversations.

A co-occurrence is a pair of mentions of two different entities in one conversation whose
message indexes differ by at most windowSize (0: the same message); repeated mentions of an
entity in one message count once. Pairs seen at least minCooccurrence times are kept.

Output (Parquet): entity_a, entity_a_name, entity_a_type, entity_b, entity_b_name,
entity_b_type (entity_a < entity_b; names and types from each entity's latest mention, as in
entity_extraction), cooccurrence_count long, conversation_count long and conversations
array<string> (sorted; the conversations with a co-occurrence), first_seen, last_seen timestamp
(those conversations' started_at), shared_conversations long (conversations of the range that
mention both entities, anywhere), association_strength double: the Jaccard index of the two
entities' sets of conversations in the range, shared_conversations / (conversations_a +
conversations_b - shared_conversations).
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
    """Per conversation, one row per co-occurring mention pair (``close`` true) and one per pair
    of distinct entities it mentions (``close`` false); built inside each conversation, no join.
    """
    spots = F.array_distinct(
        F.transform(
            "entities",
            lambda e: F.struct(e["entity_id"].alias("id"), e["message_index"].alias("at")),
        )
    )
    ids = F.array_distinct(F.transform("entities", lambda e: e["entity_id"]))

    def close(pair: Column) -> Column:
        return (pair["a"]["id"] < pair["b"]["id"]) & (
            F.abs(pair["a"]["at"] - pair["b"]["at"]) <= window
        )

    def pair(a: Column, b: Column, is_close: bool) -> Column:
        return F.struct(a.alias("a"), b.alias("b"), F.lit(is_close).alias("close"))

    every = F.flatten(
        F.transform(
            "spots", lambda a: F.transform("spots", lambda b: F.struct(a.alias("a"), b.alias("b")))
        )
    )
    windowed = F.transform(F.filter(every, close), lambda p: pair(p["a"]["id"], p["b"]["id"], True))
    shared = F.flatten(
        F.transform(
            "ids",
            lambda a: F.transform(F.filter("ids", lambda b: a < b), lambda b: pair(a, b, False)),
        )
    )
    return (
        conversations.select(
            "conversation_id", "started_at", spots.alias("spots"), ids.alias("ids")
        )
        .select("conversation_id", "started_at", F.explode(F.concat(windowed, shared)).alias("p"))
        .select(
            "conversation_id",
            "started_at",
            F.col("p.a").alias("entity_a"),
            F.col("p.b").alias("entity_b"),
            F.col("p.close").alias("close"),
        )
    )


def run(
    spark: SparkSession, conversations: DataFrame, output: str, p: Mapping[str, Any]
) -> dict[str, Any]:
    close = F.col("close")
    pairs = (
        _pairs(conversations, p["windowSize"])
        .groupBy("entity_a", "entity_b")
        .agg(
            F.count(F.when(close, 1)).alias("cooccurrence_count"),
            F.array_sort(F.collect_set(F.when(close, F.col("conversation_id")))).alias(
                "conversations"
            ),
            F.min(F.when(close, F.col("started_at"))).alias("first_seen"),
            F.max(F.when(close, F.col("started_at"))).alias("last_seen"),
            F.count(F.when(~close, 1)).alias("shared_conversations"),
        )
        .where(F.col("cooccurrence_count") > 0)
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
    together = F.col("shared_conversations")
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
            "shared_conversations",
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
