"""A job's output as the report needs it: its result object and the Parquet tables it shows.

Read through the lake's storage (a local folder or S3), with pyarrow: no Spark. Only the
columns a chart or table shows are read, so a large output costs little memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from helix_batch.lake.errors import LakeError, NotFound
from helix_batch.lake.storage import Storage

RESULT = "_helix_result.json"
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Spark's folder name for a null partition value

# Per job type: the folder of each table ("" is the output itself) and its columns (None: all).
TABLES: dict[str, dict[str, tuple[str, ...] | None]] = {
    "EntityExtraction": {
        "": (
            "entity_id",
            "entity_type",
            "name",
            "mention_count",
            "avg_confidence",
            "importance_score",
        )
    },
    "RelationshipMining": {
        "": (
            "entity_a",
            "entity_b",
            "entity_a_name",
            "entity_b_name",
            "cooccurrence_count",
            "conversation_count",
            "association_strength",
        )
    },
    "TopicModeling": {"topics": None, "conversation_topics": ("dominant_topic",)},
    "ProviderPerformance": {"": None},
    "DebateAnalysis": {
        "debates": ("started_at", "consensus_reached"),
        "winners": None,
        "summary": None,
    },
}


class NotAJobOutput(LakeError):
    """The folder holds no ``_helix_result.json``, or one that is not a job's result."""


@dataclass(frozen=True)
class JobOutput:
    uri: str
    result: dict[str, Any]
    tables: dict[str, pa.Table]  # folder -> rows (empty when the folder is)


def read_output(storage: Storage) -> JobOutput:
    """The output at the storage's root."""
    try:
        result = json.loads(storage.get(RESULT))
    except NotFound:
        raise NotAJobOutput(f"{storage.uri}: no {RESULT}; not the output of a job") from None
    except ValueError as error:
        raise NotAJobOutput(f"{storage.uri}/{RESULT}: not JSON: {error}") from None
    if not isinstance(result, dict) or not isinstance(result.get("jobType"), str):
        raise NotAJobOutput(f"{storage.uri}/{RESULT}: no jobType")
    wanted = TABLES.get(result["jobType"], {})
    keys = [info.key for info in storage.list("") if _is_data(info.key)]
    tables = {}
    for folder, columns in wanted.items():
        prefix = f"{folder}/" if folder else ""
        mine = [k for k in keys if k.startswith(prefix) and (folder or not _in_table(k, wanted))]
        tables[folder] = _read(storage, mine, prefix, columns)
    return JobOutput(storage.uri, result, tables)


def _is_data(key: str) -> bool:
    """A Parquet file of the output: not in a hidden or ``_`` folder (``_corrupt/``, staging)."""
    return key.endswith(".parquet") and not any(p.startswith(("_", ".")) for p in key.split("/"))


def _in_table(key: str, wanted: dict[str, Any]) -> bool:
    return any(folder and key.startswith(f"{folder}/") for folder in wanted)


def _read(
    storage: Storage, keys: list[str], prefix: str, columns: tuple[str, ...] | None
) -> pa.Table:
    parts = []
    for key, body in storage.get_many(keys):
        partition = _partition_values(key.removeprefix(prefix))
        stored = None if columns is None else [c for c in columns if c not in partition]
        table = pq.read_table(pa.BufferReader(body), columns=stored)
        for name, value in partition.items():
            if columns is None or name in columns:
                table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
        parts.append(table.select(list(columns)) if columns is not None else table)
    if not parts:
        return pa.table({c: pa.array([], pa.null()) for c in columns or ()})
    return pa.concat_tables(parts, promote_options="permissive")


def _partition_values(relative: str) -> dict[str, str | None]:
    """``entity_type=PERSON/part-0.parquet`` -> {"entity_type": "PERSON"} (Hive escaping)."""
    values: dict[str, str | None] = {}
    for part in relative.split("/")[:-1]:
        name, sep, value = part.partition("=")
        if sep:
            values[unquote(name)] = None if value == HIVE_NULL else unquote(value)
    return values
