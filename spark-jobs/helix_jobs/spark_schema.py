"""records.py's formats as Spark schemas, and the checks the JSON parser cannot make itself."""

from __future__ import annotations

import math
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


def spark_type(kind: records.Type, times_as_text: bool = False) -> DataType:
    if isinstance(kind, records.Struct):
        return struct_type(kind, times_as_text)
    if isinstance(kind, records.Array):
        return ArrayType(spark_type(kind.element, times_as_text), containsNull=True)
    if isinstance(kind, records.Map):
        return MapType(StringType(), spark_type(kind.value, times_as_text), valueContainsNull=True)
    if kind == records.TIMESTAMP and times_as_text:
        return StringType()
    return _PRIMITIVES[kind]


def struct_type(struct: records.Struct, times_as_text: bool = False) -> StructType:
    """The Spark schema; ``times_as_text`` for parsing, as Spark's own timestamp parsing
    accepts far more than records.TIMESTAMP_PATTERN (dates, local times, epoch numbers)."""
    # Everything is nullable: Spark does not enforce nullability when reading, the
    # required-field check below does.
    return StructType(
        [
            StructField(f.name, spark_type(f.type, times_as_text), nullable=True)
            for f in struct.fields
        ]
    )


def missing_required(value: Column, struct: records.Struct) -> Column:
    """True when a required field of ``value`` (or of any nested struct) is null; a null
    array element counts too (each element struct has a required field)."""
    return any_field(value, struct, lambda f, c: c.isNull() if f.required else None)


def wrong_value(value: Column, struct: records.Struct) -> Column:
    """True when a field holds what the JSON parser took but records.validate refuses: a
    timestamp outside records.TIMESTAMP_PATTERN or not a real instant, or a double out of
    range (a number beyond a double's range parses as infinity). ``value`` was parsed with
    ``struct_type(struct, times_as_text=True)``."""
    return any_field(value, struct, _wrong_scalar)


def _wrong_scalar(field: records.Field, child: Column) -> Column | None:
    if field.type == records.TIMESTAMP:
        whole = F.regexp_extract(child, f"^{records.TIMESTAMP_PATTERN}", 0) == child
        return child.isNotNull() & ~(whole & child.try_cast(TimestampType()).isNotNull())
    if field.type == records.DOUBLE:
        return F.coalesce(child.isin(math.inf, -math.inf), F.lit(False))
    return None


# The reason's path (records.ROOT, records.schema_paths), as column expressions. They are only
# evaluated for a record already known to be malformed (the branch of a CASE WHEN), so the
# extra parsing below costs nothing on valid records.
Check = Callable[[Column, Column], Column]  # (parsed value, raw fields as text) -> is it here
_RAW_OBJECT = "map<string,string>"  # an object's fields as their JSON text, any value
_RAW_OBJECTS = "array<map<string,string>>"


def raw_fields(text: Column, options: dict[str, str]) -> Column:
    """An object's fields as their JSON text (null fields null); null when not an object."""
    return F.from_json(text, _RAW_OBJECT, options)


def wrong_type_path(value: Column, raw: Column, struct: records.Struct) -> Column:
    """The first field (schema order) that is present in ``raw`` (``raw_fields`` of the text)
    but that the parser could not read as its type (a null in ``value``, which was parsed in
    PERMISSIVE mode with partial results), or that ``wrong_value`` refuses; records.ROOT when
    the value is not an object."""
    reason = F.when(raw.isNull(), F.lit(records.ROOT))
    for path, check in _wrong_checks(struct):
        reason = reason.when(check(value, raw), F.lit(path))
    return reason.otherwise(F.lit(records.ROOT))


def missing_path(value: Column, struct: records.Struct) -> Column:
    """The first required field (schema order) that is null, or list holding a null."""
    checks = _missing_checks(struct)
    reason = F.when(checks[0][1](value, value), F.lit(checks[0][0]))
    for path, check in checks[1:]:
        reason = reason.when(check(value, value), F.lit(path))
    return reason


def _wrong_checks(struct: records.Struct, prefix: str = "") -> list[tuple[str, Check]]:
    found: list[tuple[str, Check]] = []
    for field in struct.fields:
        path = prefix + field.name
        found.append((path, _wrong_here(field)))
        if isinstance(field.type, records.Struct):
            for sub, check in _wrong_checks(field.type, path + "."):
                found.append((sub, _in_struct(field.name, check)))
        element = _element_struct(field.type)
        if element is not None:
            for sub, check in _wrong_checks(element, path + "."):
                found.append((sub, _in_elements(field.name, check)))
    return found


