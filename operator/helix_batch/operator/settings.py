"""Operator settings, read once from the environment (``HELIX_*``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from math import inf, nan


@dataclass(frozen=True)
class Settings:
    # Namespaces to watch; empty means the whole cluster.
    namespaces: tuple[str, ...] = ()
    spark_image: str = "ghcr.io/helixagent/helix-spark:0.1.0"
    spark_version: str = "4.0.1"
    spark_service_account: str = "helix-spark-driver"
    driver_cores: int = 1
    driver_memory: str = "1g"
    executor_cores: int = 1
    executor_memory: str = "2g"
    executor_instances: int = 2
    backoff_limit: int = 2
    start_deadline_seconds: int = 600
    # A driver pod that vanished is confirmed gone this long after it was last seen.
    missing_driver_grace_seconds: int = 30
    retry_backoff_base_seconds: int = 10
    retry_backoff_cap_seconds: int = 600
    attempts_history: int = 10
    # Concurrent reconciles of driver pod changes and deadlines.
    workers: int = 32
    # Leader election between replicas (renew after 2/3 of it, retry every 1/5).
    lease_seconds: int = 15
    metrics_port: int = 8080
    lake_endpoint: str = ""
    lake_region: str = "us-east-1"
    lake_credentials_secret: str = "helix-lake-credentials"  # noqa: S105 - a Secret name
    # The platform's job policy (policy.py); unset: the defaults, which allow only the above.
    policy_file: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(variable(f.name))
            if raw is None:
                continue
            kind = type(getattr(cls(), f.name))
            if kind is tuple:
                values[f.name] = tuple(p.strip() for p in raw.split(",") if p.strip())
            elif kind in (int, float):
                values[f.name] = _number(f.name, kind, raw)
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]


class SettingsError(ValueError):
    """A setting's value makes no sense; the message names its variable."""


# Numbers outside these bounds make no sense (no workers, no lease, no port); any other
# number only has to be at least 0.
_BOUNDS: dict[str, tuple[float, float]] = {
    "workers": (1, inf),
    "lease_seconds": (1, inf),
    "attempts_history": (1, inf),
    "driver_cores": (1, inf),
    "executor_cores": (1, inf),
    "metrics_port": (1, 65535),
}


def variable(name: str) -> str:
    """The environment variable of the setting ``name``."""
    return "HELIX_" + name.upper()


def _number(name: str, kind: type, raw: str) -> float:
    low, high = _BOUNDS.get(name, (0, inf))
    expected = "a whole number" if kind is int else "a number"
    expected += f" from {low:g} to {high:g}" if high < inf else f" of at least {low:g}"
    try:
        value: float = kind(raw)
    except ValueError:
        value = nan
    if not low <= value <= high:  # also refuses nan
        raise SettingsError(f"{variable(name)}: expected {expected}, got {raw!r}")
    return value
