"""records.py's formats as Spark schemas, and the checks the JSON parser cannot make itself."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from helix_jobs import records

_PRIMITIVES: dict[str, DataType] = {
    records.STRING: StringType(),
    records.LONG: LongType(),
    records.DOUBLE: DoubleType(),
    records.BOOLEAN: BooleanType(),
    records.TIMESTAMP: TimestampType(),
}


def spark_type(kind: records.Type) -> DataType:
    if isinstance(kind, records.Struct):
        return struct_type(kind)
    if isinstance(kind, records.Array):
        return ArrayType(spark_type(kind.element), containsNull=True)
    if isinstance(kind, records.Map):
        return MapType(StringType(), spark_type(kind.value), valueContainsNull=True)
    return _PRIMITIVES[kind]


def struct_type(struct: records.Struct) -> StructType:
    # Everything is nullable: Spark does not enforce nullability when reading, the
    # required-field check below does.
    return StructType(
        [StructField(f.name, spark_type(f.type), nullable=True) for f in struct.fields]
    )


def missing_required(value: Column, struct: records.Struct) -> Column:
    """True when a required field of ``value`` (or of any nested struct) is null."""
    checks: list[Column] = []
    for field in struct.fields:
        child = value[field.name]
        if field.required:
            checks.append(child.isNull())
        nested = _element_struct(field.type)
        if isinstance(field.type, records.Struct):
            checks.append(F.coalesce(missing_required(child, field.type), F.lit(False)))
        elif nested is not None:
            checks.append(F.coalesce(F.exists(child, _bad_element(nested)), F.lit(False)))
    return reduce(lambda a, b: a | b, checks, F.lit(False))


def _bad_element(struct: records.Struct) -> Callable[[Column], Column]:
    return lambda item: item.isNull() | missing_required(item, struct)


def _element_struct(kind: records.Type) -> records.Struct | None:
    if isinstance(kind, records.Array) and isinstance(kind.element, records.Struct):
        return kind.element
    return None
