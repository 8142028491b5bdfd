"""The record tables of the READMEs are records.py's definitions: a drift fails here.

.venv/bin/python -m tests.jobs.test_docs     # prints the tables to paste between the markers
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from helix_jobs import layout, records

ROOT = Path(__file__).resolve().parents[2]
READMES = (ROOT / "docs" / "records.md", ROOT / "spark-jobs" / "README.md")
BEGIN = "<!-- records:begin (generated from spark-jobs/helix_jobs/records.py, tests/jobs/test_docs.py) -->"
END = "<!-- records:end -->"

# Record type name in the docs -> its definition; the order of the tables.
TYPES: dict[str, records.Struct] = {
    "Conversation": records.CONVERSATION,
    "Message": records.MESSAGE,
    "Entity mention": records.ENTITY_MENTION,
    "Debate round": records.DEBATE_ROUND,
    "Debate": records.DEBATE,
    "Participant": records.PARTICIPANT,
    "Entity snapshot": records.ENTITY_SNAPSHOT,
    "Snapshot entity": records.SNAPSHOT_ENTITY,
}
ID_RULE = (
    "1 to 128 of `A-Za-z0-9._-`, starting with a letter or digit, no `..` (the lake writer's "
    "rule); the raw file is named `{prefix}<id>.json`"
)


def _names(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values)


# What the docs say a field holds, beyond its type. The reader checks types and required fields
# only: a value outside these is read as it is (and, e.g., matches no entityTypes filter).
VALUES: dict[tuple[str, str], str] = {
    ("Conversation", "conversation_id"): ID_RULE.format(prefix="conversation_"),
    ("Conversation", "started_at"): "its UTC date is the record's day partition",
    ("Conversation", "completed_at"): "not before `started_at`",
    ("Conversation", "message_count"): "≥ 0, the length of `messages`",
    ("Conversation", "entity_count"): "≥ 0, the length of `entities`",
    ("Conversation", "total_tokens"): "≥ 0",
    ("Conversation", "debate_rounds"): "the rounds of a debate held in the conversation, if any",
    ("Conversation", "metadata"): "free-form",
    ("Message", "role"): _names(records.ROLES),
    ("Message", "tokens"): "≥ 0",
    ("Message", "latency_ms"): "≥ 0",
    ("Entity mention", "entity_type"): _names(records.ENTITY_TYPES),
    ("Entity mention", "confidence"): "0 to 1",
    ("Entity mention", "message_index"): "0-based index into the conversation's `messages`",
    ("Debate round", "round"): "1-based round number",
    ("Debate round", "stance"): _names(records.STANCES),
    ("Debate round", "confidence"): "0 to 1",
    ("Debate round", "response_time_ms"): "≥ 0",
    ("Debate round", "score"): "0 to 1",
    ("Debate round", "tokens"): "≥ 0",
    ("Debate", "debate_id"): ID_RULE.format(prefix="debate_"),
    ("Debate", "started_at"): "its UTC date is the record's day partition",
    ("Debate", "completed_at"): "not before `started_at`",
    ("Debate", "consensus_round"): "the round of consensus; absent when there was none",
    ("Debate", "winner_provider"): "absent when the debate has no winner",
    ("Debate", "winner_model"): "with `winner_provider`",
    ("Debate", "metadata"): "free-form",
    ("Entity snapshot", "snapshot_id"): ID_RULE.format(prefix="entities_snapshot_"),
    ("Entity snapshot", "snapshot_at"): "its UTC date is the record's day partition",
    ("Snapshot entity", "entity_type"): _names(records.ENTITY_TYPES),
    ("Snapshot entity", "mention_count"): "≥ 0",
    ("Snapshot entity", "avg_confidence"): "0 to 1",
}
SCALARS = {
    records.STRING: "string",
    records.LONG: "integer (64-bit)",
    records.DOUBLE: "number (finite)",
    records.BOOLEAN: "boolean",
    records.TIMESTAMP: "string, RFC 3339 timestamp",
}


def _json_type(kind: records.Type) -> str:
    if isinstance(kind, records.Array):
        return f"array of {_json_type(kind.element)}"
    if isinstance(kind, records.Map):
        return f"object of {_json_type(kind.value)}"
    if isinstance(kind, records.Struct):
        name = next(n for n, s in TYPES.items() if s == kind)
        return name.lower()
    return SCALARS[kind]


def render() -> str:
    out = []
    for name, struct in TYPES.items():
        out += [f"**{name}**", "", "| field | JSON type | required | values |", "|---|---|---|---|"]
        for f in struct.fields:
            required = "yes" if f.required else "no"
            values = VALUES.get((name, f.name), "")
            out.append(f"| `{f.name}` | {_json_type(f.type)} | {required} | {values} |")
        out.append("")
    return "\n".join(out)


def test_the_record_tables_are_records_py() -> None:
    assert {k for k, _ in VALUES} <= set(TYPES)
    assert all(field in TYPES[kind].names() for kind, field in VALUES), (
        "a documented field that records.py does not define"
    )
    for readme in READMES:
        text = readme.read_text()
        block = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), text, re.S)
        assert block, f"{readme}: no generated record tables"
        assert block[1].strip() == render().strip(), (
            f"{readme}: the record tables differ from records.py; "
            "paste the output of `.venv/bin/python -m tests.jobs.test_docs`"
        )


def test_the_manifest_format_names_every_key() -> None:
    manifest = layout.Manifest(
        (layout.CompactedFile("_compacted/part-0000-r.parquet", 1, 2),),
        frozenset({"conversation_c.json"}),
        "r",
        "2026-01-05T00:00:00.000Z",
    )
    text = (ROOT / "spark-jobs" / "README.md").read_text()
    section = text[text.index("### The `_compacted.json` manifest") :]
    keys = set(json.loads(manifest.to_json())) | {"records", "bytes", "name"}
    keys |= {"dataset", "day", "generation", "quarantined"}  # written by compaction
    for key in keys:
        assert f"`{key}`" in section, key


if __name__ == "__main__":
    print(BEGIN)
    print(render())
    print(END)
