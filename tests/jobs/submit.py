"""The Spark entry point as a cluster runs it: spark-submit with hadoop-aws, against S3."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from helix_jobs import session
from tests.fixtures.s3 import S3Server

ROOT = Path(__file__).resolve().parents[2]


def spark_submit(
    s3: S3Server, job_type: str, input_uri: str, output_uri: str, start: date, end: date, log: Path
) -> subprocess.CompletedProcess[str]:
    """run_job.py through spark-submit on local[2]; its termination message goes to ``log``."""
    env = {
        **os.environ,
        **s3.env(),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "HELIX_TERMINATION_LOG": str(log),
    }
    command = [
        str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]",
        "--conf", "spark.sql.shuffle.partitions=4",
        "--packages", str(session.s3a_packages(session.jars_dir())),
        str(ROOT / "spark-jobs" / "run_job.py"),
        "--job-type", job_type, "--input-path", input_uri, "--output-path", output_uri,
        "--start-date", start.isoformat(), "--end-date", end.isoformat(),
    ]  # fmt: skip
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, check=False
    )
