"""``helixctl report``: one self-contained HTML page of a job's output, with charts.

The page goes to ``--out``. An existing file there is replaced only when an earlier
``helixctl report`` wrote it (the page's first bytes say so); anything else is refused and left
as it was.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click

from helix_batch.cli.lake import lake_errors
from helix_batch.cli.run import lake_uri, rebase
from helix_batch.lake.storage import open_storage
from helix_batch.report.page import DOCTYPE, GENERATOR, render_page
from helix_batch.report.read import read_output

MARK = f'{DOCTYPE}\n<html lang="en"><head><meta charset="utf-8">'


def output_uri(job: str, lake: str | None) -> str:
    """Where the job's output is: an s3:// or s3a:// URI (the spec's, rebased onto ``lake``
    when given, as ``helixctl run`` does), a file:// URI, or a path: a key under ``lake``,
    or without ``lake`` a local folder."""
    if job.startswith(("s3://", "s3a://")):
        return rebase(lake_uri(job), lake_uri(lake)) if lake else lake_uri(job)
    if job.startswith("file://") or not lake:
        return lake_uri(job)
    return f"{lake_uri(lake).rstrip('/')}/{job.strip('/')}"


def default_name(uri: str) -> str:
    """The output's last two path segments: analytics/debates/2026-01/ -> debates-2026-01.html."""
    segments = [s for s in uri.split("://", 1)[-1].split("/") if s][-2:]
    return "-".join(segments) + ".html"


def written_by_report(path: Path) -> bool:
    with path.open("rb") as head:
        start = head.read(2048).decode("utf-8", "replace")
    return start.startswith(MARK) and f'<meta name="generator" content="{GENERATOR}">' in start


def write_page(path: Path, page: str) -> None:
    """Write atomically; refuse to replace what ``helixctl report`` did not write."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise click.ClickException(f"{path}: not a regular file; refusing to write there")
    if path.exists() and not written_by_report(path):
        raise click.ClickException(
            f"{path} exists and was not written by helixctl report; refusing to overwrite it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command("report")
@click.option(
    "--lake",
    envvar="HELIX_LAKE",
    help="Where the spec's s3a://bucket/ lives here: a path, file:// or s3:// (env HELIX_LAKE).",
)
@click.option(
    "--job",
    "job",
    required=True,
    metavar="OUTPUT",
    help="The job's output: its spec's output.uri, or a folder under --lake (analytics/entities).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="The HTML file ('-': stdout). Default: the output's last two path segments joined "
    "by '-', .html, in the current folder.",
)
@lake_errors
def report(lake: str | None, job: str, out: Path | None) -> None:
    """Write a self-contained HTML page of a job's results, with charts."""
    uri = output_uri(job, lake)
    storage = open_storage(uri)
    try:
        page = render_page(read_output(storage), datetime.now(UTC))
    finally:
        storage.close()
    if out is not None and str(out) == "-":
        sys.stdout.write(page)
        return
    path = out or Path(default_name(uri))
    write_page(path, page)
    click.echo(f"wrote {path} ({len(page.encode()):,} bytes) from {uri}")
