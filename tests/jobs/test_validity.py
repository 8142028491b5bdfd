"""One definition of a valid record: the Spark reader and compaction agree on every raw file.

The table states the verdicts from the README's rules (and the decisions recorded in
``records``); the property test generates records valid and broken in every documented way and
checks that the reader (real Spark) and compaction's check (``records.conform``) agree; the last
test compacts a day for real and checks that the jobs read exactly the same records after.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from helix_batch.lake.compaction import compact_day
from helix_batch.lake.local_storage import LocalStorage
from helix_jobs import layout, main, records
from helix_jobs.reader import read_dataset
from tests.lake.helpers import conversation

DAY = date(2026, 1, 5)
CONV = records.CONVERSATIONS
Body = Callable[[dict[str, Any]], bytes]


def dumps(record: Any) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def changed(path: str, value: Any) -> Body:
    """The record with the field at ``path`` (dots, [i] for list items) set, or deleted."""

    def body(record: dict[str, Any]) -> bytes:
        doc = copy.deepcopy(record)
        *parents, last = path.replace("[", ".").replace("]", "").split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        key: Any = int(last) if last.isdigit() else last
        if value is DELETE:
            del target[key]
        else:
            target[key] = value
        return dumps(doc)

    return body


DELETE = object()
UNREAD = "unread"
R, OK = records, None
# name, raw file body from a valid record, the verdict (None: valid, else the reason)
TABLE: list[tuple[str, Body, str | None]] = [
    ("valid", dumps, OK),
    ("pretty-printed", lambda r: json.dumps(r, indent=2).encode(), OK),
    ("number where a string is expected", changed("user_id", 1.50), OK),
    ("big integer where a string is expected", changed("session_id", 12345678901234567890123), OK),
    ("exponent where a string is expected", changed("messages[0].message_id", 1e7), OK),
    ("object where a string is expected", changed("messages[0].content", {"a": [1, True]}), OK),
    ("boolean where a string is expected", changed("messages[1].model", False), OK),
    ("number as a metadata value", changed("metadata", {"n": 7, "x": None}), OK),
    ("unknown field", changed("tenant", {"deep": [1]}), OK),
    ("optional field null", changed("messages[1].provider", None), OK),
    ("optional field absent", changed("messages[1].latency_ms", DELETE), OK),
    ("timestamp with an offset", changed("completed_at", "2026-01-05T12:00:00.5+01:00"), OK),
    ("lone surrogate escape", lambda r: dumps(r).replace(b"user-1", b"\\ud800x"), OK),
    ("control character escape", changed("messages[0].content", "a\u0001\n\"b\\"), OK),
    ("integer where a double is expected", changed("entities[0].confidence", 1), OK),
    ("not UTF-8", lambda r: dumps(r).replace(b"user-1", b"user-\xff"), R.NOT_UTF8),
    ("empty file", lambda r: b"", R.EMPTY),
    ("whitespace only", lambda r: b" \n\t\r\n", R.EMPTY),
    ("HTML", lambda r: b"<html><body>502 Bad Gateway</body></html>", R.NOT_JSON),
    ("truncated", lambda r: dumps(r)[:-1], R.NOT_JSON),
    ("trailing garbage", lambda r: dumps(r) + b" x", R.TRAILING_DATA),
    ("two records in one file", lambda r: dumps(r) + b"\n" + dumps(r), R.TRAILING_DATA),
    ("two records as a list", lambda r: dumps(r) + b"," + dumps(r), R.TRAILING_DATA),
    ("a closing bracket after the object", lambda r: dumps(r) + b"]}", R.TRAILING_DATA),
    ("the object closed twice", lambda r: dumps(r) + b"],0]", R.TRAILING_DATA),
    ("a second list closed after it", lambda r: dumps(r) + b",{}]", R.TRAILING_DATA),
    ("text after a list", lambda r: dumps([r]) + b" x", R.TRAILING_DATA),
    ("text after a number", lambda r: b"7 x", R.NOT_JSON),
    ("a comment after the object", lambda r: dumps(r) + b" // done", R.TRAILING_DATA),
    ("NaN token", lambda r: dumps(r).replace(b'"confidence":0.9', b'"confidence":NaN'), R.NOT_JSON),
    ("trailing comma", lambda r: dumps(r)[:-1] + b",}", R.NOT_JSON),
    ("single quotes", lambda r: dumps(r).replace(b'"', b"'"), R.NOT_JSON),
    ("single-quoted string", lambda r: b"'x'", R.NOT_JSON),
    ("a list, not an object", lambda r: dumps([r]), "wrong_type:$"),
    ("null", lambda r: b"null", "wrong_type:$"),
    ("string where a long is expected", changed("message_count", "2"), "wrong_type:message_count"),
    ("fraction where a long is expected", changed("total_tokens", 42.0), "wrong_type:total_tokens"),
    ("long beyond 64 bits", changed("entity_count", 2**63), "wrong_type:entity_count"),
    ("boolean where a double is expected", changed("entities[0].confidence", True), "wrong_type:entities.confidence"),
    ("string where a double is expected", changed("entities[0].confidence", "0.9"), "wrong_type:entities.confidence"),
    ("NaN string where a double is expected", changed("entities[0].confidence", "NaN"), "wrong_type:entities.confidence"),
    ("double beyond range", lambda r: dumps(r).replace(b":0.9,", b":1e400,"), "wrong_type:entities.confidence"),
    ("date without a time", changed("completed_at", "2026-01-05"), "wrong_type:completed_at"),
    ("time without a zone", changed("completed_at", "2026-01-05T10:00:00"), "wrong_type:completed_at"),
    ("space instead of T", changed("completed_at", "2026-01-05 10:00:00Z"), "wrong_type:completed_at"),
    ("impossible date", changed("completed_at", "2026-02-30T10:00:00Z"), "wrong_type:completed_at"),
    ("hour 24", changed("completed_at", "2026-01-05T24:00:00Z"), "wrong_type:completed_at"),
    ("epoch number as a timestamp", changed("completed_at", 1767607200), "wrong_type:completed_at"),
    ("nested timestamp in words", changed("messages[1].created_at", "yesterday"), "wrong_type:messages.created_at"),
    ("string where a list is expected", changed("messages", "none"), "wrong_type:messages"),
    ("list where a map is expected", changed("metadata", ["web"]), "wrong_type:metadata"),
    ("number where an object is expected", changed("entities[0]", 7), "wrong_type:entities"),
    ("wrong types: the first in schema order", lambda r: changed("messages[1].tokens", "x")(json.loads(changed("messages[0].created_at", 5)(r))), "wrong_type:messages.created_at"),
    ("wrong type and missing field: the wrong type", lambda r: changed("user_id", None)(json.loads(changed("metadata", 3)(r))), "wrong_type:metadata"),
    ("required field absent", changed("user_id", DELETE), "missing_field:user_id"),
    ("required field null", changed("user_id", None), "missing_field:user_id"),
    ("nested required field absent", changed("messages[0].role", DELETE), "missing_field:messages.role"),
    ("null list element", changed("entities", [None]), "missing_field:entities"),
    ("missing fields: the first in schema order", lambda r: changed("messages[1].message_id", None)(json.loads(changed("messages[0].tokens", DELETE)(r))), "missing_field:messages.message_id"),
    ("id other than the file name", changed("conversation_id", "someone-else"), R.MISPLACED),
    ("time on another day", changed("started_at", "2026-01-06T10:00:00.000Z"), R.MISPLACED),
    ("offset moving it to the day before", changed("started_at", "2026-01-05T00:30:00+01:00"), R.MISPLACED),
]  # fmt: skip
SPARK_REASON: dict[str, str] = {}  # where the reader and compaction differ: nowhere


def write_day(root: Path, bodies: list[bytes]) -> dict[str, bytes]:
    """Raw files named after their index (the records' ids), in the folder of DAY."""
    folder = root / CONV.name / layout.day_path(DAY)
    folder.mkdir(parents=True)
    files = {f"{CONV.file_prefix}r{i}.json": body for i, body in enumerate(bodies)}
    for name, body in files.items():
        (folder / name).write_bytes(body)
    return files


def python_verdicts(files: dict[str, bytes]) -> dict[str, str | None]:
    verdicts: dict[str, str | None] = {}
    for name, body in files.items():
        try:
            records.conform(records.parse_raw(body), CONV, DAY, name)
            verdicts[name] = None
        except records.Malformed as error:
            verdicts[name] = error.reason
    return verdicts


def spark_verdicts(
    spark: SparkSession, root: Path, files: dict[str, bytes]
) -> dict[str, str | None]:
    data = read_dataset(spark, (root / CONV.name).as_uri(), CONV, DAY, DAY)
    verdicts: dict[str, str | None] = {
        f"{CONV.file_prefix}{row[0]}.json": None
        for row in data.records.select(CONV.id_field).collect()
    }
    for row in data.corrupt.select("file", "reason").collect():
        verdicts[row["file"].rsplit("/", 1)[-1]] = row["reason"]
    return {name: verdicts.get(name, UNREAD) for name in files}


def table_bodies() -> list[bytes]:
    return [body(conversation(f"r{i}", DAY)) for i, (_, body, _) in enumerate(TABLE)]


def test_the_table_of_valid_and_malformed_records(spark: SparkSession, tmp_path: Path) -> None:
    files = write_day(tmp_path, table_bodies())
    python, spark_side = python_verdicts(files), spark_verdicts(spark, tmp_path, files)
    for i, (case, _, wanted) in enumerate(TABLE):
        name = f"{CONV.file_prefix}r{i}.json"
        assert python[name] == wanted, case
        assert spark_side[name] == SPARK_REASON.get(case, wanted), case


def test_a_number_where_a_string_is_expected_is_read_as_its_text(
    spark: SparkSession, tmp_path: Path
) -> None:
    record = conversation("r0", DAY, user_id=1.50, session_id=1e3)
    numbered = conversation("12", DAY, conversation_id=12)  # in conversation_12.json
    write_day(tmp_path, [dumps(record)])
    folder = tmp_path / CONV.name / layout.day_path(DAY)
    (folder / f"{CONV.file_prefix}12.json").write_bytes(dumps(numbered))
    data = read_dataset(spark, (tmp_path / CONV.name).as_uri(), CONV, DAY, DAY)
    rows = data.records.orderBy(CONV.id_field).select(CONV.id_field, "user_id", "session_id")
    assert [tuple(r) for r in rows.collect()] == [
        ("12", "user-1", "session-1"),
        ("r0", "1.5", "1000.0"),
    ]
    stored = records.conform(record, CONV, DAY, f"{CONV.file_prefix}r0.json")
    assert (stored["user_id"], stored["session_id"]) == ("1.5", "1000.0")
    stored = records.conform(numbered, CONV, DAY, f"{CONV.file_prefix}12.json")
    assert stored[CONV.id_field] == "12"


# --- the property test: generated records, valid and broken in every documented way ---------

TEXT = st.text(max_size=8)
STRING_VALUES = st.one_of(
    TEXT,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(-5, 5), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(-5, 5) | TEXT, max_size=2),
)
INSTANTS = st.datetimes(datetime(1990, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC))


