"""``helixctl lake``: statistics, archiving, compaction, retention, maintenance and seeding."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from helix_batch.lake.client import DataLake
from helix_batch.lake.compaction import CompactionOptions, compact, utc_today
from helix_batch.lake.concurrency import bounded_map
from helix_batch.lake.errors import LakeError
from helix_batch.lake.policy import Policy, load_policy
from helix_batch.lake.retention import DEFAULT_FLOOR_DAYS, RetentionRules, retain
from helix_batch.lake.seeding import seed as seed_lake
from helix_batch.lake.storage import DEFAULT_CONCURRENCY, Storage, open_storage
from helix_jobs import records

F = TypeVar("F", bound=Callable[..., Any])
DATASET_CHOICE = click.Choice(sorted(records.DATASETS))


def lake_errors(fn: F) -> F:
    """Turn the library's and the store's errors into a clear message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (LakeError, ValueError, OSError) as error:
            raise click.ClickException(f"{type(error).__name__}: {error}") from error
        except (BotoCoreError, ClientError) as error:
            raise click.ClickException(f"S3 error: {error}") from error

    return wrapper  # type: ignore[return-value]


def _lake_option(default: str | None = None) -> Callable[[F], F]:
    return click.option(
        "--lake",
        "lake_uri",
        envvar="HELIX_LAKE",
        default=default,
        required=default is None,
        show_default=default is not None,
        help="Lake root: s3://bucket/prefix or file://path (env HELIX_LAKE).",
    )


_json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
_concurrency_option = click.option(
    "--concurrency",
    type=click.IntRange(1, 512),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Parallel requests to the store.",
)
_dry_run_option = click.option("--dry-run", is_flag=True, help="Report, change nothing.")


def _emit(as_json: bool, payload: Any, text: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(payload, indent=1, sort_keys=False))
    else:
        text()


def _bar(total: int | None, desc: str, unit: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, disable=None, file=sys.stderr, leave=False)


@click.group("lake")
def lake() -> None:
    """Look after the data lake: stats, archive, compact, retain, maintain, seed."""


@lake.command()
@_lake_option()
@_json_option
@lake_errors
def stats(lake_uri: str, as_json: bool) -> None:
    """Objects, bytes and day range per dataset."""
    client = DataLake.open(lake_uri)
    result = client.storage_stats()

    def text() -> None:
        for name, item in result.items():
            days = f"  days {item['oldest_day']}..{item['newest_day']}" if item.get("days") else ""
            click.echo(f"{name:14} {item['objects']:>9} objects {item['bytes']:>14} bytes{days}")

    _emit(as_json, {"lake": client.storage.uri, "datasets": result}, text)


def _read_records(paths: tuple[str, ...]) -> Iterator[Any]:
    """Records from JSON-lines files (or one JSON document per file); '-' is stdin."""
    for path in paths:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        stripped = text.strip()
        if stripped.startswith("{") and "\n{" not in stripped:
            yield json.loads(stripped)
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as error:
                    raise LakeError(f"{path}:{number}: not JSON: {error}") from None


