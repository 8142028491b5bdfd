"""What a job author may ask of the cluster: the platform team's policy for HelixBatchJobs.

Whoever may create a HelixBatchJob gets, through the operator, a Spark driver and executors
that run with a ServiceAccount, an image, a Secret and resources. The CRD refuses at admission
what holds on every cluster; this policy holds what each platform decides for itself, with
defaults that grant no more than the operator's own settings. The operator checks it before it
renders an attempt (a violation ends the job ``Failed``, reason ``PolicyViolation``) and
``helixctl render``/``run`` check it before anything runs.

The policy file (``HELIX_POLICY_FILE``, YAML, typically a mounted ConfigMap) sets any of the
camelCase keys of ``KEYS``; unknown keys are an error.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from helix_batch.settings import Settings
from helix_batch.spec import JobSpec
from helix_jobs.uris import output_conflict

# Spark settings that only tune the engine: nothing that reaches Kubernetes objects
# (spark.kubernetes.*), the pods' environment (*.driverEnv.*, *.executorEnv.*), class paths,
# JVM options, authentication, or resources beyond the job's own driver/executor fields.
DEFAULT_CONF_PREFIXES = (
    "spark.sql.adaptive.",
    "spark.sql.autoBroadcastJoinThreshold",
    "spark.sql.files.",
    "spark.sql.parquet.compression.codec",
    "spark.sql.session.timeZone",
    "spark.sql.shuffle.partitions",
    "spark.default.parallelism",
    "spark.memory.fraction",
    "spark.memory.storageFraction",
    "spark.network.timeout",
    "spark.executor.heartbeatInterval",
    "spark.locality.wait",
    "spark.speculation",
    "spark.task.maxFailures",
    "spark.shuffle.compress",
    "spark.shuffle.spill.compress",
    "spark.io.compression.codec",
    "spark.rdd.compress",
    "spark.serializer",
    "spark.kryoserializer.buffer",
)
# Environment variables that steer the runtime (JVM, Python, Spark, Hadoop, AWS SDK, the job).
DEFAULT_ENV_DENIED_PREFIXES = (
    "AWS_", "HELIX_", "SPARK_", "PYSPARK_", "HADOOP_", "JAVA_", "JDK_", "_JAVA_", "LD_",
    "PYTHON", "KUBERNETES_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "PATH", "HOME",
)  # fmt: skip
# Names that look like a credential are refused whatever the policy: use lake.credentialsSecret.
CREDENTIAL_NAME = re.compile(
    r"(?i)secret|password|passwd|token|credential|private_?key|access_?key|session_?key|api_?key"
)
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal",
     "100.100.100.200", "fd00:ec2::254"}
)  # fmt: skip
_MEMORY_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


@dataclass(frozen=True)
class Policy:
    service_accounts: tuple[str, ...]
    # An entry ending in "/" allows every repository under it.
    image_repositories: tuple[str, ...]
    credentials_secrets: tuple[str, ...]
    spark_conf_prefixes: tuple[str, ...] = DEFAULT_CONF_PREFIXES
    env_denied_prefixes: tuple[str, ...] = DEFAULT_ENV_DENIED_PREFIXES
    uri_schemes: tuple[str, ...] = ("s3a", "s3")
    # Empty: any http(s) endpoint that is not link-local or a metadata service.
    lake_endpoints: tuple[str, ...] = ()
    max_cores: int = 8
    max_memory: str = "32g"
    max_executor_instances: int = 20

    @classmethod
    def defaults(cls, settings: Settings) -> Policy:
        """Only what the operator's own settings use."""
        return cls(
            service_accounts=(settings.spark_service_account,),
            image_repositories=(image_repository(settings.spark_image),),
            credentials_secrets=(settings.lake_credentials_secret,),
        )

    def local(self) -> Policy:
        """The policy of a local run (``helixctl run``): local files are the lake too."""
        return replace(self, uri_schemes=(*self.uri_schemes, "file"))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


KEYS: Mapping[str, str] = {_camel(f.name): f.name for f in fields(Policy)}


@cache
def load(settings: Settings) -> Policy:
    """The policy for these settings: the defaults, overridden by HELIX_POLICY_FILE if set."""
    policy = Policy.defaults(settings)
    if not settings.policy_file:
        return policy
    path = Path(settings.policy_file)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"HELIX_POLICY_FILE {path}: {error}") from None
    return parse(doc, policy, str(path))


def parse(doc: Any, base: Policy, source: str = "policy") -> Policy:
    if not isinstance(doc, Mapping):
        raise ValueError(f"{source}: expected a mapping of policy keys")
    changes: dict[str, Any] = {}
    for key, value in doc.items():
        name = KEYS.get(key)
        if name is None:
            raise ValueError(f"{source}: unknown key {key!r} (known: {', '.join(KEYS)})")
        default = getattr(base, name)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{source}: {key} must be a list of strings")
            changes[name] = tuple(value)
        elif isinstance(default, int):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{source}: {key} must be a positive integer")
            changes[name] = value
        else:
            if not isinstance(value, str) or memory_bytes(value) is None:
                raise ValueError(f"{source}: {key} must be a size such as 32g")
            changes[name] = value
    return replace(base, **changes)


