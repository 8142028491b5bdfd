"""``helixctl report`` on outputs written here with known values, in each job's documented
layout: the page shows those numbers (expected values worked out here, not by the report),
escapes every string from the data, loads nothing, and the command never overwrites a file it
did not write."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from helix_batch.cli.main import main
from helix_batch.cli.report import default_name, output_uri
from helix_batch.report.svg import short
from tests.fixtures.s3 import S3Server
from tests.report.page import Mark, Page, parse

HOSTILE = '<script>alert("x")</script>'
BREAKOUT = "</svg></figure><img src=x onerror=alert(1)>"
QUOTES = 'O\'Brien & "Sons" <b>'
UNICODE = "Zoë 東京タワー 🚀 مرحبا"
LONG = "An entity whose name is far longer than any chart label can show in full"
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "section",
    "figure", "figcaption", "div", "table", "thead", "tbody", "tr", "th", "td", "footer",
    "svg", "rect", "text", "line", "polyline", "circle",
}  # fmt: skip


def write_output(folder: Path, job_type: str, tables: dict[str, pa.Table]) -> Path:
    """An output folder as a job publishes it: Parquet parts (relative path -> table), a
    `_corrupt/` part and `_SUCCESS` the report must not read, and `_helix_result.json`."""
    for relative, table in tables.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="zstd")
    corrupt = folder / "_corrupt" / "part-00000.parquet"
    corrupt.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"file": ["x"], "reason": ["not_json"]}), corrupt)
    (folder / "_SUCCESS").write_bytes(b"")
    result = {"jobType": job_type, "processedRows": 7, "outputUri": folder.as_uri(),
              "startDate": "2026-01-01", "endDate": "2026-01-04", "note": HOSTILE}  # fmt: skip
    (folder / "_helix_result.json").write_text(json.dumps(result))
    return folder


def report(folder: Path, out: Path) -> Page:
    run = CliRunner().invoke(main, ["report", "--job", str(folder), "-o", str(out)])
    assert run.exit_code == 0, run.output
    html = out.read_text(encoding="utf-8")
    assert_safe(html)
    return parse(html)


def assert_safe(html: str) -> None:
    """Only the page's own tags; no script, no URL to load, a CSP that forbids loading."""
    page = parse(html)
    assert set(page.tags) <= ALLOWED_TAGS, set(page.tags) - ALLOWED_TAGS
    names = {k for k, _ in page.attributes}
    assert not names & {"src", "href", "onerror", "onload", "style"}, names
    assert "default-src 'none'" in html
    assert "<script" not in html and "<img" not in html
    links = re.findall(r"https?://[^\s\"'<>]*", html)
    assert set(links) <= {"http://www.w3.org/2000/svg"}  # only the SVG namespace


def assert_proportional(marks: list[Mark]) -> None:
    """Bar lengths are the values on one scale from 0."""
    largest = max(marks, key=lambda m: m.value)
    for mark in marks:
        want = float(largest.attrs["width"]) * mark.value / largest.value
        assert math.isclose(float(mark.attrs["width"]), want, rel_tol=1e-3, abs_tol=1e-3)


def providers_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows)


PROVIDERS = [
    {"provider": "openai", "model": "gpt-4o", "debates": 10, "rounds": 30, "wins": 4,
     "win_rate": 0.4, "avg_response_time_ms": 1234.4, "response_time_ms_p50": 1000,
     "response_time_ms_p90": 2000, "response_time_ms_p99_9": 5000, "avg_confidence": 0.81,
     "avg_score": 0.72, "total_tokens": 123456},
    {"provider": HOSTILE, "model": QUOTES, "debates": 8, "rounds": 16, "wins": 6,
     "win_rate": 0.75, "avg_response_time_ms": 800.0, "response_time_ms_p50": 700,
     "response_time_ms_p90": 900, "response_time_ms_p99_9": 1500, "avg_confidence": 0.5,
     "avg_score": 0.5, "total_tokens": 1000},
    {"provider": UNICODE, "model": "模型-1", "debates": 5, "rounds": 9, "wins": 0,
     "win_rate": 0.0, "avg_response_time_ms": 3000.6, "response_time_ms_p50": 2800,
     "response_time_ms_p90": 4100, "response_time_ms_p99_9": 9000, "avg_confidence": 0.9,
     "avg_score": 0.95, "total_tokens": 42},
]  # fmt: skip


