"""What each job must output, computed in plain Python from the generated records."""

from __future__ import annotations

import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from helix_jobs import records

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(text: str) -> int:
    delta = records.parse_timestamp(text) - EPOCH
    return delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds


Latest = tuple[tuple[int, int, int, str, int], str, str]


def _latest(seen: dict[str, Latest], c: dict[str, Any], position: int) -> None:
    """README: an entity's name and type come from its latest mention, the greatest
    (conversation started_at, message created_at, message_index, conversation_id, position in
    the conversation's entities); a message_index naming no message has the earliest created_at.
    """
    m = c["entities"][position]
    index = m["message_index"]
    inside = 0 <= index < len(c["messages"])
    created = micros(c["messages"][index]["created_at"]) if inside else -(2**63)
    key = (micros(c["started_at"]), created, index, c["conversation_id"], position)
    if m["entity_id"] not in seen or key > seen[m["entity_id"]][0]:
        seen[m["entity_id"]] = (key, m["name"], m["entity_type"])


def entities(
    conversations: Iterable[dict[str, Any]],
    min_confidence: float = 0.0,
    types: Iterable[str] = records.ENTITY_TYPES,
) -> dict[str, dict[str, Any]]:
    wanted = set(types)
    out: dict[str, dict[str, Any]] = {}
    latest: dict[str, Latest] = {}
    for c in conversations:
        at = micros(c["started_at"])
        for position, m in enumerate(c["entities"]):
            if m["confidence"] < min_confidence or m["entity_type"] not in wanted:
                continue
            e = out.setdefault(
                m["entity_id"], {"confidences": [], "conversations": set(), "seen": []}
            )
            e["confidences"].append(m["confidence"])
            e["conversations"].add(c["conversation_id"])
            e["seen"].append(at)
            _latest(latest, c, position)
    for entity_id, e in out.items():
        n = len(e["confidences"])
        avg = sum(e["confidences"]) / n
        e.update(
            entity_type=latest[entity_id][2],
            name=latest[entity_id][1],
            mention_count=n,
            conversations=sorted(e["conversations"]),
            avg_confidence=avg,
            max_confidence=max(e["confidences"]),
            first_seen=min(e["seen"]),
            last_seen=max(e["seen"]),
            importance_score=math.log(n) * avg,
        )
    return out


def relationships(
    conversations: Iterable[dict[str, Any]], window: int, min_count: int
) -> dict[tuple[str, str], dict[str, Any]]:
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    per_entity: dict[str, set[str]] = defaultdict(set)
    latest: dict[str, Latest] = {}
    for c in conversations:
        at = micros(c["started_at"])
        cid = c["conversation_id"]
        spots = {(m["entity_id"], m["message_index"]) for m in c["entities"]}
        for position, m in enumerate(c["entities"]):
            per_entity[m["entity_id"]].add(cid)
            _latest(latest, c, position)
        for a, i in spots:
            for b, j in spots:
                if a < b and abs(i - j) <= window:
                    p = pairs.setdefault((a, b), {"count": 0, "conversations": set(), "seen": []})
                    p["count"] += 1
                    p["conversations"].add(cid)
                    p["seen"].append(at)
    out = {}
    for (a, b), p in pairs.items():
        if p["count"] < min_count:
            continue
        # README: the Jaccard index of the two entities' sets of conversations in the range.
        shared = len(per_entity[a] & per_entity[b])
        out[(a, b)] = {
            "entity_a_name": latest[a][1],
            "entity_a_type": latest[a][2],
            "entity_b_name": latest[b][1],
            "entity_b_type": latest[b][2],
            "cooccurrence_count": p["count"],
            "conversation_count": len(p["conversations"]),
            "conversations": sorted(p["conversations"]),
            "first_seen": min(p["seen"]),
            "last_seen": max(p["seen"]),
            "shared_conversations": shared,
            "association_strength": shared / len(per_entity[a] | per_entity[b]),
        }
    return out