@dataclass(frozen=True)
class Violation:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def check(spec: JobSpec, policy: Policy) -> list[Violation]:
    """Every way the job asks for more than the policy allows (defaults filled in)."""
    return list(_violations(spec, policy))


def _violations(spec: JobSpec, policy: Policy) -> Iterator[Violation]:
    for where, uri in (("spec.input.uri", spec.input_uri), ("spec.output.uri", spec.output_uri)):
        scheme = uri.partition("://")[0].lower()
        if scheme not in policy.uri_schemes:
            yield Violation(
                where, f"scheme {scheme}:// is not allowed ({_allowed(policy.uri_schemes)})"
            )
    conflict = output_conflict(spec.input_uri, spec.output_uri)
    if conflict:
        yield Violation("spec.output.uri", conflict)
    if not _image_allowed(spec.image, policy.image_repositories):
        yield Violation(
            "spec.spark.image",
            f"{image_repository(spec.image)} is not an allowed repository "
            f"({_allowed(policy.image_repositories)})",
        )
    if spec.service_account not in policy.service_accounts:
        yield Violation(
            "spec.spark.serviceAccount",
            f"{spec.service_account} is not an allowed driver ServiceAccount "
            f"({_allowed(policy.service_accounts)})",
        )
    if spec.lake.credentials_secret not in policy.credentials_secrets:
        yield Violation(
            "spec.lake.credentialsSecret",
            f"{spec.lake.credentials_secret} is not an allowed credentials Secret "
            f"({_allowed(policy.credentials_secrets)})",
        )
    for key in sorted(spec.conf):
        if not key.startswith(policy.spark_conf_prefixes):
            yield Violation(f"spec.spark.conf[{key}]", "not an allowed Spark setting")
    for name, _ in spec.env:
        if CREDENTIAL_NAME.search(name):
            yield Violation(
                f"spec.spark.env[{name}]", "looks like a credential; use lake.credentialsSecret"
            )
        elif name.upper().startswith(policy.env_denied_prefixes):
            yield Violation(f"spec.spark.env[{name}]", "steers the runtime and is not allowed")
    problem = endpoint_problem(spec.lake.endpoint, policy.lake_endpoints)
    if problem:
        yield Violation("spec.lake.endpoint", problem)
    yield from _resources(spec, policy)


def _resources(spec: JobSpec, policy: Policy) -> Iterator[Violation]:
    limit = memory_bytes(policy.max_memory)
    for role, res in (("driver", spec.driver), ("executor", spec.executor)):
        if res.cores > policy.max_cores:
            yield Violation(
                f"spec.spark.{role}.cores",
                f"{res.cores} is above the policy's maximum of {policy.max_cores}",
            )
        size = memory_bytes(res.memory)
        if size is None or limit is None or size > limit:
            yield Violation(
                f"spec.spark.{role}.memory",
                f"{res.memory} is above the policy's maximum of {policy.max_memory}",
            )
    if spec.executor.instances > policy.max_executor_instances:
        yield Violation(
            "spec.spark.executor.instances",
            f"{spec.executor.instances} is above the policy's maximum of {policy.max_executor_instances}",
        )


def endpoint_problem(endpoint: str, allowed: tuple[str, ...] = ()) -> str | None:
    """Why the lake endpoint may not be used, or None. Only http(s); never a link-local
    address or a cloud metadata service, in whatever notation the resolver would accept."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{endpoint} is not an http(s) URL"
    if allowed and endpoint.rstrip("/") not in {a.rstrip("/") for a in allowed}:
        return f"{endpoint} is not an allowed lake endpoint ({_allowed(allowed)})"
    host = parts.hostname.lower().rstrip(".")
    if host in METADATA_HOSTS:
        return f"{endpoint} is a cloud metadata service"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # 2852039166, 0xa9fea9fe or 0251.0376.0251.0376 resolve to 169.254.169.254 too.
        if all(re.fullmatch(r"[0-9]+|0x[0-9a-f]*", label) for label in host.split(".")):
            return f"{endpoint}: write an IP address in dotted-decimal notation"
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_link_local or address.is_unspecified or address.is_multicast:
        return f"{endpoint} is a link-local, unspecified or multicast address"
    return None


def memory_bytes(size: str) -> int | None:
    match = re.fullmatch(r"([1-9][0-9]*)([kmgt])", size.strip().lower())
    return int(match[1]) * _MEMORY_UNITS[match[2]] if match else None


def image_repository(image: str) -> str:
    """The image without its tag or digest (``host:5000/a/b:1.0@sha256:…`` → ``host:5000/a/b``)."""
    name = image.partition("@")[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _image_allowed(image: str, allowed: tuple[str, ...]) -> bool:
    repository = image_repository(image)
    return any(
        repository.startswith(entry) if entry.endswith("/") else repository == entry
        for entry in allowed
    )


def _allowed(values: tuple[str, ...]) -> str:
    return "allowed: " + (", ".join(values) if values else "none")
