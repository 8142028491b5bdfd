"""The sample-data generator: deterministic, valid where it says so, realistic in shape."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

from helix_batch.lake.sample_data import MODELS, generate
from helix_jobs import records

START, END = date(2026, 2, 1), date(2026, 2, 7)


def test_same_arguments_same_bytes_and_a_different_seed_differs() -> None:
    first = list(generate(300, START, END, seed=3))
    assert first == list(generate(300, START, END, seed=3))
    assert [r.body for r in first] != [r.body for r in generate(300, START, END, seed=4)]


def test_records_validate_exactly_when_marked_valid() -> None:
    items = list(generate(2000, START, END, malformed_share=0.05))
    kinds: Counter[str] = Counter()
    for item in items:
        dataset = records.DATASETS[item.dataset]
        try:
            errors = records.validate(json.loads(item.body), dataset.schema)
        except ValueError:
            errors = ["not JSON"]
            kinds["not JSON"] += 1
        else:
            kinds[
                "missing" if any("missing" in e for e in errors) else "typed" if errors else "ok"
            ] += 1
        assert (errors == []) == item.valid, (item, errors)
        assert START <= item.day <= END
        if item.valid:
            doc = json.loads(item.body)
            assert records.parse_timestamp(doc["started_at"]).date() == item.day
            assert doc[dataset.id_field] == item.record_id
    assert kinds["not JSON"] and kinds["missing"] and kinds["typed"]
    assert len({(r.dataset, r.record_id) for r in items}) == len(items)


def test_shape_debates_providers_and_zipf_entities() -> None:
    items = [
        json.loads(r.body) | {"_ds": r.dataset}
        for r in generate(3000, START, END, malformed_share=0)
    ]
    conversations = [d for d in items if d["_ds"] == "conversations"]
    debates = [d for d in items if d["_ds"] == "debates"]
    assert len(conversations) == 3000 and 200 < len(debates) < 400
    ids = {c["conversation_id"] for c in conversations}
    assert all(d["conversation_id"] in ids for d in debates)
    settled = [d for d in debates if d["consensus_reached"]]
    assert 0 < len(settled) < len(debates)
    assert all(d["consensus_round"] <= max(r["round"] for r in d["rounds"]) for d in settled)
    mentions = Counter(m["entity_id"] for c in conversations for m in c["entities"])
    top = mentions.most_common()
    assert top[0][1] > 10 * top[len(top) // 2][1]  # a heavy head and a long tail
    for c in conversations:
        assert all(
            0 <= m["message_index"] < c["message_count"] == len(c["messages"])
            for m in c["entities"]
        )
    latency: dict[str, list[int]] = {}
    for d in debates:
        for r in d["rounds"]:
            latency.setdefault(r["model"], []).append(r["response_time_ms"])
    medians = {m: sorted(v)[len(v) // 2] for m, v in latency.items()}
    assert len(medians) == len(MODELS) and max(medians.values()) > 3 * min(medians.values())
