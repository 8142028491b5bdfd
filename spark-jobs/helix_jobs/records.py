"""The lake's record formats, defined once.

The lake writer, the sample-data generator, the maintenance jobs and the Spark jobs all read
these definitions (the Spark schemas are derived from them in ``spark_schema``). This module
imports only the standard library because it ships in the Spark image too.

Raw records are one compact JSON object per file, on a single line. Timestamps are RFC 3339
strings in UTC with a ``Z`` suffix (``2026-01-05T10:00:00.250Z``); the day partition of a
record is the UTC date of its ``started_at`` (``snapshot_at`` for entity snapshots).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Union

STRING = "string"
LONG = "long"
DOUBLE = "double"
BOOLEAN = "boolean"
TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class Array:
    element: Type


@dataclass(frozen=True)
class Map:
    """A JSON object with string keys and values of one type (``metadata``)."""

    value: Type


@dataclass(frozen=True)
class Field:
    name: str
    type: Type
    required: bool = True


@dataclass(frozen=True)
class Struct:
    fields: tuple[Field, ...]

    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


Type = Union[str, Array, Map, Struct]  # noqa: UP007 - a runtime alias used before definition

ENTITY_TYPES = ("PERSON", "ORG", "LOCATION", "PRODUCT", "TECHNOLOGY", "EVENT", "CONCEPT")
ROLES = ("system", "user", "assistant")
STANCES = ("for", "against", "neutral")

MESSAGE = Struct(
    (
        Field("message_id", STRING),
        Field("role", STRING),
        Field("content", STRING),
        Field("created_at", TIMESTAMP),
        Field("tokens", LONG),
        Field("provider", STRING, required=False),
        Field("model", STRING, required=False),
        Field("latency_ms", LONG, required=False),
    )
)

# One mention of an entity in a conversation; an entity mentioned three times appears three
# times. message_index is the 0-based index into the conversation's messages.
ENTITY_MENTION = Struct(
    (
        Field("entity_id", STRING),
        Field("entity_type", STRING),
        Field("name", STRING),
        Field("confidence", DOUBLE),
        Field("message_index", LONG),
    )
)

# One provider's contribution to one round of a debate.
DEBATE_ROUND = Struct(
    (
        Field("round", LONG),
        Field("provider", STRING),
        Field("model", STRING),
        Field("stance", STRING),
        Field("confidence", DOUBLE),
        Field("response_time_ms", LONG),
        Field("score", DOUBLE),
        Field("tokens", LONG),
    )
)

CONVERSATION = Struct(
    (
        Field("conversation_id", STRING),
        Field("user_id", STRING),
        Field("session_id", STRING),
        Field("started_at", TIMESTAMP),
        Field("completed_at", TIMESTAMP),
        Field("message_count", LONG),
        Field("entity_count", LONG),
        Field("total_tokens", LONG),
        Field("messages", Array(MESSAGE)),
        Field("entities", Array(ENTITY_MENTION)),
        Field("debate_rounds", Array(DEBATE_ROUND)),
        Field("metadata", Map(STRING)),
    )
)

PARTICIPANT = Struct((Field("provider", STRING), Field("model", STRING)))

DEBATE = Struct(
    (
        Field("debate_id", STRING),
        Field("conversation_id", STRING),
        Field("topic", STRING),
        Field("started_at", TIMESTAMP),
        Field("completed_at", TIMESTAMP),
        Field("participants", Array(PARTICIPANT)),
        Field("rounds", Array(DEBATE_ROUND)),
        Field("consensus_reached", BOOLEAN),
        # The round in which consensus was reached; absent when it never was.
        Field("consensus_round", LONG, required=False),
        Field("winner_provider", STRING, required=False),
        Field("winner_model", STRING, required=False),
        Field("metadata", Map(STRING)),
    )
)

SNAPSHOT_ENTITY = Struct(
    (
        Field("entity_id", STRING),
        Field("entity_type", STRING),
        Field("name", STRING),
        Field("mention_count", LONG),
        Field("avg_confidence", DOUBLE),
    )
)

ENTITY_SNAPSHOT = Struct(
    (
        Field("snapshot_id", STRING),
        Field("snapshot_at", TIMESTAMP),
        Field("entities", Array(SNAPSHOT_ENTITY)),
    )
)


@dataclass(frozen=True)
class Dataset:
    """A top-level folder of the lake holding one record type, partitioned by day."""

    name: str
    schema: Struct
    id_field: str
    time_field: str
    file_prefix: str


CONVERSATIONS = Dataset(
    "conversations", CONVERSATION, "conversation_id", "started_at", "conversation_"
)
DEBATES = Dataset("debates", DEBATE, "debate_id", "started_at", "debate_")
ENTITIES = Dataset("entities", ENTITY_SNAPSHOT, "snapshot_id", "snapshot_at", "entities_snapshot_")
DATASETS: Mapping[str, Dataset] = {d.name: d for d in (CONVERSATIONS, DEBATES, ENTITIES)}


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a Z suffix."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {text!r}")
    return moment.astimezone(UTC)


def validate(value: Any, struct: Struct, path: str = "") -> list[str]:
    """Every way ``value`` departs from ``struct``, as ``path: problem`` strings.

    Unknown fields are allowed (the live system may add some); missing required fields,
    nulls in required fields and wrong types are errors.
    """
    if not isinstance(value, dict):
        return [f"{path or '<record>'}: expected an object, got {type(value).__name__}"]
    errors: list[str] = []
    for field in struct.fields:
        where = f"{path}.{field.name}" if path else field.name
        if value.get(field.name) is None:
            if field.required:
                errors.append(f"{where}: missing")
            continue
        errors.extend(_check(value[field.name], field.type, where))
    return errors


def _check(value: Any, kind: Type, where: str) -> list[str]:
    if isinstance(kind, Struct):
        return validate(value, kind, where)
    if isinstance(kind, Array):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [
            e for i, item in enumerate(value) for e in _check(item, kind.element, f"{where}[{i}]")
        ]
    if isinstance(kind, Map):
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        return [
            e
            for k, v in value.items()
            if v is not None
            for e in _check(v, kind.value, f"{where}.{k}")
        ]
    ok = _SCALARS[kind](value)
    return [] if ok else [f"{where}: expected {kind}, got {value!r:.40}"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_timestamp(value)
    except ValueError:
        return False
    return True


_SCALARS: Mapping[str, Callable[[Any], bool]] = {
    STRING: lambda v: isinstance(v, str),
    LONG: lambda v: isinstance(v, int) and not isinstance(v, bool),
    DOUBLE: _is_number,
    BOOLEAN: lambda v: isinstance(v, bool),
    TIMESTAMP: _is_timestamp,
}
