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
from helix_jobs.entity_extraction import entity_conversations, latest_name_and_type
from helix_jobs.job import Job, Param, count_rows, integer, observed_rows


def _pairs(conversations: DataFrame, window: int) -> DataFrame:
    """Per conversation, one row per pair of distinct entities it mentions (entity_a <
    entity_b), with ``close``: its co-occurrences there (0 when never within the window). Built
    inside each conversation from each entity's message indexes, no join.
    """
    # Sorted by entity, then message index: ids come out sorted. sort_array compares natively,
    # where array_sort would call a comparator lambda per comparison.
    spots = F.sort_array(
        F.array_distinct(
            F.transform(
                "entities",
                lambda e: F.struct(e["entity_id"].alias("id"), e["message_index"].alias("at")),
            )
        )
    )
    ids = F.array_distinct(F.transform("spots", lambda s: s["id"]))
    at_by_id = F.transform(
        "ids",
        lambda i: F.struct(
            i.alias("id"),
            F.transform(F.filter("spots", lambda s: s["id"] == i), lambda s: s["at"]).alias("at"),
        ),
    )

    def close(a: Column, b: Column) -> Column:
        return F.aggregate(
            a["at"],
            F.lit(0),
            lambda n, i: n + F.size(F.filter(b["at"], lambda j: F.abs(i - j) <= window)),
        )

    every_pair = F.flatten(
        F.transform(
            "entity",
            lambda a: F.transform(
                F.filter("entity", lambda b: a["id"] < b["id"]),
                lambda b: F.struct(
                    a["id"].alias("entity_a"),
                    b["id"].alias("entity_b"),
                    close(a, b).alias("close"),
                ),
            ),
        )
    )
    # spots is kept as a column of its own: inlined into at_by_id's lambda, Spark would
    # rebuild it once per entity.
    return (
        conversations.select("conversation_id", "started_at", spots.alias("spots"))
        .select("conversation_id", "started_at", "spots", ids.alias("ids"))
        .select("conversation_id", "started_at", at_by_id.alias("entity"))
        .select("conversation_id", "started_at", F.inline(every_pair))
    )


def run(
    spark: SparkSession, conversations: DataFrame, output: str, p: Mapping[str, Any]
) -> dict[str, Any]:
    close = F.col("close") > 0
    pairs = (
        _pairs(conversations, p["windowSize"])
        .groupBy("entity_a", "entity_b")
        .agg(
            F.sum("close").cast("long").alias("cooccurrence_count"),
            F.array_sort(F.collect_set(F.when(close, F.col("conversation_id")))).alias(
                "conversations"
            ),
            F.min(F.when(close, F.col("started_at"))).alias("first_seen"),
            F.max(F.when(close, F.col("started_at"))).alias("last_seen"),
            F.count(F.lit(1)).alias("shared_conversations"),
        )
        .where(F.col("cooccurrence_count") > 0)
        # From the set, not countDistinct: that would make Spark expand every row first.
        .withColumn("conversation_count", F.size("conversations").cast("long"))
    )
    pairs, candidates = count_rows(pairs, "candidate_pairs")
    kept = pairs.where(F.col("cooccurrence_count") >= p["minCooccurrence"])
    entity = (
        entity_conversations(conversations)
        .groupBy("entity_id")
        .agg(F.count(F.lit(1)).alias("n"), latest_name_and_type().alias("latest"))
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
