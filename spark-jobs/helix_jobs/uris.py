"""Comparing lake URIs, and where a job's output may not go.

A job's output is overwritten by its next run, so an output that equals, contains or lies
inside data the job does not own would delete that data. URIs are compared after
normalising: ``s3``/``s3a``/``s3n`` are one scheme, the bucket's case does not matter,
``.``/``..`` and repeated slashes are resolved and a trailing slash is dropped.

The lake root is the parent of the input dataset (``s3a://lake/conversations/`` → ``s3://lake``);
its datasets and maintenance folders are reserved.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import NamedTuple

from helix_jobs.layout import COMPACTED_DIR
from helix_jobs.records import DATASETS

AUDIT = "_audit"
QUARANTINE = "_quarantine"
# Top-level folders of a lake root that no job output may touch.
RESERVED = (*DATASETS, AUDIT, QUARANTINE, COMPACTED_DIR)
_S3_SCHEMES = frozenset({"s3", "s3a", "s3n"})


class Location(NamedTuple):
    scheme: str  # "s3" or "file"
    bucket: str  # "" for file
    segments: tuple[str, ...]

    def __str__(self) -> str:
        if self.scheme == "file":
            return "file:///" + "/".join(self.segments)
        return f"s3://{self.bucket}/" + "/".join(self.segments)


@lru_cache(maxsize=1024)  # jobs share their inputs: the operator checks each job's
def locate(uri: str) -> Location:
    """The normalised location of a URI (a path without a scheme is a local path, relative to
    the process's working directory)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "file", uri
    scheme = scheme.lower()
    if scheme in _S3_SCHEMES:
        bucket, _, path = rest.partition("/")
        return Location("s3", bucket.lower(), _resolve(path))
    if scheme != "file":
        raise ValueError(f"{uri!r}: unsupported scheme {scheme!r} (use s3a://, s3:// or file://)")
    path = rest.removeprefix("localhost") if rest.startswith("localhost/") else rest
    return Location("file", "", _resolve(os.path.abspath(path)))


def normalize(uri: str) -> str:
    return str(locate(uri))


def _resolve(path: str) -> tuple[str, ...]:
    parts = path.split("/")
    if "." not in parts and ".." not in parts:
        return tuple(part for part in parts if part)
    out: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return tuple(out)


def output_conflict(input_uri: str, output_uri: str) -> str | None:
    """Why a job reading ``input_uri`` may not write ``output_uri``, or None when it may."""
    try:
        source, target = locate(input_uri), locate(output_uri)
    except ValueError as error:
        return str(error)
    if not target.segments:
        return f"output {output_uri} is the root of {target.scheme}://{target.bucket}"
    if target.scheme != source.scheme or target.bucket != source.bucket:
        return None
    inside, outside = target.segments, source.segments
    shared = min(len(inside), len(outside))
    if inside[:shared] == outside[:shared]:
        if len(inside) < len(outside):
            return f"output {output_uri} contains the input dataset {source}"
        where = "is" if inside == outside else "lies inside"
        return f"output {output_uri} {where} the input dataset {source}"
    # What is left is a folder next to the input or below one: the lake root's reserved ones.
    depth = len(outside) - 1
    if inside[:depth] == outside[:depth] and inside[depth] in RESERVED:
        reserved = Location(source.scheme, source.bucket, inside[: depth + 1])
        return f"output {output_uri} overlaps the lake's reserved folder {reserved}"
    return None
