"""topic_modeling: the vocabulary computed independently, and well-formed topics and mixtures."""

from __future__ import annotations

import math
from pathlib import Path

from pyspark.ml.feature import StopWordsRemover
from pyspark.sql import SparkSession

from tests.jobs import expected
from tests.jobs.lake import Lake, run_job


def test_topics_and_mixtures(spark: SparkSession, lake: Lake, tmp_path: Path) -> None:
    params = ("numTopics=4", "maxIterations=10", "vocabSize=5000", "minDocFreq=3")
    result = run_job(spark, lake, "topic_modeling", tmp_path, *params)
    stop_words = set(StopWordsRemover.loadDefaultStopWords("english"))
    vocabulary = expected.vocabulary(lake.valid("conversations"), stop_words, min_df=3)
    conversations = lake.valid("conversations")
    assert result["vocabularySize"] == len(vocabulary)
    assert result["topics"] == 4 and result["documents"] == len(conversations)

    topics = spark.read.parquet((tmp_path / "topics").as_uri()).orderBy("topic").collect()
    assert [t["topic"] for t in topics] == [0, 1, 2, 3]
    for topic in topics:
        assert len(topic["terms"]) == 10 and set(topic["terms"]) <= set(vocabulary)
        assert topic["term_weights"] == sorted(topic["term_weights"], reverse=True)

    mixtures = spark.read.parquet((tmp_path / "conversation_topics").as_uri()).collect()
    assert sorted(m["conversation_id"] for m in mixtures) == sorted(
        c["conversation_id"] for c in conversations
    )
    for m in mixtures:
        weights = m["topic_distribution"]
        assert len(weights) == 4 and math.isclose(sum(weights), 1.0, rel_tol=1e-6)
        assert m["dominant_weight"] == max(weights) and weights[m["dominant_topic"]] == max(weights)
    assert result["outputRows"] == len(mixtures)


def test_a_small_vocabulary_keeps_the_most_frequent_terms(
    spark: SparkSession, lake: Lake, tmp_path: Path
) -> None:
    result = run_job(
        spark, lake, "topic_modeling", tmp_path, "numTopics=2", "maxIterations=2", "vocabSize=10"
    )
    stop_words = set(StopWordsRemover.loadDefaultStopWords("english"))
    counts = expected.vocabulary(lake.valid("conversations"), stop_words, min_df=2)
    tenth = sorted(counts.values(), reverse=True)[9]
    surely_in = {t for t, n in counts.items() if n > tenth}
    terms = {
        t
        for row in spark.read.parquet((tmp_path / "topics").as_uri()).collect()
        for t in row["terms"]
    }
    assert result["vocabularySize"] == 10
    assert surely_in <= terms <= {t for t, n in counts.items() if n >= tenth}
