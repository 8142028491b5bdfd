"""Fixtures of the lake tests: every backend test runs on a local directory and on SeaweedFS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from helix_batch.lake.local_storage import LocalStorage
from helix_batch.lake.s3_settings import S3Settings
from helix_batch.lake.s3_storage import S3Storage
from helix_batch.lake.storage import Storage
from tests.fixtures.s3 import S3Server


@dataclass
class Backend:
    storage: Storage
    uri: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def lake_bucket(s3_server: S3Server) -> str:
    """One bucket for the lake tests; each test gets its own prefix in it."""
    return s3_server.create_bucket()


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        storage: Storage = LocalStorage(tmp_path / "lake", concurrency=8)
        yield Backend(storage, storage.uri, {})
        return
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("lake_bucket")
    settings = S3Settings(server.endpoint, server.region, server.access_key, server.secret_key)
    s3 = S3Storage(bucket, f"t-{uuid.uuid4().hex[:12]}", settings=settings, concurrency=8)
    yield Backend(s3, s3.uri, server.env())
    s3.close()


@pytest.fixture
def storage(backend: Backend) -> Storage:
    return backend.storage
