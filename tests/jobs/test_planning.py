"""Planning follows the partitions present, not the days of the range (issue #18, target 0).

``layout.descend`` decides which year/month/day folders to enter; the table below states its
answers by hand. Jobs over 2000-01-01..2100-12-31 give exactly the output of the 30 days that
hold the data, on a local lake and on S3 (SeaweedFS), and on S3 the client's own request
counters show the listings follow the partitions: the same for both ranges.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pyspark.sql import SparkSession

from helix_batch.lake.compaction import compact_day
from helix_batch.lake.sample_data import generate
from helix_batch.lake.storage import open_storage
from helix_jobs import layout, main, records
from tests.fixtures.s3 import S3Server
from tests.jobs.submit import ROOT, spark_submit

D = date
EVERYTHING = (D(2000, 1, 1), D(2100, 12, 31))

# parent, names listed in its folder, start, end -> the names to descend into, in order.
TABLE: list[tuple[str, layout.Partition, list[str], date, date, list[str]]] = [
    ("same day, years", (), ["year=2025", "year=2026", "year=2027"], D(2026, 1, 4), D(2026, 1, 4), ["year=2026"]),
    ("same day, months", (2026,), ["month=01", "month=02", "month=12"], D(2026, 1, 4), D(2026, 1, 4), ["month=01"]),
    ("same day, days", (2026, 1), ["day=03", "day=04", "day=05"], D(2026, 1, 4), D(2026, 1, 4), ["day=04"]),
    ("month boundary, months", (2026,), ["month=01", "month=02", "month=03"], D(2026, 1, 31), D(2026, 2, 1), ["month=01", "month=02"]),
    ("month boundary, first month's days", (2026, 1), ["day=30", "day=31"], D(2026, 1, 31), D(2026, 2, 1), ["day=31"]),
    ("month boundary, last month's days", (2026, 2), ["day=01", "day=02"], D(2026, 1, 31), D(2026, 2, 1), ["day=01"]),
    ("year boundary, years", (), ["year=2024", "year=2025", "year=2026", "year=2027"], D(2025, 12, 31), D(2026, 1, 1), ["year=2025", "year=2026"]),
    ("year boundary, first year's months", (2025,), ["month=11", "month=12"], D(2025, 12, 31), D(2026, 1, 1), ["month=12"]),
    ("year boundary, last year's months", (2026,), ["month=01", "month=02"], D(2025, 12, 31), D(2026, 1, 1), ["month=01"]),
    ("year boundary, days", (2025, 12), ["day=30", "day=31"], D(2025, 12, 31), D(2026, 1, 1), ["day=31"]),
    ("leap day", (2024, 2), ["day=28", "day=29", "day=30"], D(2024, 2, 28), D(2024, 3, 1), ["day=28", "day=29"]),
    ("no leap day in 2023", (2023, 2), ["day=28", "day=29"], D(2023, 2, 1), D(2023, 3, 31), ["day=28"]),
    ("range starts after the data", (), ["year=2025", "year=2026"], D(2027, 1, 1), D(2100, 12, 31), []),
    ("range ends before the data", (2026, 1), ["day=10", "day=11"], D(2026, 1, 1), D(2026, 1, 9), []),
    ("empty lake", (), [], *EVERYTHING, []),
    ("missing months: nothing invented", (2026,), ["month=07", "month=02"], D(2026, 1, 1), D(2026, 12, 31), ["month=02", "month=07"]),
    ("a year partly in range", (2026,), ["month=01", "month=02", "month=03", "month=04", "month=12"], D(2026, 3, 15), D(2027, 2, 10), ["month=03", "month=04", "month=12"]),
    ("the next year partly in range", (2027,), ["month=01", "month=02", "month=03"], D(2026, 3, 15), D(2027, 2, 10), ["month=01", "month=02"]),
    ("end before start", (), ["year=2026"], D(2026, 2, 1), D(2026, 1, 1), []),
    ("everything, unsorted", (), ["year=2026", "year=1999", "year=2101", "year=2000", "year=2100"], *EVERYTHING, ["year=2000", "year=2026", "year=2100"]),
    ("a name listed twice (an object and a folder on S3)", (), ["year=2026", "year=2026"], *EVERYTHING, ["year=2026"]),
    ("invalid years", (), ["year=2026x", "year=26", "year=02026", "year=0000", "_temporary", "year=2026.json", "year=\u0662\u0660\u0662\u0666", "year=2026"], *EVERYTHING, ["year=2026"]),
    ("invalid months", (2026,), ["month=13", "month=00", "month=1", "month=001", "year=2026", "month=12"], *EVERYTHING, ["month=12"]),
    ("invalid days", (2026, 4), ["day=31", "day=00", "day=1", "day=30", "month=04", "_SUCCESS"], *EVERYTHING, ["day=30"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("parent", "names", "start", "end", "want"),
    [row[1:] for row in TABLE],
    ids=[r[0] for r in TABLE],
)
def test_descend_keeps_the_valid_folders_that_may_hold_days_of_the_range(
    parent: layout.Partition, names: list[str], start: date, end: date, want: list[str]
) -> None:
    got = layout.descend(parent, names, start, end)
    assert [name for name, _ in got] == want
    assert [key for _, key in got] == [(*parent, int(n.split("=")[1])) for n in want]


TREE = {
    "": ["year=2025", "year=2026", "year=2026x", "_temporary"],
    "year=2025/": ["month=12", "month=13"],
    "year=2025/month=12/": ["day=31"],
    "year=2026/": ["month=01", "month=03"],
    "year=2026/month=01/": ["day=02", "day=01", "day=32"],
    "year=2026/month=03/": ["day=01"],
}


@pytest.mark.parametrize(
    ("start", "end", "days", "listed"),
    [
        (
            *EVERYTHING,
            [D(2025, 12, 31), D(2026, 1, 1), D(2026, 1, 2), D(2026, 3, 1)],
            ["", "year=2025/", "year=2025/month=12/", "year=2026/", "year=2026/month=01/",
             "year=2026/month=03/"],
        ),
        (D(2026, 1, 2), D(2026, 1, 2), [D(2026, 1, 2)], ["", "year=2026/", "year=2026/month=01/"]),
        (D(2026, 2, 1), D(2026, 2, 28), [], ["", "year=2026/"]),
        (D(2027, 1, 1), D(2100, 12, 31), [], [""]),
    ],
)  # fmt: skip
def test_present_days_lists_only_folders_that_may_hold_days_of_the_range(
    start: date, end: date, days: list[date], listed: list[str]
) -> None:
    calls: list[str] = []

    def names(path: str) -> list[str]:
        calls.append(path)
        return TREE.get(path, [])

    assert list(layout.present_days(names, start, end)) == days
    assert calls == listed


# The lake of the job tests: 30 days of debates across a year boundary, one day compacted, and
# records in folders that are not partitions (never read, whatever the range).
FIRST, LAST = D(2025, 12, 20), D(2026, 1, 18)
COMPACTED = D(2026, 1, 2)
NOT_PARTITIONS = (
    "year=2026x/month=01/day=05",
    "year=2026/month=13/day=05",
    "year=2026/month=01/day=5",
    "year=2026/month=01/day=32",
    "year=2025/month=12/day=00",
    "year=26/month=01/day=05",
)


def build_lake(root: Path) -> dict[str, int]:
    """Write the lake under root; return the debates a reader must count (valid, malformed)."""
    dataset = records.DEBATES
    counts = {"valid": 0, "malformed": 0}
    items = list(generate(1000, FIRST, LAST, seed=7, malformed_share=0.05))
    for item in items:
        if item.dataset != dataset.name:
            continue
        folder = root / dataset.name / layout.day_path(item.day)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / layout.raw_name(dataset.file_prefix, item.record_id)).write_bytes(item.body)
        counts["valid" if item.valid else "malformed"] += 1
    stray = next(g for g in items if g.dataset == dataset.name and g.valid)
    for i, path in enumerate(NOT_PARTITIONS):
        folder = root / dataset.name / path
        folder.mkdir(parents=True)
        (folder / layout.raw_name(dataset.file_prefix, f"stray{i}")).write_bytes(stray.body)
    report = compact_day(open_storage(root.as_uri()), dataset, COMPACTED)
    assert report.action == "compacted" and report.records > 0
    days = {p.parent for p in (root / dataset.name).glob("year=*/month=*/day=*/*.json")}
    assert len(days) == 30 + len(NOT_PARTITIONS)
    return counts


def output_rows(folder: Path) -> list[tuple[Any, ...]]:
    query = "SELECT * FROM read_parquet(?, hive_partitioning = true, union_by_name = true)"
    rows = duckdb.connect().execute(query, [f"{folder}/**/*.parquet"]).fetchall()
    return sorted(rows, key=repr)


def same_result(result: dict[str, Any]) -> dict[str, Any]:
    """A job's result without what depends on the run: its range, duration and output."""
    return {
        k: v
        for k, v in result.items()
        if k not in ("startDate", "endDate", "durationSeconds", "outputUri")
    }


