"""Wall time of every Spark job on local[2], on a lake as maintenance leaves it (compacted).

    .venv/bin/python bench/bench_jobs.py --sizes 200000,1000000 --repeat 3

Seeds <workdir>/lake-<size> once with `helix_batch.lake.seeding.seed(..., compacted=True)`
(30 days of January 2026, ~1 debate per 10 conversations, 0.2% malformed records left raw, as
before maintenance quarantines them) and reuses it on later runs. `--days N` reads only the first
N days. Prints one JSON line per measurement (wall and the driver JVM's CPU seconds, which a
busy machine disturbs less than wall time) and a table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from helix_batch.lake.seeding import seed
from helix_jobs import main
from helix_jobs.session import build_session

START, END = date(2026, 1, 1), date(2026, 1, 30)
JOBS = (
    ("entity_extraction", ()),
    ("relationship_mining", ()),
    ("topic_modeling", ()),
    ("provider_performance", ()),
    ("debate_analysis", ()),
)


def ensure_lake(workdir: Path, size: int) -> Path:
    lake = workdir / f"lake-{size}"
    done = lake / ".seeded"
    if not done.exists():
        began = time.monotonic()
        report = seed(lake.as_uri(), size, START, END, compacted=True)
        seconds = time.monotonic() - began
        done.write_text(json.dumps({**report.to_dict(), "seconds": seconds}))
        print(
            json.dumps({"seeded": size, "seconds": round(seconds, 1), "records": report.records}),
            flush=True,
        )
    return lake


def jvm_cpu_seconds(spark: Any) -> float:
    pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_once(
    spark: Any, lake: Path, out: Path, job_type: str, params: tuple[str, ...], end: date
) -> tuple[float, float, dict[str, Any]]:
    dataset = main.JOBS[job_type].dataset.name
    argv = [
        "--job-type", job_type,
        "--input-path", (lake / dataset).as_uri(),
        "--output-path", (out / job_type).as_uri(),
        "--start-date", START.isoformat(), "--end-date", end.isoformat(),
    ]  # fmt: skip
    for p in params:
        argv += ["--param", p]
    request = main.parse_request(main.parser().parse_args(argv))
    began, cpu = time.monotonic(), jvm_cpu_seconds(spark)
    result = main.execute(spark, request)
    return time.monotonic() - began, jvm_cpu_seconds(spark) - cpu, result


def main_(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="200000,1000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", default=",".join(j for j, _ in JOBS))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/helix-bench"))
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument("--days", type=int, default=(END - START).days + 1)
    args = ap.parse_args(argv)
    wanted = set(args.jobs.split(","))
    end = START + timedelta(days=args.days - 1)
    spark = build_session("bench-jobs", master="local[2]", driver_memory=args.driver_memory)
    spark.sparkContext.setLogLevel("ERROR")
    table: list[tuple[int, str, float, int]] = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            lake = ensure_lake(args.workdir, size)
            for job_type, params in JOBS:
                if job_type not in wanted:
                    continue
                times = []
                for attempt in range(args.repeat):
                    seconds, cpu, result = run_once(
                        spark, lake, args.workdir / f"out-{size}", job_type, params, end
                    )
                    times.append(seconds)
                    line = {"size": size, "job": job_type, "attempt": attempt, "seconds": round(seconds, 2), "cpu": round(cpu, 1),
                            "processedRows": result["processedRows"], "outputRows": result["outputRows"]}  # fmt: skip
                    print(json.dumps(line), flush=True)
                table.append((size, job_type, statistics.median(times), result["outputRows"]))
    finally:
        spark.stop()
    print(f"\n{'conversations':>13}  {'job':<22}{'median s':>10}{'output rows':>13}")
    for size, job_type, median, rows in table:
        print(f"{size:>13}  {job_type:<22}{median:>10.1f}{rows:>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
