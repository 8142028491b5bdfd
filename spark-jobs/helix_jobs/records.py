"""The lake's record formats, defined once.

The lake writer, the sample-data generator, the maintenance jobs and the Spark jobs all read
these definitions (the Spark schemas are derived from them in ``spark_schema``). This module
imports only the standard library because it ships in the Spark image too.

Raw records are one compact JSON object per file, on a single line. Timestamps are RFC 3339
strings in UTC with a ``Z`` suffix (``2026-01-05T10:00:00.250Z``); the day partition of a
record is the UTC date of its ``started_at`` (``snapshot_at`` for entity snapshots).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
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


# One definition of a valid raw record, for compaction (here) and the Spark reader (the same
# rules as column expressions in ``spark_schema``, run by ``reader``). Where the README leaves a
# case open, Spark's JSON parser decides, so that compaction never changes what a job reads:
# - a raw file is one JSON value, UTF-8, with nothing but whitespace after it (trailing_data
#   when an object or a list is followed by more); NaN/Infinity tokens, single quotes and
#   comments are not JSON;
# - the value is an object; unknown fields are allowed, a null counts as absent;
# - a string field accepts any JSON value; a non-string is read as its JSON text the way
#   Spark's parser writes it (``spark_text``), numbers in Java's notation (1.50 -> "1.5");
# - a long is an integer within 64 bits; a double any finite number; a boolean true or false;
# - a timestamp is an RFC 3339 string (TIMESTAMP_PATTERN) naming a real instant;
# - every required field is present, nested ones included, and an array holds no nulls;
# - the record sits where it belongs: its id is the file's name, its time field's UTC date
#   is the day folder's.
# The reasons, most basic first; a record gets the first that applies.
NOT_UTF8 = "not_utf8"
EMPTY = "empty"
NOT_JSON = "not_json"
TRAILING_DATA = "trailing_data"
WRONG_TYPE = "wrong_type"
MISSING_FIELD = "missing_field"
MISPLACED = "misplaced"
# wrong_type and missing_field name the field: ``wrong_type:messages.created_at``, the schema
# path (field names joined by dots, no list indices or map keys), ``$`` for the record itself;
# of several, the first in schema order (``schema_paths``).
ROOT = "$"
# The whole string must match (no anchors here: Python's and Java's "$" both allow a newline).
TIMESTAMP_PATTERN = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


class Malformed(ValueError):
    """A raw file that is not a valid record; ``reason`` is one of the reason words above."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason

    @property
    def kind(self) -> str:
        """The reason without its path: ``wrong_type``, ``missing_field``, ``not_json``..."""
        return self.reason.split(":", 1)[0]


def parse_raw(body: bytes) -> Any:
    """The JSON value of a raw file; raises Malformed (not_utf8, empty, not_json)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Malformed(NOT_UTF8, str(error)) from None
    if not text.strip(" \t\n\r"):
        raise Malformed(EMPTY, "no JSON value")
    try:
        return json.loads(text, parse_constant=_not_a_number)
    except json.JSONDecodeError as error:
        # "Extra data": a whole value, then more; only after an object or a list (Spark's
        # parser cannot tell where a number or a string would end).
        lead = text.lstrip(" \t\n\r")[:1]
        trailing = error.msg == "Extra data" and lead in ("{", "[")
        raise Malformed(TRAILING_DATA if trailing else NOT_JSON, str(error)) from None
    except ValueError as error:
        raise Malformed(NOT_JSON, str(error)) from None


def _not_a_number(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON number")


def conform(record: Any, dataset: Dataset, day: date, name: str) -> dict[str, Any]:
    """The record as every reader holds it (``stored``), or Malformed saying why it is not one.

    ``record`` is what ``parse_raw`` returned for the raw file ``name`` in the folder of ``day``.
    """
    problems = _problems(record, dataset.schema, "", "")
    if problems:
        wrong = [p for p in problems if not p[2]]
        order = _schema_order(dataset.schema)
        first = min(wrong or problems, key=lambda p: order[p[0]])[0]
        reason = f"{WRONG_TYPE if wrong else MISSING_FIELD}:{first}"
        errors = [p[1] for p in problems]
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        raise Malformed(reason, "; ".join(errors[:3]) + more)
    record_id = text_of(record[dataset.id_field])
    if name != f"{dataset.file_prefix}{record_id}.json":
        raise Malformed(MISPLACED, f"{dataset.id_field} {record_id!r} does not match {name}")
    record_day = parse_timestamp(record[dataset.time_field]).date()
    if record_day != day:
        raise Malformed(MISPLACED, f"{dataset.time_field} is on {record_day}, not in {day}")
    return stored(record, dataset.schema)


def validate(value: Any, struct: Struct, path: str = "") -> list[str]:
    """Every way ``value`` departs from ``struct``, as ``path: problem`` strings; a missing
    field's problem is "missing", a wrong type's "expected ..." (empty when it conforms)."""
    return [p[1] for p in _problems(value, struct, path, path)]


def schema_paths(struct: Struct, prefix: str = "") -> list[str]:
    """The schema order of reason paths: ``$``, then every field before its nested fields."""
    found = [] if prefix else [ROOT]
    for field in struct.fields:
        path = f"{prefix}{field.name}"
        found.append(path)
        nested = field.type.element if isinstance(field.type, Array) else field.type
        if isinstance(nested, Struct):
            found.extend(schema_paths(nested, path + "."))
    return found


def _schema_order(struct: Struct) -> dict[str, int]:
    order = _ORDERS.get(id(struct))
    if order is None:
        order = _ORDERS[id(struct)] = {p: i for i, p in enumerate(schema_paths(struct))}
    return order


_ORDERS: dict[int, dict[str, int]] = {}
# (schema path, "where: problem" with list indices and map keys, missing rather than wrong)
Problem = tuple[str, str, bool]


def _problems(value: Any, struct: Struct, where: str, schema: str) -> list[Problem]:
    if not isinstance(value, dict):
        return [
            (
                schema or ROOT,
                f"{where or '<record>'}: expected an object, got {_kind(value)}",
                False,
            )
        ]
    found: list[Problem] = []
    for field in struct.fields:
        at = f"{where}.{field.name}" if where else field.name
        path = f"{schema}.{field.name}" if schema else field.name
        if value.get(field.name) is None:
            if field.required:
                found.append((path, at + _MISSING, True))
            continue
        found.extend(_check(value[field.name], field.type, at, path))
    return found


def _check(value: Any, kind: Type, where: str, schema: str) -> list[Problem]:
    if isinstance(kind, Struct):
        return _problems(value, kind, where, schema)
    if isinstance(kind, Array):
        if not isinstance(value, list):
            return [(schema, f"{where}: expected a list, got {_kind(value)}", False)]
        return [
            p
            for i, item in enumerate(value)
            for p in (
                [(schema, f"{where}[{i}]{_MISSING}", True)]
                if item is None
                else _check(item, kind.element, f"{where}[{i}]", schema)
            )
        ]
    if isinstance(kind, Map):
        if not isinstance(value, dict):
            return [(schema, f"{where}: expected an object, got {_kind(value)}", False)]
        return [
            p
            for k, v in value.items()
            if v is not None
            for p in _check(v, kind.value, f"{where}.{k}", schema)
        ]
    ok = _SCALARS[kind](value)
    return [] if ok else [(schema, f"{where}: expected {kind}, got {value!r:.40}", False)]


_MISSING = ": missing"


def _kind(value: Any) -> str:
    return type(value).__name__


def _is_long(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and LONG_MIN <= value <= LONG_MAX


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        return False
    try:
        parse_timestamp(value)
    except ValueError:
        return False
    return True


_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_SCALARS: Mapping[str, Callable[[Any], bool]] = {
    STRING: lambda v: v is not None,
    LONG: _is_long,
    DOUBLE: _is_number,
    BOOLEAN: lambda v: isinstance(v, bool),
    TIMESTAMP: _is_timestamp,
}


def stored(value: dict[str, Any], struct: Struct) -> dict[str, Any]:
    """A valid record's schema fields as the Spark reader reads them: string fields as text."""
    return {
        f.name: _stored(value[f.name], f.type)
        for f in struct.fields
        if value.get(f.name) is not None
    }


