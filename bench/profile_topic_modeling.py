"""Where topic_modeling's time goes: each stage alone, wall and the driver JVM's CPU seconds.

    .venv/bin/python bench/profile_topic_modeling.py --lake /tmp/helix-bench/lake-1000000 \\
        --end-date 2026-01-06

The stages are the job's own (its tokenizer pattern, the default parameters, online LDA with its
seed), each forced by its own action: the scan, the documents, the tokens, the vocabulary
(CountVectorizer.fit), the persisted vectors, LDA.fit and the per-conversation distributions
(LDA.transform). CPU is utime+stime of the local[2] JVM, which does all the work, so it stays
meaningful on a machine shared with other work where the wall time does not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.ml.clustering import LDA
from pyspark.ml.feature import CountVectorizer, RegexTokenizer, StopWordsRemover
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bench.cpu import cpu_seconds
from helix_jobs import records
from helix_jobs import topic_modeling as tm
from helix_jobs.reader import read_dataset
from helix_jobs.session import build_session


def noop(frame: DataFrame) -> None:
    frame.write.format("noop").mode("overwrite").save()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lake", required=True, help="a directory holding conversations/")
    ap.add_argument("--start-date", type=date.fromisoformat, default=date(2026, 1, 1))
    ap.add_argument("--end-date", type=date.fromisoformat, default=date(2026, 1, 30))
    ap.add_argument("--driver-memory", default="8g")
    args = ap.parse_args(argv)
    spark = build_session("profile-topics", master="local[2]", driver_memory=args.driver_memory)
    spark.sparkContext.setLogLevel("ERROR")
    jvm = spark._jvm
    assert jvm is not None
    cpu = partial(cpu_seconds, int(jvm.java.lang.ProcessHandle.current().pid()))
    defaults = {name: param.default for name, param in tm.JOB.params.items()}

    def stage(name: str, action: Callable[[], Any]) -> Any:
        wall, used = time.monotonic(), cpu()
        value = action()
        took = {"wall": round(time.monotonic() - wall, 1), "cpu": round(cpu() - used, 1)}
        print(json.dumps({"stage": name, **took}), flush=True)
        return value

    uri = f"file://{os.path.abspath(args.lake)}/conversations/"
    dataset = read_dataset(spark, uri, records.CONVERSATIONS, args.start_date, args.end_date)
    conversations = dataset.records
    stage("scan", lambda: noop(conversations.select("conversation_id", F.size("messages"))))
    documents = tm.documents(conversations)
    stage("documents", lambda: noop(documents))
    tokens = RegexTokenizer(
        inputCol="text", outputCol="raw", pattern=tm.WORD_PATTERN, gaps=False, minTokenLength=1
    ).transform(documents)
    tokens = StopWordsRemover(inputCol="raw", outputCol="tokens").transform(tokens)
    stage("tokenize", lambda: noop(tokens))
    vectorizer = CountVectorizer(
        inputCol="tokens",
        outputCol="features",
        vocabSize=defaults["vocabSize"],
        minDF=float(defaults["minDocFreq"]),
    )
    model = stage("vocabulary (fit)", lambda: vectorizer.fit(tokens))
    corpus = model.transform(tokens).select("conversation_id", "features").persist()
    count = stage("vectors (persist)", corpus.count)
    lda = LDA(
        k=defaults["numTopics"], maxIter=defaults["maxIterations"], seed=tm.SEED, optimizer="online"
    )
    fitted = stage("LDA fit", lambda: lda.fit(corpus))
    stage("LDA transform", lambda: noop(fitted.transform(corpus)))
    print(json.dumps({"documents": count, "vocabulary": len(model.vocabulary)}), flush=True)
    corpus.unpersist()
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
