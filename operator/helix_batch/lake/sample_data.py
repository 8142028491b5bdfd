"""Realistic, deterministic sample records for the lake (DESIGN.md §5).

``generate`` yields conversations and their debates day by day (ascending days; within a day
in start order, each debate right after its conversation), as the exact bytes to store:

- entities follow a Zipf law over a catalogue whose size grows with the data (half the number
  of conversations, at least 200), and each conversation leans to one of a dozen themes, so
  entities of a theme co-occur and message text carries topics an LDA can find;
- five providers with two models each differ in latency (log-normal) and answer quality;
- about one conversation in ten has a debate (linked by ``conversation_id``): providers take
  stances, drift towards the majority round by round, and reach consensus or run out of rounds;
- a share of records (``malformed_share``) is broken in one of four ways: not JSON at all,
  truncated JSON, a wrong-typed field, or a missing required field; those have ``valid=False``.

Same arguments, same bytes: everything draws from one ``random.Random(seed)``.
"""

from __future__ import annotations

import json
import random
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any, NamedTuple

from helix_jobs import records
from helix_jobs.layout import days

DAY_MS = 86_400_000
DEBATE_SHARE = 0.1
MALFORMED_KINDS = ("not_json", "truncated", "wrong_type", "missing_field")


class GeneratedRecord(NamedTuple):
    dataset: str  # records.CONVERSATIONS.name or records.DEBATES.name
    record_id: str
    day: date
    body: bytes
    valid: bool


@dataclass(frozen=True)
class Model:
    provider: str
    model: str
    latency_ms: float  # median
    spread: float  # sigma of the log-normal latency
    quality: float  # mean answer score, 0..1


MODELS: tuple[Model, ...] = (
    Model("openai", "gpt-4o", 950, 0.45, 0.80),
    Model("openai", "gpt-4o-mini", 520, 0.40, 0.72),
    Model("anthropic", "claude-sonnet-4", 1100, 0.35, 0.85),
    Model("anthropic", "claude-haiku-3.5", 600, 0.35, 0.76),
    Model("google", "gemini-2.0-pro", 820, 0.50, 0.78),
    Model("google", "gemini-2.0-flash", 430, 0.45, 0.70),
    Model("mistral", "mistral-large", 700, 0.40, 0.71),
    Model("mistral", "mistral-small", 380, 0.40, 0.63),
    Model("deepseek", "deepseek-reasoner", 2400, 0.60, 0.82),
    Model("deepseek", "deepseek-chat", 1300, 0.55, 0.74),
)
PROVIDERS = tuple(dict.fromkeys(m.provider for m in MODELS))

THEMES: dict[str, list[str]] = {
    "kubernetes": (
        "cluster pod deployment node scheduler namespace ingress helm container replica "
        "autoscaling kubelet manifest rollout daemonset"
    ).split(),
    "billing": (
        "invoice payment refund subscription charge credit card receipt billing plan "
        "upgrade discount tax currency renewal"
    ).split(),
    "travel": (
        "flight hotel booking airport luggage itinerary passport visa train reservation "
        "departure arrival layover destination resort"
    ).split(),
    "cooking": (
        "recipe oven flour sugar butter garlic onion simmer bake roast sauce ingredient "
        "tablespoon dough spice"
    ).split(),
    "fitness": (
        "workout running marathon stretching protein muscle cardio squat training "
        "endurance recovery injury treadmill strength calories"
    ).split(),
    "finance": (
        "portfolio stock bond dividend inflation interest mortgage equity index fund "
        "volatility retirement savings budget hedge"
    ).split(),
    "databases": (
        "query index postgres schema transaction replication table join partition "
        "vacuum migration backup latency shard cache"
    ).split(),
    "health": (
        "symptom doctor prescription allergy vaccine fever sleep diet blood pressure "
        "headache therapy clinic appointment dosage"
    ).split(),
    "legal": (
        "contract clause liability lawsuit attorney agreement compliance regulation "
        "patent trademark license court settlement tenant lease"
    ).split(),
    "music": (
        "guitar chord melody album concert playlist rhythm lyrics piano studio "
        "drummer festival vinyl tempo harmony"
    ).split(),
    "education": (
        "course exam homework lecture semester tuition curriculum student teacher "
        "grade scholarship university essay quiz syllabus"
    ).split(),
    "security": (
        "password encryption firewall vulnerability phishing malware certificate token "
        "breach audit authentication exploit patch intrusion key"
    ).split(),
}
THEME_NAMES = tuple(THEMES)
FILLER = (
    "the a an and or but if then so to of in on for with about from this that it is are was "
    "be can could would should will please thanks help need want know think maybe also just "
    "really very quite how what why when where which good great sure okay right"
).split()

