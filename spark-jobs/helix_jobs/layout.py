"""Where records live in the lake, and which files of a day a reader must read.

Layout (Hive-style, the day is the record's own UTC start date)::

    <root>/<dataset>/year=YYYY/month=MM/day=DD/<prefix><id>.json        raw, one object per file
    <root>/<dataset>/year=YYYY/month=MM/day=DD/_compacted/<name>.parquet compacted (staged or live)
    <root>/<dataset>/year=YYYY/month=MM/day=DD/_compacted.json           the day's manifest

Compaction publishes a day by writing its manifest in one atomic PUT (or rename). The manifest
is the only truth: a reader takes the compacted files it lists plus every raw file it does not
list as replaced. Files under ``_compacted/`` that no manifest lists are staged or superseded
and are never read. So at every moment, before, during and after a compaction, each record is
read exactly once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

MANIFEST_NAME = "_compacted.json"
COMPACTED_DIR = "_compacted"
MANIFEST_VERSION = 1

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DAY = re.compile(r"year=(\d{4})/month=(\d{2})/day=(\d{2})")


def check_id(record_id: str) -> str:
    """Ids become part of object keys: refuse anything that could escape its prefix."""
    if not _ID.fullmatch(record_id) or ".." in record_id:
        raise ValueError(
            f"invalid record id {record_id!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return record_id


def day_path(day: date) -> str:
    return f"year={day.year:04d}/month={day.month:02d}/day={day.day:02d}"


def parse_day(path: str) -> date | None:
    """The partition date in a key or path, or None when it holds none."""
    match = _DAY.search(path)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def days(start: date, end: date) -> Iterator[date]:
    """Every day from start to end, both inclusive; nothing when end < start."""
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


# A partition folder's name at each level, in the one form writers use (day_path).
_LEVELS = (
    re.compile(r"year=([0-9]{4})"),
    re.compile(r"month=([0-9]{2})"),
    re.compile(r"day=([0-9]{2})"),
)
Partition = tuple[int, ...]  # (year,), (year, month) or (year, month, day)


def descend(
    parent: Partition, names: Iterable[str], start: date, end: date
) -> list[tuple[str, Partition]]:
    """The folders to descend into one level below ``parent`` (``()``: the dataset root), among
    the names listed in its folder: those that may hold days of [start, end], with their
    partition, ascending. Only names in the writers' form that are real dates count
    (``year=2026x``, ``month=13``, ``day=1``, ``day=30`` in February do not)."""
    if end < start:
        return []
    level = len(parent)
    lo = (start.year, start.month, start.day)[: level + 1]
    hi = (end.year, end.month, end.day)[: level + 1]
    found = set()  # a set: S3 can list an object and a folder of the same name
    for name in names:
        match = _LEVELS[level].fullmatch(name)
        if match:
            key = (*parent, int(match[1]))
            if lo <= key <= hi and _real(key):
                found.add((name, key))
    return sorted(found, key=lambda pair: pair[1])


def _real(key: Partition) -> bool:
    """A year of 1..9999, a month of 1..12, or a day of its month."""
    try:
        date(*key, *(1,) * (3 - len(key)))
    except ValueError:
        return False
    return True


def present_days(names: Callable[[str], Iterable[str]], start: date, end: date) -> Iterator[date]:
    """The days of [start, end] that have a partition folder, ascending, listing only the
    folders that may hold one: the root, then the year and month folders ``descend`` keeps (so
    the cost follows the partitions present, not the days of the range). ``names(path)`` lists
    the folder at a path relative to the dataset root ("" is the root; nothing if missing)."""

    def below(parent: Partition, path: str) -> Iterator[date]:
        for name, key in descend(parent, names(path), start, end):
            if len(key) == 3:
                yield date(*key)
            else:
                yield from below(key, f"{path}{name}/")

    return below((), "")


def raw_name(prefix: str, record_id: str) -> str:
    return f"{prefix}{check_id(record_id)}.json"


@dataclass(frozen=True)
class CompactedFile:
    name: str  # relative to the day folder, e.g. "_compacted/part-0000-<run>.parquet"
    records: int
    bytes: int


@dataclass(frozen=True)
class Manifest:
    files: tuple[CompactedFile, ...]
    replaced: frozenset[str]  # raw file names (relative to the day folder) now in `files`
    run_id: str
    created_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    def to_json(self) -> bytes:
        body = {
            "version": MANIFEST_VERSION,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "files": [f.__dict__ for f in self.files],
            "replaced": sorted(self.replaced),
            **self.extra,
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: str | bytes) -> Manifest:
        body = json.loads(data)
        if body.get("version") != MANIFEST_VERSION:
            raise ValueError(f"unsupported manifest version {body.get('version')!r}")
        known = {"version", "run_id", "created_at", "files", "replaced"}
        files = tuple(
            CompactedFile(str(f["name"]), int(f["records"]), int(f["bytes"])) for f in body["files"]
        )
        for f in files:
            if not f.name.startswith(COMPACTED_DIR + "/") or ".." in f.name:
                raise ValueError(f"manifest lists a file outside {COMPACTED_DIR}/: {f.name!r}")
        return cls(
            files=files,
            replaced=frozenset(str(n) for n in body["replaced"]),
            run_id=str(body["run_id"]),
            created_at=str(body["created_at"]),
            extra={k: v for k, v in body.items() if k not in known},
        )


@dataclass(frozen=True)
class DayFiles:
    raw: tuple[str, ...]  # names relative to the day folder
    compacted: tuple[str, ...]


def select(names: Iterable[str], manifest: Manifest | None, prefix: str) -> DayFiles:
    """Which files of one day folder a reader reads, given the names listed in it."""
    replaced = manifest.replaced if manifest else frozenset()
    raw = tuple(
        sorted(
            n
            for n in names
            if "/" not in n and n.startswith(prefix) and n.endswith(".json") and n not in replaced
        )
    )
    compacted = tuple(f.name for f in manifest.files) if manifest else ()
    return DayFiles(raw=raw, compacted=compacted)
