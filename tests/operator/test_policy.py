"""The job policy, and the admission rules that say the same things in CEL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helix_batch.operator import policy
from helix_batch.operator.crd import crd_schema
from helix_batch.operator.settings import Settings
from helix_batch.operator.spec import SpecError, load_job, validate
from helix_jobs.uris import RESERVED, output_conflict
from tests.operator.helpers import job_doc
from tests.operator.test_operator_main import start

ROOT = Path(__file__).parents[2]
DEFAULTS = policy.load(Settings())


def spec_rules() -> list[str]:
    return [r["rule"] for r in crd_schema()["properties"]["spec"]["x-kubernetes-validations"]]


def field_rules(*path: str) -> list[str]:
    node = crd_schema()
    for key in path:
        node = node["items"] if key == "*" else node["properties"][key]
    return [r["rule"] for r in node["x-kubernetes-validations"]]


def refused_at_admission(doc: dict[str, Any], field: str) -> bool:
    try:
        validate(doc)
    except SpecError as error:
        assert error.field.startswith(field), error  # no other rule may be in the way
        return True
    return False


SEGMENTS = st.sampled_from(
    ["conversations", "debates", "entities", "_audit", "_quarantine", "_compacted", "analytics",
     "x", "conversations2", "Conversations"]
)  # fmt: skip


def uri(bucket: str, scheme: str, segments: list[str], slash: bool) -> str:
    path = "/".join(segments)
    return f"{scheme}://{bucket}/{path}" + ("/" if slash and path else "")


URIS = st.builds(
    uri,
    st.sampled_from(["lake", "other"]),
    st.sampled_from(["s3", "s3a"]),
    st.lists(SEGMENTS, min_size=0, max_size=3),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(source=URIS, target=URIS)
def test_admission_and_the_job_agree_where_an_output_may_go(source: str, target: str) -> None:
    """The CRD's CEL rules (API server, helixctl) and helix_jobs.uris (the job itself, the
    operator's policy) are two spellings of one rule: they must give the same verdict."""
    if source.rstrip("/").count("/") < 3:
        return  # an input must name a folder too
    doc = job_doc(
        input={"uri": source, "startDate": "2026-01-01", "endDate": "2026-01-02"},
        output={"uri": target},
    )
    assert refused_at_admission(doc, "spec.output.uri") == (
        output_conflict(source, target) is not None
    ), (source, target)


ENDPOINTS = [
    ("http://minio.lake.svc:9000", False),
    ("https://s3.eu-west-1.amazonaws.com", False),
    ("http://10.0.0.5:9000", False),
    ("http://192.168.1.254", False),
    ("http://cafe.example", False),
    ("http://bad.cafe:9000", False),
    ("http://169.254.169.254", True),
    ("http://169.254.170.2/v2/credentials", True),
    ("http://[fe80::1]:9000", True),
    ("http://[FEBF::1]", True),
    ("http://[::ffff:169.254.169.254]", True),
    ("http://[fd00:ec2::254]", True),
    ("http://metadata", True),
    ("http://metadata.google.internal/computeMetadata/v1", True),
    ("http://instance-data:80", True),
    ("http://100.100.100.200", True),
    ("http://2852039166", True),
    ("http://0xa9fea9fe", True),
    ("http://0xA9.0xFE.0xA9.0xFE", True),
    ("http://0251.0376.0251.0376", True),
    ("http://169.254.0x1.1", True),
    ("http://10.1", True),
]


@pytest.mark.parametrize(("endpoint", "refused"), ENDPOINTS)
def test_admission_and_the_policy_agree_on_lake_endpoints(endpoint: str, refused: bool) -> None:
    assert refused_at_admission(job_doc(lake={"endpoint": endpoint}), "spec.lake.endpoint") is (
        refused
    )
    assert (policy.endpoint_problem(endpoint) is not None) is refused


