"""Retention on both backends, crashes at every step, and a property test over random layouts."""

from __future__ import annotations

import json
import tempfile
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helix_batch.lake import retention
from helix_batch.lake.compaction import compact_day, utc_today
from helix_batch.lake.errors import PolicyError
from helix_batch.lake.faults import RETAIN_STEPS, Steps
from helix_batch.lake.local_storage import LocalStorage
from helix_batch.lake.paths import day_prefix
from helix_batch.lake.retention import RetentionRules, expired
from helix_batch.lake.storage import Storage
from helix_jobs import records
from tests.lake.helpers import CONV, assert_exactly_once, conversation, keys, put_raw

TODAY = utc_today()


def retain(*args: Any, **kwargs: Any) -> retention.RetentionReport:
    """retention.retain on the day the layouts were made relative to (a run may cross midnight)."""
    return retention.retain(*args, today=TODAY, **kwargs)


STRAYS = (
    "conversations/README.md",
    "conversations/year=2001/notes.txt",
    "conversations/year=2001/month=01/day=99/bad-date.json",
    "conversationsX/year=2001/month=01/day=01/x.json",
    "other/year=2001/month=01/day=01/x.json",
)


def _day(age: int) -> date:
    return TODAY - timedelta(days=age)


def _fill(storage: Storage, ages: list[int], per_day: int = 3) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for age in ages:
        out[age] = {f"a{age}-{i}" for i in range(per_day)}
        for record_id in out[age]:
            put_raw(storage, conversation(record_id, _day(age)))
    return out


def test_retention_removes_exactly_the_expired_partitions(storage: Storage) -> None:
    by_age = _fill(storage, [1, 30, 31, 32, 400])
    compact_day(storage, CONV, _day(32))  # a compacted partition goes whole as well
    for key in STRAYS:
        storage.put(key, b"x")
    debate_key = "debates/" + day_prefix(CONV, _day(400)).split("/", 1)[1] + "debate_d1.json"
    storage.put(debate_key, b"{}")
    rules = RetentionRules({"conversations": 30}, floor_days=7)

    dry = retain(storage, rules, dry_run=True)
    assert sorted(r.day for r in dry.removals if r.day) == [
        _day(a).isoformat() for a in (400, 32, 31)
    ]
    assert keys(storage, "_audit/") == set()  # a dry run writes nothing
    report = retain(storage, rules)

    kept = by_age[1] | by_age[30]
    assert_exactly_once(storage, kept)
    assert all(storage.get(key) == b"x" for key in STRAYS)
    assert storage.get(debate_key) == b"{}"  # another dataset, not in the rules
    assert report.audit_key is not None
    audit = json.loads(storage.get(report.audit_key))
    assert audit["status"] == "completed" and audit["kind"] == "retention"
    removed = {k for r in audit["removals"] for k in r["keys"]}
    assert removed and all(k.startswith("conversations/year=") for k in removed)
    assert {f"{day_prefix(CONV, _day(31))}conversation_a31-0.json"} <= removed
    assert report.totals()["objects"] == len(removed)


@pytest.mark.parametrize("bad", [{"conversations": 3}, {"nope": 90}])
def test_dangerous_or_wrong_rules_are_refused(storage: Storage, bad: dict[str, int]) -> None:
    _fill(storage, [10])
    with pytest.raises(PolicyError):
        retain(storage, RetentionRules(bad, floor_days=7))
    with pytest.raises(PolicyError):
        RetentionRules({"conversations": 0}, floor_days=0).check()
    assert len(keys(storage)) == 3


def test_old_job_outputs_are_removed_whole(storage: Storage) -> None:
    storage.put("analytics/entities/part-0.parquet", b"x")
    storage.put("analytics/entities/_helix_result.json", b"{}")
    rules = RetentionRules({}, floor_days=1, analytics_max_age_days=1)
    assert retain(storage, rules).removals == []  # just written: not old
    from datetime import UTC, datetime

    later = datetime.now(UTC) + timedelta(days=3)
    report = retain(storage, rules, now=later)
    assert [r.prefix for r in report.removals] == ["analytics/entities/"]
    assert keys(storage, "analytics/") == set()


