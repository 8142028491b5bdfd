"""Reading, validating and defaulting a HelixBatchJob.

Validation uses the CRD itself: its OpenAPI schema (through jsonschema) and its CEL rules
(through cel-python), so ``helixctl`` refuses exactly what the API server refuses at creation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import celpy
import jsonschema
from celpy import celtypes
from celpy.adapter import json_to_cel

from helix_batch.operator.crd import crd_schema
from helix_batch.operator.names import API_VERSION, KIND
from helix_batch.operator.settings import Settings

JOB_TYPES: Mapping[str, str] = {
    "EntityExtraction": "entity_extraction",
    "RelationshipMining": "relationship_mining",
    "TopicModeling": "topic_modeling",
    "ProviderPerformance": "provider_performance",
    "DebateAnalysis": "debate_analysis",
}


class SpecError(ValueError):
    """An invalid HelixBatchJob; ``field`` is the offending field's path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Resources:
    cores: int
    memory: str
    instances: int = 1


@dataclass(frozen=True)
class LakeAccess:
    endpoint: str
    region: str
    path_style: bool
    credentials_secret: str


@dataclass(frozen=True)
class JobSpec:
    type: str
    input_uri: str
    start_date: date
    end_date: date
    allow_empty: bool
    output_uri: str
    parameters: Mapping[str, Any]
    image: str
    spark_version: str
    service_account: str
    driver: Resources
    executor: Resources
    conf: Mapping[str, str]
    env: tuple[tuple[str, str], ...]
    lake: LakeAccess
    backoff_limit: int
    start_deadline_seconds: int
    active_deadline_seconds: int | None
    ttl_seconds_after_finished: int | None
    suspend: bool

    @property
    def job_type(self) -> str:
        """The Spark entry point's ``--job-type`` value."""
        return JOB_TYPES[self.type]


@dataclass(frozen=True)
class Job:
    name: str
    namespace: str
    uid: str
    generation: int
    spec: JobSpec


def validate(doc: Mapping[str, Any]) -> None:
    """Raise SpecError for the first problem the API server would reject at creation."""
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise SpecError("kind", f"expected apiVersion {API_VERSION} and kind {KIND}")
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str):
        raise SpecError("metadata.name", "required")
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        raise SpecError(".".join(str(p) for p in first.absolute_path) or "<root>", first.message)
    unknown = next(_unknown_fields(doc, crd_schema(), ()), None)
    if unknown:
        raise SpecError(unknown, "unknown field")
    for rule in _cel_rules():
        if not all(_cel_holds(rule.rule, target) for target in _targets(doc, rule.scope)):
            raise SpecError(rule.field, rule.message)


def load_job(doc: Mapping[str, Any], settings: Settings, *, check: bool = True) -> Job:
    """The job with every default filled in; ``check`` validates first (helixctl does).

    Without ``check`` (the operator: the API server validated it), a spec that cannot be read
    at all (stored under an older or looser CRD) still raises SpecError, never a KeyError."""
    if check:
        validate(doc)
    try:
        return _read(doc, settings)
    except KeyError as error:
        raise SpecError("spec", f"the required field {error.args[0]!r} is missing") from None
    except (TypeError, ValueError, AttributeError) as error:
        raise SpecError("spec", f"cannot be read: {error}") from None


def _read(doc: Mapping[str, Any], settings: Settings) -> Job:
    meta = doc["metadata"]
    spec = doc["spec"]
    spark = spec.get("spark") or {}
    lake = spec.get("lake") or {}
    driver = spark.get("driver") or {}
    executor = spark.get("executor") or {}
    return Job(
        name=meta["name"],
        namespace=meta.get("namespace", "default"),
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation", 1)),
        spec=JobSpec(
            type=spec["type"],
            input_uri=spec["input"]["uri"],
            start_date=date.fromisoformat(spec["input"]["startDate"]),
            end_date=date.fromisoformat(spec["input"]["endDate"]),
            allow_empty=bool(spec["input"].get("allowEmpty", False)),
            output_uri=spec["output"]["uri"],
            parameters=dict(spec.get("parameters") or {}),
            image=spark.get("image", settings.spark_image),
            spark_version=spark.get("version", settings.spark_version),
            service_account=spark.get("serviceAccount", settings.spark_service_account),
            driver=Resources(
                cores=driver.get("cores", settings.driver_cores),
                memory=driver.get("memory", settings.driver_memory),
            ),
            executor=Resources(
                cores=executor.get("cores", settings.executor_cores),
                memory=executor.get("memory", settings.executor_memory),
                instances=executor.get("instances", settings.executor_instances),
            ),
            conf=dict(spark.get("conf") or {}),
            env=tuple((e["name"], e["value"]) for e in spark.get("env") or ()),
            lake=LakeAccess(
                endpoint=lake.get("endpoint", settings.lake_endpoint),
                region=lake.get("region", settings.lake_region),
                path_style=lake.get("pathStyle", True),
                credentials_secret=lake.get("credentialsSecret", settings.lake_credentials_secret),
            ),
            backoff_limit=spec.get("backoffLimit", settings.backoff_limit),
            start_deadline_seconds=spec.get(
                "startDeadlineSeconds", settings.start_deadline_seconds
            ),
            active_deadline_seconds=spec.get("activeDeadlineSeconds"),
            ttl_seconds_after_finished=spec.get("ttlSecondsAfterFinished"),
            suspend=bool(spec.get("suspend", False)),
        ),
    )