@lake.command()
@_lake_option()
@click.option("--dataset", type=DATASET_CHOICE, default="conversations", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace records that exist with other content.")
@click.argument("files", nargs=-1, required=True)
@_concurrency_option
@_json_option
@lake_errors
def archive(
    lake_uri: str,
    dataset: str,
    overwrite: bool,
    files: tuple[str, ...],
    concurrency: int,
    as_json: bool,
) -> None:
    """Archive records (JSON lines; '-' reads stdin) into the raw layer."""
    client = DataLake.open(lake_uri, concurrency=concurrency)
    target = records.DATASETS[dataset]
    errors: list[str] = []
    bar = _bar(None, "archive", "rec")

    def one(record: Any) -> str:
        try:
            return client.archive(target, record, overwrite)
        except LakeError as error:
            errors.append(str(error))
            return "failed"
        finally:
            bar.update(1)

    counts: dict[str, int] = {}
    for outcome in bounded_map(one, _read_records(files), concurrency):
        counts[outcome] = counts.get(outcome, 0) + 1
    bar.close()
    _emit(as_json, {"counts": counts, "errors": errors}, lambda: click.echo(_counts(counts)))
    if errors:
        for message in errors[:20]:
            click.echo(f"error: {message}", err=True)
        raise click.ClickException(f"{len(errors)} record(s) were not archived")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing to do"


def _compact(
    storage: Storage,
    datasets: tuple[str, ...],
    before: date,
    options: CompactionOptions,
    dry_run: bool,
) -> dict[str, Any]:
    bar = _bar(None, "compact", "day")

    def plan(total: int) -> None:
        bar.total = total
        bar.refresh()

    report = compact(
        storage,
        [records.DATASETS[d] for d in datasets],
        before,
        options=options,
        dry_run=dry_run,
        on_plan=plan,
        on_day=lambda _: bar.update(1),
    )
    bar.close()
    return report.to_dict()


def _print_compaction(result: dict[str, Any]) -> None:
    verb = "would compact" if result["dry_run"] else "compacted"
    for day in result["days"]:
        click.echo(
            f"{day['dataset']:14} {day['day']}  {day['action']:13} records {day['records']:>7}"
            f"  quarantined {day['quarantined']:>4}  raw deleted {day['raw_deleted']:>7}"
        )
    totals = result["totals"]
    click.echo(
        f"{verb} {totals['days_compacted']} day(s) before {result['before']}: "
        f"{totals['records']} records, {totals['bytes_in']} bytes of JSON into "
        f"{totals['files']} Parquet file(s) of {totals['bytes_out']} bytes; "
        f"{totals['quarantined']} quarantined"
    )


@lake.command("compact")
@_lake_option()
@click.option("--dataset", "datasets", type=DATASET_CHOICE, multiple=True, help="Default: all.")
@click.option(
    "--before",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Compact days strictly before this date (default: today, UTC).",
)
@click.option("--max-file-mb", type=click.IntRange(1), default=512, show_default=True)
@_concurrency_option
@_dry_run_option
@_json_option
@lake_errors
def compact_command(
    lake_uri: str,
    datasets: tuple[str, ...],
    before: Any,
    max_file_mb: int,
    concurrency: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Compact each finished day of raw records into Parquet (write, verify, publish, delete)."""
    storage = open_storage(lake_uri, concurrency=concurrency)
    result = _compact(
        storage,
        datasets or tuple(records.DATASETS),
        before.date() if before else utc_today(),
        CompactionOptions(max_file_bytes=max_file_mb << 20),
        dry_run,
    )
    _emit(as_json, result, lambda: _print_compaction(result))


def _parse_limits(items: tuple[str, ...]) -> dict[str, int]:
    limits: dict[str, int] = {}
    for item in items:
        name, sep, days = item.partition("=")
        if not sep or not days.strip().isdigit():
            raise click.BadParameter(f"expected DATASET=DAYS, got {item!r}", param_hint="--max-age")
        if name not in records.DATASETS:
            raise click.BadParameter(f"unknown dataset {name!r}", param_hint="--max-age")
        limits[name] = int(days)
    return limits


def _retain(storage: Storage, rules: RetentionRules, dry_run: bool) -> dict[str, Any]:
    bar = _bar(None, "retain", "partition")
    report = retain(storage, rules, dry_run=dry_run, on_removed=lambda _: bar.update(1))
    bar.close()
    return report.to_dict()


def _print_retention(result: dict[str, Any]) -> None:
    for item in result["removals"]:
        click.echo(f"{item['prefix']:52} {item['objects']:>8} objects {item['bytes']:>12} bytes")
    totals = result["totals"]
    verb = "would remove" if result["dry_run"] else "removed"
    audit = f"; audit record {result['audit']}" if result["audit"] else ""
    click.echo(
        f"{verb} {totals['partitions']} partition(s) and {totals['outputs']} job output(s): "
        f"{totals['objects']} objects, {totals['bytes']} bytes{audit}"
    )


@lake.command("retain")
@_lake_option()
@click.option(
    "--max-age",
    "max_age",
    multiple=True,
    required=True,
    metavar="DATASET=DAYS",
    help="Remove day partitions older than DAYS (repeat per dataset).",
)
@click.option("--floor-days", type=int, default=DEFAULT_FLOOR_DAYS, show_default=True)
@click.option("--analytics-max-age", type=int, help="Also remove job outputs older than this.")
@_concurrency_option
@_dry_run_option
@_json_option
@lake_errors
def retain_command(
    lake_uri: str,
    max_age: tuple[str, ...],
    floor_days: int,
    analytics_max_age: int | None,
    concurrency: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete day partitions past each dataset's age limit (audit record under _audit/)."""
    rules = RetentionRules(_parse_limits(max_age), floor_days, analytics_max_age)
    rules.check()
    result = _retain(open_storage(lake_uri, concurrency=concurrency), rules, dry_run)
    _emit(as_json, result, lambda: _print_retention(result))


@lake.command()
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="Maintenance policy (YAML).",
)
@click.option("--lake", "lake_uri", envvar="HELIX_LAKE", help="Overrides the policy's lake.")
@_dry_run_option
@_json_option
@lake_errors
def maintain(policy_path: str, lake_uri: str | None, dry_run: bool, as_json: bool) -> None:
    """The CronJob's command: compaction, then retention, as the policy says."""
    policy: Policy = load_policy(policy_path)
    uri = lake_uri or policy.lake
    if not uri:
        raise click.UsageError("no lake: set `lake:` in the policy, --lake or HELIX_LAKE")
    storage = open_storage(uri, concurrency=policy.concurrency)
    result: dict[str, Any] = {"lake": storage.uri, "dry_run": dry_run}
    if policy.compaction.enabled:
        before = utc_today() - timedelta(days=policy.compaction.min_age_days - 1)
        result["compaction"] = _compact(
            storage, policy.compaction.datasets, before, policy.compaction.options(), dry_run
        )
    if policy.retention is not None:
        result["retention"] = _retain(storage, policy.retention, dry_run)

    def text() -> None:
        if "compaction" in result:
            _print_compaction(result["compaction"])
        if "retention" in result:
            _print_retention(result["retention"])

    _emit(as_json, result, text)


@lake.command()
@_lake_option(default="file://./.helix/lake")
@click.option("--conversations", type=click.IntRange(0), default=10_000, show_default=True)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default="2026-01-01", show_default=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), default="2026-01-30", show_default=True)
@click.option("--compacted/--raw", default=False, help="Write days already compacted.")
@click.option("--seed", "seed_value", type=int, default=7, show_default=True)
@click.option("--malformed-share", type=click.FloatRange(0, 1), default=0.002, show_default=True)
@_concurrency_option
@_json_option
@lake_errors
def seed(
    lake_uri: str,
    conversations: int,
    start: Any,
    end: Any,
    compacted: bool,
    seed_value: int,
    malformed_share: float,
    concurrency: int,
    as_json: bool,
) -> None:
    """Fill a lake with realistic, deterministic sample data (raw or compacted)."""
    bar = _bar(None, "seed", "rec")
    report = seed_lake(
        lake_uri,
        conversations,
        start.date(),
        end.date(),
        compacted,
        seed_value,
        concurrency=concurrency,
        malformed_share=malformed_share,
        on_records=bar.update,
    )
    bar.close()
    result = report.to_dict()
    _emit(
        as_json,
        result,
        lambda: click.echo(
            f"seeded {report.lake}: {report.records} records ({report.malformed} malformed), "
            f"{report.raw_objects} raw objects, {report.compacted_days} compacted day(s)"
        ),
    )


if __name__ == "__main__":  # python -m helix_batch.cli.lake (same commands as helixctl lake)
    lake()
