"""The maintenance policy file (YAML) that ``helixctl lake maintain --policy`` reads.

Every key is checked: an unknown or misspelt key is an error naming it, never ignored::

    lake: s3://helixagent-datalake        # optional; --lake overrides it
    concurrency: 32                       # parallel requests to the store
    compaction:
      enabled: true
      datasets: [conversations, debates, entities]
      min_age_days: 1                     # compact days at least this old (1 = before today)
      max_file_mb: 512                    # raw JSON per Parquet file
    retention:
      enabled: true
      floor_days: 30                      # no limit below this is accepted (at least 1)
      datasets:
        conversations: {max_age_days: 730}
        debates: {max_age_days: 730}
        entities: {max_age_days: 365}
      analytics: {max_age_days: 90}       # job outputs under analytics/
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from helix_batch.lake.compaction import CompactionOptions
from helix_batch.lake.errors import PolicyError
from helix_batch.lake.retention import DEFAULT_FLOOR_DAYS, RetentionRules
from helix_batch.lake.storage import DEFAULT_CONCURRENCY
from helix_jobs import records


@dataclass(frozen=True)
class CompactionPolicy:
    enabled: bool = True
    datasets: tuple[str, ...] = tuple(records.DATASETS)
    min_age_days: int = 1
    max_file_mb: int = 512

    def options(self) -> CompactionOptions:
        return CompactionOptions(max_file_bytes=self.max_file_mb << 20)


@dataclass(frozen=True)
class Policy:
    lake: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    compaction: CompactionPolicy = field(default_factory=CompactionPolicy)
    retention: RetentionRules | None = None


def _mapping(value: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected a mapping, got {type(value).__name__}")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise PolicyError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    return value


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{where}: expected an integer, got {value!r}")
    if value < minimum:
        raise PolicyError(f"{where}: must be at least {minimum}, got {value}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{where}: expected true or false, got {value!r}")
    return value


def _dataset(value: Any, where: str) -> str:
    if value not in records.DATASETS:
        raise PolicyError(
            f"{where}: unknown dataset {value!r} (known: {', '.join(records.DATASETS)})"
        )
    return str(value)


def parse_policy(data: Any, source: str = "policy") -> Policy:
    top = _mapping(data, source, {"lake", "concurrency", "compaction", "retention"})
    lake = top.get("lake")
    if lake is not None and not isinstance(lake, str):
        raise PolicyError(f"{source}.lake: expected a URI string")
    concurrency = _int(top.get("concurrency", DEFAULT_CONCURRENCY), f"{source}.concurrency", 1)
    comp = _mapping(
        top.get("compaction"),
        f"{source}.compaction",
        {"enabled", "datasets", "min_age_days", "max_file_mb"},
    )
    names = comp.get("datasets", list(records.DATASETS))
    if not isinstance(names, list):
        raise PolicyError(f"{source}.compaction.datasets: expected a list")
    compaction = CompactionPolicy(
        enabled=_bool(comp.get("enabled", True), f"{source}.compaction.enabled"),
        datasets=tuple(_dataset(n, f"{source}.compaction.datasets") for n in names),
        min_age_days=_int(comp.get("min_age_days", 1), f"{source}.compaction.min_age_days", 1),
        max_file_mb=_int(comp.get("max_file_mb", 512), f"{source}.compaction.max_file_mb", 1),
    )
    return Policy(lake, concurrency, compaction, _retention(top.get("retention"), source))


def _retention(value: Any, source: str) -> RetentionRules | None:
    where = f"{source}.retention"
    ret = _mapping(value, where, {"enabled", "floor_days", "datasets", "analytics"})
    if not ret or not _bool(ret.get("enabled", True), f"{where}.enabled"):
        return None
    limits: dict[str, int] = {}
    for name, rule in _mapping(
        ret.get("datasets"), f"{where}.datasets", set(records.DATASETS)
    ).items():
        body = _mapping(rule, f"{where}.datasets.{name}", {"max_age_days"})
        if "max_age_days" not in body:
            raise PolicyError(f"{where}.datasets.{name}: max_age_days is required")
        limits[name] = _int(body["max_age_days"], f"{where}.datasets.{name}.max_age_days", 0)
    analytics = _mapping(ret.get("analytics"), f"{where}.analytics", {"max_age_days"})
    rules = RetentionRules(
        max_age_days=limits,
        floor_days=_int(ret.get("floor_days", DEFAULT_FLOOR_DAYS), f"{where}.floor_days", 0),
        analytics_max_age_days=(
            _int(analytics["max_age_days"], f"{where}.analytics.max_age_days", 0)
            if "max_age_days" in analytics
            else None
        ),
    )
    rules.check()
    return rules


def load_policy(path: str | Path) -> Policy:
    text = Path(path).read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"{path}: not valid YAML: {error}") from None
    return parse_policy(data, str(path))
