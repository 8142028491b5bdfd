"""``helixctl render``: the SparkApplication the operator would create, after validation."""

from __future__ import annotations

import dataclasses
import sys
from typing import IO

import click
import yaml

from helix_batch import policy
from helix_batch.render import render_spark_application
from helix_batch.settings import Settings
from helix_batch.spec import JobSpec, SpecError, load_job


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


def load_manifest(stream: IO[str]) -> dict[str, object]:
    """One HelixBatchJob document from YAML, or a SpecError saying what is wrong."""
    try:
        doc = yaml.safe_load(stream)
    except yaml.YAMLError as err:
        raise SpecError("<file>", f"not valid YAML: {err}") from None
    if not isinstance(doc, dict):
        raise SpecError("<file>", "expected one HelixBatchJob document")
    return doc


@click.command()
@click.option("-f", "--filename", type=click.File("r"), required=True, help="HelixBatchJob YAML")
@click.option("--attempt", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--uid",
    default="00000000-0000-0000-0000-000000000000",
    show_default=True,
    help="The job's uid, when the file does not carry one (the API server assigns it).",
)
def render(filename: IO[str], attempt: int, uid: str) -> None:
    """Print the SparkApplication the operator would create for a job."""
    settings = Settings.from_env()
    try:
        job = load_job(load_manifest(filename), settings)
    except SpecError as err:
        raise click.ClickException(f"invalid HelixBatchJob: {err}") from None
    refuse_violations(job.spec, settings)
    if not job.uid:
        job = dataclasses.replace(job, uid=uid)
    yaml.safe_dump(render_spark_application(job, attempt), sys.stdout, sort_keys=False)
