"""``helixctl render``: the SparkApplication the operator would create for a job, or the job a
schedule would create at a given time, after validation."""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, datetime
from typing import IO, Any

import click
import yaml

from helix_batch.operator import policy
from helix_batch.operator.names import SCHEDULE_KIND
from helix_batch.operator.render import render_spark_application
from helix_batch.operator.scheduling import ScheduleError, latest_time, load_schedule, render_run
from helix_batch.operator.settings import Settings
from helix_batch.operator.spec import JobSpec, SpecError, load_job


def refuse_violations(spec: JobSpec, settings: Settings, local: bool = False) -> None:
    """Stop with one line naming every field the platform's policy refuses (``local``: the
    policy of a local run, where file:// URIs are the lake too)."""
    try:
        rules = policy.load(settings)
    except policy.PolicyError as err:
        raise click.ClickException(str(err)) from None
    violations = policy.check(spec, rules.local() if local else rules)
    if violations:
        found = "; ".join(map(str, violations))
        raise click.ClickException(f"the job policy refuses this HelixBatchJob: {found}")


def load_manifest(stream: IO[str]) -> dict[str, Any]:
    """One HelixBatchJob (or HelixBatchSchedule) document from YAML, or a SpecError."""
    try:
        doc = yaml.safe_load(stream)
    except yaml.YAMLError as err:
        raise SpecError("<file>", f"not valid YAML: {err}") from None
    if not isinstance(doc, dict):
        raise SpecError("<file>", "expected one HelixBatchJob document")
    return doc


def parse_at(value: str) -> datetime:
    """An RFC 3339 time; without a zone, UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time like 2026-11-29T02:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def scheduled_run(doc: dict[str, Any], at: datetime, uid: str) -> dict[str, Any]:
    """The HelixBatchJob the schedule creates for its latest scheduled time at or before
    ``at``, checked as the operator checks it."""
    try:
        schedule = load_schedule(doc)
    except ScheduleError as err:
        raise click.ClickException(f"invalid HelixBatchSchedule: {err}") from None
    scheduled = latest_time(schedule.spec, at)
    if scheduled is None:
        raise click.ClickException(f"{schedule.spec.cron!r} has no scheduled time before {at}")
    job = render_run(dataclasses.replace(schedule, uid=schedule.uid or uid), scheduled)
    settings = Settings.from_env()
    try:
        loaded = load_job(job, settings)
    except SpecError as err:
        raise click.ClickException(f"the schedule's run would be invalid: {err}") from None
    refuse_violations(loaded.spec, settings)
    return job


@click.command()
@click.option(
    "-f", "--filename", type=click.File("r"), required=True,
    help="HelixBatchJob YAML, or HelixBatchSchedule YAML with --at",
)  # fmt: skip
@click.option("--attempt", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--uid",
    default="00000000-0000-0000-0000-000000000000",
    show_default=True,
    help="The job's (or schedule's) uid, when the file does not carry one (the API server "
    "assigns it).",
)
@click.option(
    "--at",
    help="For a HelixBatchSchedule: print the HelixBatchJob it creates for its latest scheduled "
    "time at or before this time (RFC 3339, e.g. 2026-11-29T02:00:00Z).",
)
def render(filename: IO[str], attempt: int, uid: str, at: str | None) -> None:
    """Print the SparkApplication the operator would create for a job, or the job a schedule
    would create at a time."""
    settings = Settings.from_env()
    try:
        doc = load_manifest(filename)
    except SpecError as err:
        raise click.ClickException(f"invalid HelixBatchJob: {err}") from None
    if doc.get("kind") == SCHEDULE_KIND:
        if at is None:
            raise click.UsageError("a HelixBatchSchedule needs --at: the time of its run")
        yaml.safe_dump(scheduled_run(doc, parse_at(at), uid), sys.stdout, sort_keys=False)
        return
    if at is not None:
        raise click.UsageError("--at applies to a HelixBatchSchedule only")
    try:
        job = load_job(doc, settings)
    except SpecError as err:
        raise click.ClickException(f"invalid HelixBatchJob: {err}") from None
    refuse_violations(job.spec, settings)
    if not job.uid:
        job = dataclasses.replace(job, uid=uid)
    yaml.safe_dump(render_spark_application(job, attempt), sys.stdout, sort_keys=False)
