"""Wall time of every Spark job on local[2], on a lake as maintenance leaves it (compacted).

    .venv/bin/python bench/bench_jobs.py --sizes 200000,1000000 --repeat 3

Seeds <workdir>/lake-<size> once with `helix_batch.lake.seeding.seed(..., compacted=True)`
(30 days of January 2026, ~1 debate per 10 conversations, 0.2% malformed records left raw, as
before maintenance quarantines them) and reuses it on later runs. `--days N` reads only the first
N days. Prints one JSON line per measurement (wall and the driver JVM's CPU seconds, which a
busy machine disturbs less than wall time) and a table of medians, against the seed document's
published cluster figures where a size matches the scale they were given for.

`--against REV` also runs the jobs as of git revision REV in the same JVM, taking turns with this
checkout's (REV's package is imported under its own name), so both meet the same JIT and the
same noise; `--warmup N` leaves each side's first N runs out of the medians.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import re
import statistics
import subprocess
import sys
import tarfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import cpu_seconds
from helix_batch.lake.seeding import seed
from helix_jobs import main
from helix_jobs.session import build_session

ROOT = Path(__file__).resolve().parent.parent
START, END = date(2026, 1, 1), date(2026, 1, 30)
# The seed document's published cluster figures (seconds), at the scale each was given for:
# 10K debates and 5K debates are the lakes of 100K and 50K conversations (one debate per ten).
SEED_SECONDS = {
    ("entity_extraction", 100_000): 120,
    ("entity_extraction", 1_000_000): 600,
    ("relationship_mining", 1_000_000): 300,
    ("topic_modeling", 1_000_000): 900,
    ("provider_performance", 100_000): 60,
    ("debate_analysis", 50_000): 120,
}
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
    return cpu_seconds(spark._jvm.java.lang.ProcessHandle.current().pid())


def jobs_at(rev: str, workdir: Path) -> Any:
    """The ``main`` module of spark-jobs/helix_jobs as of git revision ``rev``, imported as
    helix_jobs_<rev> beside this checkout's."""
    name = "helix_jobs_" + re.sub(r"\W", "_", rev)
    packages = workdir / "packages"
    if not (packages / name).exists():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "spark-jobs/helix_jobs"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith(".py"):
                    text = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
                    target = packages / name / Path(member.name).name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(re.sub(r"\bhelix_jobs\b", name, text))
    sys.path.insert(0, str(packages))
    return importlib.import_module(f"{name}.main")


def run_once(
    jobs: Any,
    spark: Any,
    lake: Path,
    out: Path,
    job_type: str,
    params: tuple[str, ...],
    end: date,
) -> tuple[float, float, dict[str, Any]]:
    dataset = jobs.JOBS[job_type].dataset.name
    argv = [
        "--job-type", job_type,
        "--input-path", (lake / dataset).as_uri(),
        "--output-path", (out / job_type).as_uri(),
        "--start-date", START.isoformat(), "--end-date", end.isoformat(),
    ]  # fmt: skip
    for p in params:
        argv += ["--param", p]
    request = jobs.parse_request(jobs.parser().parse_args(argv))
    began, cpu = time.monotonic(), jvm_cpu_seconds(spark)
    result = jobs.execute(spark, request)
    return time.monotonic() - began, jvm_cpu_seconds(spark) - cpu, result


def main_(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="200000,1000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--jobs", default=",".join(j for j, _ in JOBS))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/helix-bench"))
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument("--days", type=int, default=(END - START).days + 1)
    ap.add_argument("--against", metavar="REV", help="a git revision to take turns with")
    args = ap.parse_args(argv)
    wanted = set(args.jobs.split(","))
    end = START + timedelta(days=args.days - 1)
    sides = {"now": main}
    if args.against:
        sides[args.against] = jobs_at(args.against, args.workdir)
    spark = build_session("bench-jobs", master="local[2]", driver_memory=args.driver_memory)
    spark.sparkContext.setLogLevel("ERROR")
    table: list[tuple[int, str, str, float, float, int]] = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            lake = ensure_lake(args.workdir, size)
            for job_type, params in JOBS:
                if job_type not in wanted:
                    continue
                runs: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
                rows: dict[str, int] = {}
                for attempt in range(args.warmup + args.repeat):
                    for side, jobs in sides.items():
                        out = args.workdir / f"out-{size}-{side}"
                        seconds, cpu, result = run_once(
                            jobs, spark, lake, out, job_type, params, end
                        )
                        if attempt >= args.warmup:
                            runs[side].append((seconds, cpu))
                        rows[side] = result["outputRows"]
                        line = {"size": size, "job": job_type, "side": side, "attempt": attempt, "seconds": round(seconds, 2),
                                "cpu": round(cpu, 1), "processedRows": result["processedRows"], "outputRows": result["outputRows"]}  # fmt: skip
                        print(json.dumps(line), flush=True)
                for side, measured in runs.items():
                    wall = statistics.median(s for s, _ in measured)
                    cpu = statistics.median(c for _, c in measured)
                    table.append((size, job_type, side, wall, cpu, rows[side]))
    finally:
        spark.stop()
    print(
        f"\n{'conversations':>13}  {'job':<22}{'side':<10}{'wall s':>8}{'cpu s':>8}{'rows':>10}"
        f"{'seed s':>8}{'faster':>8}"
    )
    for size, job_type, side, wall, cpu, count in table:
        whole = end == END  # the seed's figures are for the whole lake
        seed_s = SEED_SECONDS.get((job_type, size)) if whole else None
        against = f"{seed_s:>8}{seed_s / wall:>7.1f}x" if seed_s else ""
        print(f"{size:>13}  {job_type:<22}{side:<10}{wall:>8.1f}{cpu:>8.1f}{count:>10}{against}")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