@cache
def _validator() -> jsonschema.protocols.Validator:
    # Kubernetes schemas are OpenAPI v3.0: boolean exclusiveMinimum, as in JSON Schema draft 4.
    # Formats are checked as the API server checks them: a calendar date must exist.
    dates = jsonschema.FormatChecker(formats=["date"])
    return jsonschema.Draft4Validator(crd_schema(), format_checker=dates)


@dataclass(frozen=True)
class _Rule:
    scope: tuple[str, ...]  # where the rule sits; "*" fans out over list items
    field: str  # the field an error names, as the API server reports it
    rule: str
    message: str


@cache
def _cel_rules() -> tuple[_Rule, ...]:
    """The CRD's CEL rules that apply at creation (transition rules need oldSelf)."""
    return tuple(
        _Rule(
            scope=path,
            field=".".join(p for p in path if p != "*") + rule.get("fieldPath", "") or "<root>",
            rule=rule["rule"],
            message=rule["message"],
        )
        for path, node in _walk(crd_schema(), ())
        for rule in node.get("x-kubernetes-validations", ())
        if "oldSelf" not in rule["rule"]
    )


def _unknown_fields(doc: Any, schema: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[str]:
    """Fields the schema does not know (kubectl's strict field validation refuses them)."""
    if isinstance(doc, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(doc):
            yield from _unknown_fields(item, schema["items"], (*path, str(i)))
    props = schema.get("properties")
    if not isinstance(doc, Mapping) or props is None:
        return
    for key, value in doc.items():
        if key in props:
            yield from _unknown_fields(value, props[key], (*path, key))
        elif not schema.get("x-kubernetes-preserve-unknown-fields"):
            yield ".".join((*path, key))


def _walk(
    node: Mapping[str, Any], path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    yield path, node
    for key, child in (node.get("properties") or {}).items():
        yield from _walk(child, (*path, key))
    if isinstance(node.get("items"), Mapping):
        yield from _walk(node["items"], (*path, "*"))


def _targets(doc: Any, path: tuple[str, ...]) -> Iterator[Any]:
    """Every value at path; ``*`` fans out over a list (a rule on items holds for each)."""
    if not path:
        yield doc
    elif path[0] == "*":
        for item in doc if isinstance(doc, list) else ():
            yield from _targets(item, path[1:])
    elif isinstance(doc, Mapping) and path[0] in doc:
        yield from _targets(doc[path[0]], path[1:])


# The part of Kubernetes' CEL string library the CRD's rules use (cel-python lacks it).
_K8S_STRINGS: Mapping[str, Any] = {
    "lowerAscii": lambda s: celtypes.StringType(s.lower()),
    "replace": lambda s, old, new: celtypes.StringType(s.replace(old, new)),
    "lastIndexOf": lambda s, sub: celtypes.IntType(s.rfind(sub)),
    "substring": lambda s, start, end=None: celtypes.StringType(
        s[int(start) :] if end is None else s[int(start) : int(end)]
    ),
}


@cache
def _program(rule: str) -> celpy.Runner:
    env = celpy.Environment()
    return env.program(env.compile(rule), functions=dict(_K8S_STRINGS))


def _cel_holds(rule: str, value: Any) -> bool:
    return bool(_program(rule).evaluate({"self": json_to_cel(value)}))
