"""Rendering and validation: every spec field, names, labels, owners, hostile values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from helix_batch.cli.render import render as render_command
from helix_batch.operator.names import (
    LABEL_ATTEMPT,
    LABEL_JOB,
    LABEL_JOB_UID,
    app_name,
    driver_pod_name,
)
from helix_batch.operator.render import job_arguments, render_spark_application
from helix_batch.operator.settings import Settings
from helix_batch.operator.spec import SpecError, load_job, validate
from tests.operator.helpers import SAMPLES, job_doc

SETTINGS = Settings(spark_image="registry.example/helix-spark:1", spark_version="4.0.1")


def container(spec: dict[str, Any], role: str) -> dict[str, Any]:
    """The driver's or executors' container in their pod template."""
    containers: list[dict[str, Any]] = spec[role]["template"]["spec"]["containers"]
    (only,) = containers
    assert only["name"] == f"spark-kubernetes-{role}"
    return only


def render(doc: dict[str, Any], attempt: int = 1) -> dict[str, Any]:
    return render_spark_application(load_job(doc, SETTINGS), attempt)


def test_every_spec_field_reaches_the_application() -> None:
    doc = job_doc(
        parameters={"minConfidence": 0.75, "entityTypes": ["PERSON", "ORG"]},
        spark={
            "image": "registry.example/custom:2",
            "version": "4.0.2",
            "serviceAccount": "custom-sa",
            "driver": {"cores": 2, "memory": "3g"},
            "executor": {"cores": 4, "memory": "8g", "instances": 6},
            "conf": {"spark.sql.shuffle.partitions": "64"},
            "env": [{"name": "TZ", "value": "UTC"}],
        },
        lake={
            "endpoint": "http://minio:9000",
            "region": "eu-west-1",
            "pathStyle": False,
            "credentialsSecret": "lake-creds",
        },
    )
    app = render(doc)
    spec = app["spec"]
    assert spec["type"] == "Python" and spec["mode"] == "cluster"
    assert spec["image"] == "registry.example/custom:2"
    assert spec["sparkVersion"] == "4.0.2"
    assert spec["mainApplicationFile"] == "local:///opt/helix/spark-jobs/run_job.py"
    assert spec["restartPolicy"] == {"type": "Never"}
    assert spec["driver"]["cores"] == 2 and spec["driver"]["memory"] == "3g"
    assert spec["driver"]["serviceAccount"] == "custom-sa"
    assert spec["executor"]["cores"] == 4 and spec["executor"]["memory"] == "8g"
    assert spec["executor"]["instances"] == 6
    assert spec["sparkConf"]["spark.sql.shuffle.partitions"] == "64"
    assert spec["driver"]["podName"] == "entities-jan-1-driver"
    assert spec["hadoopConf"] == {
        "fs.s3a.endpoint": "http://minio:9000",
        "fs.s3a.endpoint.region": "eu-west-1",
        "fs.s3a.path.style.access": "false",
    }
    env = {e["name"]: e for e in container(spec, "driver")["env"]}
    assert env["TZ"]["value"] == "UTC"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key]["valueFrom"] == {"secretKeyRef": {"name": "lake-creds", "key": key}}
    assert container(spec, "executor")["env"] == container(spec, "driver")["env"]
    assert spec["arguments"] == [
        "--job-type", "entity_extraction",
        "--input-path", "s3a://lake/conversations/",
        "--output-path", "s3a://lake/analytics/entities/",
        "--start-date", "2026-01-01",
        "--end-date", "2026-01-31",
        "--param", "entityTypes=PERSON,ORG",
        "--param", "minConfidence=0.75",
    ]  # fmt: skip


def test_defaults_come_from_settings() -> None:
    spec = render(job_doc())["spec"]
    assert spec["image"] == "registry.example/helix-spark:1"
    assert spec["sparkVersion"] == "4.0.1"
    assert spec["driver"]["serviceAccount"] == SETTINGS.spark_service_account
    assert spec["executor"]["instances"] == SETTINGS.executor_instances
    assert spec["hadoopConf"]["fs.s3a.path.style.access"] == "true"


def test_user_conf_cannot_rename_the_driver_pod() -> None:
    """The spark-operator names the driver pod after driver.podName, else after this conf."""
    doc = job_doc(spark={"conf": {"spark.kubernetes.driver.pod.name": "x", "spark.a": "b"}})
    spec = render(doc)["spec"]
    assert spec["driver"]["podName"] == "entities-jan-1-driver"
    assert spec["sparkConf"] == {"spark.a": "b"}


def test_labels_owner_and_names() -> None:
    app = render(job_doc(), attempt=3)
    assert app["metadata"]["name"] == "entities-jan-3"
    expected = {LABEL_JOB: "entities-jan", LABEL_JOB_UID: "uid-1", LABEL_ATTEMPT: "3"}
    # Once: the spark-operator labels the driver and executor pods with the application's own.
    assert expected.items() <= app["metadata"]["labels"].items()
    assert "labels" not in app["spec"]["driver"] and "labels" not in app["spec"]["executor"]
    assert app["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "batch.helixagent.io/v1alpha1",
            "kind": "HelixBatchJob",
            "name": "entities-jan",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_security_context_is_restricted_in_the_pod_templates() -> None:
    """In the templates spark-submit builds the pods from: the spark-operator's controller
    applies ``podSecurityContext``/``securityContext``/``env`` only through its webhook."""
    spec = render(job_doc())["spec"]
    for role in ("driver", "executor"):
        assert not {"podSecurityContext", "securityContext", "env"} & spec[role].keys()
        pod = spec[role]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        ctx = container(spec, role)["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("length", [1, 40, 54, 55, 56, 63])
def test_names_fit_63_characters_and_stay_unique(length: int) -> None:
    name = ("j" * (length - 1) + "x")[:length]
    names = {app_name(name, n) for n in (1, 2, 10, 20)}
    assert len(names) == 4
    for n in (1, 9, 10, 21):
        pod_name = driver_pod_name(name, n)
        assert len(pod_name) <= 63
        assert pod_name[0].isalnum() and app_name(name, n)[-1].isalnum()
    other = name[:-1] + "y"
    assert app_name(name, 1) != app_name(other, 1)


def test_long_names_are_truncated_with_a_hash() -> None:
    long = "a" * 30 + "-" + "b" * 32
    assert len(long) == 63
    name = app_name(long, 12)
    assert len(name) == 56 and name.endswith("-12")
    assert name == app_name(long, 12)  # deterministic


HOSTILE = ["it's", '"; rm -rf / #', "$(curl evil)", "`id`", "line1\nline2", "x" * 4000, "${HOME}"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_env_and_conf_values_stay_single_list_items(value: str) -> None:
    doc = job_doc(
        spark={"env": [{"name": "NOTE", "value": value}], "conf": {"spark.app.note": value}}
    )
    validate(doc)
    app = render(doc)
    assert {"name": "NOTE", "value": value} in container(app["spec"], "driver")["env"]
    assert app["spec"]["sparkConf"]["spark.app.note"] == value
    assert all(value not in arg for arg in app["spec"]["arguments"])
    # Survives a YAML round trip unchanged (what kubectl and the API server see).
    assert yaml.safe_load(yaml.safe_dump(app)) == app


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (
            "input",
            {"uri": "s3a://lake/x; rm -rf /", "startDate": "2026-01-01", "endDate": "2026-01-02"},
        ),
        ("input", {"uri": "s3a://lake/$(id)/", "startDate": "2026-01-01", "endDate": "2026-01-02"}),
        ("output", {"uri": "s3a://lake/a b/"}),
        ("output", {"uri": "s3a://lake/out\n--job-type=x"}),
    ],
)
def test_hostile_uris_are_rejected(field: str, value: Any) -> None:
    with pytest.raises(SpecError) as err:
        validate(job_doc(**{field: value}))
    assert err.value.field.startswith(f"spec.{field}")


def test_credentials_never_in_spec_args_or_rendering() -> None:
    for spark in (
        {"env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "s3cr3t"}]},
        {"conf": {"spark.hadoop.fs.s3a.secret.key": "s3cr3t"}},
        {"conf": {"spark.hadoop.fs.s3a.ACCESS.KEY": "AKIA"}},
    ):
        with pytest.raises(SpecError, match="credentials"):
            validate(job_doc(spark=spark))
    text = json.dumps(render(job_doc(lake={"credentialsSecret": "lake-creds"})))
    assert "secretKeyRef" in text and "s3cr3t" not in text


@pytest.mark.parametrize(
    ("spec", "field", "text"),
    [
        ({"type": "Nope"}, "spec.type", "is not one of"),
        (
            {"input": {"uri": "s3a://l/c/", "startDate": "2026-02-01", "endDate": "2026-01-01"}},
            "spec.input.endDate",
            "endDate",
        ),
        (
            {"input": {"uri": "s3a://l/c/", "startDate": "2026-1-1", "endDate": "2026-01-02"}},
            "spec.input.startDate",
            "is not a 'date'",
        ),
        ({"parameters": {"minConfidence": 1.5}}, "spec.parameters.minConfidence", "maximum"),
        ({"parameters": {"numTopics": 10}}, "spec.parameters", "TopicModeling"),
        (
            {"parameters": {"entityTypes": ["ALIEN"]}},
            "spec.parameters.entityTypes.0",
            "is not one of",
        ),
        (
            {"parameters": {"minConfidence": 0.5, "unknown": 1}},
            "spec.parameters.unknown",
            "unknown field",
        ),
        ({"spark": {"executor": {"replicas": 3}}}, "spec.spark.executor.replicas", "unknown field"),
        ({"spark": {"driver": {"memory": "lots"}}}, "spec.spark.driver.memory", "does not match"),
        ({"spark": {"executor": {"instances": 0}}}, "spec.spark.executor.instances", "minimum"),
        ({"spark": {"conf": {"hadoop.x": "1"}}}, "spec.spark.conf", "spark."),
        ({"backoffLimit": -1}, "spec.backoffLimit", "minimum"),
        ({"suspend": "yes"}, "spec.suspend", "is not of type"),
    ],
)
def test_invalid_specs_name_the_field(spec: dict[str, Any], field: str, text: str) -> None:
    doc = job_doc(**spec)
    with pytest.raises(SpecError) as err:
        validate(doc)
    assert err.value.field == field
    assert text in err.value.message


def test_names_must_be_dns_labels_of_63_characters() -> None:
    validate(job_doc("a" * 63))
    for bad in ("a" * 64, "Upper", "has.dot", "-dash"):
        with pytest.raises(SpecError) as err:
            validate(job_doc(bad))
        assert err.value.field == "metadata.name" or err.value.field == "<root>"


def test_wrong_kind_is_refused() -> None:
    with pytest.raises(SpecError, match="kind"):
        validate({**job_doc(), "kind": "SparkApplication"})


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_samples_are_valid_and_render(sample: Path) -> None:
    doc = yaml.safe_load(sample.read_text())
    validate(doc)
    app = render({**doc, "metadata": {**doc["metadata"], "uid": "u"}})
    assert app["spec"]["arguments"][:2] == ["--job-type", load_job(doc, SETTINGS).spec.job_type]


def test_job_arguments_for_every_type() -> None:
    params = {
        "RelationshipMining": ({"minCooccurrence": 3, "windowSize": 0}, ["minCooccurrence=3", "windowSize=0"]),
        "TopicModeling": ({"numTopics": 5, "maxIterations": 7, "vocabSize": 100, "minDocFreq": 2},
                          ["maxIterations=7", "minDocFreq=2", "numTopics=5", "vocabSize=100"]),
        "ProviderPerformance": ({"minDebates": 2, "percentiles": [0.5, 0.95]}, ["minDebates=2", "percentiles=0.5,0.95"]),
        "DebateAnalysis": ({"minRounds": 2}, ["minRounds=2"]),
    }  # fmt: skip
    for kind, (given, expected) in params.items():
        doc = job_doc(type=kind, parameters=given)
        validate(doc)
        args = job_arguments(load_job(doc, SETTINGS).spec)
        assert [args[i + 1] for i, a in enumerate(args) if a == "--param"] == expected


def test_allow_empty_reaches_the_job_only_when_set() -> None:
    def args(**input_: Any) -> list[str]:
        uri = {"uri": "s3a://lake/conversations/", "startDate": "2026-01-01"}
        doc = job_doc(input={**uri, "endDate": "2026-01-02", **input_})
        validate(doc)
        return job_arguments(load_job(doc, SETTINGS).spec)

    assert "--allow-empty" in args(allowEmpty=True)
    assert "--allow-empty" not in args(allowEmpty=False) + args()


def test_helixctl_render_prints_the_application(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job_doc()))
    out = CliRunner().invoke(render_command, ["-f", str(path)])
    assert out.exit_code == 0, out.output
    app = yaml.safe_load(out.output)
    assert app["kind"] == "SparkApplication" and app["metadata"]["name"] == "entities-jan-1"


def test_helixctl_render_names_the_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job_doc(parameters={"minConfidence": 7})))
    out = CliRunner().invoke(render_command, ["-f", str(path)])
    assert out.exit_code == 1
    assert "spec.parameters.minConfidence" in out.output


@pytest.mark.parametrize("field", ["startDate", "endDate"])
def test_helixctl_render_refuses_a_date_that_does_not_exist(tmp_path: Path, field: str) -> None:
    path = tmp_path / "job.yaml"
    doc = job_doc()
    doc["spec"]["input"][field] = "2026-02-30"
    path.write_text(yaml.safe_dump(doc))
    out = subprocess.run(
        [str(Path(sys.executable).parent / "helixctl"), "render", "-f", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"Error: invalid HelixBatchJob: spec.input.{field}: '2026-02-30' is not a 'date'"
    ]
