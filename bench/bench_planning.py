"""A job over 30 days against the same job over 2000-01-01..2100-12-31, at a git revision and at
this checkout, on a local lake and on S3 (SeaweedFS, loopback), side by side.

    .venv/bin/python -m bench.bench_planning e295303 [--rounds 3] [--baseline-everything-rounds 1]

Seeds <workdir>/planning-<n> once (n conversations over the 30 days of January 2026, raw, about
one debate per 10) and copies it to a bucket of a SeaweedFS started here. Each round runs, for
each revision (its code on PYTHONPATH) and each lake, one process on local[2] that runs
debate_analysis through the entry point's own request handling once to warm up, then over the
30 days and over the whole range, timing each job. Rounds alternate between the revisions so
machine noise hits both alike. The baseline lists every day of a range (~37,000 for the whole
range, minutes each), so it runs the whole range only in the first
``--baseline-everything-rounds`` rounds. Prints one JSON line per job and the medians.
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
RANGES = {"30 days": (START, END), "2000..2100": (date(2000, 1, 1), date(2100, 12, 31))}
BASELINE_TREE = Path("/tmp/helix-plan-before")
ROUND = """
import json, sys, time
from datetime import date
from helix_jobs import main, records
from helix_jobs.reader import plan_files
from helix_jobs.session import S3Options, build_session
dataset, out, ranges, planned = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
s3 = S3Options.from_env() if dataset.startswith("s3a://") else None
spark = build_session("bench-planning", master="local[2]", s3=s3, driver_memory="2g")
spark.sparkContext.setLogLevel("ERROR")
def job(name, start, end):
    argv = [
        "--job-type", "debate_analysis", "--input-path", dataset,
        "--output-path", f"{out}/{name.replace(' ', '-')}/", "--start-date", start, "--end-date", end,
    ]
    began = time.monotonic()
    result = main.execute(spark, main.parse_request(main.parser().parse_args(argv)))
    return time.monotonic() - began, result
job("warm-up", *next(iter(ranges.values())))
for name, (start, end) in ranges.items():
    plan = None
    if name in planned:
        began = time.monotonic()
        plan_files(spark, dataset, records.DEBATES, date.fromisoformat(start), date.fromisoformat(end))
        plan = round(time.monotonic() - began, 3)
    seconds, result = job(name, start, end)
    same = [result[k] for k in ("processedRows", "outputRows", "corruptRecords", "daysRead")]
    row = {"range": name, "seconds": round(seconds, 3), "plan_seconds": plan, "result": same}
    print(json.dumps(row), flush=True)
"""


def one_round(
    tree: Path, dataset: str, out: str, ranges: list[str], planned: list[str], env: dict[str, str]
) -> list[dict[str, Any]]:
    """Jobs over the ranges, each after timing its planning alone when it is in ``planned``."""
    spans = {name: [d.isoformat() for d in RANGES[name]] for name in ranges}
    done = subprocess.run(
        [sys.executable, "-c", ROUND, dataset, out, json.dumps(spans), *planned],
        env={**os.environ, **env, "PYTHONPATH": str(tree / "spark-jobs")},
        cwd=tree, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"round failed in {tree}:\n{done.stderr[-4000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def ensure_lake(workdir: Path, size: int) -> Path:
    from helix_batch.lake.seeding import seed

    lake = workdir / f"planning-{size}"
    if not (lake / ".seeded").exists():
        report = seed(lake.as_uri(), size, START, END, compacted=False)
        (lake / ".seeded").write_text(json.dumps(report.to_dict()))
    return lake


def upload(client: Any, bucket: str, folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = path.relative_to(folder.parent).as_posix()
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


def worktree(rev: str, path: Path) -> None:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
        check=True, capture_output=True,
    )  # fmt: skip


def _median(rows: list[dict[str, Any]], key: str, name: str) -> float | None:
    values = [r[key] for r in rows if r["range"] == name and r[key] is not None]
    return statistics.median(values) if values else None


def _cell(value: float | None, width: int) -> str:
    return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"


def summary(rows: list[dict[str, Any]]) -> None:
    """Medians per lake and code: the job over each range, the difference, the planning alone."""
    head = ("lake", "code", "job 30 days s", "job 2000..2100 s", "extra s", "plan 30 d", "plan all")
    print(f"\n{head[0]:<7}{head[1]:<10}" + "".join(f"{h:>17}" for h in head[2:]) + "  runs")
    for lake in ("local", "s3a"):
        for code in dict.fromkeys(r["code"] for r in rows):
            mine = [r for r in rows if r["lake"] == lake and r["code"] == code]
            short, whole = (_median(mine, "seconds", n) for n in RANGES)
            extra = whole - short if whole is not None and short is not None else None
            plans = [_median(mine, "plan_seconds", n) for n in RANGES]
            runs = [sum(r["range"] == n for r in mine) for n in RANGES]
            cells = [_cell(v, 17) for v in (short, whole, extra, *plans)]
            print(f"{lake:<7}{code:<10}" + "".join(cells) + f"  {runs}")
    results = {(r["lake"], r["code"], r["range"]): r["result"] for r in rows}
    differ = {k for k in results if results[k] != results[(k[0], k[1], "30 days")]}
    print("same results for both ranges:", "yes" if not differ else f"NO: {sorted(differ)}")


def main() -> None:
    from tests.fixtures.s3 import start_seaweedfs, stop_seaweedfs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", help="git revision to compare with, e.g. e295303")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline-everything-rounds", type=int, default=1)
    ap.add_argument("--conversations", type=int, default=500)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/helix-bench"))
    args = ap.parse_args()
    lake = ensure_lake(args.workdir, args.conversations)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = start_seaweedfs(Path(tmp))
        trees = {"baseline": BASELINE_TREE, "now": ROOT}
        worktree(args.baseline, trees["baseline"])
        try:
            bucket = server.create_bucket()
            upload(server.client(), bucket, lake / "debates")
            lakes = {
                "local": ((lake / "debates").as_uri() + "/", Path(tmp, "out").as_uri(), {}),
                "s3a": (f"s3a://{bucket}/debates/", f"s3a://{bucket}/analytics", server.env()),
            }
            for i in range(args.rounds):
                for code, tree in trees.items():
                    baseline = code == "baseline"
                    ranges = list(RANGES)
                    if baseline and i >= args.baseline_everything_rounds:
                        ranges = ["30 days"]
                    planned = ["30 days"] if baseline else ranges  # the baseline's takes minutes
                    for name, (dataset, out, env) in lakes.items():
                        log = {"HELIX_TERMINATION_LOG": str(Path(tmp, "termination-log"))}
                        began = time.monotonic()
                        output = f"{out}/{code}-{i}"  # re-publishing fails on s3a (rename)
                        for row in one_round(
                            tree, dataset, output, ranges, planned, {**env, **log}
                        ):
                            row = {"round": i, "code": code, "lake": name, **row}
                            rows.append(row)
                            print(json.dumps(row), flush=True)
                        print(json.dumps({"process_seconds": round(time.monotonic() - began, 1)}))
        finally:
            stop_seaweedfs(server)
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(trees["baseline"])],
                check=True,
            )  # fmt: skip
    (args.workdir / "planning-rows.json").write_text(json.dumps(rows))
    summary(rows)


if __name__ == "__main__":
    main()
