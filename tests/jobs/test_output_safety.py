"""A wrong output path never deletes data: conflicts, foreign outputs, staging, and no input."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from helix_jobs import failure, layout, main, output
from helix_jobs.failure import JobFailure
from helix_jobs.hadoop_fs import FileSystem
from helix_jobs.job import Job
from helix_jobs.output import RESULT_FILE
from tests.fixtures.s3 import S3Server
from tests.jobs.lake import RAW_DAYS, Lake, run_job
from tests.jobs.submit import spark_submit

DAY = RAW_DAYS[0]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (root itself when it is a file) and a digest of its bytes."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture
def tiny(lake: Lake, tmp_path: Path) -> Lake:
    """One raw day of conversations (malformed records included), copied from the shared lake."""
    day = Path("conversations") / layout.day_path(DAY)
    shutil.copytree(lake.root / day, tmp_path / "lake" / day)
    return Lake(tmp_path / "lake", [r for r in lake.generated if r.day == DAY])


def args(input_uri: str, output_uri: str, *extra: str) -> list[str]:
    return [
        "--job-type", "entity_extraction", "--input-path", input_uri, "--output-path", output_uri,
        "--start-date", DAY.isoformat(), "--end-date", DAY.isoformat(), *extra,
    ]  # fmt: skip


def refusal(spark: SparkSession, argv: list[str]) -> JobFailure:
    with pytest.raises(JobFailure) as caught:
        main.execute(spark, main.parse_request(main.parser().parse_args(argv)))
    return caught.value


@pytest.mark.parametrize(
    "output",
    [
        "{lake}/conversations/",  # the input dataset itself
        "{lake}/conversations",
        "{lake}//conversations/./",
        "{lake}/analytics/../conversations",
        "{lake}/conversations/year=2026/out",  # inside
        "{lake}",  # containing
        "{lake}/analytics/..",
        "{lake}/debates/",  # another dataset of the lake
        "{lake}/_quarantine/mine",  # a reserved folder
    ],
)
def test_an_output_overlapping_the_lake_is_refused_before_spark_starts(
    tiny: Lake, output: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = snapshot(tiny.root)
    argv = args(tiny.uri("conversations"), output.format(lake=tiny.root.as_uri()))
    assert main.main(argv) == failure.EXIT_CODES[failure.OUTPUT_CONFLICT]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("run_job.py: error: OutputConflict: output ")
    assert "Traceback" not in err
    message = json.loads(Path(os.environ["HELIX_TERMINATION_LOG"]).read_text())
    assert message["error"] == "OutputConflict" and message["message"] in err
    assert snapshot(tiny.root) == before


def test_an_s3_output_equal_to_the_s3a_input_up_to_scheme_and_bucket_case_is_refused() -> None:
    argv = args("s3a://Lake/conversations/", "s3://lake/conversations")
    with pytest.raises(JobFailure) as caught:
        main.parse_request(main.parser().parse_args(argv))
    assert caught.value.reason == failure.OUTPUT_CONFLICT


def test_an_output_that_is_an_existing_file_is_refused(
    spark: SparkSession, tiny: Lake, tmp_path: Path
) -> None:
    existing = tmp_path / "report.parquet"
    existing.write_bytes(b"someone's data")
    before = snapshot(tmp_path)
    error = refusal(spark, args(tiny.uri("conversations"), existing.as_uri()))
    assert error.reason == failure.OUTPUT_NOT_OWNED and "existing file" in error.message
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "files",
    [
        {"notes.txt": "not ours"},
        {"part-0.parquet": "x", "_helix_result.json": '{"jobType": "DebateAnalysis"}'},
        {"_helix_result.json": '{"jobType": "EntityExtraction", "outputUri": "file:///elsewhere"}'},
        {"_helix_result.json": "not json"},
    ],
)
def test_an_output_folder_this_job_did_not_write_is_refused(
    spark: SparkSession, tiny: Lake, tmp_path: Path, files: Mapping[str, str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    before = snapshot(tmp_path)
    error = refusal(spark, args(tiny.uri("conversations"), out.as_uri()))
    assert error.reason == failure.OUTPUT_NOT_OWNED and str(out) in error.message
    assert snapshot(tmp_path) == before


def test_a_failed_run_leaves_the_previous_output_and_a_rerun_replaces_it(
    spark: SparkSession, tiny: Lake, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = run_job(spark, tiny, "entity_extraction", out, start=DAY, end=DAY)
    good = snapshot(out)
    assert first["outputRows"] > 0 and any(name.endswith(".parquet") for name in good)

    def crash(
        spark: SparkSession, data: DataFrame, output: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        entity = main.JOBS["entity_extraction"]
        entity.run(spark, data, output, params)  # the whole output, staged
        raise RuntimeError("executor lost")

    job: Job = dataclasses.replace(main.JOBS["entity_extraction"], run=crash)
    argv = args(tiny.uri("conversations"), out.as_uri(), "--param", "minConfidence=0.9")
    request = dataclasses.replace(main.parse_request(main.parser().parse_args(argv)), job=job)
    with pytest.raises(RuntimeError, match="executor lost"):
        main.execute(spark, request)
    assert snapshot(out) == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake", "out"]  # no staging left

    again = run_job(spark, tiny, "entity_extraction", out, "minConfidence=0.9", start=DAY, end=DAY)
    on_disk = json.loads((out / RESULT_FILE).read_text())
    assert on_disk == again and again["outputRows"] < first["outputRows"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake", "out"]


@pytest.mark.parametrize("missing", ["path", "range"])
def test_no_input_fails_naming_the_path_and_dates(
    spark: SparkSession, tiny: Lake, tmp_path: Path, missing: str
) -> None:
    source = tiny.uri("conversations") if missing == "range" else (tmp_path / "none").as_uri()
    start, end = (date(2025, 3, 1), date(2025, 3, 2)) if missing == "range" else (DAY, DAY)
    argv = args(source, (tmp_path / "out").as_uri())
    argv[argv.index("--start-date") + 1 : argv.index("--end-date") + 2] = [
        start.isoformat(), "--end-date", end.isoformat(),
    ]  # fmt: skip
    before = snapshot(tmp_path)
    error = refusal(spark, argv)
    assert error.reason == failure.NO_INPUT
    assert source in error.message and f"from {start} to {end}" in error.message
    assert ("does not exist" in error.message) == (missing == "path")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_a_termination_message_is_json_of_at_most_4_kib() -> None:
    body = failure.termination_message(failure.NO_INPUT, "é\n" * 5000)
    assert len(body.encode()) <= 4096
    assert json.loads(body)["error"] == "NoInput"
    assert json.loads(body)["message"].startswith("é\né")


def test_an_interrupted_publish_is_recovered_and_only_this_outputs_leftovers_go(
    spark: SparkSession, tmp_path: Path
) -> None:
    previous = tmp_path / ".out.previous-0123456789abcdef"  # the good output, renamed away
    previous.mkdir()
    (previous / RESULT_FILE).write_text(
        json.dumps({"jobType": "EntityExtraction", "outputUri": (tmp_path / "out").as_uri()})
    )
    (previous / "part-0.parquet").write_bytes(b"good rows")
    good = {p.name: p.read_bytes() for p in previous.iterdir()}
    (tmp_path / ".out.staging-fedcba9876543210").mkdir()  # a finished staging folder
    kept = [".other.staging-0123456789abcdef", ".out.staging-mine", "out.staging-0123456789abcdef"]
    for name in kept:
        (tmp_path / name).mkdir()

    fs = FileSystem(spark, (tmp_path / "out").as_uri())
    staging = output.prepare(fs, (tmp_path / "out").as_uri(), "EntityExtraction")

    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == good
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "out"])
    assert staging.staging.rsplit("/", 1)[-1].startswith(".out.staging-")


def test_an_unexpected_failure_is_one_line_with_the_trace_in_the_driver_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Session:
        def stop(self) -> None:
            pass

    def explode(spark: object, request: object) -> None:
        raise RuntimeError("executor lost\n\tat org.apache.spark.Something(Spark.scala:1)")

    monkeypatch.setattr(main, "build_session", lambda *a, **k: Session())
    monkeypatch.setattr(main, "execute", explode)
    argv = args("file:///lake/conversations/", "file:///elsewhere/out")
    assert main.main(argv) == failure.EXIT_CODES[failure.JOB_FAILED] == 1
    out, err = capsys.readouterr()
    assert err == "run_job.py: error: JobFailed: executor lost\n"
    assert "Traceback" in out and "Spark.scala" in out
    message = json.loads(Path(os.environ["HELIX_TERMINATION_LOG"]).read_text())
    assert message == {"error": "JobFailed", "message": "executor lost"}


def test_a_jvm_error_is_described_by_the_java_exceptions_first_line() -> None:
    class JavaException:
        def toString(self) -> str:
            return "java.io.IOException: No space left on device\n\tat java.io.Foo(Foo.java:1)"

    error = RuntimeError("An error occurred while calling o61.parquet.")
    error.java_exception = JavaException()  # type: ignore[attr-defined]
    assert failure.describe(error) == "java.io.IOException: No space left on device"


def test_on_s3a_a_rerun_replaces_its_own_output(
    s3_server: S3Server, tiny: Lake, tmp_path: Path
) -> None:
    """A retried attempt meets its own earlier output on S3 (where a rename is copies and
    deletes): it replaces it, and leaves no staging or previous copy behind."""
    bucket = s3_server.create_bucket()
    client = s3_server.client()
    for path in tiny.root.rglob("*"):
        if path.is_file():
            client.put_object(Bucket=bucket, Key=path.relative_to(tiny.root).as_posix(),
                              Body=path.read_bytes())  # fmt: skip
    dataset, out = f"s3a://{bucket}/conversations/", f"s3a://{bucket}/analytics/entities/"
    results = []
    for attempt in (1, 2):
        log = tmp_path / f"log-{attempt}"
        done = spark_submit(s3_server, "entity_extraction", dataset, out, DAY, DAY, log)
        assert done.returncode == 0, done.stderr[-3000:]
        results.append(json.loads(log.read_text()))
    same = [{k: v for k, v in r.items() if k != "durationSeconds"} for r in results]
    assert same[0] == same[1] and results[0]["outputRows"] > 0
    keys = [
        o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="analytics/")["Contents"]
    ]
    assert all(k.startswith("analytics/entities/") for k in keys), keys
    stored = json.loads(client.get_object(Bucket=bucket, Key=f"analytics/entities/{RESULT_FILE}")["Body"].read())  # fmt: skip
    assert stored == results[1]
