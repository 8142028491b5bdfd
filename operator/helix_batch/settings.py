"""Operator settings, read once from the environment (``HELIX_*``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get("HELIX_" + f.name.upper())
            if raw is None:
                continue
            kind = type(getattr(cls(), f.name))
            if kind is tuple:
                values[f.name] = tuple(p.strip() for p in raw.split(",") if p.strip())
            elif kind in (int, float):
                try:
                    values[f.name] = kind(raw)
                except ValueError:
                    raise ValueError(
                        f"HELIX_{f.name.upper()}: expected a number, got {raw!r}"
                    ) from None
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]
