"""What every job is: a dataset it reads, typed parameters, and a function that writes output."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from helix_jobs import records


class ParamError(ValueError):
    """An unknown or ill-typed --param."""


@dataclass(frozen=True)
class Param:
    parse: Callable[[str], Any]
    default: Any
    help: str


@dataclass(frozen=True)
class Job:
    name: str  # the --job-type value, e.g. entity_extraction
    kind: str  # the CRD's spec.type, e.g. EntityExtraction
    dataset: records.Dataset
    params: Mapping[str, Param]  # by the CRD's camelCase parameter names
    # (session, valid input records, output URI, parsed parameters) -> counts for the result;
    # the counts must include outputRows.
    run: Callable[[SparkSession, DataFrame, str, Mapping[str, Any]], dict[str, Any]]

    def parse_params(self, raw: Mapping[str, str]) -> dict[str, Any]:
        unknown = sorted(set(raw) - set(self.params))
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise ParamError(
                f"unknown parameter(s) for {self.name}: {', '.join(unknown)} (known: {known})"
            )
        parsed = {}
        for name, param in self.params.items():
            if name not in raw:
                parsed[name] = param.default
                continue
            try:
                parsed[name] = param.parse(raw[name])
            except ValueError as error:
                raise ParamError(
                    f"parameter {name}={raw[name]!r}: {error} ({param.help})"
                ) from None
        return parsed


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError("not an integer") from None
        if value < low or (high is not None and value > high):
            raise ValueError(f"out of range {low}..{high if high is not None else ''}")
        return value

    return parse


def number(low: float, high: float, open_interval: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError("not a number") from None
        inside = low < value < high if open_interval else low <= value <= high
        if not inside:
            raise ValueError("out of range")
        return value

    return parse


def listed(item: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    """A comma-separated list of distinct items, at least one."""

    def parse(text: str) -> tuple[Any, ...]:
        items = tuple(item(part) for part in text.split(",") if part.strip())
        if not items:
            raise ValueError("empty list")
        if len(set(items)) != len(items):
            raise ValueError("duplicate items")
        return items

    return parse


def one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip()
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return parse


def count_rows(frame: DataFrame, name: str) -> tuple[DataFrame, Observation]:
    """frame with a row counter that fills in during the next action (no extra pass)."""
    observation = Observation(name)
    return frame.observe(observation, F.count(F.lit(1)).alias("rows")), observation


def observed_rows(observation: Observation) -> int:
    return int(observation.get["rows"])
