"""Read one dataset of the lake for a date range: each record exactly once, malformed ones aside.

Only the partitions present in the range are listed (the root, the year and month folders the
range can hold, and each day folder found: ``layout.present_days``), through Hadoop's FileSystem,
so file:// and s3a:// behave alike; each day's manifest and ``layout.select`` decide which raw
JSON files and which compacted Parquet files hold its records. Raw files are parsed with the
explicit schema in PERMISSIVE mode and checked against the one definition of a valid record
(``records``, here as column expressions from ``spark_schema``); a malformed one goes to
``corrupt`` with its reason (never silently dropped, never failing the job).

A file that disappears between listing and reading (a compaction deleting the originals it just
published) fails the job rather than being skipped: a retried attempt sees the new manifest.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from helix_jobs import layout, records, uris
from helix_jobs.hadoop_fs import FileSystem
from helix_jobs.spark_schema import (
    missing_path,
    missing_required,
    raw_fields,
    struct_type,
    typed,
    wrong_type_path,
    wrong_value,
)

CORRUPT_COLUMN = "_corrupt_record"
CORRUPT_DIR = "_corrupt"
_JSON_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT_COLUMN,
    # Not JSON, as for Python's parser (records.parse_raw).
    "allowSingleQuotes": "false",
    "allowNonNumericNumbers": "false",
}
_FOLDER_DAY = r"year=[0-9]{4}/month=[0-9]{2}/day=[0-9]{2}(?=/[^/]*$)"


@dataclass(frozen=True)
class Plan:
    """The files to read for a date range."""

    raw: tuple[str, ...]  # files, or whole day folders when every visible file there is raw
    compacted: tuple[str, ...]
    compacted_records: int  # from the manifests
    folders_listed: int  # the root, year, month and day folders
    days_present: int
    # Malformed files Spark does not read: zero-length raw files (Spark's file sources skip
    # them), and those compaction moved to _quarantine/ (named by the manifests), as
    # (file, reason); each is one corrupt record, so a day counts the same before and after
    # its compaction.
    unread_corrupt: tuple[tuple[str, str], ...] = ()


@dataclass
class Input:
    records: DataFrame  # valid records, columns of the dataset's schema
    corrupt: DataFrame  # file, reason, record (the raw text)
    plan: Plan
    _raw_stats: Observation | None

    def write_corrupt(self, output_uri: str) -> tuple[int, int]:
        """Write malformed records to <output>/_corrupt/ (JSON); return (raw records, corrupt),
        the unread malformed files (Plan.unread_corrupt) included in both."""
        self.corrupt.write.mode("overwrite").json(join(output_uri, CORRUPT_DIR))
        unread = len(self.plan.unread_corrupt)
        if self._raw_stats is None:
            return unread, unread
        stats: dict[str, Any] = self._raw_stats.get
        return int(stats["rows"] or 0) + unread, int(stats["corrupt"] or 0) + unread


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def read_dataset(
    spark: SparkSession, root: str, dataset: records.Dataset, start: date, end: date
) -> Input:
    plan = plan_files(spark, root, dataset, start, end)
    schema = struct_type(dataset.schema)
    parts: list[DataFrame] = []
    corrupt = spark.createDataFrame(
        [(file, reason, None) for file, reason in plan.unread_corrupt], _CORRUPT_SCHEMA
    )
    stats = None
    if plan.raw:
        valid, read_corrupt, stats = _read_raw(spark, plan.raw, dataset)
        corrupt = read_corrupt.unionByName(corrupt) if plan.unread_corrupt else read_corrupt
        parts.append(valid)
    if plan.compacted:
        parts.append(spark.read.schema(schema).parquet(*plan.compacted))
    if not parts:
        parts.append(spark.createDataFrame([], schema))
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return Input(union, corrupt, plan, stats)


def plan_files(
    spark: SparkSession, root: str, dataset: records.Dataset, start: date, end: date
) -> Plan:
    fs = FileSystem(spark, root)
    raw: list[str] = []
    compacted: list[str] = []
    compacted_records = 0
    listed = present = 0
    unread: list[tuple[str, str]] = []

    def names_in(path: str) -> list[str]:
        nonlocal listed
        listed += 1
        return fs.names(join(root, path)) or []

    days = list(layout.present_days(names_in, start, end))
    folders = [join(root, layout.day_path(day)) for day in days]
    listed += len(folders)
    with ThreadPoolExecutor(_AT_ONCE) as pool:
        looked = list(pool.map(partial(_look, fs), folders))
    for day, folder, found in zip(days, folders, looked, strict=True):
        if found is None:
            continue
        names, empty, manifest = found
        present += 1
        if manifest is not None:
            compacted_records += manifest.records
            unread.extend(_quarantined(root, dataset, day, manifest))
        chosen = layout.select(names, manifest, dataset.file_prefix)
        unread.extend((join(folder, n), records.EMPTY) for n in chosen.raw if n in empty)
        visible = {n for n in names if not n.startswith(("_", "."))}
        if chosen.raw and set(chosen.raw) == visible:
            raw.append(folder)  # Spark lists it again itself, far faster than 1 path per file
        else:
            raw.extend(join(folder, n) for n in chosen.raw)
        compacted.extend(join(folder, n) for n in chosen.compacted)
    return Plan(tuple(raw), tuple(compacted), compacted_records, listed, present, tuple(unread))


# Day folders looked at together: each look is a listing and a manifest read, requests to S3
# and py4j round trips that wait, not compute (30 manifests of 1.4 MB: 3.5 s one at a time,
# 0.4 s four at once).
_AT_ONCE = 4


def _look(fs: FileSystem, folder: str) -> tuple[list[str], set[str], layout.Manifest | None] | None:
    """A day folder's names, its zero-length files' names and its manifest; None if missing."""
    listing = fs.listing(folder)
    if listing is None:
        return None
    names, empty = listing
    manifest = None
    if layout.MANIFEST_NAME in names:
        manifest = layout.Manifest.from_json(fs.read_text(join(folder, layout.MANIFEST_NAME)))
    return names, empty, manifest


def _quarantined(
    root: str, dataset: records.Dataset, day: date, manifest: layout.Manifest
) -> list[tuple[str, str]]:
    """The files compaction moved to <lake>/_quarantine/<dataset>/<day>/, with the reason it
    recorded (its text up to the first ": ")."""
    lake = root.rstrip("/").rsplit("/", 1)[0]
    folder = join(lake, uris.QUARANTINE, dataset.name, layout.day_path(day))
    found = manifest.extra.get("quarantined") or {}
    return [(join(folder, name), str(why).split(": ", 1)[0]) for name, why in sorted(found.items())]


_CORRUPT_SCHEMA = StructType(
    [
        StructField("file", StringType()),
        StructField("reason", StringType()),
        StructField("record", StringType()),
    ]
)


def _read_raw(
    spark: SparkSession, paths: tuple[str, ...], dataset: records.Dataset
) -> tuple[DataFrame, DataFrame, Observation]:
    """Each raw file is one record: parse it, split valid from malformed (records' rules)."""
    schema = struct_type(dataset.schema, times_as_text=True)
    with_corrupt = StructType([*schema.fields, StructField(CORRUPT_COLUMN, StringType())])
    text = (
        # One row per file, empty ones included (the text source skips those), bytes as they
        # are (the text source would decode them, hiding invalid UTF-8).
        spark.read.format("binaryFile")
        .option("pathGlobFilter", f"{dataset.file_prefix}*.json")
        .load(list(paths))
        .select(
            F.col("_metadata.file_path").alias("file"),
            F.col("_metadata.file_name").alias("name"),
            F.col("content").cast(StringType()).alias("value"),
        )
    )
    parsed = text.select(
        "file", "name", "value", F.from_json("value", with_corrupt, _JSON_OPTIONS).alias("r")
    )
    record, value = F.col("r"), F.col("value")
    unparsable: Column = record.isNull() | record[CORRUPT_COLUMN].isNotNull()
    # Only the branch a malformed record takes computes its reason's details (CASE WHEN).
    fields = raw_fields(value, _JSON_OPTIONS)
    whole_first = (
        fields.isNotNull() | F.from_json(value, "array<string>", _JSON_OPTIONS).isNotNull()
    )
    # Lenient-only JSON (single quotes) that json_array_length takes and the parser refuses.
    lead = F.regexp_extract(value, "^[ \\t\\n\\r]*(.)", 1)
    lenient = (lead == "'") | (lead.isin("{", "[") & ~whole_first)
    # The hot path decides only the kind of reason; the path of a wrong_type or missing_field
    # is computed for the malformed records alone, after the filter (see ``corrupt``).
    flagged = parsed.withColumn(
        "reason",
        F.when(~F.is_valid_utf8("value"), F.lit(records.NOT_UTF8))
        .when(value.rlike("^[ \\t\\n\\r]*$"), F.lit(records.EMPTY))
        .when(
            ~_one_value(value),
            F.when(whole_first, F.lit(records.TRAILING_DATA)).otherwise(F.lit(records.NOT_JSON)),
        )
        .when(
            unparsable | wrong_value(record, dataset.schema),
            F.when(lenient, F.lit(records.NOT_JSON)).otherwise(F.lit(records.WRONG_TYPE)),
        )
        .when(missing_required(record, dataset.schema), F.lit(records.MISSING_FIELD))
        .when(_misplaced(record, dataset), F.lit(records.MISPLACED))
        .otherwise(F.lit(None).cast(StringType())),
    )
    stats = Observation(f"raw_{dataset.name}")
    observed = flagged.observe(
        stats,
        F.count(F.lit(1)).alias("rows"),
        F.count("reason").alias("corrupt"),
    )
    kind = F.col("reason")
    with_path = (
        F.when(
            kind == records.WRONG_TYPE,
            F.concat(kind, F.lit(":"), wrong_type_path(record, fields, dataset.schema)),
        )
        .when(
            kind == records.MISSING_FIELD,
            F.concat(kind, F.lit(":"), missing_path(record, dataset.schema)),
        )
        .otherwise(kind)
    )
    corrupt = observed.where(kind.isNotNull()).select(
        "file", with_path.alias("reason"), F.col("value").alias("record")
    )
    valid = flagged.where(F.col("reason").isNull()).select(*typed(record, dataset.schema))
    return valid, corrupt, stats


def _one_value(value: Column) -> Column:
    """The text is one JSON value and whitespace. Spark's parsers stop after the first value,
    and json_array_length after the array's closing bracket, so the text must be the only
    element of "[<text>]" and one of two in "[<text>\\n,0]": a bracket in trailing text that
    closes the array early (``{...}]...``) makes the second count 1."""
    alone = F.json_array_length(F.concat(F.lit("["), value, F.lit("]")))
    paired = F.json_array_length(F.concat(F.lit("["), value, F.lit("\n,0]")))
    return F.coalesce((alone == 1) & (paired == 2), F.lit(False))


def _misplaced(record: Column, dataset: records.Dataset) -> Column:
    """The id is not the file's name, or the time field's UTC day is not the folder's."""
    moment = record[dataset.time_field].try_cast(TimestampType())
    day = F.date_format(moment, "'year='yyyy'/month='MM'/day='dd")
    name = F.concat(F.lit(dataset.file_prefix), record[dataset.id_field], F.lit(".json"))
    return (F.col("name") != name) | (F.regexp_extract("file", _FOLDER_DAY, 0) != day)
