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
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

from helix_batch.operator.settings import Settings
from helix_batch.operator.spec import JobSpec
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
# A letter no IP address notation uses (hex digits and the "x" of "0x" excepted): a DNS name.
_NAME_LETTER = re.compile(r"[g-wyz_-]")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and the key."""


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

    @cached_property
    def scheme_prefixes(self) -> tuple[str, ...]:
        return tuple(f"{scheme}://" for scheme in self.uri_schemes)

    @cached_property
    def image_prefixes(self) -> tuple[str, ...]:
        return tuple(entry for entry in self.image_repositories if entry.endswith("/"))

    @cached_property
    def max_memory_bytes(self) -> int:
        size = memory_bytes(self.max_memory)
        assert size is not None, "parse() refuses a bad maxMemory"
        return size

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
        raise PolicyError(f"HELIX_POLICY_FILE {path}: {error}") from None
    return parse(doc, policy, str(path))


def parse(doc: Any, base: Policy, source: str = "policy") -> Policy:
    if not isinstance(doc, Mapping):
        raise PolicyError(f"{source}: expected a mapping of policy keys")
    changes: dict[str, Any] = {}
    for key, value in doc.items():
        name = KEYS.get(key)
        if name is None:
            raise PolicyError(f"{source}: unknown key {key!r} (known: {', '.join(KEYS)})")
        default = getattr(base, name)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise PolicyError(f"{source}: {key} must be a list of strings")
            changes[name] = tuple(value)
        elif isinstance(default, int):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise PolicyError(f"{source}: {key} must be a positive integer")
            changes[name] = value
        else:
            if not isinstance(value, str) or memory_bytes(value) is None:
                raise PolicyError(f"{source}: {key} must be a size such as 32g")
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
    found: list[Violation] = []
    for where, uri in (("spec.input.uri", spec.input_uri), ("spec.output.uri", spec.output_uri)):
        if not uri.startswith(policy.scheme_prefixes):
            scheme = uri.partition("://")[0]
            found.append(
                Violation(
                    where, f"scheme {scheme}:// is not allowed ({_allowed(policy.uri_schemes)})"
                )
            )
    conflict = output_conflict(spec.input_uri, spec.output_uri)
    if conflict:
        found.append(Violation("spec.output.uri", conflict))
    repository = image_repository(spec.image)
    if repository not in policy.image_repositories and not repository.startswith(
        policy.image_prefixes
    ):
        found.append(
            Violation(
                "spec.spark.image",
                f"{repository} is not an allowed repository ({_allowed(policy.image_repositories)})",
            )
        )
    if spec.service_account not in policy.service_accounts:
        found.append(
            Violation(
                "spec.spark.serviceAccount",
                f"{spec.service_account} is not an allowed driver ServiceAccount "
                f"({_allowed(policy.service_accounts)})",
            )
        )
    if spec.lake.credentials_secret not in policy.credentials_secrets:
        found.append(
            Violation(
                "spec.lake.credentialsSecret",
                f"{spec.lake.credentials_secret} is not an allowed credentials Secret "
                f"({_allowed(policy.credentials_secrets)})",
            )
        )
    for key in sorted(k for k in spec.conf if not k.startswith(policy.spark_conf_prefixes)):
        found.append(Violation(f"spec.spark.conf[{key}]", "not an allowed Spark setting"))
    for name, _ in spec.env:
        if CREDENTIAL_NAME.search(name):
            found.append(
                Violation(
                    f"spec.spark.env[{name}]", "looks like a credential; use lake.credentialsSecret"
                )
            )
        elif name.upper().startswith(policy.env_denied_prefixes):
            found.append(
                Violation(f"spec.spark.env[{name}]", "steers the runtime and is not allowed")
            )
    problem = endpoint_problem(spec.lake.endpoint, policy.lake_endpoints)
    if problem:
        found.append(Violation("spec.lake.endpoint", problem))
    for role, res in (("driver", spec.driver), ("executor", spec.executor)):
        if res.cores > policy.max_cores:
            found.append(
                Violation(
                    f"spec.spark.{role}.cores",
                    f"{res.cores} is above the policy's maximum of {policy.max_cores}",
                )
            )
        size = memory_bytes(res.memory)
        if size is None or size > policy.max_memory_bytes:
            found.append(
                Violation(
                    f"spec.spark.{role}.memory",
                    f"{res.memory} is above the policy's maximum of {policy.max_memory}",
                )
            )
    if spec.executor.instances > policy.max_executor_instances:
        found.append(
            Violation(
                "spec.spark.executor.instances",
                f"{spec.executor.instances} is above the policy's maximum of "
                f"{policy.max_executor_instances}",
            )
        )
    return found


@lru_cache(maxsize=256)  # jobs share a few endpoints
def endpoint_problem(endpoint: str, allowed: tuple[str, ...] = ()) -> str | None:
    """Why the lake endpoint may not be used, or None. Only http(s); never a link-local
    address or a cloud metadata service, in whatever notation the resolver would accept."""
    if not endpoint:
        return None
    scheme, sep, rest = endpoint.partition("://")
    authority = rest.partition("/")[0]
    host = authority.rpartition("]")[0][1:] if authority.startswith("[") else authority
    host = host.rpartition(":")[0] if ":" in host and not authority.startswith("[") else host
    host = host.lower().rstrip(".")
    if not sep or scheme not in ("http", "https") or not host:
        return f"{endpoint} is not an http(s) URL"
    if allowed and endpoint.rstrip("/") not in {a.rstrip("/") for a in allowed}:
        return f"{endpoint} is not an allowed lake endpoint ({_allowed(allowed)})"
    if host in METADATA_HOSTS:
        return f"{endpoint} is a cloud metadata service"
    if _NAME_LETTER.search(host.replace("0x", "")):
        return None  # a DNS name: not an address in any notation
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # 2852039166, 0xa9fea9fe or 0251.0376.0251.0376 resolve to 169.254.169.254 too.
        if ":" in host or all(_NUMERIC_LABEL.fullmatch(p) for p in host.split(".")):
            return f"{endpoint}: write an IP address in dotted-decimal notation"
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_link_local or address.is_unspecified or address.is_multicast:
        return f"{endpoint} is a link-local, unspecified or multicast address"
    return None


@lru_cache(maxsize=256)  # and a few sizes
def memory_bytes(size: str) -> int | None:
    digits, unit = size[:-1], _MEMORY_UNITS.get(size[-1:].lower())
    if unit is None or not digits.isascii() or not digits.isdigit() or digits[0] == "0":
        return None
    return int(digits) * unit


@lru_cache(maxsize=256)  # jobs share a few images
def image_repository(image: str) -> str:
    """The image without its tag or digest (``host:5000/a/b:1.0@sha256:…`` → ``host:5000/a/b``)."""
    name = image.partition("@")[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _allowed(values: tuple[str, ...]) -> str:
    return "allowed: " + (", ".join(values) if values else "none")
