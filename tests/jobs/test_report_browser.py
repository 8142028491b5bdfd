"""``helixctl report`` on the outputs of the five jobs really run on the generated sample lake,
rendered by headless Chromium: every chart is laid out with its marks at a non-zero size, and
the screenshot shows each bar and point in its colour where the browser placed it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from helix_batch.cli.main import main
from tests.jobs.lake import Lake, run_job
from tests.report.browser import layout, rgb, screenshot
from tests.report.page import Page, parse

JOBS = {
    "providers": ("provider_performance", ()),
    "entities": ("entity_extraction", ()),
    "relationships": ("relationship_mining", ()),
    "topics": ("topic_modeling", ("numTopics=4", "maxIterations=5", "vocabSize=300")),
    "debates": ("debate_analysis", ()),
}
FIGURES = {
    "providers": {"latency-chart", "win-rate-chart"},
    "entities": {"top-entities-chart", "entity-types-chart"},
    "relationships": {"top-relationships-chart"},
    "topics": {"topic-0", "topic-1", "topic-2", "topic-3", "dominant-topics-chart"},
    "debates": {"consensus-chart", "winners-chart"},
}
BACKGROUND = (255, 255, 255)


@pytest.fixture(scope="module")
def outputs(spark: SparkSession, lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake root whose analytics/<name> folders hold the five jobs' outputs."""
    root = tmp_path_factory.mktemp("report-lake")
    for name, (job, params) in JOBS.items():
        run_job(spark, lake, job, root / "analytics" / name, *params)
    return root


@pytest.mark.parametrize("name", sorted(JOBS))
def test_the_report_draws_its_charts_in_chromium(
    name: str, outputs: Path, spark: SparkSession, tmp_path: Path
) -> None:
    page = tmp_path / f"{name}.html"
    job = f"s3a://helixagent-datalake/analytics/{name}/"  # as in the job's spec
    run = CliRunner().invoke(
        main, ["report", "--lake", outputs.as_uri(), "--job", job, "-o", str(page)]
    )
    assert run.exit_code == 0, run.output
    shown = parse(page.read_text(encoding="utf-8"))

    height, charts = layout(page, tmp_path)
    assert {c.figure for c in charts} == FIGURES[name]
    image = screenshot(page, tmp_path, height)
    assert image.size == (1000, height)
    for chart in charts:
        marks = shown.in_figure(chart.figure)
        assert [m.value for m in chart.marks] == [m.value for m in marks] and marks, chart.figure
        assert chart.box.width >= 400 and chart.box.height >= 60, chart
        for mark in chart.marks:
            if mark.value > 0:
                assert mark.box.width > 0 and mark.box.height > 0, (chart.figure, mark)
            inside = (chart.box.x <= mark.box.x <= chart.box.x + chart.box.width
                      and chart.box.y <= mark.box.y <= chart.box.y + chart.box.height)  # fmt: skip
            assert inside, (chart.figure, mark)
            if mark.box.width >= 3:  # the centre pixel is the mark's own colour
                assert image.getpixel(mark.box.centre()) == rgb(mark.fill), (chart.figure, mark)
        left, top = int(chart.box.x), int(chart.box.y)
        area = image.crop((left, top, left + int(chart.box.width), top + int(chart.box.height)))
        colours = area.getcolors(maxcolors=1 << 16) or []
        drawn = sum(n for n, colour in colours if colour != BACKGROUND)
        assert drawn > 0.01 * area.width * area.height, chart.figure

    check_numbers(name, shown, outputs / "analytics" / name, spark)


def check_numbers(name: str, shown: Page, folder: Path, spark: SparkSession) -> None:
    """The charts' numbers are the output's, read back with Spark."""
    if name == "providers":
        rows = spark.read.parquet(folder.as_uri()).collect()
        want = sorted((r["win_rate"] for r in rows), reverse=True)
        assert [m.value for m in shown.in_figure("win-rate-chart")] == want
    elif name == "entities":
        rows = spark.read.parquet(folder.as_uri()).collect()
        want = sorted((r["mention_count"] for r in rows), reverse=True)[:20]
        assert [m.value for m in shown.in_figure("top-entities-chart")] == want
    elif name == "relationships":
        rows = spark.read.parquet(folder.as_uri()).collect()
        want = sorted((r["cooccurrence_count"] for r in rows), reverse=True)[:20]
        assert [m.value for m in shown.in_figure("top-relationships-chart")] == want
    elif name == "topics":
        rows = spark.read.parquet((folder / "topics").as_uri()).orderBy("topic").collect()
        for row in rows:
            assert [m.value for m in shown.in_figure(f"topic-{row['topic']}")] == list(
                row["term_weights"]
            )
    else:
        days: dict[str, list[bool]] = defaultdict(list)
        debates = spark.read.parquet((folder / "debates").as_uri())
        day = F.to_date("started_at").cast("string")  # the session's time zone is UTC
        for row in debates.select(day.alias("day"), "consensus_reached").collect():
            days[row["day"]].append(row["consensus_reached"])
        want = [sum(v) / len(v) for _, v in sorted(days.items())]
        assert [m.value for m in shown.in_figure("consensus-chart")] == want
