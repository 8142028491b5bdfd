"""Retention: delete whole day partitions older than each dataset's age limit.

A partition of day D in a dataset with limit N days is removed when ``today - D > N`` days;
one exactly N days old stays. Limits below the policy's floor (itself at least one day) are
refused. Only keys inside ``<dataset>/year=YYYY/month=MM/day=DD/`` of a well-formed partition
are ever deleted; anything else in the dataset folder is left alone.

Order inside a partition keeps readers consistent while it disappears: first raw originals the
manifest marks as replaced (readers ignore them), then the manifest (readers switch to the
remaining raw files), then everything else in batches. Partitions are listed and removed
``PARTITIONS_AT_ONCE`` at a time (each keeps its own order), sharing the storage's concurrency,
so their round trips overlap. Killed at any point, a re-run removes the rest. The audit record
(see ``audit``) lists every key before any is deleted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from helix_batch.lake.audit import audit_key, write_audit
from helix_batch.lake.compaction import new_run_id, utc_today
from helix_batch.lake.concurrency import bounded_map
from helix_batch.lake.errors import InvalidKey, NotFound, PolicyError
from helix_batch.lake.faults import Steps
from helix_batch.lake.keys import under
from helix_batch.lake.partitions import list_days
from helix_batch.lake.paths import ANALYTICS, day_prefix, manifest_key
from helix_batch.lake.storage import DELETE_BATCH, Storage
from helix_jobs import layout, records
from helix_jobs.records import Dataset

HARD_FLOOR_DAYS = 1  # no setting can delete today's or yesterday's partitions
DEFAULT_FLOOR_DAYS = 30
PARTITIONS_AT_ONCE = 4


@dataclass(frozen=True)
class RetentionRules:
    max_age_days: Mapping[str, int]  # dataset name -> limit
    floor_days: int = DEFAULT_FLOOR_DAYS
    analytics_max_age_days: int | None = None

    def check(self) -> None:
        if self.floor_days < HARD_FLOOR_DAYS:
            raise PolicyError(f"floor_days must be at least {HARD_FLOOR_DAYS}")
        for name, limit in self.max_age_days.items():
            if name not in records.DATASETS:
                raise PolicyError(
                    f"unknown dataset {name!r} (known: {', '.join(records.DATASETS)})"
                )
            if limit < self.floor_days:
                raise PolicyError(
                    f"{name}: max_age_days={limit} is below the floor of {self.floor_days} days; "
                    "refusing (lower floor_days deliberately if you really mean it)"
                )
        if (
            self.analytics_max_age_days is not None
            and self.analytics_max_age_days < self.floor_days
        ):
            raise PolicyError(
                f"analytics max_age_days={self.analytics_max_age_days} is below the floor of "
                f"{self.floor_days} days"
            )


@dataclass
class Removal:
    what: str  # dataset name, or "analytics"
    prefix: str
    day: str | None
    objects: int
    bytes: int
    keys: list[str] = field(default_factory=list)


@dataclass
class RetentionReport:
    run_id: str
    today: str
    dry_run: bool
    cutoffs: dict[str, str]  # dataset -> oldest day kept
    removals: list[Removal] = field(default_factory=list)
    audit_key: str | None = None

    def totals(self) -> dict[str, int]:
        return {
            "partitions": sum(r.day is not None for r in self.removals),
            "outputs": sum(r.day is None for r in self.removals),
            "objects": sum(r.objects for r in self.removals),
            "bytes": sum(r.bytes for r in self.removals),
        }

    def to_dict(self, with_keys: bool = False) -> dict[str, Any]:
        removals = [asdict(r) for r in self.removals]
        if not with_keys:
            for item in removals:
                item.pop("keys")
        return {
            "run_id": self.run_id,
            "today": self.today,
            "dry_run": self.dry_run,
            "cutoffs": self.cutoffs,
            "totals": self.totals(),
            "audit": self.audit_key,
            "removals": removals,
        }


def expired(day: date, today: date, max_age_days: int) -> bool:
    return (today - day).days > max_age_days


def retain(
    storage: Storage,
    rules: RetentionRules,
    *,
    today: date | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    batch: int = DELETE_BATCH,
    steps: Steps | None = None,
    on_removed: Callable[[Removal], None] | None = None,
) -> RetentionReport:
    rules.check()
    steps = steps or Steps()
    now = now or datetime.now(UTC)
    today = today or utc_today()
    cutoffs = {
        name: (today - timedelta(days=limit)).isoformat()
        for name, limit in rules.max_age_days.items()
    }
    report = RetentionReport(new_run_id(), today.isoformat(), dry_run, cutoffs)
    at_once = max(1, min(PARTITIONS_AT_ONCE, storage.concurrency))
    doomed = [
        (records.DATASETS[name], day)
        for name, limit in rules.max_age_days.items()
        for day in list_days(storage, records.DATASETS[name], end=today - timedelta(days=limit + 1))
        if expired(day, today, limit)
    ]
    report.removals.extend(bounded_map(lambda d: _plan_partition(storage, *d), doomed, at_once))
    if rules.analytics_max_age_days is not None:
        report.removals.extend(_plan_outputs(storage, now, rules.analytics_max_age_days))
    if dry_run or not report.removals:
        return report
    key = audit_key("retention", report.run_id, now)
    report.audit_key = key
    write_audit(
        storage, key, {"kind": "retention", "status": "started", **_audit_body(report, rules)}
    )
    steps.reached("retain:audit-started")
    workers = max(1, storage.concurrency // at_once)

    def remove(removal: Removal) -> Removal:
        _remove(storage, removal, batch, steps, workers)
        return removal

    for removal in bounded_map(remove, report.removals, at_once):
        if on_removed:
            on_removed(removal)
    write_audit(
        storage, key, {"kind": "retention", "status": "completed", **_audit_body(report, rules)}
    )
    steps.reached("retain:audit-completed")
    return report


def _audit_body(report: RetentionReport, rules: RetentionRules) -> dict[str, Any]:
    return {
        "rules": {
            "max_age_days": dict(rules.max_age_days),
            "floor_days": rules.floor_days,
            "analytics_max_age_days": rules.analytics_max_age_days,
        },
        **report.to_dict(with_keys=True),
    }


def _plan_partition(storage: Storage, dataset: Dataset, day: date) -> Removal:
    prefix = day_prefix(dataset, day)
    infos = list(storage.list(prefix))
    for info in infos:
        if not under(prefix, info.key):  # a store that ignored the prefix: never go on
            raise InvalidKey(f"listing of {prefix!r} returned {info.key!r}; refusing to delete")
    return Removal(
        dataset.name,
        prefix,
        day.isoformat(),
        len(infos),
        sum(i.size for i in infos),
        sorted(i.key for i in infos),
    )


def _plan_outputs(storage: Storage, now: datetime, max_age_days: int) -> list[Removal]:
    """Job outputs (first-level folders under analytics/) whose newest object is too old."""
    removals = []
    limit = now - timedelta(days=max_age_days)
    for folder in storage.folders(f"{ANALYTICS}/"):
        infos = list(storage.list(folder))
        if (
            infos
            and max(i.modified for i in infos) < limit
            and all(under(folder, i.key) for i in infos)
        ):
            removals.append(
                Removal(
                    ANALYTICS,
                    folder,
                    None,
                    len(infos),
                    sum(i.size for i in infos),
                    sorted(i.key for i in infos),
                )
            )
    return removals


def _remove(storage: Storage, removal: Removal, batch: int, steps: Steps, workers: int) -> None:
    remaining = list(removal.keys)
    if removal.day is not None:
        dataset = records.DATASETS[removal.what]
        day = date.fromisoformat(removal.day)
        manifest = manifest_key(dataset, day)
        replaced: list[str] = []
        if manifest in remaining:
            with contextlib.suppress(NotFound):  # a run killed after deleting it
                names = layout.Manifest.from_json(storage.get(manifest)).replaced
                replaced = [k for k in remaining if k.rpartition("/")[2] in names]
        storage.delete_many(replaced, batch=batch, workers=workers)
        steps.reached("retain:replaced-deleted")
        storage.delete(manifest)
        steps.reached("retain:manifest-deleted")
        gone = {*replaced, manifest}
        remaining = [k for k in remaining if k not in gone]
    storage.delete_many(
        remaining,
        batch=batch,
        on_batch=lambda _: steps.reached("retain:batch-deleted"),
        workers=workers,
    )
