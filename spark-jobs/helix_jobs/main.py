"""The single entry point of the Spark jobs (seed-compatible arguments).

    spark-submit spark-jobs/run_job.py --job-type entity_extraction \\
      --input-path s3a://helixagent-datalake/conversations/ \\
      --output-path s3a://helixagent-datalake/analytics/entities/ \\
      --start-date 2026-01-01 --end-date 2026-01-30 [--param key=value ...]

Writes the job's Parquet output, malformed input records under <output>/_corrupt/, and the
result object (camelCase counts, at most 4 KiB of JSON) to <output>/_helix_result.json and to
the container's termination message (HELIX_TERMINATION_LOG, default /dev/termination-log, when
that file exists or the variable is set); all of it through a staging folder (``output``).

A job that cannot run prints one line, ``run_job.py: error: <Reason>: <message>``, exits with
the reason's code (``failure.EXIT_CODES``) and leaves ``{"error": <Reason>, "message": ...}`` as
the termination message; an unexpected error's stack trace goes to stdout (the driver log).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import SparkSession

from helix_jobs import (
    debate_analysis,
    entity_extraction,
    failure,
    output,
    provider_performance,
    relationship_mining,
    topic_modeling,
    uris,
)
from helix_jobs.failure import JobFailure
from helix_jobs.hadoop_fs import FileSystem
from helix_jobs.job import Job, ParamError
from helix_jobs.output import RESULT_FILE
from helix_jobs.reader import Plan, join, read_dataset
from helix_jobs.session import S3Options, build_session, needs_s3

JOBS: Mapping[str, Job] = {
    job.name: job
    for job in (
        entity_extraction.JOB,
        relationship_mining.JOB,
        topic_modeling.JOB,
        provider_performance.JOB,
        debate_analysis.JOB,
    )
}
RESULT_LIMIT = 4096
DEFAULT_TERMINATION_LOG = "/dev/termination-log"


@dataclass(frozen=True)
class Request:
    job: Job
    input_uri: str
    output_uri: str
    start: date
    end: date
    params: dict[str, Any]
    allow_empty: bool = False


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="run_job.py", description="Run one helix-batch Spark job.")
    ap.add_argument("--job-type", required=True, choices=sorted(JOBS))
    ap.add_argument(
        "--input-path", required=True, help="dataset root, e.g. s3a://bucket/conversations/"
    )
    ap.add_argument("--output-path", required=True)
    ap.add_argument("--start-date", required=True, type=date.fromisoformat)
    ap.add_argument("--end-date", required=True, type=date.fromisoformat)
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument(
        "--allow-empty",
        action="store_true",
        help="write an empty output when the range holds no input, instead of failing (NoInput)",
    )
    ap.add_argument("--master", help="e.g. local[2]; default: what spark-submit provides")
    ap.add_argument("--s3-endpoint", help="default: HELIX_S3_ENDPOINT or AWS_ENDPOINT_URL")
    ap.add_argument("--s3-region", help="default: HELIX_S3_REGION, AWS_REGION or us-east-1")
    return ap


def parse_request(args: argparse.Namespace) -> Request:
    """Check the arguments; raises ParamError naming the culprit, or JobFailure
    (OutputConflict) for an output that would overwrite the lake's data."""
    job = JOBS[args.job_type]
    raw: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParamError(f"--param {item!r}: expected key=value")
        if key in raw:
            raise ParamError(f"--param {key} given twice")
        raw[key] = value
    if args.end_date < args.start_date:
        raise ParamError("--end-date is before --start-date")
    conflict = uris.output_conflict(args.input_path, args.output_path)
    if conflict:
        raise JobFailure(failure.OUTPUT_CONFLICT, conflict)
    return Request(
        job,
        args.input_path,
        args.output_path,
        args.start_date,
        args.end_date,
        job.parse_params(raw),
        args.allow_empty,
    )