def instant_text(moment: datetime, offset_minutes: int) -> str:
    if not offset_minutes:
        return records.format_timestamp(moment)
    zone = timedelta(minutes=offset_minutes)
    local = (moment + zone).replace(tzinfo=None).isoformat(timespec="milliseconds")
    sign, minutes = ("+" if offset_minutes > 0 else "-"), abs(offset_minutes)
    return f"{local}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def timestamps(draw: st.DrawFn, on_day: bool = False) -> str:
    if on_day:
        start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
        moment = start + timedelta(milliseconds=draw(st.integers(0, 86_399_999)))
        return records.format_timestamp(moment)
    return instant_text(draw(INSTANTS), draw(st.sampled_from([0, 0, 60, -90, 330])))


def value_of(draw: st.DrawFn, kind: records.Type, on_day: bool = False) -> Any:
    if isinstance(kind, records.Struct):
        doc = {}
        for field in kind.fields:
            presence = 2 if field.required else draw(st.integers(0, 2))
            if presence:  # an optional field is absent, null or set
                doc[field.name] = value_of(draw, field.type) if presence == 2 else None
        return doc
    if isinstance(kind, records.Array):
        return [value_of(draw, kind.element) for _ in range(draw(st.integers(0, 2)))]
    if isinstance(kind, records.Map):
        keys = draw(st.lists(st.text(max_size=4), max_size=2, unique=True))
        return {k: draw(st.none() | STRING_VALUES) for k in keys}
    scalars: dict[str, st.SearchStrategy[Any]] = {
        records.STRING: STRING_VALUES,
        records.LONG: st.integers(records.LONG_MIN, records.LONG_MAX),
        records.DOUBLE: st.floats(allow_nan=False, allow_infinity=False) | st.integers(-9, 9),
        records.BOOLEAN: st.booleans(),
        records.TIMESTAMP: timestamps(on_day),
    }
    return draw(scalars[kind])