def test_the_crd_spells_the_policy_constants_as_the_code_does() -> None:
    env_rule = field_rules("spec", "spark", "env", "*")[0]
    assert f"'{policy.CREDENTIAL_NAME.pattern}'" in env_rule
    reserved_rule = next(r for r in spec_rules() if "'_audit'" in r)
    listed = re.search(r"\[([^\]]*)\]\.all", reserved_rule)
    assert listed is not None
    assert tuple(re.findall(r"'([^']+)'", listed[1])) == RESERVED


def test_defaults_allow_only_what_the_operator_itself_uses() -> None:
    settings_ = Settings(
        spark_image="registry.local:5000/team/spark:4.0.1",
        spark_service_account="runner",
        lake_credentials_secret="lake-keys",  # noqa: S106 - a Secret name
    )
    rules = policy.load(settings_)
    assert rules.service_accounts == ("runner",)
    assert rules.image_repositories == ("registry.local:5000/team/spark",)
    assert rules.credentials_secrets == ("lake-keys",)
    assert rules.uri_schemes == ("s3a", "s3") and "file" in rules.local().uri_schemes


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("ghcr.io/helixagent/helix-spark:0.1.0", "ghcr.io/helixagent/helix-spark"),
        ("registry.local:5000/a/b", "registry.local:5000/a/b"),
        ("registry.local:5000/a/b:1@sha256:abc", "registry.local:5000/a/b"),
        ("spark@sha256:abc", "spark"),
        ("a/b:1/../../c", "a/b:1/../../c"),
    ],
)
def test_image_repository(image: str, repository: str) -> None:
    assert policy.image_repository(image) == repository


def test_a_policy_file_widens_and_narrows(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "serviceAccounts: [helix-spark-driver, analytics-driver]\n"
        "imageRepositories: [ghcr.io/helixagent/]\n"
        "sparkConfPrefixes: [spark.kubernetes.node.selector.]\n"
        "maxExecutorInstances: 2\n"
    )
    rules = policy.load(Settings(policy_file=str(path)))
    doc = job_doc(
        spark={
            "serviceAccount": "analytics-driver",
            "image": "ghcr.io/helixagent/other:1",
            "conf": {"spark.kubernetes.node.selector.pool": "batch"},
            "executor": {"instances": 2},
        }
    )
    assert policy.check(load_job(doc, Settings()).spec, rules) == []
    doc["spec"]["spark"]["executor"]["instances"] = 3
    doc["spec"]["spark"]["conf"] = {"spark.sql.shuffle.partitions": "8"}  # no longer allowed
    fields = [v.field for v in policy.check(load_job(doc, Settings()).spec, rules)]
    assert fields == [
        "spec.spark.conf[spark.sql.shuffle.partitions]",
        "spec.spark.executor.instances",
    ]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("serviceAcounts: [x]\n", "unknown key 'serviceAcounts'"),
        ("serviceAccounts: x\n", "serviceAccounts must be a list of strings"),
        ("maxCores: 0\n", "maxCores must be a positive integer"),
        ("maxCores: true\n", "maxCores must be a positive integer"),
        ("maxMemory: lots\n", "maxMemory must be a size"),
        ("- a\n", "expected a mapping"),
        ("a: [\n", "HELIX_POLICY_FILE"),
    ],
)
def test_a_bad_policy_file_is_one_clear_error(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(complaint)):
        policy.load(Settings(policy_file=str(path)))


def test_the_docs_list_every_policy_key() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE))
    assert documented == set(policy.KEYS)


def test_the_operator_and_helixctl_refuse_a_bad_policy_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("maxCores: many\n")
    out = start(POD_NAMESPACE="helix-batch", HELIX_POLICY_FILE=str(path))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith(f"helix-operator: {path}: maxCores must be a positive integer")
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(job_doc()))
    rendered = subprocess.run(
        [str(Path(sys.executable).parent / "helixctl"), "render", "-f", str(job)],
        env={**os.environ, "HELIX_POLICY_FILE": str(path)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert rendered.returncode == 1 and len(rendered.stderr.splitlines()) == 1, rendered.stderr
    assert "maxCores must be a positive integer" in rendered.stderr
