"""One local SparkSession and one generated lake for the whole jobs suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from helix_jobs.session import build_session
from tests.jobs.lake import Lake, build


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = build_session(
        "helix-jobs-tests",
        master="local[2]",
        driver_memory="2g",
        conf={"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "4"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build(tmp_path_factory.mktemp("lake"))


@pytest.fixture(autouse=True)
def _termination_log(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never /dev/termination-log on a developer machine; outside every output folder."""
    log = tmp_path_factory.mktemp("termination") / "termination-log"
    monkeypatch.setenv("HELIX_TERMINATION_LOG", str(log))