WRONG: dict[str, st.SearchStrategy[Any]] = {
    records.LONG: st.one_of(
        TEXT, st.booleans(), st.floats(), st.integers(2**63, 2**70), st.just([1])
    ),
    records.DOUBLE: st.one_of(
        TEXT, st.booleans(), st.sampled_from(["NaN", "Infinity", "-INF"]), st.just({})
    ),
    records.BOOLEAN: st.one_of(TEXT, st.integers(), st.just("true")),
    records.TIMESTAMP: st.one_of(
        st.integers(),
        TEXT,
        st.sampled_from(
            ["2026-01-05", "2026-01-05T10:00:00", "2026-01-05 10:00:00Z", "2026-02-30T10:00:00Z"]
        ),
    ),
    "list": st.one_of(TEXT, st.integers(), st.just({"a": 1})),
    "map": st.one_of(TEXT, st.just([]), st.integers()),
    "object": st.one_of(TEXT, st.integers(), st.just([])),
}


def slots(value: Any, kind: records.Type, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """(path, kind, required) of every field present in ``value``, nested ones included."""
    found: list[tuple[Any, ...]] = []
    if isinstance(kind, records.Struct):
        for field in kind.fields:
            if field.name in value:
                found.append(((*path, field.name), field.type, field.required))
                if value[field.name] is not None:
                    found.extend(slots(value[field.name], field.type, (*path, field.name)))
    elif isinstance(kind, records.Array) and isinstance(kind.element, records.Struct):
        for i, item in enumerate(value):
            found.append(((*path, i), kind.element, True))
            found.extend(slots(item, kind.element, (*path, i)))
    return found


def put(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    if value is DELETE:
        del doc[path[-1]]
    else:
        doc[path[-1]] = value


def wrong_for(kind: records.Type) -> st.SearchStrategy[Any]:
    if isinstance(kind, records.Array):
        return WRONG["list"]
    if isinstance(kind, records.Map):
        return WRONG["map"]
    if isinstance(kind, records.Struct):
        return WRONG["object"]
    return WRONG[kind]


BREAKAGES = (
    "none", "pretty", "wrong_type", "missing", "null", "truncated", "trailing", "nan",
    "not_utf8", "empty", "other_id", "other_day",
)  # fmt: skip


@st.composite
def raw_files(draw: st.DrawFn, breakage: str) -> Callable[[str], bytes]:
    """A raw file for a given id: a generated conversation, broken in one way (or none)."""
    doc = value_of(draw, CONV.schema)
    doc[CONV.time_field] = draw(timestamps(on_day=True))
    present = slots(doc, CONV.schema)
    typed = [s for s in present if s[1] != records.STRING and s[0][-1] != CONV.time_field]
    if breakage == "wrong_type" and typed:
        path, kind, _ = draw(st.sampled_from(typed))
        put(doc, path, draw(wrong_for(kind)))
    required = [s for s in present if s[2] and s[0] != (CONV.id_field,)]
    if breakage in ("missing", "null") and required:
        path, _, _ = draw(st.sampled_from(required))
        put(doc, path, DELETE if breakage == "missing" and isinstance(path[-1], str) else None)
    doubles = [s[0] for s in present if s[1] == records.DOUBLE]
    if breakage == "nan" and doubles:
        put(doc, draw(st.sampled_from(doubles)), float("nan"))
    if breakage == "other_day":
        doc[CONV.time_field] = "2026-01-06T00:00:00.000Z"
    cut = draw(st.floats(0.05, 0.95))
    trailer = draw(
        st.sampled_from(
            [b" x", b" {}", b",{}", b"0", b"\x00", b"\n{}", b"//", b"]}", b"],0]", b",{}]"]
        )
    )

    def body(record_id: str) -> bytes:
        doc[CONV.id_field] = "someone-else" if breakage == "other_id" else record_id
        text = json.dumps(doc, indent=2 if breakage == "pretty" else None).encode()
        if breakage == "truncated":
            return text[: max(1, int(len(text) * cut))]
        if breakage == "trailing":
            return text + trailer
        if breakage == "not_utf8":
            return text.replace(record_id.encode(), b"\xff" + record_id.encode(), 1)
        if breakage == "empty":
            return b" \n" if cut < 0.5 else b""
        return text

    return body


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(batch=st.tuples(*(raw_files(BREAKAGES[i % len(BREAKAGES)]) for i in range(24))))
def test_the_reader_and_compaction_give_the_same_verdict_on_generated_records(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, batch: tuple[Any, ...]
) -> None:
    root = tmp_path_factory.mktemp("generated")
    files = write_day(root, [make(f"r{i}") for i, make in enumerate(batch)])
    python = python_verdicts(files)
    assert spark_verdicts(spark, root, files) == python
    assert None in python.values() and len(set(python.values())) > 3  # a real mix


# --- compaction changes nothing a job reads ---------------------------------------------------


def as_json(frame: DataFrame) -> list[str]:
    return sorted(r[0] for r in frame.select(F.to_json(F.struct(*frame.columns))).collect())


def test_a_day_reads_the_same_before_and_after_its_compaction(
    spark: SparkSession, tmp_path: Path
) -> None:
    files = write_day(tmp_path, table_bodies())
    malformed = sorted(n for n, v in python_verdicts(files).items() if v is not None)
    lake = (tmp_path / CONV.name).as_uri()
    before = read_dataset(spark, lake, CONV, DAY, DAY)
    rows = as_json(before.records)
    entities = run_entities(spark, lake, tmp_path / "before")
    assert len(rows) == len(files) - len(malformed) > 10
    corrupt = sorted(r[0].rsplit("/", 1)[-1] for r in before.corrupt.select("file").collect())
    assert corrupt == malformed  # zero-length files included
    verdicts = reasons(before.corrupt)
    assert verdicts == python_verdicts({n: files[n] for n in malformed})

    report = compact_day(LocalStorage(tmp_path), CONV, DAY)
    assert (report.action, report.records, report.quarantined) == (
        "compacted",
        len(rows),
        len(malformed),
    )
    after = read_dataset(spark, lake, CONV, DAY, DAY)
    assert not after.plan.raw and after.plan.compacted_records == len(rows)
    assert as_json(after.records) == rows
    # The quarantined files are still corrupt records, with the same reasons.
    assert reasons(after.corrupt) == verdicts
    quarantine = f"/_quarantine/{CONV.name}/{layout.day_path(DAY)}/"
    assert all(quarantine in r[0] for r in after.corrupt.select("file").collect())
    assert run_entities(spark, lake, tmp_path / "after") == entities


def reasons(corrupt: DataFrame) -> dict[str, str]:
    rows = corrupt.select("file", "reason").collect()
    return {r["file"].rsplit("/", 1)[-1]: r["reason"] for r in rows}


def run_entities(spark: SparkSession, lake: str, out: Path) -> tuple[list[str], int, int, int]:
    argv = [
        "--job-type", "entity_extraction", "--input-path", lake, "--output-path", out.as_uri(),
        "--start-date", DAY.isoformat(), "--end-date", DAY.isoformat(),
    ]  # fmt: skip
    result = main.execute(spark, main.parse_request(main.parser().parse_args(argv)))
    output = as_json(spark.read.parquet(out.as_uri()))
    return output, result["processedRows"], result["outputRows"], result["corruptRecords"]