def test_provider_performance_shows_the_written_numbers(tmp_path: Path) -> None:
    folder = write_output(
        tmp_path / "providers",
        "ProviderPerformance",
        {
            "part-00000.zstd.parquet": providers_table(PROVIDERS[:2]),
            "part-00001.zstd.parquet": providers_table(PROVIDERS[2:]),
        },
    )
    page = report(folder, tmp_path / "providers.html")
    # Rows sorted by provider then model, code point order: "<" < "Z" < "o".
    assert [r[0] for r in page.body("providers")] == [HOSTILE, UNICODE, "openai"]
    assert page.body("providers")[2] == [
        "openai", "gpt-4o", "10", "30", "4", "40.0%", "1,234",
        "1,000", "2,000", "5,000", "0.810", "0.720", "123,456",
    ]  # fmt: skip
    assert page.tables["providers"][0][7:10] == ["p50 ms", "p90 ms", "p99.9 ms"]
    assert page.body("providers")[0][:2] == [HOSTILE, QUOTES]
    assert page.body("providers")[1][6] == "3,001"

    latency = page.in_figure("latency-chart")
    by_provider = [PROVIDERS[1], PROVIDERS[2], PROVIDERS[0]]
    columns = ("avg_response_time_ms", "response_time_ms_p50", "response_time_ms_p90",
               "response_time_ms_p99_9")  # fmt: skip
    assert [m.value for m in latency] == [p[c] for p in by_provider for c in columns]
    assert_proportional(latency)
    assert latency[3].title == f"{HOSTILE} / {QUOTES} · p99.9: 1,500"
    assert page.labels["latency-chart"] == [f"{p['provider']} / {p['model']}" for p in by_provider]

    wins = page.in_figure("win-rate-chart")
    assert [m.value for m in wins] == [0.75, 0.4, 0.0]
    assert [m.title.rsplit(" · ", 1)[1] for m in wins] == ["75.0%", "40.0%", "0.0%"]
    assert_proportional(wins)
    assert float(wins[2].attrs["width"]) == 0
    assert page.body("result")[-1] == ["note", HOSTILE]


def entities(count: int) -> list[dict[str, Any]]:
    names = [HOSTILE, BREAKOUT, QUOTES, UNICODE, LONG]
    types = ["PERSON", "ORG", "ORG:internal"]
    rows = []
    for i in range(count):
        mentions = 100 - 3 * i if i not in (6, 7) else 50
        confidence = 0.5 if i in (6, 7) else 0.25 + (i % 7) / 10
        rows.append({
            "entity_id": f"ent-{i:03d}", "entity_type": types[i % 3],
            "name": names[i] if i < len(names) else f"entity {i}" if i != 7 else "a tie",
            "mention_count": mentions, "conversations": [f"c{i}"],
            "avg_confidence": confidence, "max_confidence": 1.0,
            "first_seen": datetime(2026, 1, 1, tzinfo=UTC),
            "last_seen": datetime(2026, 1, 2, tzinfo=UTC),
            "importance_score": math.log(mentions) * confidence,
        })  # fmt: skip
    return rows


