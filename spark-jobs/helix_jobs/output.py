"""Where a job writes: only to an output it owns, through a staging folder published at the end.

A job may replace its output folder when that folder is absent, empty, or holds the
``_helix_result.json`` of an earlier run of the same job: the same ``jobType`` writing the same
output URI (compared normalised). Anything else there is someone else's data, and the job
refuses (``OutputNotOwned``) before writing a byte; so does an output that is a file.

Everything (Parquet, ``_corrupt/``, ``_helix_result.json``) is written to a hidden sibling,
``<parent>/.<name>.staging-<run id>``, that readers never list. Publishing renames the old
output to ``.<name>.previous-<run id>``, the staging folder to the output, then deletes the old
one. A run that fails before publishing leaves the previous output as it was. A run interrupted
inside publishing leaves the previous output under ``.previous-``: the next run of this output
renames it back before anything else, and removes this output's leftover staging folders (only
names of this pattern, so only what a run for this very output wrote).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

from helix_jobs import failure, uris
from helix_jobs.hadoop_fs import FileSystem

RESULT_FILE = "_helix_result.json"


@dataclass(frozen=True)
class Staging:
    output: str
    staging: str  # where this run writes
    previous: str  # where the output it replaces waits while publishing


def prepare(fs: FileSystem, output: str, job_kind: str) -> Staging:
    """Recover an interrupted publish, then refuse an output this job does not own."""
    target = fs.qualified(output)
    parent, name = target.getParent().toString(), target.getName()
    leftovers = _leftovers(fs, parent, name)
    if fs.kind(output) is None:
        previous = [n for n in leftovers if ".previous-" in n]
        if previous:
            fs.rename(f"{parent}/{previous[-1]}", output)
            leftovers.remove(previous[-1])
    for leftover in leftovers:
        fs.delete(f"{parent}/{leftover}")
    check_owned(fs, output, job_kind)
    run = secrets.token_hex(8)
    return Staging(output, f"{parent}/.{name}.staging-{run}", f"{parent}/.{name}.previous-{run}")


def check_owned(fs: FileSystem, output: str, job_kind: str) -> None:
    kind = fs.kind(output)
    if kind is None:
        return
    if kind == "file":
        raise failure.JobFailure(
            failure.OUTPUT_NOT_OWNED, f"output {output} is an existing file, not a folder"
        )
    names = fs.names(output) or []
    if not names:
        return
    owner = _previous_result(fs, output) if RESULT_FILE in names else None
    if owner is None:
        raise failure.JobFailure(
            failure.OUTPUT_NOT_OWNED,
            f"output {output} holds {len(names)} entries and no {RESULT_FILE} of a "
            f"{job_kind} job; refusing to replace data this job did not write",
        )
    kind_found, uri_found = owner
    if kind_found != job_kind or uri_found != uris.normalize(output):
        raise failure.JobFailure(
            failure.OUTPUT_NOT_OWNED,
            f"output {output} holds the output of a {kind_found} job writing {uri_found}, "
            f"not of this {job_kind} job",
        )


def publish(fs: FileSystem, staging: Staging) -> None:
    replaced = fs.kind(staging.output) is not None
    if replaced:
        fs.rename(staging.output, staging.previous)
        fs.remove_empty_folders(staging.output)
    fs.rename(staging.staging, staging.output)
    if replaced:
        fs.delete(staging.previous)


def _previous_result(fs: FileSystem, output: str) -> tuple[str, str] | None:
    try:
        result = json.loads(fs.read_text(f"{output.rstrip('/')}/{RESULT_FILE}"))
        return str(result["jobType"]), uris.normalize(str(result["outputUri"]))
    except (ValueError, KeyError, TypeError):
        return None


def _leftovers(fs: FileSystem, parent: str, name: str) -> list[str]:
    pattern = re.compile(rf"\.{re.escape(name)}\.(staging|previous)-[0-9a-f]{{16}}")
    return sorted(n for n in fs.names(parent) or [] if pattern.fullmatch(n))