@pytest.fixture(scope="module")
def planning_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("planning-lake")
    return root, build_lake(root)


def test_a_job_over_everything_equals_the_job_over_its_30_days_locally(
    spark: SparkSession, planning_lake: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    root, counts = planning_lake
    results, rows = {}, {}
    for name, (start, end) in {"days": (FIRST, LAST), "everything": EVERYTHING}.items():
        argv = [
            "--job-type", "debate_analysis",
            "--input-path", (root / "debates").as_uri() + "/",
            "--output-path", (tmp_path / name).as_uri(),
            "--start-date", start.isoformat(), "--end-date", end.isoformat(),
        ]  # fmt: skip
        results[name] = main.execute(spark, main.parse_request(main.parser().parse_args(argv)))
        rows[name] = output_rows(tmp_path / name)
    assert same_result(results["everything"]) == same_result(results["days"])
    assert rows["everything"] == rows["days"] and rows["days"]
    days = results["days"]
    assert (days["processedRows"], days["corruptRecords"]) == (counts["valid"], counts["malformed"])
    assert days["daysRead"] == 30


# Plans both ranges through s3a and prints the S3A client's own counters around each plan.
PLAN_ON_S3 = """
import json, sys
from datetime import date
from helix_jobs import records
from helix_jobs.hadoop_fs import FileSystem
from helix_jobs.reader import plan_files
from helix_jobs.session import S3Options, build_session
spark = build_session("plan-s3", master="local[1]", s3=S3Options.from_env(), driver_memory="1g")
root = sys.argv[1]
stats = FileSystem(spark, root).fs.getStorageStatistics()
names = ("op_list_status", "object_list_request", "object_metadata_request")
for first, last in json.loads(sys.argv[2]):
    before = [stats.getLong(n) for n in names]
    plan = plan_files(spark, root, records.DEBATES, date.fromisoformat(first), date.fromisoformat(last))
    after = [stats.getLong(n) for n in names]
    counted = {n: a - b for n, a, b in zip(names, after, before)}
    print(json.dumps({"folders_listed": plan.folders_listed, "days": plan.days_present, **counted}))
"""


def plan_on_s3(s3: S3Server, root: str, ranges: list[tuple[date, date]]) -> list[dict[str, int]]:
    env = {**os.environ, **s3.env(), "PYTHONPATH": str(ROOT / "spark-jobs")}
    spans = json.dumps([(a.isoformat(), b.isoformat()) for a, b in ranges])
    done = subprocess.run(
        [sys.executable, "-c", PLAN_ON_S3, root, spans],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines()[-len(ranges) :]]


def download(client: Any, bucket: str, prefix: str, into: Path) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            target = into / item["Key"][len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())


def test_on_s3_a_job_over_everything_equals_its_30_days_and_lists_as_much(
    s3_server: S3Server, planning_lake: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    root, counts = planning_lake
    bucket = s3_server.create_bucket()
    client = s3_server.client()
    for path in root.rglob("*"):
        if path.is_file():
            key = path.relative_to(root).as_posix()
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    dataset = f"s3a://{bucket}/debates/"

    results, rows = {}, {}
    for name, (start, end) in {"days": (FIRST, LAST), "everything": EVERYTHING}.items():
        log = tmp_path / f"log-{name}"
        output = f"s3a://{bucket}/analytics/{name}/"
        done = spark_submit(s3_server, "debate_analysis", dataset, output, start, end, log)
        assert done.returncode == 0, done.stderr[-4000:]
        results[name] = json.loads(log.read_text())
        download(client, bucket, f"analytics/{name}/", tmp_path / name)
        rows[name] = output_rows(tmp_path / name)
    assert same_result(results["everything"]) == same_result(results["days"])
    assert rows["everything"] == rows["days"] and rows["days"]
    days = results["days"]
    assert (days["processedRows"], days["corruptRecords"]) == (counts["valid"], counts["malformed"])

    ranges = [
        (FIRST, LAST),
        EVERYTHING,
        (D(2025, 12, 31), D(2026, 1, 1)),
        (D(2026, 1, 10), D(2100, 1, 1)),
    ]
    days_plan, everything, year_end, tail = plan_on_s3(s3_server, dataset, ranges)
    # root + 2 years (not year=2026x, year=26) + 2 months (not month=13) + the days present
    assert days_plan["folders_listed"] == everything["folders_listed"] == 1 + 2 + 2 + 30
    assert year_end["folders_listed"] == 1 + 2 + 2 + 2
    assert tail["folders_listed"] == 1 + 1 + 1 + 9
    for plan in (days_plan, everything, year_end, tail):
        assert plan["op_list_status"] == plan["folders_listed"]  # the client's count, not ours
    assert everything == days_plan  # every request the client made, the same for both ranges
    assert year_end["object_list_request"] < days_plan["object_list_request"]
    assert (everything["days"], year_end["days"], tail["days"]) == (30, 2, 9)
