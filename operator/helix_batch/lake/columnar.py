"""records.py's formats as Arrow schemas, and conversion between JSON records and Parquet.

Mapping: string -> string, long -> int64, double -> float64, boolean -> bool, timestamp ->
timestamp[us, tz=UTC], Array -> list, Map -> map<string, value>, Struct -> struct. Required
fields are non-nullable. Fields a record carries beyond its schema are not kept in Parquet.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json
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


def table_from_json(dataset: Dataset, bodies: Sequence[bytes]) -> pa.Table:
    """Parse valid JSON records (one per body) straight into Arrow, in C++."""
    options = pa_json.ParseOptions(
        explicit_schema=_json_schema(dataset), unexpected_field_behavior="ignore"
    )
    data = b"\n".join(body.strip() for body in bodies)
    table = pa_json.read_json(
        io.BytesIO(data),
        read_options=pa_json.ReadOptions(block_size=1 << 24),
        parse_options=options,
    )
    return _restore_maps(dataset, table)


def _json_schema(dataset: Dataset) -> pa.Schema:
    """The schema the JSON reader parses into: maps (which it cannot read) become strings."""
    fields = []
    for field in dataset.schema.fields:
        kind = pa.string() if isinstance(field.type, Map) else arrow_type(field.type)
        fields.append(pa.field(field.name, kind, nullable=True))
    return pa.schema(fields)


def _restore_maps(dataset: Dataset, table: pa.Table) -> pa.Table:
    raise NotImplementedError


def table_from_records(dataset: Dataset, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Arrow table of validated records (timestamps as RFC 3339 strings)."""
    converted = [_to_arrow_value(row, dataset.schema) for row in rows]
    return pa.Table.from_pylist(converted, schema=arrow_schema(dataset))


def _to_arrow_value(value: Any, kind: records.Type) -> Any:
    if value is None:
        return None
    if isinstance(kind, Struct):
        return {f.name: _to_arrow_value(value.get(f.name), f.type) for f in kind.fields}
    if isinstance(kind, Array):
        return [_to_arrow_value(v, kind.element) for v in value]
    if isinstance(kind, Map):
        return [(k, _to_arrow_value(v, kind.value)) for k, v in value.items()]
    if kind == records.TIMESTAMP:
        return records.parse_timestamp(value)
    if kind == records.DOUBLE:
        return float(value)
    return value


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
    pq.write_table(
        table, sink, compression=PARQUET_COMPRESSION, row_group_size=ROW_GROUP_ROWS
    )
    return bytes(sink.getvalue().to_pybytes())


def read_parquet(body: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    return pq.read_table(pa.BufferReader(body), columns=list(columns) if columns else None)
