"""The CronJob's command, run for real against SeaweedFS with the policy from its ConfigMap.

Everything comes from the rendered production overlay: the argv (command + args), the policy
file (the ConfigMap's policy.yaml, at the path the volume mount gives it) and the environment
(literal values as they are, secretKeyRef entries resolved the way the kubelet would from the
Secret helix-lake-credentials). The only substitution is the S3 endpoint, which in the cluster
names a Service.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from helix_batch.lake.compaction import utc_today
from helix_batch.lake.policy import parse_policy
from helix_batch.lake.reading import day_ids
from helix_batch.lake.seeding import seed
from helix_batch.lake.storage import open_storage
from helix_jobs import layout, records
from tests.fixtures.s3 import S3Server

from .manifests import CREDENTIAL_KEYS, LAKE_SECRET, Doc, container, find, overlay

ENDPOINT_VARIABLE = "HELIX_S3_ENDPOINT"


def files_from_configmaps(pod: Doc, c: Doc, docs: list[Doc], root: Path) -> dict[str, Path]:
    """Writes each ConfigMap item the container mounts under root; maps in-pod path → file."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    mapping: dict[str, Path] = {}
    for mount in c["volumeMounts"]:
        source = volumes[mount["name"]].get("configMap")
        if source is None:
            continue
        data = find(docs, "ConfigMap", source["name"])["data"]
        for item in source.get("items") or [{"key": k, "path": k} for k in data]:
            in_pod = str(PurePosixPath(mount["mountPath"]) / item["path"])
            local = root / mount["name"] / item["path"]
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(data[item["key"]])
            mapping[in_pod] = local
    return mapping


def container_env(c: Doc, secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in c.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        env[entry["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def objects(storage_client: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in storage_client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix
    ):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def day_prefix(dataset: str, day: date) -> str:
    return f"{dataset}/{layout.day_path(day)}/"


def test_cronjob_command_maintains_the_lake(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = overlay("production")
    cron = find(docs, "CronJob", "helix-lake-maintenance")
    template = cron["spec"]["jobTemplate"]["spec"]["template"]
    c = container(template, "maintain")
    files = files_from_configmaps(template["spec"], c, docs, tmp_path)
    argv = [files.get(a, a) for a in [*c["command"], *c["args"]]]
    assert isinstance(argv[argv.index("--policy") + 1], Path), "the policy is not a mounted file"
    policy = parse_policy(yaml.safe_load(Path(argv[argv.index("--policy") + 1]).read_text()))
    lake = str(argv[argv.index("--lake") + 1])
    assert lake.startswith("s3://")
    bucket = lake.removeprefix("s3://").split("/", 1)[0]

    env = container_env(
        c,
        {
            LAKE_SECRET: {
                CREDENTIAL_KEYS[0]: s3_server.access_key,
                CREDENTIAL_KEYS[1]: s3_server.secret_key,
            }
        },
    )
    assert ENDPOINT_VARIABLE in env, "the overlay does not say where the lake is"
    env[ENDPOINT_VARIABLE] = s3_server.endpoint

    # A lake with a day past the conversations' retention and finished days to compact.
    retention = policy.retention
    assert retention is not None and "conversations" in retention.max_age_days
    assert "conversations" in policy.compaction.datasets and policy.compaction.enabled
    today = utc_today()
    old = today - timedelta(days=retention.max_age_days["conversations"] + 3)
    recent = today - timedelta(days=policy.compaction.min_age_days + 1)
    for variable, value in s3_server.env().items():
        monkeypatch.setenv(variable, value)
    client = s3_server.client()
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    seed(lake, 20, old, old, seed=11, malformed_share=0.0)
    seed(lake, 60, recent, recent + timedelta(days=1), seed=12, malformed_share=0.0)
    conversations = records.DATASETS["conversations"]
    storage = open_storage(lake)
    before = {
        d: sorted(day_ids(storage, conversations, d)) for d in (recent, recent + timedelta(days=1))
    }
    assert objects(client, bucket, day_prefix("conversations", old))
    assert all(before.values())

    executable = Path(sys.executable).parent / str(argv[0])
    result = subprocess.run(
        [str(executable), *map(str, argv[1:])],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert report["dry_run"] is False

    # Retention: the old day is gone, with an audit record of it.
    assert not objects(client, bucket, day_prefix("conversations", old))
    assert report["retention"]["totals"]["partitions"] >= 1
    audit = report["retention"]["audit"]
    assert audit and audit in objects(client, bucket, "_audit/")
    # Compaction: each finished day has its manifest, and readers see the same records once.
    for day in before:
        assert f"{day_prefix('conversations', day)}{layout.MANIFEST_NAME}" in objects(
            client, bucket, day_prefix("conversations", day)
        )
        assert sorted(day_ids(storage, conversations, day)) == before[day]
    assert report["compaction"]["totals"]["days_compacted"] >= 2
    # The secret never reaches the output.
    assert s3_server.secret_key not in result.stdout + result.stderr
