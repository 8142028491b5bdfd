"""The documented contract on edge cases, against the oracles in ``expected``.

A small lake written by the test (raw, compacted and mixed days; ``lake.write``) holds renamed
entities (within one conversation and across conversations with equal start times), two
entities that share two conversations but are within the window in only one, Unicode and
token-less text, and debates won with and without consensus and without a winner. Each job
runs once on it (``runs``); the tests compare with the oracles and the README.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.ml.feature import StopWordsRemover
from pyspark.sql import SparkSession

from helix_jobs import records
from tests.jobs import expected
from tests.jobs.lake import Lake, run_job, write
from tests.jobs.test_entity_extraction import check, read

ROOT = Path(__file__).resolve().parents[2]
ts = records.format_timestamp
A = ("openai", "gpt-4o")
B = ("anthropic", "claude-3")


def conversation(
    cid: str,
    day: int,
    texts: list[str],
    mentions: list[tuple[str, str, str, int]],
    *,
    at: int = 0,
    created: list[int] | None = None,
    confidence: float = 0.9,
) -> dict[str, Any]:
    """mentions: (entity_id, entity_type, name, message_index); created: message offsets (s)."""
    start = datetime(2026, 1, day, 10, 0, tzinfo=UTC) + timedelta(seconds=at)
    offsets = created or [5 * i for i in range(len(texts))]
    return {
        "conversation_id": cid,
        "user_id": "u",
        "session_id": "s",
        "started_at": ts(start),
        "completed_at": ts(start + timedelta(minutes=5)),
        "message_count": len(texts),
        "entity_count": len(mentions),
        "total_tokens": 10,
        "messages": [
            {
                "message_id": f"{cid}-m{i}",
                "role": "user" if i % 2 == 0 else "assistant",
                "content": text,
                "created_at": ts(start + timedelta(seconds=offsets[i])),
                "tokens": 5,
            }
            for i, text in enumerate(texts)
        ],
        "entities": [
            {
                "entity_id": e,
                "entity_type": kind,
                "name": name,
                "confidence": confidence,
                "message_index": index,
            }
            for e, kind, name, index in mentions
        ],
        "debate_rounds": [],
        "metadata": {},
    }


WORDS = ["café straße kubernetes", "東京タワー café", "straße 東京タワー cluster", "cluster café"]
CONVERSATIONS = [
    # Within one conversation: the later message wins, whatever the order of the list or the
    # names (e-ren); created_at before message_index (e-clock: message 3 was written before
    # message 2); the later position in the list for one message (e-pos).
    conversation(
        "c-rename",
        1,
        WORDS,
        [
            ("e-ren", "ORG", "Alpha Labs", 1),
            ("e-ren", "PRODUCT", "Zeta Corp", 0),
            ("e-clock", "EVENT", "Clock A", 2),
            ("e-clock", "EVENT", "Clock B", 3),
            ("e-pos", "PERSON", "Pos B", 0),
            ("e-pos", "PERSON", "Pos A", 0),
        ],
        created=[0, 5, 20, 10],
    ),
    # Across conversations: a later day wins; at the same started_at, the greater id.
    conversation("c-move-1", 2, WORDS[:2], [("e-move", "ORG", "Move Zed", 0)]),
    conversation("c-move-2", 4, WORDS[1:3], [("e-move", "ORG", "Move Abe", 1)]),
    conversation("c-tie-1", 3, WORDS[2:], [("e-tie", "CONCEPT", "Tie Zed", 0)]),
    conversation("c-tie-2", 3, WORDS[:2], [("e-tie", "CONCEPT", "Tie Abe", 0)]),
    # e-p and e-q share two conversations, within windowSize 0 only in c-near.
    conversation("c-near", 2, WORDS, [("e-p", "PERSON", "P", 0), ("e-q", "ORG", "Q", 0)]),
    conversation("c-far", 3, WORDS, [("e-p", "PERSON", "P", 0), ("e-q", "ORG", "Q", 3)]),
    # No token at all (short words only), and one whose only words are in no other conversation.
    conversation("c-silent", 4, ["Is it ok?", "Ja, 好 ok."], [("e-f1", "ORG", "F1", 0)], at=9),
    conversation("c-unique", 4, ["zyxwvut qponmlk"], [("e-f1", "ORG", "F1", 0)], at=60),
    conversation("c-fill-1", 4, WORDS[::-1], [("e-f1", "ORG", "F", 1), ("e-f2", "ORG", "G", 2)]),
    conversation("c-fill-2", 4, WORDS[1:], [("e-ren", "ORG", "Alpha Labs", 0)], at=-60),
]

# (consensus reached, winner): debates won with and without consensus, and without a winner.
OUTCOMES = [
    (True, A), (False, A), (False, B), (False, None), (True, B), (True, None),
    (False, A), (True, A), (False, None), (False, B), (True, A), (False, None),
]  # fmt: skip
DEBATE_DAYS = [1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 4, 4]


def debate(i: int) -> dict[str, Any]:
    consensus, winner = OUTCOMES[i]
    start = datetime(2026, 1, DEBATE_DAYS[i], 12, i, tzinfo=UTC)
    stances = ["for", "against" if i % 3 == 0 else "for"]
    rounds = [
        {
            "round": r + 1,
            "provider": provider,
            "model": model,
            "stance": stances[r] if (provider, model) == A else "neutral",
            "confidence": 0.5 + r / 10,
            "response_time_ms": 100 * (i + r + 1),
            "score": 0.25 * (r + 1),
            "tokens": 7,
        }
        for r in range(2)
        for provider, model in (A, B)
    ]
    record: dict[str, Any] = {
        "debate_id": f"d-{i:02d}",
        "conversation_id": f"c-{i}",
        "topic": "t",
        "started_at": ts(start),
        "completed_at": ts(start + timedelta(seconds=30)),
        "participants": [{"provider": p, "model": m} for p, m in (A, B)],
        "rounds": rounds,
        "consensus_reached": consensus,
        "metadata": {},
    }
    if consensus:
        record["consensus_round"] = 2
    if winner:
        record["winner_provider"], record["winner_model"] = winner
    return record


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    debates = [debate(i) for i in range(len(OUTCOMES))]
    return write(
        tmp_path_factory.mktemp("edge"),
        {records.CONVERSATIONS.name: CONVERSATIONS, records.DEBATES.name: debates},
    )


PARAMS: dict[str, tuple[str, ...]] = {
    "entity_extraction": (),
    "relationship_mining": ("windowSize=0", "minCooccurrence=1"),
    "topic_modeling": ("numTopics=2", "maxIterations=5", "vocabSize=10", "minDocFreq=2"),
    "provider_performance": ("minDebates=1",),
    "debate_analysis": ("minRounds=1",),
}


@pytest.fixture(scope="module")
def runs(
    spark: SparkSession, edge: Lake, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[dict[str, Any], Path]]:
    out = {}
    for job, params in PARAMS.items():
        output = tmp_path_factory.mktemp(job)
        out[job] = (run_job(spark, edge, job, output, *params), output)
    return out


def test_the_write_covers_raw_compacted_and_mixed_days(edge: Lake) -> None:
    for dataset in ("conversations", "debates"):
        for day in (1, 3, 4):
            assert [r for r in edge.generated if r.dataset == dataset and r.day.day == day]
    assert (edge.root / "conversations/year=2026/month=01/day=04/_compacted.json").exists()


def test_entity_names_and_types_come_from_the_latest_mention(
    spark: SparkSession, edge: Lake, runs: dict[str, tuple[dict[str, Any], Path]]
) -> None:
    wanted = expected.entities(edge.valid("conversations"))
    names = {e: (w["name"], w["entity_type"]) for e, w in wanted.items()}
    assert names["e-ren"] == ("Alpha Labs", "ORG") and names["e-clock"] == ("Clock A", "EVENT")
    assert names["e-pos"] == ("Pos A", "PERSON") and names["e-tie"] == ("Tie Abe", "CONCEPT")
    assert names["e-move"] == ("Move Abe", "ORG")
    check(read(spark, runs["entity_extraction"][1]), wanted)


def test_relationships_use_the_latest_names_and_the_jaccard_index(
    spark: SparkSession, edge: Lake, runs: dict[str, tuple[dict[str, Any], Path]]
) -> None:
    result, output = runs["relationship_mining"]
    wanted = expected.relationships(edge.valid("conversations"), window=0, min_count=1)
    assert wanted["e-p", "e-q"]["association_strength"] == 1.0  # shared 2, within window in 1
    assert wanted["e-p", "e-q"]["conversations"] == ["c-near"]
    rows = {(r["entity_a"], r["entity_b"]): r.asDict() for r in spark.read.parquet(
        output.as_uri()).collect()}  # fmt: skip
    assert sorted(rows) == sorted(wanted)
    for key, want in wanted.items():
        got = rows[key]
        for field in ("entity_a_name", "entity_a_type", "entity_b_name", "entity_b_type",
                      "cooccurrence_count", "conversation_count", "conversations",
                      "shared_conversations"):  # fmt: skip
            assert got[field] == want[field], (key, field)
        assert math.isclose(got["association_strength"], want["association_strength"])
    assert result["outputRows"] == result["candidatePairs"] == len(wanted)


def test_winners_count_every_debate_with_a_winner_like_provider_performance(
    spark: SparkSession, edge: Lake, runs: dict[str, tuple[dict[str, Any], Path]]
) -> None:
    result, output = runs["debate_analysis"]
    per_debate = expected.debates(edge.valid("debates"), min_rounds=1)
    wanted = expected.winners(per_debate)
    assert wanted[A] == {"wins": 5, "consensus_wins": 3, "win_share": 5 / 8}
    rows = spark.read.parquet((output / "winners").as_uri()).collect()
    got = {(r["winner_provider"], r["winner_model"]): r.asDict() for r in rows}
    assert sorted(got) == sorted(wanted)  # no row with a null winner
    for key, want in wanted.items():
        assert got[key]["wins"] == want["wins"]
        assert got[key]["consensus_wins"] == want["consensus_wins"]
        assert math.isclose(got[key]["win_share"], want["win_share"])
    assert result["topWinner"] == "openai/gpt-4o"
    providers = expected.providers(edge.valid("debates"), (0.5,), 1)
    performance = spark.read.parquet(runs["provider_performance"][1].as_uri()).collect()
    assert (
        {(r["provider"], r["model"]): r["wins"] for r in performance}
        == {key: providers[key]["wins"] for key in providers}
        == {key: w["wins"] for key, w in wanted.items()}
    )


def test_the_result_object_keeps_full_precision(
    spark: SparkSession, edge: Lake, runs: dict[str, tuple[dict[str, Any], Path]]
) -> None:
    result, output = runs["debate_analysis"]
    per_debate = list(expected.debates(edge.valid("debates"), min_rounds=1).values())
    summary = spark.read.parquet((output / "summary").as_uri()).first()
    assert summary is not None
    rate = sum(d["consensus_reached"] for d in per_debate) / len(per_debate)
    stance = sum(d["stance_changes"] for d in per_debate) / len(per_debate)
    assert result["consensusRate"] == summary["consensus_rate"] and math.isclose(rate, 5 / 12)
    assert math.isclose(result["consensusRate"], rate, rel_tol=1e-15)
    assert result["avgStanceChanges"] == summary["avg_stance_changes"]
    assert math.isclose(result["avgStanceChanges"], stance, rel_tol=1e-15) and stance == 1 / 3


def test_topics_tokenise_unicode_and_token_less_conversations_have_no_topic(
    spark: SparkSession, edge: Lake, runs: dict[str, tuple[dict[str, Any], Path]]
) -> None:
    result, output = runs["topic_modeling"]
    stop_words = set(StopWordsRemover.loadDefaultStopWords("english"))
    conversations = edge.valid("conversations")
    vocabulary = expected.vocabulary(conversations, stop_words, min_df=2)
    assert {"café", "straße", "東京タワー"} <= set(vocabulary)
    assert result["vocabularySize"] == len(vocabulary) and len(vocabulary) < 10
    topics = spark.read.parquet((output / "topics").as_uri()).collect()
    assert all(set(t["terms"]) == set(vocabulary) for t in topics)  # the whole vocabulary
    mixtures = {
        r["conversation_id"]: r
        for r in spark.read.parquet((output / "conversation_topics").as_uri()).collect()
    }
    assert sorted(mixtures) == sorted(c["conversation_id"] for c in conversations)
    for cid, m in mixtures.items():
        if cid in ("c-silent", "c-unique"):  # no vocabulary term
            assert m["dominant_topic"] is None and m["dominant_weight"] is None, cid
            assert m["topic_distribution"] == [0.0, 0.0]
        else:
            assert m["topic_distribution"][m["dominant_topic"]] == m["dominant_weight"] > 0
    assert result["documents"] == result["outputRows"] == len(conversations)


# The docs: every output column and result key has a definition in spark-jobs/README.md.

OUTPUT_FOLDERS = {
    "entity_extraction": [""],
    "relationship_mining": [""],
    "topic_modeling": ["topics", "conversation_topics"],
    "provider_performance": [""],
    "debate_analysis": ["debates", "winners", "summary"],
}
COMMON_KEYS = {"jobType", "processedRows", "corruptRecords", "outputUri", "startDate",
               "endDate", "daysRead", "durationSeconds"}  # fmt: skip


def documented(section: str) -> set[str]:
    """The names in the first cell of every table row of a README section."""
    cells = re.findall(r"^\| *([^|]+?) *\|", section, re.MULTILINE)
    return {name for cell in cells for name in re.findall(r"`([^`]+)`", cell)}


def readme_section(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    level = heading.count("#")
    end = re.search(rf"^#{{1,{level}}} ", text[start + len(heading) :], re.M)
    return text[start : start + len(heading) + (end.start() if end else len(text))]


def test_every_output_column_and_result_key_is_defined_in_the_readme(
    spark: SparkSession, runs: dict[str, tuple[dict[str, Any], Path]]
) -> None:
    readme = (ROOT / "spark-jobs" / "README.md").read_text()
    common = documented(readme_section(readme, "## Result object"))
    assert common >= COMMON_KEYS
    for job, folders in OUTPUT_FOLDERS.items():
        result, output = runs[job]
        section = documented(readme_section(readme, f"### {job}"))
        columns = set()
        for folder in folders:
            frame = spark.read.parquet((output / folder).as_uri() if folder else output.as_uri())
            columns |= {re.sub(r"_p[0-9_]+$", "_p<P>", c) for c in frame.columns}
        keys = set(result) - COMMON_KEYS
        assert columns | keys == section, job  # every name defined, and no name undocumented