def test_entity_extraction_shows_the_top_entities_and_types(tmp_path: Path) -> None:
    rows = entities(26)
    parts: dict[str, pa.Table] = {}
    # Partitioned by entity_type as Spark writes it (':' escaped as %3A), the column not stored.
    for kind, escaped in (("PERSON", "PERSON"), ("ORG", "ORG"), ("ORG:internal", "ORG%3Ainternal")):
        mine = [{k: v for k, v in r.items() if k != "entity_type"} for r in rows
                if r["entity_type"] == kind]  # fmt: skip
        parts[f"entity_type={escaped}/part-00000.zstd.parquet"] = pa.Table.from_pylist(mine)
    folder = write_output(tmp_path / "entities", "EntityExtraction", parts)
    page = report(folder, tmp_path / "entities.html")

    top = sorted(rows, key=lambda r: (-r["mention_count"], -r["importance_score"], r["name"]))
    top = top[:20]
    assert [r[0] for r in page.body("top-entities")] == [r["name"] for r in top]
    assert [r[1] for r in page.body("top-entities")] == [r["entity_type"] for r in top]
    assert [r[3] for r in page.body("top-entities")] == [str(r["mention_count"]) for r in top]
    assert page.body("top-entities")[0][4:] == [
        f"{rows[0]['avg_confidence']:.3f}", f"{rows[0]['importance_score']:.3f}"]  # fmt: skip
    marks = page.in_figure("top-entities-chart")
    assert [m.value for m in marks] == [r["mention_count"] for r in top]
    assert_proportional(marks)
    assert page.labels["top-entities-chart"] == [r["name"] for r in top]
    assert LONG not in page.tables["top-entities"][0]
    # Entities 6 and 7 tie on mentions and importance: by name, "a tie" first.
    names = [r[0] for r in page.body("top-entities")]
    assert names.index("a tie") + 1 == names.index("entity 6")

    counts = Counter(r["entity_type"] for r in rows)
    by_type = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert page.labels["entity-types-chart"] == [k for k, _ in by_type]
    assert [m.value for m in page.in_figure("entity-types-chart")] == [v for _, v in by_type]


def test_relationship_mining_shows_the_top_pairs(tmp_path: Path) -> None:
    rows = [
        {"entity_a": "e1", "entity_b": "e2", "entity_a_name": HOSTILE, "entity_b_name": UNICODE,
         "cooccurrence_count": 9, "conversation_count": 4, "association_strength": 0.5},
        {"entity_a": "e1", "entity_b": "e3", "entity_a_name": HOSTILE, "entity_b_name": "Bob",
         "cooccurrence_count": 12, "conversation_count": 6, "association_strength": 0.25},
        {"entity_a": "e0", "entity_b": "e3", "entity_a_name": "Ann", "entity_b_name": "Bob",
         "cooccurrence_count": 9, "conversation_count": 2, "association_strength": 0.75},
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows)
    folder = write_output(tmp_path / "rel", "RelationshipMining", {"part-0.parquet": table})
    page = report(folder, tmp_path / "rel.html")
    order = [rows[1], rows[2], rows[0]]  # by count, then association strength
    assert page.body("top-relationships") == [
        [r["entity_a_name"], r["entity_b_name"], str(r["cooccurrence_count"]),
         str(r["conversation_count"]), f"{r['association_strength']:.3f}"]
        for r in order
    ]  # fmt: skip
    labels = [f"{r['entity_a_name']} — {r['entity_b_name']}" for r in order]
    assert page.labels["top-relationships-chart"] == labels
    assert [m.value for m in page.in_figure("top-relationships-chart")] == [12, 9, 9]


def test_topic_modeling_shows_each_topics_terms_and_the_dominant_topics(tmp_path: Path) -> None:
    topics = pa.Table.from_pylist([
        {"topic": 1, "terms": ["kubernetes", HOSTILE], "term_weights": [0.25, 0.125]},
        {"topic": 0, "terms": ["straße", "東京タワー", "café"], "term_weights": [0.5, 0.3, 0.2]},
    ])  # fmt: skip
    dominant = [0, 0, 1, None, 0, 1, 0, None]
    conversations = pa.table({
        "conversation_id": [f"c{i}" for i in range(len(dominant))],
        "dominant_topic": pa.array(dominant, pa.int32()),
    })  # fmt: skip
    folder = write_output(
        tmp_path / "topics",
        "TopicModeling",
        {
            "topics/part-0.parquet": topics,
            "conversation_topics/part-0.parquet": conversations,
        },
    )
    page = report(folder, tmp_path / "topics.html")
    assert page.labels["topic-0"] == ["straße", "東京タワー", "café"]
    assert [m.value for m in page.in_figure("topic-0")] == [0.5, 0.3, 0.2]
    assert page.labels["topic-1"] == ["kubernetes", HOSTILE]
    assert_proportional(page.in_figure("topic-0"))
    counts = Counter(dominant)
    assert page.labels["dominant-topics-chart"] == ["Topic 0", "Topic 1", "no topic"]
    marks = page.in_figure("dominant-topics-chart")
    assert [m.value for m in marks] == [counts[0], counts[1], counts[None]]
    assert marks[0].title == "Topic 0 · 4 (50.0%)"
    assert marks[2].title == "no topic · 2 (25.0%)"