@pytest.mark.parametrize("step", RETAIN_STEPS)
def test_a_crash_at_any_step_is_finished_by_the_next_run(storage: Storage, step: str) -> None:
    # More expired days than partitions removed at once: a crash leaves some for the re-run.
    by_age = _fill(
        storage, [5, 40, 41, *range(42, 42 + 2 * retention.PARTITIONS_AT_ONCE)], per_day=12
    )
    compact_day(storage, CONV, _day(40))

    def stop(reached: str) -> None:
        if reached == "compact:published":
            raise RuntimeError(reached)

    with pytest.raises(RuntimeError):  # day 41: published, originals not yet deleted
        compact_day(storage, CONV, _day(41), steps=Steps(stop))
    for i in range(5):  # and raw stragglers next to it
        put_raw(storage, conversation(f"late{i}", _day(41)))
    rules = RetentionRules({"conversations": 30}, floor_days=7)
    occurrence = 2 if step == "retain:batch-deleted" else 1
    seen: list[str] = []

    class Crash(Exception):
        pass

    lock = threading.Lock()

    def crash(reached: str) -> None:  # batches are deleted concurrently: decide under a lock
        with lock:
            seen.append(reached)
            hit = reached == step and seen.count(step) == occurrence
        from tests.lake.helpers import seen_ids

        counts = seen_ids(storage)
        assert max(counts.values()) == 1  # never a record twice, even mid-way
        assert by_age[5] <= set(counts)  # young data always intact
        if hit:
            raise Crash(step)

    with pytest.raises(Crash):
        retain(storage, rules, batch=4, steps=Steps(crash))
    retain(storage, rules, batch=4)
    assert_exactly_once(storage, by_age[5])
    assert keys(storage, "conversations/") == {
        f"{day_prefix(CONV, _day(5))}conversation_{i}.json" for i in by_age[5]
    }
    audits = [json.loads(storage.get(k)) for k in keys(storage, "_audit/")]
    assert {a["status"] for a in audits} >= {"completed"}


def test_partitions_are_removed_at_once_each_in_its_own_order(storage: Storage) -> None:
    """Two partitions must be inside their removal together (each waits at its manifest step
    for the other); one after the other, the barrier times out. Each keeps its own order."""
    by_age = _fill(storage, [5, 40, 41], per_day=4)
    for age in (40, 41):
        compact_day(storage, CONV, _day(age))
    together = threading.Barrier(2, timeout=20)
    order: dict[str, list[str]] = {}
    lock = threading.Lock()

    def step(reached: str) -> None:
        with lock:
            order.setdefault(threading.current_thread().name, []).append(reached)
        if reached == "retain:manifest-deleted":
            together.wait()

    retain(storage, RetentionRules({"conversations": 30}, floor_days=7), steps=Steps(step))
    removing = [steps for steps in order.values() if "retain:manifest-deleted" in steps]
    assert len(removing) == 2
    for steps in removing:
        assert steps.index("retain:replaced-deleted") < steps.index("retain:manifest-deleted")
    assert keys(storage, "conversations/") == {
        f"{day_prefix(CONV, _day(5))}conversation_{i}.json" for i in by_age[5]
    }


ages = st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=12, unique=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conv_ages=ages,
    debate_ages=ages,
    conv_limit=st.integers(min_value=7, max_value=100),
    debate_limit=st.integers(min_value=7, max_value=100),
    strays=st.lists(st.sampled_from(STRAYS), unique=True),
)
def test_retention_property_over_random_layouts(
    conv_ages: list[int],
    debate_ages: list[int],
    conv_limit: int,
    debate_limit: int,
    strays: list[str],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        storage = LocalStorage(Path(folder) / "lake")
        layout_keys: dict[str, tuple[str, int]] = {}
        for name, age_list in (("conversations", conv_ages), ("debates", debate_ages)):
            dataset = records.DATASETS[name]
            for age in age_list:
                prefix = day_prefix(dataset, _day(age))
                for key in (
                    f"{prefix}{dataset.file_prefix}x{age}.json",
                    f"{prefix}_compacted/p.parquet",
                ):
                    storage.put(key, b"{}")
                    layout_keys[key] = (name, age)
        for key in strays:
            storage.put(key, b"x")
        limits = {"conversations": conv_limit, "debates": debate_limit}
        retain(storage, RetentionRules(limits, floor_days=7))
        left = {k for k in keys(storage) if not k.startswith("_audit/")}
        for key, (name, age) in layout_keys.items():
            assert (key in left) != expired(_day(age), TODAY, limits[name]), (key, age)
            assert (key in left) == (age <= limits[name])
        assert set(strays) <= left