_FIRST = (
    "Ada Alan Grace Linus Margaret Dennis Barbara Ken Radia Tim Frances Edsger Hedy Guido".split()
)
_LAST = "Lovelace Turing Hopper Torvalds Hamilton Ritchie Liskov Thompson Perlman Lee Allen".split()
_SYLLABLES = "ka lo mi ra ven tor el sa qu ix on dri pel ul zor ne ba fi".split()
_SUFFIX = {
    "ORG": ("Labs", "Corp", "Systems", "Group", "Health", "Bank", "Foundation"),
    "LOCATION": ("City", "Valley", "Harbor", "Springs", "Heights", "Bay"),
    "PRODUCT": ("Pro", "Max", "One", "Go", "Studio", "Cloud"),
    "TECHNOLOGY": ("DB", "OS", "ML", "Net", "Lang", "Stack"),
    "EVENT": ("Summit", "Conf", "Expo", "Week", "Hackathon", "Forum"),
    "CONCEPT": ("Theory", "Principle", "Pattern", "Method", "Model", "Law"),
}
_CHANNELS = ("web", "web", "web", "mobile", "mobile", "api", "slack")
_LOCALES = ("en-US", "en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "ja-JP")
_CLIENTS = ("1.8.2", "1.9.0", "1.9.1", "2.0.0")
_STANCES = records.STANCES
_HOUR_WEIGHTS = tuple(
    accumulate((1, 1, 1, 1, 1, 2, 3, 5, 8, 9, 9, 9, 8, 9, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1))
)


def generate(
    conversations: int,
    start: date,
    end: date,
    seed: int = 7,
    malformed_share: float = 0.002,
) -> Iterator[GeneratedRecord]:
    """Yield ``conversations`` conversations (and ~1 debate per 10) started between the days."""
    if conversations < 0:
        raise ValueError("conversations must be >= 0")
    if end < start:
        raise ValueError("end must not be before start")
    if not 0.0 <= malformed_share <= 1.0:
        raise ValueError("malformed_share must be within 0..1")
    return _Generator(conversations, start, end, seed, malformed_share).run()


class _Generator:
    def __init__(self, total: int, start: date, end: date, seed: int, malformed: float) -> None:
        self.rng = random.Random(seed)
        self.total = total
        self.days = list(days(start, end))
        self.malformed = malformed
        self.stamp = _Timestamps()
        self._pools: dict[tuple[int, int], tuple[list[str], list[float]]] = {}
        self._catalogue(max(200, total // 2))

    def _catalogue(self, size: int) -> None:
        """Entities ranked by popularity; rank r has Zipf weight 1 / r**1.1."""
        rng = self.rng
        self.entities: list[tuple[str, str, str, float]] = []  # id, type, name, base confidence
        by_theme: list[list[int]] = [[] for _ in THEME_NAMES]
        for rank in range(size):
            kind = records.ENTITY_TYPES[rng.randrange(len(records.ENTITY_TYPES))]
            self.entities.append(
                (f"ent-{rank:06d}", kind, self._name(kind), rng.uniform(0.45, 0.97))
            )
            by_theme[rank % len(THEME_NAMES)].append(rank)
        weights = [1.0 / (r + 1) ** 1.1 for r in range(size)]
        self.all_cum = list(accumulate(weights))
        self.theme_members = by_theme
        self.theme_cum = [list(accumulate(weights[r] for r in members)) for members in by_theme]

    def _name(self, kind: str) -> str:
        rng = self.rng
        if kind == "PERSON":
            return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        stem = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        return f"{stem} {rng.choice(_SUFFIX[kind])}"

    def run(self) -> Iterator[GeneratedRecord]:
        # Weekdays get more traffic than weekends; each day gets its exact share.
        weights = [0.6 if d.weekday() >= 5 else 1.0 for d in self.days]
        total_w = sum(weights)
        bounds = [round(self.total * w / total_w) for w in accumulate(weights)]
        seq = 0
        for day, upto in zip(self.days, bounds, strict=True):
            day_ms = (day - date(1970, 1, 1)).days * DAY_MS
            starts = sorted(self._time_of_day() for _ in range(upto - seq))
            for offset in starts:
                seq += 1
                conversation, debate = self._conversation(seq, day_ms + offset, day_ms + DAY_MS)
                yield self._emit(records.CONVERSATIONS, conversation, day)
                if debate is not None:
                    yield self._emit(records.DEBATES, debate, day)

    def _time_of_day(self) -> int:
        hour = bisect_left(_HOUR_WEIGHTS, self.rng.random() * _HOUR_WEIGHTS[-1])
        return hour * 3_600_000 + self.rng.randrange(3_600_000)

    def _conversation(
        self, seq: int, start_ms: int, day_end_ms: int
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        rng = self.rng
        conversation_id = f"{seq:08x}{rng.getrandbits(32):08x}"
        theme = min(int(rng.paretovariate(1.3)) - 1, len(THEME_NAMES) - 1)
        second = rng.randrange(len(THEME_NAMES))
        n_messages = min(2 + int(rng.expovariate(1 / 6)), 40)
        mentions = self._mentions(theme, n_messages)
        home = MODELS[rng.randrange(len(MODELS))]
        messages, tokens, end_ms = self._messages(
            start_ms, n_messages, theme, second, home, mentions
        )
        debate = None
        if rng.random() < DEBATE_SHARE:
            debate = self._debate(conversation_id, theme, mentions, end_ms, day_end_ms)
        conversation = {
            "conversation_id": conversation_id,
            "user_id": f"user-{int(rng.paretovariate(1.2)) % 50_000:05d}",
            "session_id": f"sess-{rng.getrandbits(40):010x}",
            "started_at": self.stamp(start_ms),
            "completed_at": self.stamp(end_ms),
            "message_count": n_messages,
            "entity_count": len(mentions),
            "total_tokens": tokens,
            "messages": messages,
            "entities": mentions,
            "debate_rounds": debate["rounds"] if debate else [],
            "metadata": {
                "channel": rng.choice(_CHANNELS),
                "locale": rng.choice(_LOCALES),
                "client_version": rng.choice(_CLIENTS),
                "theme": THEME_NAMES[theme],
            },
        }
        return conversation, debate

    def _mentions(self, theme: int, n_messages: int) -> list[dict[str, Any]]:
        rng = self.rng
        count = min(int(rng.expovariate(1 / 4.5)), 24)
        on_theme = sum(rng.random() < 0.7 for _ in range(count))
        members, cum = self.theme_members[theme], self.theme_cum[theme]
        ranks = [members[i] for i in _zipf(rng, cum, on_theme)] + _zipf(
            rng, self.all_cum, count - on_theme
        )
        out: list[dict[str, Any]] = []
        for rank in ranks:
            entity_id, kind, name, base = self.entities[rank]
            confidence = min(max(rng.gauss(base, 0.08), 0.05), 1.0)
            out.append(
                {
                    "entity_id": entity_id,
                    "entity_type": kind,
                    "name": name,
                    "confidence": round(confidence, 4),
                    "message_index": rng.randrange(n_messages),
                }
            )
        out.sort(key=lambda m: m["message_index"])
        return out

    def _messages(
        self,
        start_ms: int,
        n: int,
        theme: int,
        second: int,
        home: Model,
        mentions: list[dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], int, int]:
        rng = self.rng
        vocabulary, cum = self._vocabulary(theme, second)
        names: dict[int, list[str]] = {}
        for m in mentions:
            names.setdefault(m["message_index"], []).append(m["name"])
        system = rng.random() < 0.3
        now = start_ms
        total = 0
        out = []
        for i in range(n):
            role = (
                "system"
                if system and i == 0
                else ("user" if (i - system) % 2 == 0 else "assistant")
            )
            length = rng.randint(6, 14) if role != "assistant" else rng.randint(14, 40)
            picked = rng.choices(vocabulary, cum_weights=cum, k=length) + names.get(i, [])
            text = " ".join(picked)
            content = text[0].upper() + text[1:] + "."
            tokens = len(picked) * 4 // 3 + 1
            message: dict[str, Any] = {
                "message_id": f"m{i:03d}",
                "role": role,
                "content": content,
                "created_at": self.stamp(now),
                "tokens": tokens,
            }
            if role == "assistant":
                model = home if rng.random() < 0.85 else MODELS[rng.randrange(len(MODELS))]
                latency = int(rng.lognormvariate(0, model.spread) * model.latency_ms)
                message.update(provider=model.provider, model=model.model, latency_ms=latency)
                now += latency
            else:
                now += rng.randint(2_000, 90_000)
            total += tokens
            out.append(message)
        return out, total, now

    def _vocabulary(self, theme: int, second: int) -> tuple[list[str], list[float]]:
        """Words of a message: 60% the theme, 30% filler, 10% a second theme."""
        key = (theme, second)
        if key not in self._pools:
            parts = (THEMES[THEME_NAMES[theme]], FILLER, THEMES[THEME_NAMES[second]])
            shares = (0.6, 0.3, 0.1)
            words = [w for part in parts for w in part]
            weights = [
                share / len(part) for part, share in zip(parts, shares, strict=True) for _ in part
            ]
            self._pools[key] = (words, list(accumulate(weights)))
        return self._pools[key]

    def _debate(
        self,
        conversation_id: str,
        theme: int,
        mentions: list[dict[str, Any]],
        after_ms: int,
        day_end_ms: int,
    ) -> dict[str, Any]:
        rng = self.rng
        # The debate's day is its own start day: keep it on the conversation's day.
        start_ms = min(after_ms + rng.randint(1_000, 60_000), day_end_ms - 1)
        providers = rng.sample(PROVIDERS, rng.randint(2, 4))
        seats = [rng.choice([m for m in MODELS if m.provider == p]) for p in providers]
        max_rounds = rng.randint(1, 5)
        pull = rng.uniform(0.1, 0.8)  # how readily providers adopt the majority stance
        stances = [rng.choice(_STANCES) for _ in seats]
        rounds: list[dict[str, Any]] = []
        scores = [0.0] * len(seats)
        consensus_round = None
        now = start_ms
        for r in range(1, max_rounds + 1):
            if r > 1:
                majority = max(_STANCES, key=stances.count)
                stances = [
                    majority
                    if rng.random() < pull
                    else (rng.choice(_STANCES) if rng.random() < 0.1 else s)
                    for s in stances
                ]
            slowest = 0
            for k, seat in enumerate(seats):
                latency = int(rng.lognormvariate(0, seat.spread) * seat.latency_ms * (1 + 0.15 * r))
                score = min(max(rng.gauss(seat.quality, 0.09), 0.0), 1.0)
                scores[k] += score
                slowest = max(slowest, latency)
                rounds.append(
                    {
                        "round": r,
                        "provider": seat.provider,
                        "model": seat.model,
                        "stance": stances[k],
                        "confidence": round(
                            min(max(rng.gauss(0.55 + 0.07 * r, 0.12), 0.0), 1.0), 4
                        ),
                        "response_time_ms": latency,
                        "score": round(score, 4),
                        "tokens": rng.randint(120, 900),
                    }
                )
            now += slowest + rng.randint(200, 2_000)
            if len(set(stances)) == 1:
                consensus_round = r
                break
        subject = mentions[0]["name"] if mentions else rng.choice(THEMES[THEME_NAMES[theme]])
        debate: dict[str, Any] = {
            "debate_id": f"deb-{conversation_id}",
            "conversation_id": conversation_id,
            "topic": f"Is {subject} the right choice for {THEME_NAMES[theme]}?",
            "started_at": self.stamp(start_ms),
            "completed_at": self.stamp(now),
            "participants": [{"provider": s.provider, "model": s.model} for s in seats],
            "rounds": rounds,
            "consensus_reached": consensus_round is not None,
            "metadata": {"format": "round_robin", "max_rounds": str(max_rounds)},
        }
        if consensus_round is not None:
            best = max(range(len(seats)), key=lambda k: scores[k])  # first wins a tie
            debate["consensus_round"] = consensus_round
            debate["winner_provider"] = seats[best].provider
            debate["winner_model"] = seats[best].model
        return debate

    def _emit(self, dataset: records.Dataset, doc: dict[str, Any], day: date) -> GeneratedRecord:
        record_id = str(doc[dataset.id_field])
        if self.malformed and self.rng.random() < self.malformed:
            return GeneratedRecord(dataset.name, record_id, day, self._break(doc), False)
        return GeneratedRecord(dataset.name, record_id, day, _dumps(doc), True)

    def _break(self, doc: dict[str, Any]) -> bytes:
        """One of the ways real input goes wrong; each one fails records.validate."""
        rng = self.rng
        kind = rng.choice(MALFORMED_KINDS)
        if kind == "not_json":
            return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        if kind == "truncated":
            body = _dumps(doc)
            return body[: rng.randint(1, len(body) - 2)]
        if kind == "wrong_type":
            # Wrong for every reader (records' one definition); a JSON number where a string
            # is expected would be valid, read as its text.
            field = rng.choice(
                [
                    k
                    for k in ("started_at", "message_count", "total_tokens", "consensus_reached")
                    if k in doc
                ]
            )
            doc[field] = {"started_at": "yesterday", "consensus_reached": "maybe"}.get(field, "n/a")
            return _dumps(doc)
        required = [f for f in ("user_id", "started_at", "messages", "topic", "rounds") if f in doc]
        del doc[rng.choice(required)]
        return _dumps(doc)


def _zipf(rng: random.Random, cum: list[float], k: int) -> list[int]:
    if k <= 0 or not cum:
        return []
    top = cum[-1]
    hi = len(cum) - 1
    return [min(bisect_left(cum, rng.random() * top), hi) for _ in range(k)]


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


class _Timestamps:
    """records.format_timestamp for epoch milliseconds, with the date part cached."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        day, rest = divmod(ms, DAY_MS)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y-%m-%dT")
            self._days[day] = prefix
        seconds, millis = divmod(rest, 1000)
        minutes, sec = divmod(seconds, 60)
        hours, minute = divmod(minutes, 60)
        return f"{prefix}{hours:02d}:{minute:02d}:{sec:02d}.{millis:03d}Z"
