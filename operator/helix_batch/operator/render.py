"""Rendering the SparkApplication for attempt N of a HelixBatchJob (pure functions)."""

from __future__ import annotations

from typing import Any

from helix_batch.operator.names import (
    API_VERSION,
    DRIVER_CONTAINER,
    EXECUTOR_CONTAINER,
    KIND,
    LABEL_ATTEMPT,
    LABEL_JOB,
    LABEL_JOB_UID,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    SPARK_API_VERSION,
    SPARK_KIND,
    app_name,
    driver_pod_name,
)
from helix_batch.operator.spec import Job, JobSpec

CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
DRIVER_POD_NAME_CONF = "spark.kubernetes.driver.pod.name"
SPARK_UID = 185  # the spark user of the official Apache Spark images
# Where images/spark/Dockerfile puts the entry point of spark-jobs/.
MAIN_APPLICATION_FILE = "local:///opt/helix/spark-jobs/run_job.py"


def spark_uri(uri: str) -> str:
    """Spark reaches S3 through the s3a connector."""
    return "s3a://" + uri.removeprefix("s3://") if uri.startswith("s3://") else uri


def job_arguments(spec: JobSpec) -> list[str]:
    """The Spark entry point's arguments; an argv list, never a shell string."""
    args = [
        "--job-type", spec.job_type,
        "--input-path", spark_uri(spec.input_uri),
        "--output-path", spark_uri(spec.output_uri),
        "--start-date", spec.start_date.isoformat(),
        "--end-date", spec.end_date.isoformat(),
    ]  # fmt: skip
    if spec.allow_empty:
        args.append("--allow-empty")
    for key in sorted(spec.parameters):
        args += ["--param", f"{key}={_param_value(spec.parameters[key])}"]
    return args


def _param_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_param_value(v) for v in value)
    return str(value)


def pod_labels(job: Job, attempt: int) -> dict[str, str]:
    return {
        LABEL_JOB: job.name,
        LABEL_JOB_UID: job.uid,
        LABEL_ATTEMPT: str(attempt),
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def owner_reference(job: Job) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": job.name,
        "uid": job.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_template(container: str, env: list[dict[str, Any]]) -> dict[str, Any]:
    """What a Spark pod needs beyond what spark-submit gives it: restricted security contexts
    and the env with the credentials' secretKeyRefs. The spark-operator's controller alone
    applies neither from ``driver``/``executor`` (only its webhook does); a pod template is
    what spark-submit builds the pod from, so they hold with or without the webhook."""
    return {
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": SPARK_UID,
                "fsGroup": SPARK_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": container,
                    "env": env,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "runAsNonRoot": True,
                    },
                }
            ],
        }
    }


def render_spark_application(job: Job, attempt: int) -> dict[str, Any]:
    spec = job.spec
    name = app_name(job.name, attempt)
    env = [{"name": k, "value": v} for k, v in spec.env] + [
        {
            "name": key,
            "valueFrom": {"secretKeyRef": {"name": spec.lake.credentials_secret, "key": key}},
        }
        for key in CREDENTIAL_KEYS
    ]
    hadoop_conf = {"fs.s3a.path.style.access": "true" if spec.lake.path_style else "false"}
    if spec.lake.endpoint:
        hadoop_conf["fs.s3a.endpoint"] = spec.lake.endpoint
    if spec.lake.region:
        hadoop_conf["fs.s3a.endpoint.region"] = spec.lake.region
    return {
        "apiVersion": SPARK_API_VERSION,
        "kind": SPARK_KIND,
        "metadata": {
            "name": name,
            "namespace": job.namespace,
            # The spark-operator gives them to the driver and executor pods too.
            "labels": pod_labels(job, attempt),
            "ownerReferences": [owner_reference(job)],
        },
        "spec": {
            "type": "Python",
            "mode": "cluster",
            "sparkVersion": spec.spark_version,
            "image": spec.image,
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": MAIN_APPLICATION_FILE,
            "arguments": job_arguments(spec),
            # The driver pod's name is driver.podName alone: the spark-operator would take a
            # name from the conf, so a user's conf cannot give one.
            "sparkConf": {k: v for k, v in spec.conf.items() if k != DRIVER_POD_NAME_CONF},
            "hadoopConf": hadoop_conf,
            # The operator owns retries: each one is a new attempt with new names.
            "restartPolicy": {"type": "Never"},
            "driver": {
                "podName": driver_pod_name(job.name, attempt),
                "template": pod_template(DRIVER_CONTAINER, env),
                "cores": spec.driver.cores,
                "memory": spec.driver.memory,
                "serviceAccount": spec.service_account,
            },
            "executor": {
                "template": pod_template(EXECUTOR_CONTAINER, env),
                "cores": spec.executor.cores,
                "memory": spec.executor.memory,
                "instances": spec.executor.instances,
                "deleteOnTermination": True,
            },
        },
    }
