"""A day's job results are the same before and after its compaction, on S3 (SeaweedFS).

The day holds every case of the validity table (tests/jobs/test_validity.py), malformed files
included. entity_extraction runs through the real entry point (spark-submit, hadoop-aws), the
day is compacted by the lake library against the same server, and the job runs again to a
second output: the Parquet rows, the result counts and the corrupt records' reasons agree, and
they are the table's (the verdicts it states, not the code's).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from helix_batch.lake.compaction import compact_day
from helix_batch.lake.storage import open_storage
from helix_jobs import layout
from tests.fixtures.s3 import S3Server
from tests.jobs.submit import spark_submit
from tests.jobs.test_validity import CONV, DAY, TABLE
from tests.lake.helpers import conversation

ROOT = Path(__file__).resolve().parents[2]
TYPES = ("PERSON", "ORG", "LOCATION", "PRODUCT")


def record(i: int) -> dict[str, Any]:
    """The table's base record with a second, varied entity, so the output has several rows."""
    base = conversation(f"r{i}", DAY)
    base["entities"].append(
        {
            "entity_id": f"ent-{i % 4 + 2}",
            "entity_type": TYPES[i % 4],
            "name": f"Name {i % 4}",
            "confidence": (0.55, 0.65, 0.75)[i % 3],
            "message_index": 1,
        }
    )
    return base


def run_job(s3: S3Server, bucket: str, output: str, log: Path) -> dict[str, Any]:
    uris = f"s3a://{bucket}/{CONV.name}/", f"s3a://{bucket}/{output}/"
    done = spark_submit(s3, "entity_extraction", *uris, DAY, DAY, log)
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(log.read_text())
    return result


def download(client: Any, bucket: str, prefix: str, into: Path) -> None:
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    assert not listed.get("IsTruncated")
    for item in listed.get("Contents", []):
        target = into / item["Key"][len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())


def entity_rows(folder: Path) -> list[tuple[Any, ...]]:
    query = (
        "SELECT entity_id, entity_type, name, mention_count, conversations, avg_confidence,"
        " max_confidence, first_seen, last_seen, importance_score"
        " FROM read_parquet(?, hive_partitioning = true) ORDER BY entity_id"
    )
    return duckdb.connect().execute(query, [f"{folder}/**/*.parquet"]).fetchall()


def corrupt_lines(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for part in sorted((folder / "_corrupt").glob("part-*.json"))
        for line in part.read_text().splitlines()
    ]


def test_a_day_gives_the_same_results_before_and_after_its_compaction_on_s3(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.create_bucket()
    client = s3_server.client()
    folder = f"{CONV.name}/{layout.day_path(DAY)}"
    stated: dict[str, str | None] = {}  # file name -> the table's verdict
    for i, (_, body, verdict) in enumerate(TABLE):
        name = f"{CONV.file_prefix}r{i}.json"
        client.put_object(Bucket=bucket, Key=f"{folder}/{name}", Body=body(record(i)))
        stated[name] = verdict
    malformed = {n: v for n, v in stated.items() if v is not None}
    assert "" not in malformed and any(v == "empty" for v in malformed.values())

    before = run_job(s3_server, bucket, "analytics/before", tmp_path / "log-before")
    report = compact_day(open_storage(f"s3://{bucket}"), CONV, DAY)
    assert (report.action, report.records, report.quarantined) == (
        "compacted",
        len(stated) - len(malformed),
        len(malformed),
    )
    raw_left = client.list_objects_v2(Bucket=bucket, Prefix=f"{folder}/{CONV.file_prefix}")
    assert raw_left.get("KeyCount", 0) == 0  # the job reads only compacted files now
    after = run_job(s3_server, bucket, "analytics/after", tmp_path / "log-after")

    counts = ("processedRows", "outputRows", "corruptRecords", "entitiesExtracted", "daysRead")
    assert {k: after[k] for k in counts} == {k: before[k] for k in counts}
    assert before["processedRows"] == len(stated) - len(malformed)
    assert before["corruptRecords"] == len(malformed)
    outputs = {}
    for run in ("before", "after"):
        download(client, bucket, f"analytics/{run}", tmp_path / run)
        outputs[run] = entity_rows(tmp_path / run)
    assert outputs["after"] == outputs["before"]
    assert len(outputs["before"]) == before["outputRows"] == 5  # ent-1 .. ent-5
    lines = {run: corrupt_lines(tmp_path / run) for run in ("before", "after")}
    for run, found in lines.items():
        assert {Path(line["file"]).name: line["reason"] for line in found} == malformed, run
    assert all(f"/_quarantine/{folder}/" in line["file"] for line in lines["after"])
