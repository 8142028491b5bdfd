"""Raw reading (parse and validity checks) at other git revisions and at this checkout.

    .venv/bin/python -m bench.bench_raw_read b6f217a 2365b87 [--conversations 40000] [--rounds 5]

Seeds <workdir>/raw-<n> once (raw only, 30 days of January 2026, 0.2% malformed records) and
reads its conversations with each revision's own reader (``read_dataset``) in its own process
(local[2], its code on PYTHONPATH), in alternating rounds so machine noise hits all alike. A
round times what a job makes the reader do: the valid records (a noop write, every column) and
the malformed ones (``write_corrupt``), twice in one session; the second pass is the steady
state, the first includes the JVM's warm-up. Prints one JSON line per round and the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START, END = date(2026, 1, 1), date(2026, 1, 30)
ROUND = """
import json, sys, tempfile, time
from datetime import date
from helix_jobs import records
from helix_jobs.reader import read_dataset
from helix_jobs.session import build_session
spark = build_session("bench-raw-read", master="local[2]", driver_memory="4g")
spark.sparkContext.setLogLevel("ERROR")
lake, passes = sys.argv[1], []
for i in range(2):
    began = time.monotonic()
    data = read_dataset(spark, lake, records.CONVERSATIONS, date(2026, 1, 1), date(2026, 1, 30))
    data.records.write.format("noop").mode("overwrite").save()
    with tempfile.TemporaryDirectory() as out:
        rows, corrupt = data.write_corrupt("file://" + out)
    passes.append(time.monotonic() - began)
print(json.dumps({"passes": passes, "rows": rows, "corrupt": corrupt}))
"""


def one_round(tree: Path, lake: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree / "spark-jobs")}
    out = subprocess.run(
        [sys.executable, "-c", ROUND, (lake / "conversations").as_uri()],
        env=env, cwd=tree, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def ensure_lake(workdir: Path, size: int) -> Path:
    from helix_batch.lake.seeding import seed

    lake = workdir / f"raw-{size}"
    if not (lake / ".seeded").exists():
        began = time.monotonic()
        report = seed(lake.as_uri(), size, START, END, compacted=False)
        (lake / ".seeded").write_text(json.dumps(report.to_dict()))
        print(json.dumps({"seeded": str(lake), "seconds": round(time.monotonic() - began, 1)}))
    return lake


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baselines", nargs="+", help="git revisions to compare with, e.g. b6f217a")
    ap.add_argument("--conversations", type=int, default=40_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/helix-bench"))
    args = ap.parse_args()
    lake = ensure_lake(args.workdir, args.conversations)
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"now": ROOT}
        for rev in args.baselines:
            trees[rev] = Path(tmp) / rev
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(trees[rev]), rev],
                check=True, capture_output=True,
            )  # fmt: skip
        try:
            seconds: dict[str, list[list[float]]] = {name: [] for name in trees}
            for i in range(args.rounds):
                for name, tree in trees.items():
                    result = one_round(tree, lake)
                    seconds[name].append(list(result["passes"]))
                    print(json.dumps({"round": i, "code": name, **result}), flush=True)
        finally:
            for rev in args.baselines:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(trees[rev])],
                    check=True,
                )
    print(f"\n{'code':<10}{'first pass s':>14}{'second pass s':>15}  (medians of {args.rounds})")
    for name, runs in seconds.items():
        first = statistics.median(r[0] for r in runs)
        second = statistics.median(r[1] for r in runs)
        print(f"{name:<10}{first:>14.2f}{second:>15.2f}")


if __name__ == "__main__":
    main()