def _wrong_here(field: records.Field) -> Check:
    def check(value: Column, raw: Column) -> Column:
        unread = raw[field.name].isNotNull() & value[field.name].isNull()
        scalar = _wrong_scalar(field, value[field.name])
        return unread if scalar is None else unread | scalar

    return check


def _in_struct(name: str, check: Check) -> Check:
    def inner(value: Column, raw: Column) -> Column:
        nested = F.from_json(raw[name], _RAW_OBJECT)
        return F.coalesce(check(value[name], nested), F.lit(False))

    return inner


def _in_elements(name: str, check: Check) -> Check:
    def inner(value: Column, raw: Column) -> Column:
        pairs = F.zip_with(
            value[name],
            F.from_json(raw[name], _RAW_OBJECTS),
            lambda v, r: F.struct(v.alias("v"), r.alias("r")),
        )
        return F.coalesce(F.exists(pairs, lambda p: check(p["v"], p["r"])), F.lit(False))

    return inner


def _missing_checks(struct: records.Struct, prefix: str = "") -> list[tuple[str, Check]]:
    found: list[tuple[str, Check]] = []
    for field in struct.fields:
        path = prefix + field.name
        element = _element_struct(field.type)
        found.append((path, _missing_here(field, element is not None)))
        if isinstance(field.type, records.Struct):
            for sub, check in _missing_checks(field.type, path + "."):
                found.append((sub, _in_struct_value(field.name, check)))
        if element is not None:
            for sub, check in _missing_checks(element, path + "."):
                found.append((sub, _in_element_values(field.name, check)))
    return found


def _missing_here(field: records.Field, is_list: bool) -> Check:
    def check(value: Column, _: Column) -> Column:
        child = value[field.name]
        own = child.isNull() if field.required else F.lit(False)
        if is_list:
            own = own | F.coalesce(F.exists(child, lambda item: item.isNull()), F.lit(False))
        return own

    return check


def _in_struct_value(name: str, check: Check) -> Check:
    return lambda value, _: F.coalesce(check(value[name], value[name]), F.lit(False))


def _in_element_values(name: str, check: Check) -> Check:
    def inner(value: Column, _: Column) -> Column:
        found = F.exists(value[name], lambda item: check(item, item))
        return F.coalesce(found, F.lit(False))

    return inner


def typed(value: Column, struct: records.Struct) -> list[Column]:
    """The fields of a valid ``value`` parsed with times as text, as the dataset's schema."""
    return [_typed(value[f.name], f.type).alias(f.name) for f in struct.fields]


def _typed(column: Column, kind: records.Type) -> Column:
    if kind == records.TIMESTAMP:
        return column.try_cast(TimestampType())
    if isinstance(kind, records.Struct) and _has_time(kind):
        return F.when(column.isNotNull(), F.struct(*typed(column, kind)))
    if isinstance(kind, records.Array) and _has_time(kind.element):
        return F.transform(column, lambda item: _typed(item, kind.element))
    return column


def _has_time(kind: records.Type) -> bool:
    if isinstance(kind, records.Struct):
        return any(_has_time(f.type) for f in kind.fields)
    if isinstance(kind, records.Array | records.Map):
        return _has_time(kind.element if isinstance(kind, records.Array) else kind.value)
    return kind == records.TIMESTAMP


def any_field(
    value: Column,
    struct: records.Struct,
    test: Callable[[records.Field, Column], Column | None],
) -> Column:
    """True when ``test`` holds for a field of ``value`` or of a struct nested in it (arrays of
    structs included); ``test`` returns None for fields it does not look at."""
    checks: list[Column] = []
    for field in struct.fields:
        child = value[field.name]
        own = test(field, child)
        if own is not None:
            checks.append(own)
        nested = _element_struct(field.type)
        if isinstance(field.type, records.Struct):
            checks.append(F.coalesce(any_field(child, field.type, test), F.lit(False)))
        elif nested is not None:
            checks.append(F.coalesce(F.exists(child, _in_element(nested, test)), F.lit(False)))
    return reduce(lambda a, b: a | b, checks, F.lit(False))


def _in_element(
    struct: records.Struct, test: Callable[[records.Field, Column], Column | None]
) -> Callable[[Column], Column]:
    return lambda item: any_field(item, struct, test)


def _element_struct(kind: records.Type) -> records.Struct | None:
    if isinstance(kind, records.Array) and isinstance(kind.element, records.Struct):
        return kind.element
    return None
