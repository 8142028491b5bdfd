"""records.py's formats as Arrow schemas, and conversion between JSON records and Parquet.

Mapping: string -> string, long -> int64, double -> float64, boolean -> bool, timestamp ->
timestamp[us, tz=UTC], Array -> list, Map -> map<string, value>, Struct -> struct. Required
fields are non-nullable. Fields a record carries beyond its schema are not kept in Parquet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from helix_jobs import records
from helix_jobs.records import Array, Dataset, Map, Struct

PARQUET_COMPRESSION = "zstd"
ROW_GROUP_ROWS = 20_000

_PRIMITIVES: dict[str, pa.DataType] = {
    records.STRING: pa.string(),
    records.LONG: pa.int64(),
    records.DOUBLE: pa.float64(),
    records.BOOLEAN: pa.bool_(),
    records.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}


def arrow_type(kind: records.Type) -> pa.DataType:
    if isinstance(kind, Struct):
        return pa.struct(
            [pa.field(f.name, arrow_type(f.type), nullable=not f.required) for f in kind.fields]
        )
    if isinstance(kind, Array):
        return pa.list_(arrow_type(kind.element))
    if isinstance(kind, Map):
        return pa.map_(pa.string(), arrow_type(kind.value))
    return _PRIMITIVES[kind]


def arrow_schema(dataset: Dataset) -> pa.Schema:
    struct = arrow_type(dataset.schema)
    return pa.schema([struct.field(i) for i in range(struct.num_fields)])


def table_from_records(dataset: Dataset, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Arrow table of validated records, as parsed from JSON.

    Arrow builds it from the dicts directly (maps from dicts, absent optional fields as null)
    with timestamps still strings, then casts them to timestamps in C++.
    """
    return pa.Table.from_pylist(list(rows), schema=_string_time_schema(dataset)).cast(
        arrow_schema(dataset)
    )


def _string_time_schema(dataset: Dataset) -> pa.Schema:
    struct = _with_string_times(arrow_type(dataset.schema))
    return pa.schema([struct.field(i) for i in range(struct.num_fields)])


def _with_string_times(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(kind):
        return pa.string()
    if pa.types.is_struct(kind):
        return pa.struct([f.with_type(_with_string_times(f.type)) for f in kind])
    if pa.types.is_map(kind):
        return pa.map_(kind.key_type, _with_string_times(kind.item_type))
    if pa.types.is_list(kind):
        return pa.list_(_with_string_times(kind.value_type))
    return kind


def records_from_table(dataset: Dataset, table: pa.Table) -> list[dict[str, Any]]:
    """Records as the raw layer holds them (timestamps as strings, optional nulls omitted)."""
    return [_from_arrow_value(row, dataset.schema) for row in table.to_pylist()]


def _from_arrow_value(value: Any, kind: records.Type) -> Any:
    if isinstance(kind, Struct):
        out = {}
        for field in kind.fields:
            item = value.get(field.name)
            if item is None and not field.required:
                continue
            out[field.name] = None if item is None else _from_arrow_value(item, field.type)
        return out
    if isinstance(kind, Array):
        return [_from_arrow_value(v, kind.element) for v in value]
    if isinstance(kind, Map):
        return {k: None if v is None else _from_arrow_value(v, kind.value) for k, v in value}
    if isinstance(value, datetime):
        return records.format_timestamp(value)
    return value


def normalize(dataset: Dataset, record: dict[str, Any]) -> dict[str, Any]:
    """A record as it reads back from Parquet (for comparing raw with compacted records)."""
    return records_from_table(dataset, table_from_records(dataset, [record]))[0]


def to_parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION, row_group_size=ROW_GROUP_ROWS)
    return bytes(sink.getvalue().to_pybytes())


def read_parquet(body: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    return pq.read_table(pa.BufferReader(body), columns=list(columns) if columns else None)
