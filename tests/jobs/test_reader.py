"""The reader: each record exactly once in every compaction state, malformed ones kept aside."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from helix_jobs import records
from helix_jobs.reader import CORRUPT_DIR, read_dataset
from tests.jobs.lake import END, MIXED_DAY, START, Lake, raw_path


def test_each_valid_record_is_read_once_across_raw_compacted_and_mixed_days(
    spark: SparkSession, lake: Lake, tmp_path: Path
) -> None:
    for dataset in (records.CONVERSATIONS, records.DEBATES):
        data = read_dataset(spark, lake.uri(dataset.name), dataset, START, END)
        ids = [r[0] for r in data.records.select(dataset.id_field).collect()]
        expected = [r[dataset.id_field] for r in lake.valid(dataset.name)]
        assert sorted(ids) == sorted(expected)  # no duplicates (staged file ignored), none lost
        assert data.plan.compacted_records > 0 and data.plan.raw
        rows, corrupt = data.write_corrupt((tmp_path / dataset.name).as_uri())
        malformed = lake.malformed(dataset.name)
        assert malformed and corrupt == len(malformed)
        assert rows - corrupt + data.plan.compacted_records == len(expected)


def test_malformed_records_are_written_aside_with_their_file_and_text(
    spark: SparkSession, lake: Lake, tmp_path: Path
) -> None:
    dataset = records.CONVERSATIONS
    data = read_dataset(spark, lake.uri(dataset.name), dataset, START, END)
    data.write_corrupt(tmp_path.as_uri())
    lines = [
        json.loads(line)
        for f in sorted((tmp_path / CORRUPT_DIR).glob("part-*.json"))
        for line in f.read_text().splitlines()
    ]
    malformed = lake.malformed(dataset.name)
    by_file = {raw_path(lake.root, r).name: r for r in malformed}
    assert sorted(Path(line["file"]).name for line in lines) == sorted(by_file)
    for line in lines:
        item = by_file[Path(line["file"]).name]
        assert line["record"] == item.body.decode()
        with pytest.raises(records.Malformed) as verdict:  # the one definition, in Python
            records.conform(
                records.parse_raw(item.body), dataset, item.day, raw_path(lake.root, item).name
            )
        assert line["reason"] == verdict.value.reason
    kinds = {line["reason"].split(":", 1)[0] for line in lines}
    assert kinds == {records.NOT_JSON, records.WRONG_TYPE, records.MISSING_FIELD}


def test_a_range_without_data_reads_nothing(spark: SparkSession, lake: Lake) -> None:
    dataset = records.DEBATES
    data = read_dataset(spark, lake.uri(dataset.name), dataset, date(2025, 6, 1), date(2025, 6, 30))
    assert data.records.count() == 0
    assert data.plan.folders_listed == 1 and data.plan.days_present == 0  # the root alone


def test_only_the_days_of_the_range_are_read(spark: SparkSession, lake: Lake) -> None:
    dataset = records.CONVERSATIONS
    data = read_dataset(spark, lake.uri(dataset.name), dataset, MIXED_DAY, date(2026, 2, 10))
    ids = sorted(r[0] for r in data.records.select("conversation_id").collect())
    assert ids == sorted(
        c["conversation_id"] for c in lake.valid(dataset.name, MIXED_DAY, MIXED_DAY)
    )
    assert data.plan.days_present == 1
