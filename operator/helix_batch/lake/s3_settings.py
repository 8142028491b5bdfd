"""Where the S3-compatible store is and how to reach it, read from the environment.

``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (optionally ``AWS_SESSION_TOKEN``),
``HELIX_S3_ENDPOINT`` or ``AWS_ENDPOINT_URL`` (MinIO, SeaweedFS, Ceph; unset for AWS) and
``AWS_REGION`` (default us-east-1). When no keys are set, boto3's own chain (profiles, IRSA,
instance roles) applies. Secrets never appear in ``repr`` or logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class S3Settings:
    endpoint: str | None = None
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    path_style: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Settings:
        env = os.environ if env is None else env
        style = env.get("HELIX_S3_ADDRESSING", "path").lower()
        return cls(
            endpoint=env.get("HELIX_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            access_key=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            path_style=style != "virtual",
        )