def _stored(value: Any, kind: Type) -> Any:
    if isinstance(kind, Struct):
        return stored(value, kind)
    if isinstance(kind, Array):
        return [_stored(item, kind.element) for item in value]
    if isinstance(kind, Map):
        return {_utf8(k): None if v is None else _stored(v, kind.value) for k, v in value.items()}
    return text_of(value) if kind == STRING else value


def text_of(value: Any) -> str:
    """A string field's value as read: a string itself, anything else its JSON text."""
    return _utf8(value) if isinstance(value, str) else spark_text(value)


def _utf8(text: str) -> str:
    """Lone surrogates (from \\ud800 escapes) become "?", as in Java's UTF-8 encoder."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def spark_text(value: Any) -> str:
    """A JSON value as Spark's JSON parser writes it into a string field (Jackson, compact)."""
    if isinstance(value, str):
        escaped = "".join(_ESCAPES.get(c) or (f"\\u{ord(c):04X}" if c < " " else c) for c in value)
        return f'"{_utf8(escaped)}"'
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, list):
        return "[" + ",".join(spark_text(v) for v in value) + "]"
    return "{" + ",".join(f"{spark_text(k)}:{spark_text(v)}" for k, v in value.items()) + "}"


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
}


def java_double(x: float) -> str:
    """Java's ``Double.toString`` (the shortest form, as since Java 19; Jackson quotes infinity)."""
    if math.isinf(x):
        return '"Infinity"' if x > 0 else '"-Infinity"'
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign, magnitude = ("-" if x < 0 else ""), abs(x)
    digits, exponent = _java_digits(magnitude)  # magnitude ~ 0.<digits> * 10**(exponent + 1)
    if 1e-3 <= magnitude < 1e7:
        if exponent >= 0:
            whole = digits[: exponent + 1].ljust(exponent + 1, "0")
            return f"{sign}{whole}.{digits[exponent + 1 :] or '0'}"
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent}"


def _java_digits(x: float) -> tuple[str, int]:
    """Significant digits and decimal exponent of Java's rendering of x > 0.

    The shortest decimal that reads back as x, except that Java writes at least two digits
    and, among the two-digit decimals that read back as x, picks the closest to x.
    """
    _, raw, exp = Decimal(repr(x)).normalize().as_tuple()
    digits = "".join(map(str, raw))
    exponent = len(digits) + int(exp) - 1
    if len(digits) == 1:
        exact = Decimal(x)
        candidates = [
            Decimal(f"{lead}.{tail}E{exponent}") for lead in range(1, 10) for tail in range(10)
        ]
        fits = [c for c in candidates if float(c) == x]
        best = min(fits, key=lambda c: (abs(c - exact), c))
        _, raw, exp = best.normalize().as_tuple()
        digits = "".join(map(str, raw))
        exponent = len(digits) + int(exp) - 1
    return digits, exponent
