"""A real SIGKILL of ``helixctl lake compact`` / ``retain`` mid-way, then a re-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from helix_batch.lake.compaction import utc_today
from helix_batch.lake.faults import PAUSE_ENV
from helix_batch.lake.partitions import load_day
from helix_batch.lake.storage import Storage
from helix_jobs import layout
from tests.lake.conftest import Backend
from tests.lake.helpers import (
    CONV,
    assert_clean,
    assert_exactly_once,
    conversation,
    keys,
    put_raw,
)

HELIXCTL = str(Path(sys.executable).parent / "helixctl")  # the installed console script
DAYS = [utc_today() - timedelta(days=age) for age in (2, 3, 60, 61)]


def helixctl(backend: Backend, *args: str, pause_at: str = "") -> subprocess.Popen[str]:
    env = {**os.environ, **backend.env, PAUSE_ENV: pause_at}
    return subprocess.Popen(
        [HELIXCTL, "lake", *args, "--lake", backend.uri, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_at(process: subprocess.Popen[str], step: str) -> None:
    """Wait until the process announces the step, then SIGKILL it there."""
    assert process.stderr is not None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if f"paused at {step}" in line:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            assert process.returncode == -signal.SIGKILL
            return
        if not line and process.poll() is not None:
            break
    process.kill()
    pytest.fail(f"the process never reached {step}: {process.communicate()}")


def _fill(storage: Storage) -> set[str]:
    ids = set()
    for day in DAYS:
        for i in range(15):
            record_id = f"k{day:%m%d}-{i}"
            put_raw(storage, conversation(record_id, day))
            ids.add(record_id)
    return ids


@pytest.mark.parametrize(
    "step", ["compact:staged", "compact:published", "compact:raw-deleted", "compact:cleaned"]
)
def test_sigkill_during_compaction(backend: Backend, step: str) -> None:
    ids = _fill(backend.storage)
    kill_at(helixctl(backend, "compact", pause_at=step), step)
    assert_exactly_once(backend.storage, ids)
    done = helixctl(backend, "compact")
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert_exactly_once(backend.storage, ids)
    assert_clean(backend.storage)
    assert all(load_day(backend.storage, CONV, d).files().raw == () for d in DAYS)


@pytest.mark.parametrize(
    "step", ["retain:audit-started", "retain:manifest-deleted", "retain:batch-deleted"]
)
def test_sigkill_during_retention(backend: Backend, step: str) -> None:
    ids = _fill(backend.storage)
    done = helixctl(backend, "compact", "--before", DAYS[2].isoformat())  # day 61 compacted
    assert done.wait(120) == 0
    retain_args = ("retain", "--max-age", "conversations=30")
    kill_at(helixctl(backend, *retain_args, pause_at=step), step)
    again = helixctl(backend, *retain_args)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    young = {i for i in ids if i.startswith(tuple(f"k{d:%m%d}" for d in DAYS[:2]))}
    assert_exactly_once(backend.storage, young)
    left = {layout.parse_day(k) for k in keys(backend.storage, "conversations/")}
    assert left == set(DAYS[:2])
