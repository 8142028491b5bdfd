"""LDA topics over the text of conversations (user and assistant messages).

Text is lower-cased (Java's String.toLowerCase) and its tokens are the runs of Unicode letters,
combining marks and digits (\\p{L}, \\p{M}, \\p{N}) of at least three characters (code points;
scripts written without spaces, such as Chinese or Japanese, give one token per run); Spark's
English stop words are dropped; the vocabulary is the vocabSize most frequent terms found in at
least minDocFreq conversations. A conversation with no vocabulary term has no topic:
dominant_topic and dominant_weight null, topic_distribution all zeros.

Output (Parquet):
- <output>/topics/: topic int, terms array<string>, term_weights array<double> (the topic's
  TOP_TERMS heaviest terms, heaviest first);
- <output>/conversation_topics/: conversation_id, started_at, dominant_topic int,
  dominant_weight double, topic_distribution array<double> (indexed by topic, sums to 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.ml.clustering import LDA
from pyspark.ml.feature import CountVectorizer, RegexTokenizer, StopWordsRemover
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from helix_jobs import records
from helix_jobs.job import Job, Param, count_rows, integer, observed_rows
from helix_jobs.reader import join

TOP_TERMS = 10
# The tokens themselves (gaps=False), at least 3 long: a quantifier counts code points where
# RegexTokenizer's minTokenLength would count UTF-16 units.
WORD_PATTERN = r"[\p{L}\p{M}\p{N}]{3,}"
SEED = 7

TOPICS_SCHEMA = StructType(
    [
        StructField("topic", IntegerType()),
        StructField("terms", ArrayType(StringType())),
        StructField("term_weights", ArrayType(DoubleType())),
    ]
)
MIXTURE_SCHEMA = StructType(
    [
        StructField("conversation_id", StringType()),
        StructField("started_at", TimestampType()),
        StructField("dominant_topic", IntegerType()),
        StructField("dominant_weight", DoubleType()),
        StructField("topic_distribution", ArrayType(DoubleType())),
    ]
)


def documents(conversations: DataFrame) -> DataFrame:
    spoken = F.filter("messages", lambda m: m["role"] != "system")
    return conversations.select(
        "conversation_id",
        "started_at",
        F.concat_ws(" ", F.transform(spoken, lambda m: m["content"])).alias("text"),
    )


def run(
    spark: SparkSession, conversations: DataFrame, output: str, p: Mapping[str, Any]
) -> dict[str, Any]:
    tokens = RegexTokenizer(
        inputCol="text",
        outputCol="raw_tokens",
        pattern=WORD_PATTERN,
        gaps=False,
        minTokenLength=1,
    ).transform(documents(conversations))
    tokens = StopWordsRemover(inputCol="raw_tokens", outputCol="tokens").transform(tokens)
    vectorizer = CountVectorizer(
        inputCol="tokens",
        outputCol="features",
        vocabSize=p["vocabSize"],
        minDF=float(p["minDocFreq"]),
    )
    vectorizer_model = vectorizer.fit(tokens)
    vocabulary: list[str] = vectorizer_model.vocabulary
    corpus = vectorizer_model.transform(tokens).select("conversation_id", "started_at", "features")
    corpus = corpus.persist()  # LDA passes over it maxIterations times
    try:
        documents_count = corpus.count()
        if documents_count == 0 or not vocabulary:
            _write_empty(spark, output)
            return {
                "outputRows": 0,
                "topics": 0,
                "vocabularySize": len(vocabulary),
                "documents": documents_count,
            }
        lda = LDA(k=p["numTopics"], maxIter=p["maxIterations"], seed=SEED, optimizer="online")
        model = lda.fit(corpus)
        topics = [
            (
                int(row.topic),
                [vocabulary[i] for i in row.termIndices],
                [float(w) for w in row.termWeights],
            )
            for row in model.describeTopics(TOP_TERMS).collect()
        ]
        spark.createDataFrame(topics, TOPICS_SCHEMA).coalesce(1).write.mode("overwrite").parquet(
            join(output, "topics")
        )
        mixture = vector_to_array(F.col("topicDistribution"))
        per_conversation = model.transform(corpus).select(
            "conversation_id", "started_at", mixture.alias("topic_distribution")
        )
        heaviest = F.array_max("topic_distribution")
        has_topic = heaviest > 0  # LDA gives a document without terms all zeros
        per_conversation = per_conversation.select(
            "conversation_id",
            "started_at",
            F.when(has_topic, F.array_position("topic_distribution", heaviest) - 1)
            .cast("int")
            .alias("dominant_topic"),
            F.when(has_topic, heaviest).alias("dominant_weight"),
            "topic_distribution",
        )
        counted, rows = count_rows(per_conversation, "conversation_topics")
        counted.write.mode("overwrite").parquet(join(output, "conversation_topics"))
    finally:
        corpus.unpersist()
    return {
        "outputRows": observed_rows(rows),
        "topics": len(topics),
        "vocabularySize": len(vocabulary),
        "documents": documents_count,
    }


def _write_empty(spark: SparkSession, output: str) -> None:
    for name, schema in (("topics", TOPICS_SCHEMA), ("conversation_topics", MIXTURE_SCHEMA)):
        spark.createDataFrame([], schema).write.mode("overwrite").parquet(join(output, name))


JOB = Job(
    name="topic_modeling",
    kind="TopicModeling",
    dataset=records.CONVERSATIONS,
    params={
        "numTopics": Param(integer(2, 200), 10, "an integer within 2..200"),
        "maxIterations": Param(integer(1, 500), 20, "an integer within 1..500"),
        "vocabSize": Param(integer(10), 5000, "an integer >= 10"),
        "minDocFreq": Param(integer(1), 2, "an integer >= 1"),
    },
    run=run,
)
