"""Keys of the lake's objects, built on ``helix_jobs.layout`` (the layout's one definition)."""

from __future__ import annotations

from datetime import date

from helix_batch.lake.keys import check_key
from helix_jobs import layout
from helix_jobs.records import Dataset
from helix_jobs.uris import AUDIT as AUDIT
from helix_jobs.uris import QUARANTINE as QUARANTINE

ANALYTICS = "analytics"


def dataset_prefix(dataset: Dataset) -> str:
    return f"{dataset.name}/"


def day_prefix(dataset: Dataset, day: date) -> str:
    return f"{dataset.name}/{layout.day_path(day)}/"


def raw_key(dataset: Dataset, day: date, record_id: str) -> str:
    return day_prefix(dataset, day) + layout.raw_name(dataset.file_prefix, record_id)


def manifest_key(dataset: Dataset, day: date) -> str:
    return day_prefix(dataset, day) + layout.MANIFEST_NAME


def in_day(dataset: Dataset, day: date, name: str) -> str:
    """The key of a name relative to the day folder (``_compacted/...`` or a raw name)."""
    return check_key(day_prefix(dataset, day) + name)


def quarantine_key(dataset: Dataset, day: date, name: str) -> str:
    return check_key(f"{QUARANTINE}/{dataset.name}/{layout.day_path(day)}/{name}")


def record_id_of(dataset: Dataset, raw_name: str) -> str:
    """The id in a raw file name (``conversation_<id>.json``)."""
    return raw_name.removeprefix(dataset.file_prefix).removesuffix(".json")