def test_debate_analysis_shows_consensus_by_utc_day_and_the_winners(tmp_path: Path) -> None:
    started = [
        datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 1, 2, 12, 0, tzinfo=UTC),
        datetime(2026, 1, 3, 8, 0, tzinfo=UTC),
        datetime(2026, 1, 3, 9, 0, tzinfo=UTC),
        datetime(2026, 1, 3, 10, 0, tzinfo=UTC),
    ]
    reached = [True, False, True, True, True, False]
    debates = pa.table({
        "debate_id": [f"d{i}" for i in range(6)],
        "started_at": pa.array(started, pa.timestamp("us", tz="UTC")),
        "consensus_reached": reached,
    })  # fmt: skip
    winners = pa.Table.from_pylist([
        {"winner_provider": "openai", "winner_model": "gpt-4o", "wins": 2,
         "consensus_wins": 1, "win_share": 0.4},
        {"winner_provider": HOSTILE, "winner_model": "m", "wins": 3, "consensus_wins": 3,
         "win_share": 0.6},
    ])  # fmt: skip
    summary = pa.Table.from_pylist([
        {"debates": 6, "consensus_debates": 4, "consensus_rate": 4 / 6, "avg_rounds": 2.5,
         "avg_rounds_to_consensus": None, "avg_stance_changes": 1.25},
    ])  # fmt: skip
    folder = write_output(
        tmp_path / "debates",
        "DebateAnalysis",
        {
            "debates/part-0.parquet": debates,
            "winners/part-0.parquet": winners,
            "summary/part-0.parquet": summary,
        },
    )
    page = report(folder, tmp_path / "debates.html")
    per_day: dict[str, list[bool]] = {}
    for when, ok in zip(started, reached, strict=True):
        per_day.setdefault(when.date().isoformat(), []).append(ok)
    points = page.in_figure("consensus-chart")
    assert [m.value for m in points] == [sum(v) / len(v) for v in per_day.values()]
    assert [m.title for m in points] == [
        "2026-01-01: 50.0% of 2 debates",
        "2026-01-02: 100.0% of 1 debates",
        "2026-01-03: 66.7% of 3 debates",
    ]
    top, bottom = float(points[1].attrs["cy"]), float(points[0].attrs["cy"])
    assert top < bottom  # higher rate, higher on the page
    assert page.body("summary") == [
        ["debates", "6"], ["reached consensus", "4"], ["consensus rate", "66.7%"],
        ["mean rounds", "2.50"], ["mean rounds to consensus", "n/a"],
        ["mean stance changes", "1.25"],
    ]  # fmt: skip
    assert page.body("winners") == [
        [HOSTILE, "m", "3", "3", "60.0%"],
        ["openai", "gpt-4o", "2", "1", "40.0%"],
    ]
    assert [m.value for m in page.in_figure("winners-chart")] == [3, 3, 2, 1]


def test_an_empty_output_says_so(tmp_path: Path) -> None:
    folder = write_output(tmp_path / "empty", "EntityExtraction", {})
    page = report(folder, tmp_path / "empty.html")
    assert page.sections == ["entities", "result"] and not page.marks


@pytest.mark.parametrize(
    ("job", "lake", "want"),
    [
        ("s3a://helixagent-datalake/analytics/entities/", "/data/lake",
         "file:///data/lake/analytics/entities"),
        ("s3://bucket/analytics/x", "s3://other/prefix", "s3a://other/prefix/analytics/x"),
        ("s3a://bucket/analytics/x", None, "s3a://bucket/analytics/x"),
        ("analytics/entities/", "file:///data/lake/", "file:///data/lake/analytics/entities"),
        ("/data/out", None, "file:///data/out"),
        ("file:///data/out", "/elsewhere", "file:///data/out"),
    ],
)  # fmt: skip
def test_the_output_is_found_as_helixctl_run_writes_it(
    job: str, lake: str | None, want: str
) -> None:
    assert output_uri(job, lake) == want