def execute(spark: SparkSession, request: Request) -> dict[str, Any]:
    """Run the job on an existing session; returns the result object (also written out).

    Raises JobFailure, before writing anything, for an output it does not own or no input.
    """
    began = time.monotonic()
    job = request.job
    fs = FileSystem(spark, request.output_uri)
    staging = output.prepare(fs, request.output_uri, job.kind)
    data = read_dataset(spark, request.input_uri, job.dataset, request.start, request.end)
    if not (data.plan.raw or data.plan.compacted) and not request.allow_empty:
        raise JobFailure(failure.NO_INPUT, _no_input(spark, request, data.plan))
    try:
        counts = job.run(spark, data.records, staging.staging, request.params)
        raw_rows, corrupt = data.write_corrupt(staging.staging)
        result: dict[str, Any] = {
            "jobType": job.kind,
            "processedRows": raw_rows - corrupt + data.plan.compacted_records,
            "outputRows": counts.pop("outputRows"),
            "corruptRecords": corrupt,
            "outputUri": request.output_uri,
            **counts,
            "startDate": request.start.isoformat(),
            "endDate": request.end.isoformat(),
            "daysRead": data.plan.days_present,
            "durationSeconds": round(time.monotonic() - began, 3),
        }
        body = encode_result(result)
        fs.write_text(join(staging.staging, RESULT_FILE), body)
    except BaseException:
        fs.delete(staging.staging)
        raise
    output.publish(fs, staging)
    write_termination_message(body)
    return result


def _no_input(spark: SparkSession, request: Request, plan: Plan) -> str:
    where = request.input_uri
    if FileSystem(spark, where).kind(where) is None:
        found = "the path does not exist"
    else:
        found = f"{plan.days_present} day folders in the range, none holds records"
    return (
        f"no {request.job.dataset.name} records under {where} from {request.start} to "
        f"{request.end} ({found}); --allow-empty (spec.input.allowEmpty) writes an empty output"
    )


def encode_result(result: dict[str, Any]) -> str:
    """Compact JSON of at most RESULT_LIMIT bytes: the job's own counts go first when too big."""
    core = ("jobType", "processedRows", "outputRows", "corruptRecords", "outputUri")
    trimmed = dict(result)
    body = json.dumps(trimmed, separators=(",", ":"))
    for key in reversed(list(result)):
        if len(body.encode()) <= RESULT_LIMIT:
            break
        if key not in core:
            del trimmed[key]
            body = json.dumps(trimmed, separators=(",", ":"))
    return body


def write_termination_message(body: str) -> None:
    path = os.environ.get("HELIX_TERMINATION_LOG")
    if path is None:
        path = DEFAULT_TERMINATION_LOG if os.path.exists(DEFAULT_TERMINATION_LOG) else ""
    if not path:
        return
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(body)
    except OSError:
        pass  # outside a pod, or a read-only file: the copy next to the output remains


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        request = parse_request(args)
    except ParamError as error:
        return _fail(failure.INVALID_ARGUMENTS, str(error))
    except JobFailure as error:
        return _fail(error.reason, error.message)
    s3 = None
    if needs_s3(request.input_uri, request.output_uri):
        s3 = S3Options.from_env(args.s3_endpoint, args.s3_region)
    spark = build_session(f"helix-{request.job.name}", master=args.master, s3=s3)
    try:
        result = execute(spark, request)
    except JobFailure as error:
        return _fail(error.reason, error.message)
    except Exception as error:
        traceback.print_exc(file=sys.stdout)
        return _fail(failure.JOB_FAILED, failure.describe(error))
    finally:
        spark.stop()
    print(json.dumps(result, indent=2))
    return 0


def _fail(reason: str, message: str) -> int:
    print(f"run_job.py: error: {reason}: {message}", file=sys.stderr)
    write_termination_message(failure.termination_message(reason, message))
    return failure.EXIT_CODES[reason]
