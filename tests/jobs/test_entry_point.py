"""The entry point: argument checking, and a real spark-submit run against S3 (SeaweedFS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helix_jobs import main
from tests.fixtures.s3 import S3Server
from tests.jobs import expected
from tests.jobs.lake import END, START, Lake
from tests.jobs.submit import spark_submit

ROOT = Path(__file__).resolve().parents[2]


def base_args(job_type: str = "entity_extraction") -> list[str]:
    return [
        "--job-type", job_type, "--input-path", "file:///nowhere/conversations/",
        "--output-path", "file:///nowhere/out/", "--start-date", "2026-01-01", "--end-date", "2026-01-02",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("job_type", "param", "message"),
    [
        ("entity_extraction", "minConfidence=1.5", "minConfidence='1.5': out of range"),
        ("entity_extraction", "entityTypes=PERSON,ALIEN", "'ALIEN' is not one of"),
        (
            "entity_extraction",
            "windowSize=3",
            "unknown parameter(s) for entity_extraction: windowSize",
        ),
        ("relationship_mining", "minCooccurrence=two", "minCooccurrence='two': not an integer"),
        ("topic_modeling", "numTopics=1", "numTopics='1': out of range 2..200"),
        ("provider_performance", "percentiles=0.5,1.0", "percentiles='0.5,1.0': out of range"),
        ("provider_performance", "percentiles=0.5,0.5", "duplicate items"),
        ("debate_analysis", "minRounds", "expected key=value"),
    ],
)
def test_bad_parameters_exit_non_zero_with_a_clear_message(
    job_type: str, param: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main([*base_args(job_type), "--param", param]) == 2
    assert message in capsys.readouterr().err


def test_an_end_before_the_start_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = base_args()
    args[args.index("--end-date") + 1] = "2025-12-31"
    assert main.main(args) == 2
    assert "--end-date is before --start-date" in capsys.readouterr().err


def test_spark_submit_runs_a_job_on_s3(s3_server: S3Server, lake: Lake, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket()
    client = s3_server.client()
    for path in (lake.root / "debates").rglob("*"):
        if path.is_file():
            client.put_object(
                Bucket=bucket, Key=path.relative_to(lake.root).as_posix(), Body=path.read_bytes()
            )
    log = tmp_path / "termination-log"
    done = spark_submit(
        s3_server, "debate_analysis", f"s3a://{bucket}/debates/",
        f"s3a://{bucket}/analytics/debates/", START, END, log,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert s3_server.secret_key not in done.stdout + done.stderr

    stored = client.get_object(Bucket=bucket, Key="analytics/debates/_helix_result.json")[
        "Body"
    ].read()
    result = json.loads(stored)
    assert json.loads(log.read_text()) == result
    wanted = expected.debates(lake.valid("debates"), min_rounds=1)
    settled = sum(1 for d in wanted.values() if d["consensus_reached"])
    assert result["debates"] == result["processedRows"] == len(wanted)
    assert result["corruptRecords"] == len(lake.malformed("debates"))
    assert result["consensusRate"] == round(settled / len(wanted), 4)
    listed = client.list_objects_v2(Bucket=bucket, Prefix="analytics/debates/debates/")
    assert any(o["Key"].endswith(".parquet") for o in listed.get("Contents", []))
    corrupt = client.list_objects_v2(Bucket=bucket, Prefix="analytics/debates/_corrupt/")
    assert any(o["Key"].endswith(".json") for o in corrupt.get("Contents", []))