def vocabulary(
    conversations: Iterable[dict[str, Any]], stop_words: set[str], min_df: int
) -> Counter[str]:
    """Terms found in at least min_df conversations, with their total counts."""
    totals: Counter[str] = Counter()
    docs: Counter[str] = Counter()
    for c in conversations:
        text = " ".join(m["content"] for m in c["messages"] if m["role"] != "system").lower()
        tokens = [t for t in words(text) if len(t) >= 3 and t not in stop_words]
        totals.update(tokens)
        docs.update(set(tokens))
    return Counter({t: n for t, n in totals.items() if docs[t] >= min_df})


def words(text: str) -> list[str]:
    """README: the runs of Unicode letters, combining marks and digits."""
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" else " " for c in text)
    return kept.split()


def nearest_rank(values: list[int], p: float) -> int:
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered)) - 1, 0)]


def providers(
    debates: list[dict[str, Any]], percentiles: tuple[float, ...], min_debates: int
) -> dict[tuple[str, str], dict[str, Any]]:
    answers: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    in_debates: dict[tuple[str, str], set[str]] = defaultdict(set)
    wins: Counter[tuple[str, str]] = Counter()
    for d in debates:
        for r in d["rounds"]:
            answers[r["provider"], r["model"]].append(r)
            in_debates[r["provider"], r["model"]].add(d["debate_id"])
        if d.get("winner_provider") is not None:
            wins[d["winner_provider"], d["winner_model"]] += 1
    out = {}
    for key, rows in answers.items():
        n_debates = len(in_debates[key])
        if n_debates < min_debates:
            continue
        times = [r["response_time_ms"] for r in rows]
        out[key] = {
            "debates": n_debates,
            "rounds": len(rows),
            "wins": wins[key],
            "win_rate": wins[key] / n_debates,
            "avg_response_time_ms": sum(times) / len(times),
            "avg_confidence": sum(r["confidence"] for r in rows) / len(rows),
            "avg_score": sum(r["score"] for r in rows) / len(rows),
            "total_tokens": sum(r["tokens"] for r in rows),
            **{f"p{p}": nearest_rank(times, p) for p in percentiles},
        }
    return out


def debates(items: list[dict[str, Any]], min_rounds: int) -> dict[str, dict[str, Any]]:
    out = {}
    for d in items:
        rounds = d["rounds"]
        numbers = {r["round"] for r in rounds}
        if len(numbers) < min_rounds:
            continue
        stance = {(r["provider"], r["model"], r["round"]): r["stance"] for r in rounds}
        changes = sum(
            1
            for r in rounds
            if (r["provider"], r["model"], r["round"] - 1) in stance
            and stance[r["provider"], r["model"], r["round"] - 1] != r["stance"]
        )
        out[d["debate_id"]] = {
            "conversation_id": d["conversation_id"],
            "rounds": len(numbers),
            "participants": len(d["participants"]),
            "consensus_reached": d["consensus_reached"],
            "consensus_round": d.get("consensus_round") if d["consensus_reached"] else None,
            "stance_changes": changes,
            "winner_provider": d.get("winner_provider"),
            "winner_model": d.get("winner_model"),
            "duration_ms": (micros(d["completed_at"]) - micros(d["started_at"])) // 1000,
            "avg_confidence": sum(r["confidence"] for r in rounds) / len(rounds)
            if rounds
            else None,
            "avg_score": sum(r["score"] for r in rounds) / len(rounds) if rounds else None,
        }
    return out


def winners(per_debate: dict[str, dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """README: winners/ counts every debate of debates/ that has a winner; win_share's
    denominator is the number of those debates."""
    decided = [d for d in per_debate.values() if d["winner_provider"] is not None]
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for d in decided:
        w = out.setdefault(
            (d["winner_provider"], d["winner_model"]), {"wins": 0, "consensus_wins": 0}
        )
        w["wins"] += 1
        w["consensus_wins"] += int(d["consensus_reached"])
    for w in out.values():
        w["win_share"] = w["wins"] / len(decided)
    return out
