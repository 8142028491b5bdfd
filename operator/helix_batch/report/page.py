"""The report's HTML page, from a job's output: pure functions, no I/O.

The page is self-contained: inline CSS and SVG, no script, and a Content-Security-Policy that
lets it load nothing at all. Every string from the data is escaped (:func:`svg.esc`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from helix_batch.report.read import JobOutput
from helix_batch.report.svg import Series, bars, esc, line

GENERATOR = "helixctl report"
# The page's first line; `helixctl report` overwrites a file only when it starts with it.
DOCTYPE = "<!DOCTYPE html>"
TOP = 20  # rows in the "top" charts and tables
PERCENTILE = re.compile(r"^response_time_ms_p(\d+(?:_\d+)?)$")

STYLE = """
body{font:14px/1.4 "DejaVu Sans",system-ui,sans-serif;color:#222;background:#fff;margin:24px;max-width:1100px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.source{color:#555;word-break:break-all} figure{margin:12px 0} figcaption{color:#555;font-size:12px}
table{border-collapse:collapse;margin:8px 0;font-size:13px} td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums} .empty{color:#777;font-style:italic}
svg text{font:12px "DejaVu Sans",sans-serif;fill:#333} svg .axis{fill:#666;font-size:11px}
svg .grid{stroke:#e5e5e5} svg .trend{stroke-width:2}
.topics{display:flex;flex-wrap:wrap;gap:0 24px}
"""


def integer(value: Any) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def decimal(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{float(value):,.{digits}f}"


def percent(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.1%}"


def series(name: str, values: Sequence[Any], show: Callable[[Any], str] = integer) -> Series:
    """A bar series whose texts are its values as ``show`` writes them."""
    return Series(name, values, [show(v) for v in values])


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """A table of already formatted cells; columns in ``numeric`` are right-aligned."""

    def cell(tag: str, index: int, text: str) -> str:
        cls = ' class="num"' if index in numeric else ""
        return f"<{tag}{cls}>{esc(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(ident: str, chart: str, caption: str) -> str:
    return f'<figure id="{esc(ident)}">{chart}<figcaption>{esc(caption)}</figcaption></figure>'


def section(ident: str, title: str, *parts: str) -> str:
    return f'<section id="{esc(ident)}"><h2>{esc(title)}</h2>{"".join(parts)}</section>'


def empty(what: str) -> str:
    return f'<p class="empty">{esc(what)}</p>'


def top_rows(
    data: pa.Table, order: list[tuple[str, str]], limit: int = TOP
) -> list[dict[str, Any]]:
    """The first ``limit`` rows in ``order``; strings compare by code point (UTF-8 bytes)."""
    rows: list[dict[str, Any]] = data.sort_by(order).slice(0, limit).to_pylist()
    return rows


def provider_performance(tables: dict[str, pa.Table]) -> list[str]:
    data = tables[""]
    if data.num_rows == 0:
        return [section("providers", "Providers", empty("No provider in this output."))]
    rows = top_rows(data, [("provider", "ascending"), ("model", "ascending")], data.num_rows)
    labels = [f"{r['provider']} / {r['model']}" for r in rows]
    found = [(m.group(1), c) for c in data.column_names if (m := PERCENTILE.match(c))]
    columns = sorted(found, key=lambda item: float(item[0].replace("_", ".")))
    names = ["p" + p.replace("_", ".") for p, _ in columns]
    latency = [series("mean", [r["avg_response_time_ms"] for r in rows], lambda v: decimal(v, 0))]
    latency += [
        series(name, [r[c] for r in rows]) for name, (_, c) in zip(names, columns, strict=True)
    ]
    ranked = sorted(range(len(rows)), key=lambda i: (-(rows[i]["win_rate"] or 0), labels[i]))
    win_labels = [labels[i] for i in ranked]
    win = series("win rate", [rows[i]["win_rate"] for i in ranked], percent)
    headers = [
        "provider",
        "model",
        "debates",
        "rounds",
        "wins",
        "win rate",
        "mean ms",
        *(f"{n} ms" for n in names),
        "avg confidence",
        "avg score",
        "tokens",
    ]
    cells = [
        [
            r["provider"],
            r["model"],
            integer(r["debates"]),
            integer(r["rounds"]),
            integer(r["wins"]),
            percent(r["win_rate"]),
            decimal(r["avg_response_time_ms"], 0),
            *(integer(r[c]) for _, c in columns),
            decimal(r["avg_confidence"]),
            decimal(r["avg_score"]),
            integer(r["total_tokens"]),
        ]
        for r in rows
    ]
    return [
        section(
            "latency",
            "Response time by provider and model",
            figure(
                "latency-chart",
                bars("Response time (ms)", labels, latency),
                "Mean and percentiles of each model's answers' response_time_ms.",
            ),
        ),
        section(
            "win-rate",
            "Win rate",
            figure(
                "win-rate-chart",
                bars("Win rate", win_labels, [win]),
                "Debates won / debates answered in, highest first.",
            ),
        ),
        section("providers", "Providers", table(headers, cells, set(range(2, len(headers))))),
    ]


def entity_extraction(tables: dict[str, pa.Table]) -> list[str]:
    data = tables[""]
    if data.num_rows == 0:
        return [section("entities", "Entities", empty("No entity in this output."))]
    rows = top_rows(
        data,
        [
            ("mention_count", "descending"),
            ("importance_score", "descending"),
            ("name", "ascending"),
            ("entity_id", "ascending"),
        ],
    )
    labels = [str(r["name"]) for r in rows]
    mentions = series("mentions", [r["mention_count"] for r in rows])
    counts = pc.value_counts(data["entity_type"]).to_pylist()
    by_type = sorted(((c["values"], c["counts"]) for c in counts), key=lambda t: (-t[1], str(t[0])))
    types = [str(t) for t, _ in by_type]
    per_type = series("entities", [n for _, n in by_type])
    cells = [
        [
            r["name"],
            r["entity_type"],
            r["entity_id"],
            integer(r["mention_count"]),
            decimal(r["avg_confidence"]),
            decimal(r["importance_score"]),
        ]
        for r in rows
    ]
    headers = ["name", "type", "id", "mentions", "avg confidence", "importance"]
    return [
        section(
            "top-entities",
            f"Top {len(rows)} of {data.num_rows:,} entities",
            figure(
                "top-entities-chart",
                bars("Mentions", labels, [mentions]),
                "By mention_count, then importance_score.",
            ),
            table(headers, cells, {3, 4, 5}),
        ),
        section(
            "entity-types",
            "Entities by type",
            figure(
                "entity-types-chart",
                bars("Entities by type", types, [per_type]),
                "Rows of the output per entity_type.",
            ),
        ),
    ]


def relationship_mining(tables: dict[str, pa.Table]) -> list[str]:
    data = tables[""]
    if data.num_rows == 0:
        return [section("relationships", "Relationships", empty("No relationship found."))]
    rows = top_rows(
        data,
        [
            ("cooccurrence_count", "descending"),
            ("association_strength", "descending"),
            ("entity_a", "ascending"),
            ("entity_b", "ascending"),
        ],
    )
    labels = [f"{r['entity_a_name']} — {r['entity_b_name']}" for r in rows]
    counts = series("co-occurrences", [r["cooccurrence_count"] for r in rows])
    cells = [
        [
            r["entity_a_name"],
            r["entity_b_name"],
            integer(r["cooccurrence_count"]),
            integer(r["conversation_count"]),
            decimal(r["association_strength"]),
        ]
        for r in rows
    ]
    headers = ["entity A", "entity B", "co-occurrences", "conversations", "association"]
    return [
        section(
            "top-relationships",
            f"Top {len(rows)} of {data.num_rows:,} relationships",
            figure(
                "top-relationships-chart",
                bars("Co-occurrences", labels, [counts]),
                "By cooccurrence_count, then association_strength.",
            ),
            table(headers, cells, {2, 3, 4}),
        )
    ]


def topic_modeling(tables: dict[str, pa.Table]) -> list[str]:
    topics = tables["topics"]
    if topics.num_rows == 0:
        return [section("topics", "Topics", empty("No topic: the vocabulary was empty."))]
    figures = []
    for row in top_rows(topics, [("topic", "ascending")], topics.num_rows):
        weights = series("weight", row["term_weights"], lambda w: decimal(w, 4))
        title = f"Topic {row['topic']}"
        chart = bars(title, row["terms"], [weights], width=440, label_width=130)
        figures.append(figure(f"topic-{row['topic']}", chart, title))
    dominant = pc.value_counts(tables["conversation_topics"]["dominant_topic"]).to_pylist()
    counted = sorted(
        ((c["values"], c["counts"]) for c in dominant),
        key=lambda t: (t[0] is None, t[0] if t[0] is not None else 0),
    )
    total = sum(n for _, n in counted)
    labels = [f"Topic {t}" if t is not None else "no topic" for t, _ in counted]
    share = Series(
        "conversations",
        [n for _, n in counted],
        [f"{integer(n)} ({percent(n / total)})" for _, n in counted],
    )
    return [
        section(
            "topics",
            "Topics: their heaviest terms",
            f'<div class="topics">{"".join(figures)}</div>',
        ),
        section(
            "dominant-topics",
            "Conversations by dominant topic",
            figure(
                "dominant-topics-chart",
                bars("Conversations", labels, [share]),
                "Each conversation counted under its dominant_topic.",
            ),
        ),
    ]


def consensus_by_day(debates: pa.Table) -> list[tuple[str, int, int]]:
    """(UTC day, debates, debates that reached consensus), by day."""
    if debates.num_rows == 0:
        return []
    days = pc.cast(debates["started_at"], pa.date32())
    reached = pc.cast(pc.fill_null(debates["consensus_reached"], False), pa.int64())
    grouped = (
        pa.table({"day": days, "reached": reached})
        .group_by("day")
        .aggregate([("reached", "count"), ("reached", "sum")])
    )
    rows = sorted(grouped.to_pylist(), key=lambda r: r["day"])
    return [(r["day"].isoformat(), r["reached_count"], r["reached_sum"]) for r in rows]


def debate_analysis(tables: dict[str, pa.Table]) -> list[str]:
    days = consensus_by_day(tables["debates"])
    if not days:
        return [section("consensus", "Consensus", empty("No debate in this output."))]
    rates = [c / n for _, n, c in days]
    texts = [f"{percent(c / n)} of {n:,} debates" for _, n, c in days]
    parts = [
        section(
            "consensus",
            "Consensus over time",
            figure(
                "consensus-chart",
                line("Consensus rate by day", [d for d, _, _ in days], rates, texts, 1.0),
                "Share of each UTC day's debates (by started_at) that reached consensus.",
            ),
        )
    ]
    summary = tables["summary"].to_pylist()
    if summary:
        s = summary[0]
        figures = [
            ("debates", integer(s["debates"])),
            ("reached consensus", integer(s["consensus_debates"])),
            ("consensus rate", percent(s["consensus_rate"])),
            ("mean rounds", decimal(s["avg_rounds"], 2)),
            ("mean rounds to consensus", decimal(s["avg_rounds_to_consensus"], 2)),
            ("mean stance changes", decimal(s["avg_stance_changes"], 2)),
        ]
        parts.append(section("summary", "Summary", table(["", ""], figures, {1})))
    winners = tables["winners"]
    if winners.num_rows:
        rows = top_rows(
            winners,
            [
                ("wins", "descending"),
                ("winner_provider", "ascending"),
                ("winner_model", "ascending"),
            ],
        )
        labels = [f"{r['winner_provider']} / {r['winner_model']}" for r in rows]
        wins = [
            series("wins", [r["wins"] for r in rows]),
            series("consensus wins", [r["consensus_wins"] for r in rows]),
        ]
        cells = [
            [
                r["winner_provider"],
                r["winner_model"],
                integer(r["wins"]),
                integer(r["consensus_wins"]),
                percent(r["win_share"]),
            ]
            for r in rows
        ]
        parts.append(
            section(
                "winners",
                "Winners",
                figure(
                    "winners-chart",
                    bars("Wins", labels, wins),
                    "Debates won, and of those the ones that reached consensus.",
                ),
                table(["provider", "model", "wins", "consensus wins", "share"], cells, {2, 3, 4}),
            )
        )
    return parts


SECTIONS: dict[str, Callable[[dict[str, pa.Table]], list[str]]] = {
    "EntityExtraction": entity_extraction,
    "RelationshipMining": relationship_mining,
    "TopicModeling": topic_modeling,
    "ProviderPerformance": provider_performance,
    "DebateAnalysis": debate_analysis,
}


def result_table(result: dict[str, Any]) -> str:
    def shown(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return table(["key", "value"], [[k, shown(v)] for k, v in result.items()], set())


def render_page(output: JobOutput, generated_at: datetime) -> str:
    """The whole page."""
    job_type = str(output.result["jobType"])
    sections = SECTIONS[job_type](output.tables) if job_type in SECTIONS else []
    title = f"{job_type} · {output.uri}"
    when = f"{output.result.get('startDate', '?')} to {output.result.get('endDate', '?')}"
    return (
        f'{DOCTYPE}\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f'<meta name="generator" content="{GENERATOR}">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{esc(job_type)}, {esc(when)}</h1>"
        f'<p class="source">{esc(output.uri)}</p></header>'
        + "".join(sections)
        + section("result", "Result object (_helix_result.json)", result_table(output.result))
        + f"<footer><p>Written by {GENERATOR} at "
        f"{esc(generated_at.isoformat(timespec='seconds'))}.</p></footer></body></html>\n"
    )
