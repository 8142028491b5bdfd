"""The single entry point of the Spark jobs (seed-compatible arguments).

    spark-submit spark-jobs/run_job.py --job-type entity_extraction \\
      --input-path s3a://helixagent-datalake/conversations/ \\
      --output-path s3a://helixagent-datalake/analytics/entities/ \\
      --start-date 2026-01-01 --end-date 2026-01-30 [--param key=value ...]

Writes the job's Parquet output, malformed input records under <output>/_corrupt/, and the
result object (camelCase counts, at most 4 KiB of JSON) to <output>/_helix_result.json and to
the container's termination message (HELIX_TERMINATION_LOG, default /dev/termination-log, when
that file exists or the variable is set).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import SparkSession

from helix_jobs import (
    debate_analysis,
    entity_extraction,
    provider_performance,
    relationship_mining,
    topic_modeling,
)
from helix_jobs.job import Job, ParamError
from helix_jobs.reader import join, read_dataset
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
RESULT_FILE = "_helix_result.json"
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
    ap.add_argument("--master", help="e.g. local[2]; default: what spark-submit provides")
    ap.add_argument("--s3-endpoint", help="default: HELIX_S3_ENDPOINT or AWS_ENDPOINT_URL")
    ap.add_argument("--s3-region", help="default: HELIX_S3_REGION, AWS_REGION or us-east-1")
    return ap


def parse_request(args: argparse.Namespace) -> Request:
    """Check the arguments; raises ParamError with a message naming the culprit."""
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
    return Request(
        job,
        args.input_path,
        args.output_path,
        args.start_date,
        args.end_date,
        job.parse_params(raw),
    )


def execute(spark: SparkSession, request: Request) -> dict[str, Any]:
    """Run the job on an existing session; returns the result object (also written out)."""
    began = time.monotonic()
    job = request.job
    data = read_dataset(spark, request.input_uri, job.dataset, request.start, request.end)
    counts = job.run(spark, data.records, request.output_uri, request.params)
    raw_rows, corrupt = data.write_corrupt(request.output_uri)
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
    _write_text(spark, join(request.output_uri, RESULT_FILE), body)
    write_termination_message(body)
    return result


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


def _write_text(spark: SparkSession, uri: str, text: str) -> None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.create(path, True)
    try:
        stream.write(text.encode())
    finally:
        stream.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        request = parse_request(args)
    except ParamError as error:
        print(f"run_job.py: error: {error}", file=sys.stderr)
        return 2
    s3 = None
    if needs_s3(request.input_uri, request.output_uri):
        s3 = S3Options.from_env(args.s3_endpoint, args.s3_region)
    spark = build_session(f"helix-{request.job.name}", master=args.master, s3=s3)
    try:
        result = execute(spark, request)
    finally:
        spark.stop()
    print(json.dumps(result, indent=2))
    return 0
