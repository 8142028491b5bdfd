"""The SparkSession: local or on a cluster, with s3a:// configured when a path needs it.

Settings already given to spark-submit (``--conf``, or a SparkApplication's ``sparkConf``) win
over the defaults here. Credentials for s3a come only from the environment
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY); nothing here reads or logs them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

_HADOOP_JAR = re.compile(r"hadoop-(?:client-api|common)-(\d+\.\d+\.\d+)\.jar")
ENV_CREDENTIALS = "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider"


@dataclass(frozen=True)
class S3Options:
    endpoint: str | None = None  # e.g. http://seaweedfs:8333; None means AWS
    region: str = "us-east-1"
    path_style: bool = True

    @classmethod
    def from_env(
        cls, endpoint: str | None = None, region: str | None = None, path_style: bool | None = None
    ) -> S3Options:
        env = os.environ
        endpoint = endpoint or env.get("HELIX_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL_S3")
        endpoint = endpoint or env.get("AWS_ENDPOINT_URL")
        region = region or env.get("HELIX_S3_REGION") or env.get("AWS_REGION")
        region = region or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        if path_style is None:
            path_style = env.get("HELIX_S3_PATH_STYLE", "true").lower() not in ("false", "0", "no")
        return cls(endpoint or None, region, path_style)

    def hadoop_conf(self) -> dict[str, str]:
        conf = {
            "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            # The seed writes s3:// URIs; serve them with the same client.
            "fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "fs.s3a.aws.credentials.provider": ENV_CREDENTIALS,
            "fs.s3a.path.style.access": str(self.path_style).lower(),
            "fs.s3a.endpoint.region": self.region,
        }
        if self.endpoint:
            conf["fs.s3a.endpoint"] = self.endpoint
            conf["fs.s3a.connection.ssl.enabled"] = str(self.endpoint.startswith("https")).lower()
        return {f"spark.hadoop.{k}": v for k, v in conf.items()}


def jars_dir() -> Path:
    home = os.environ.get("SPARK_HOME")
    if home and (Path(home) / "jars").is_dir():
        return Path(home) / "jars"
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def hadoop_version(jars: Path) -> str:
    """The version of the Hadoop client Spark ships with, from its jar names."""
    for jar in sorted(jars.glob("hadoop-*.jar")):
        match = _HADOOP_JAR.fullmatch(jar.name)
        if match:
            return match[1]
    raise RuntimeError(f"no hadoop-client-api or hadoop-common jar in {jars}")


def s3a_packages(jars: Path) -> str | None:
    """Maven coordinates to add for s3a, or None when the image already has hadoop-aws."""
    if any(jars.glob("hadoop-aws-*.jar")):
        return None
    # hadoop-aws declares the AWS SDK bundle it was built against, so ivy fetches both.
    return f"org.apache.hadoop:hadoop-aws:{hadoop_version(jars)}"


def _preset() -> dict[str, str]:
    """What spark-submit already set; empty when this process will start the JVM itself."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return {}
    SparkContext._ensure_initialized()  # connects to the JVM spark-submit started
    return dict(SparkConf().getAll())


def build_session(
    app_name: str,
    master: str | None = None,
    s3: S3Options | None = None,
    driver_memory: str | None = None,
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """A session for the jobs; ``s3`` turns on s3a, ``master`` runs locally (e.g. local[2])."""
    wanted: dict[str, str] = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.parquet.compression.codec": "zstd",
    }
    if master and master.startswith("local"):
        wanted["spark.sql.shuffle.partitions"] = "16"
        wanted["spark.ui.enabled"] = "false"
        wanted["spark.driver.memory"] = driver_memory or os.environ.get("HELIX_DRIVER_MEMORY", "4g")
    if s3 is not None:
        wanted.update(s3.hadoop_conf())
        packages = s3a_packages(jars_dir())
        if packages:
            wanted["spark.jars.packages"] = packages
    wanted.update(conf or {})
    preset = _preset()
    if preset and "spark.jars.packages" in wanted and "hadoop-aws" not in _jars(preset):
        # spark-submit resolved its packages before this process started: too late to add.
        raise RuntimeError(
            "s3a:// needs hadoop-aws: pass --packages "
            + wanted["spark.jars.packages"]
            + " to spark-submit, or use an image with hadoop-aws in $SPARK_HOME/jars"
        )
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in wanted.items():
        if key not in preset:
            builder = builder.config(key, value)
    return builder.getOrCreate()


def _jars(conf: dict[str, str]) -> str:
    return conf.get("spark.jars.packages", "") + "," + conf.get("spark.jars", "")


def needs_s3(*uris: str) -> bool:
    return any(u.startswith(("s3a://", "s3://")) for u in uris)
