"""Entities mentioned in conversations, with the seed's output schema.

Output (Parquet, partitioned by entity_type): entity_id string, entity_type string, name
string, mention_count int, conversations array<string> (sorted ids), avg_confidence float,
max_confidence float, first_seen timestamp, last_seen timestamp (of the conversations'
started_at), importance_score float = ln(mention_count) * avg_confidence.

A mention counts when its confidence >= minConfidence and its type is in entityTypes. An
entity's name and type are those of its latest counted mention (``latest_name_and_type``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from helix_jobs import records
from helix_jobs.job import Job, Param, count_rows, listed, number, observed_rows, one_of


def _located(e: Column, position: Column, times: Column) -> dict[str, Column]:
    """A mention's fields, ``created_at`` of the message it points at in ``times`` (the
    conversation's ``messages.created_at``; null when message_index names no message) and
    ``position`` (its 0-based index in the conversation's entities)."""
    at = e["message_index"]
    inside = (at >= 0) & (at < F.size(times))
    return {
        "entity_id": e["entity_id"],
        "entity_type": e["entity_type"],
        "name": e["name"],
        "confidence": e["confidence"],
        "message_index": at,
        "created_at": F.when(inside, F.get(times, at.cast("int"))),
        "position": position,
    }


# Only the messages' created_at is read (no content), so compacted files stay cheap.
_TIMES = "messages.created_at"


def mentions(conversations: DataFrame) -> DataFrame:
    """One row per entity mention: conversation_id, started_at and the mention's fields, with
    ``created_at`` and ``position`` for ``latest_name_and_type``."""
    # posexplode and column expressions compile to code; a transform's lambda would be
    # interpreted for every mention (a third more CPU for entity_extraction at 1M). The times
    # get a projection of their own: beside the generator, Spark would read the messages whole.
    each = conversations.select(
        "conversation_id", "started_at", "entities", F.col(_TIMES).alias("times")
    ).select(
        "conversation_id", "started_at", "times", F.posexplode("entities").alias("position", "e")
    )
    fields = _located(F.col("e"), F.col("position"), F.col("times"))
    return each.select(
        "conversation_id", "started_at", *(c.alias(name) for name, c in fields.items())
    )


def entity_conversations(conversations: DataFrame) -> DataFrame:
    """One row per conversation and entity it mentions: conversation_id, started_at and the
    entity's latest mention there, as in ``mentions``. An entity's rows count its conversations
    without a distinct aggregate, and feed ``latest_name_and_type`` fewer rows."""

    def located(e: Column, i: Column) -> Column:
        fields = _located(e, i, F.col(_TIMES))
        # Sorted by entity, then by what "latest" compares within one conversation.
        order = ("entity_id", "created_at", "message_index", "position", "name", "entity_type")
        return F.struct(*(fields[name].alias(name) for name in order))

    ordered = F.sort_array(F.transform("entities", located))
    last_of_each = F.filter(
        "m",
        lambda m, i: (
            (i == F.size("m") - 1) | (F.element_at("m", i + 2)["entity_id"] != m["entity_id"])
        ),
    )
    return conversations.select("conversation_id", "started_at", ordered.alias("m")).select(
        "conversation_id", "started_at", F.inline(last_of_each)
    )


def latest_name_and_type() -> Column:
    """The name and type of an entity's latest mention, as ``struct.name``/``struct.entity_type``.

    Latest means the greatest (conversation started_at, message created_at, message_index,
    conversation_id, position in the conversation's entities), compared in that order; a null
    created_at (message_index outside the messages) comes before every timestamp.
    """
    return F.max(
        F.struct(
            "started_at",
            "created_at",
            "message_index",
            "conversation_id",
            "position",
            "name",
            "entity_type",
        )
    )


def run(
    spark: SparkSession, conversations: DataFrame, output: str, p: Mapping[str, Any]
) -> dict[str, Any]:
    kept = mentions(conversations).where(
        (F.col("confidence") >= p["minConfidence"])
        & F.col("entity_type").isin(list(p["entityTypes"]))
    )
    entities = kept.groupBy("entity_id").agg(
        latest_name_and_type().alias("latest"),
        F.count(F.lit(1)).alias("mentions"),
        F.array_sort(F.collect_set("conversation_id")).alias("conversations"),
        F.avg("confidence").alias("avg_confidence"),
        F.max("confidence").alias("max_confidence"),
        F.min("started_at").alias("first_seen"),
        F.max("started_at").alias("last_seen"),
    )
    result = entities.select(
        "entity_id",
        F.col("latest.entity_type").alias("entity_type"),
        F.col("latest.name").alias("name"),
        F.col("mentions").cast("int").alias("mention_count"),
        "conversations",
        F.col("avg_confidence").cast("float").alias("avg_confidence"),
        F.col("max_confidence").cast("float").alias("max_confidence"),
        "first_seen",
        "last_seen",
        (F.log(F.col("mentions")) * F.col("avg_confidence"))
        .cast("float")
        .alias("importance_score"),
    )
    counted, rows = count_rows(result, "entities")
    counted.write.mode("overwrite").partitionBy("entity_type").parquet(output)
    extracted = observed_rows(rows)
    if extracted == 0:
        # A partitioned write of nothing leaves no file to take the schema from.
        spark.createDataFrame([], result.schema).write.mode("overwrite").parquet(output)
    return {"outputRows": extracted, "entitiesExtracted": extracted}


JOB = Job(
    name="entity_extraction",
    kind="EntityExtraction",
    dataset=records.CONVERSATIONS,
    params={
        "minConfidence": Param(number(0.0, 1.0), 0.0, "a number within 0..1"),
        "entityTypes": Param(
            listed(one_of(records.ENTITY_TYPES)),
            records.ENTITY_TYPES,
            f"a comma-separated subset of {','.join(records.ENTITY_TYPES)}",
        ),
    },
    run=run,
)
