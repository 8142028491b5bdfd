"""Planning alone (``reader.plan_files``: the partition listings and the day manifests) over
the bench's lake, this checkout against git revision REV, taking turns in one JVM.

    .venv/bin/python bench/bench_plan_files.py 20241d5 --size 1000000 --workdir /tmp/hb1m

The lake is bench_jobs.py's (seeded there once, compacted: one manifest per day). Prints one
JSON line per plan and the medians.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_jobs import END, START, ensure_lake, jobs_at
from helix_jobs import reader, records
from helix_jobs.session import build_session


def main_(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("against", metavar="REV")
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/helix-bench"))
    args = ap.parse_args(argv)
    before = jobs_at(args.against, args.workdir).__name__.removesuffix(".main")
    readers = {"now": reader, args.against: importlib.import_module(f"{before}.reader")}
    root = (ensure_lake(args.workdir, args.size) / records.CONVERSATIONS.name).as_uri()
    spark = build_session("bench-plan-files", master="local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    seconds: dict[str, list[float]] = {side: [] for side in readers}
    try:
        for attempt in range(args.repeat + 1):  # the first round warms up
            for side, module in readers.items():
                began = time.monotonic()
                plan = module.plan_files(spark, root, records.CONVERSATIONS, START, END)
                took = time.monotonic() - began
                if attempt:
                    seconds[side].append(took)
                print(json.dumps({"side": side, "attempt": attempt, "seconds": round(took, 3),
                                  "compacted": len(plan.compacted), "raw": len(plan.raw)}), flush=True)  # fmt: skip
    finally:
        spark.stop()
    for side, measured in seconds.items():
        print(f"{side:<10} median {statistics.median(measured):.2f} s over {len(measured)} plans")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
