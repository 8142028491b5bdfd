"""``helixctl lake``: the policy file, maintain, seed, and errors with a non-zero exit."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from helix_batch.cli.lake import lake
from helix_batch.lake.compaction import utc_today
from helix_batch.lake.errors import PolicyError
from helix_batch.lake.partitions import list_days, load_day
from helix_batch.lake.policy import load_policy, parse_policy
from helix_batch.lake.reading import day_ids
from helix_batch.lake.sample_data import generate
from helix_jobs import records
from tests.lake.conftest import Backend
from tests.lake.helpers import CONV, assert_exactly_once, conversation, keys, put_raw

SAMPLE_POLICY = Path(__file__).parents[2] / "manifests" / "base" / "lake-policy.yaml"


def test_the_sample_policy_is_valid() -> None:
    policy = load_policy(SAMPLE_POLICY)
    assert policy.retention is not None
    assert policy.retention.max_age_days["conversations"] == 730
    assert policy.compaction.datasets == ("conversations", "debates", "entities")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"retension": {}}, r"unknown key\(s\) retension"),
        ({"compaction": {"enabled": True, "max_file_gb": 1}}, "max_file_gb"),
        ({"retention": {"datasets": {"conversations": {"max_age": 9}}}}, "max_age"),
        ({"retention": {"datasets": {"chats": {"max_age_days": 90}}}}, "chats"),
        ({"retention": {"floor_days": 30, "datasets": {"debates": {"max_age_days": 2}}}}, "floor"),
        ({"retention": {"floor_days": 0, "datasets": {}}}, "floor_days"),
        ({"concurrency": "many"}, "integer"),
        ({"compaction": {"datasets": "conversations"}}, "list"),
        (["not", "a", "mapping"], "mapping"),
    ],
)
def test_bad_policies_are_refused_with_the_key_named(data: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(data)


def _run(backend: Backend, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(lake, list(args), env=backend.env, catch_exceptions=False)
    return result.exit_code, result.output


def test_maintain_compacts_then_retains(backend: Backend, tmp_path: Path) -> None:
    today = utc_today()
    young = {f"y{i}" for i in range(4)}
    for i, record_id in enumerate(sorted(young)):
        put_raw(backend.storage, conversation(record_id, today - timedelta(days=i)))
    put_raw(backend.storage, conversation("old", today - timedelta(days=40)))
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"lake: {backend.uri}\nretention:\n  floor_days: 7\n  datasets:\n"
        "    conversations: {max_age_days: 30}\n"
    )
    code, out = _run(backend, "maintain", "--policy", str(policy), "--dry-run", "--json")
    assert code == 0, out
    assert json.loads(out)["retention"]["totals"]["partitions"] == 1
    assert len(keys(backend.storage)) == 5  # dry run: untouched
    code, out = _run(backend, "maintain", "--policy", str(policy), "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["compaction"]["totals"]["days_compacted"] == 4  # old one, then deleted
    assert result["retention"]["audit"].startswith("_audit/retention/")
    assert_exactly_once(backend.storage, young)
    assert load_day(backend.storage, CONV, today).manifest is None  # today stays raw
    assert load_day(backend.storage, CONV, today - timedelta(days=1)).manifest is not None


def test_errors_exit_non_zero_with_a_clear_message(backend: Backend, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("retention:\n  floor_days: 30\n  datasets:\n    debates: {max_age_days: 1}\n")
    code, out = _run(backend, "maintain", "--policy", str(policy), "--lake", backend.uri)
    assert code == 1 and "below the floor" in out
    code, out = _run(backend, "retain", "--lake", backend.uri, "--max-age", "conversations=3")
    assert code == 1 and "below the floor" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps(conversation("ok", date(2026, 1, 2))) + "\n" + '{"conversation_id": "x"}\n'
    )
    code, out = _run(backend, "archive", "--lake", backend.uri, str(bad))
    assert code == 1 and "1 record(s) were not archived" in out
    assert keys(backend.storage) == {"conversations/year=2026/month=01/day=02/conversation_ok.json"}


@pytest.mark.parametrize("compacted", [False, True])
def test_seed_writes_every_generated_record_once(backend: Backend, compacted: bool) -> None:
    start, end = date(2026, 1, 1), date(2026, 1, 3)
    args = ["seed", "--lake", backend.uri, "--conversations", "300", "--start", "2026-01-01",
            "--end", "2026-01-03", "--malformed-share", "0.05", "--json"]  # fmt: skip
    if compacted:
        args.append("--compacted")
    code, out = _run(backend, *args)
    assert code == 0, out
    expected = list(generate(300, start, end, malformed_share=0.05))
    storage = backend.storage
    for name in ("conversations", "debates"):
        dataset = records.DATASETS[name]
        want = Counter(g.record_id for g in expected if g.dataset == name)
        got: Counter[str] = Counter()
        for day in list_days(storage, dataset):
            got.update(day_ids(storage, dataset, day))
            state = load_day(storage, dataset, day)
            of_day = [g for g in expected if g.dataset == name and g.day == day]
            stays_raw = {g.record_id for g in of_day if not (compacted and g.valid)}
            raw_ids = {
                n.removeprefix(dataset.file_prefix).removesuffix(".json") for n in state.files().raw
            }
            assert raw_ids == stays_raw  # compacted: only the malformed ones stay raw
            assert (state.manifest is not None) == compacted
        assert got == want
    assert json.loads(out)["malformed"] == sum(not g.valid for g in expected) > 0