def test_the_default_file_is_named_after_the_output() -> None:
    assert default_name("s3a://bucket/analytics/debates/2026-01/") == "debates-2026-01.html"
    assert default_name("file:///data/lake/analytics/entities") == "analytics-entities.html"


def test_the_report_goes_to_the_lake_key_or_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_output(tmp_path / "lake" / "analytics" / "providers", "ProviderPerformance",
                 {"part-0.parquet": providers_table(PROVIDERS)})  # fmt: skip
    runner = CliRunner()
    args = ["report", "--lake", str(tmp_path / "lake"), "--job", "analytics/providers"]
    monkeypatch.chdir(tmp_path)
    run = runner.invoke(main, args)
    assert run.exit_code == 0, run.output
    assert (tmp_path / "analytics-providers.html").read_text().startswith("<!DOCTYPE html>")
    run = runner.invoke(main, [*args, "-o", "-"])
    assert run.exit_code == 0 and parse(run.output).body("providers")[0][0] == HOSTILE


def test_only_a_file_report_wrote_is_replaced(tmp_path: Path) -> None:
    folder = write_output(tmp_path / "providers", "ProviderPerformance",
                          {"part-0.parquet": providers_table(PROVIDERS)})  # fmt: skip
    out = tmp_path / "page.html"
    runner = CliRunner()
    assert runner.invoke(main, ["report", "--job", str(folder), "-o", str(out)]).exit_code == 0
    again = runner.invoke(main, ["report", "--job", str(folder), "-o", str(out)])
    assert again.exit_code == 0, again.output
    foreign = tmp_path / "notes.html"
    foreign.write_text("<!DOCTYPE html>\n<p>my notes</p>\n")
    refused = runner.invoke(main, ["report", "--job", str(folder), "-o", str(foreign)])
    assert refused.exit_code == 1 and "not written by helixctl report" in refused.output
    assert foreign.read_text() == "<!DOCTYPE html>\n<p>my notes</p>\n"
    folder_out = runner.invoke(main, ["report", "--job", str(folder), "-o", str(tmp_path)])
    assert folder_out.exit_code != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.html", "page.html", "providers"]


def test_a_folder_without_a_result_is_refused(tmp_path: Path) -> None:
    run = CliRunner().invoke(main, ["report", "--job", str(tmp_path), "-o", "-"])
    assert run.exit_code == 1
    assert "no _helix_result.json; not the output of a job" in run.output


def test_an_output_on_s3_reads_like_the_same_output_on_disk(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_output(tmp_path / "providers", "ProviderPerformance",
                          {"part-0.parquet": providers_table(PROVIDERS)})  # fmt: skip
    bucket = s3_server.create_bucket()
    client = s3_server.client()
    for path in folder.rglob("*"):
        if path.is_file():
            key = f"lake/analytics/providers/{path.relative_to(folder).as_posix()}"
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "s3.html"
    run = CliRunner().invoke(
        main,
        [
            "report",
            "--lake",
            f"s3://{bucket}/lake",
            "-o",
            str(out),
            "--job",
            "s3a://helixagent-datalake/analytics/providers/",
        ],
    )
    assert run.exit_code == 0, run.output
    assert f"from s3a://{bucket}/lake/analytics/providers" in run.output
    on_s3 = parse(out.read_text(encoding="utf-8"))
    on_disk = report(folder, tmp_path / "disk.html")
    assert on_s3.body("providers") == on_disk.body("providers")
    assert [m.value for m in on_s3.marks] == [m.value for m in on_disk.marks]


def test_chart_labels_are_cut_by_display_width() -> None:
    assert short("abcdef", 5) == "abcd…"
    assert short("abcde", 5) == "abcde"
    assert short("東京タワー", 6) == "東京…"  # two columns each: 東京 and the ellipsis fit in 6
    assert short(HOSTILE, 40) == HOSTILE
