"""The operator's render+decide rate at another git revision and at this checkout, side by side.

    taskset -c 0 .venv/bin/python -m bench.bench_operator_versions b6f217a [--rounds 7]

Both run the same loop (the steady-state step of bench/bench_operator.py as the old revision
wrote it: read the job, observe the running driver pod, decide, render), each in its own
process with its own code on PYTHONPATH, in alternating rounds, so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# One round: 20,000 steps of the baseline's own bench loop, printed as steps per second.
ROUND = """
import time
from bench import bench_operator as b
job = b.load_job(b.JOB, b.SETTINGS, check=False)
submitted = b.decide(job, {}, None, None, b.T0, b.SETTINGS).status
started = time.perf_counter()
for i in range(20_000):
    job = b.load_job(b.JOB, b.SETTINGS, check=False)
    driver = b.observe_driver(b.POD)
    b.decide(job, submitted, True, driver, b.T0 + b.timedelta(seconds=i % 50), b.SETTINGS)
    b.render_spark_application(job, 1)
print(20_000 / (time.perf_counter() - started))
"""


def rate(tree: Path, bench_tree: Path) -> float:
    """One round with the operator code of ``tree`` and the bench (its job) of ``bench_tree``."""
    path = os.pathsep.join(str(p) for p in (tree / "operator", tree / "spark-jobs", bench_tree))
    out = subprocess.run(
        [sys.executable, "-c", ROUND],
        env={**os.environ, "PYTHONPATH": path},
        cwd=tree, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", help="git revision to compare with, e.g. b6f217a")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.baseline],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            rates: dict[str, list[float]] = {"baseline": [], "now": []}
            for _ in range(args.rounds):
                rates["baseline"].append(rate(old, old))
                rates["now"].append(rate(ROOT, old))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=True
            )
    for name, values in rates.items():
        print(f"{name}: median {statistics.median(values):,.0f}/s "
              f"(min {min(values):,.0f}, max {max(values):,.0f})")  # fmt: skip
    ratios = [n / b for n, b in zip(rates["now"], rates["baseline"], strict=True)]
    print(f"now / {args.baseline}: median {statistics.median(ratios):.2f} "
          f"({args.rounds} alternating rounds of 20,000)")  # fmt: skip


if __name__ == "__main__":
    main()
