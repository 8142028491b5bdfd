"""One behavioural suite for both storage backends (local directory and SeaweedFS)."""

from __future__ import annotations

from typing import Any

import pytest

from helix_batch.lake.errors import InvalidKey, NotFound, StorageError
from helix_batch.lake.s3_settings import S3Settings
from helix_batch.lake.s3_storage import S3Storage
from helix_batch.lake.storage import Storage
from tests.fixtures.s3 import S3Server
from tests.lake.helpers import keys

BAD_KEYS = ["../x", "a/../../b", "/etc/passwd", "a//b", "a/./b", "a\x00b", "a\nb", "a\\b", ""]


def test_put_get_overwrite_and_head(storage: Storage) -> None:
    storage.put("a/b/one.json", b"1")
    storage.put("a/b/one.json", b"22")
    assert storage.get("a/b/one.json") == b"22"
    info = storage.head("a/b/one.json")
    assert info is not None and info.size == 2 and info.key == "a/b/one.json"
    assert storage.head("a/b/none.json") is None
    with pytest.raises(NotFound):
        storage.get("a/b/none.json")


def test_create_only_never_replaces(storage: Storage) -> None:
    assert storage.create("c/x.json", b"first") is True
    assert storage.create("c/x.json", b"second") is False
    assert storage.get("c/x.json") == b"first"
    assert storage.atomic_create() is True  # SeaweedFS honours If-None-Match


def test_listing_by_prefix_and_level(storage: Storage) -> None:
    for key in ("d/a/1", "d/a/2", "d/ab/3", "d/b/c/4", "d/top", "e/5"):
        storage.put(key, b"x")
    assert keys(storage, "d/a/") == {"d/a/1", "d/a/2"}
    assert keys(storage, "d/a") == {"d/a/1", "d/a/2", "d/ab/3"}  # a string prefix, like S3
    assert keys(storage) == {"d/a/1", "d/a/2", "d/ab/3", "d/b/c/4", "d/top", "e/5"}
    level = storage.list_level("d/")
    assert [o.key for o in level.objects] == ["d/top"]
    assert sorted(level.folders) == ["d/a/", "d/ab/", "d/b/"]
    assert storage.list_level("nothing/").folders == ()


def test_delete_many_in_batches_leaves_the_rest(storage: Storage) -> None:
    doomed = [f"f/{i:05d}" for i in range(2100)]
    storage.put_many((k, b"x") for k in [*doomed, "f2/keep", "f/keep"])
    assert storage.delete_many([*doomed, "f/never-existed"], batch=1000) == 2101
    assert keys(storage) == {"f2/keep", "f/keep"}
    storage.delete("f/keep")
    assert keys(storage, "f/") == set()


def test_get_many_keeps_order(storage: Storage) -> None:
    items = [(f"g/{i}", str(i).encode()) for i in range(50)]
    assert storage.put_many(items) == 50
    assert list(storage.get_many(k for k, _ in reversed(items))) == list(reversed(items))


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_that_escape_are_refused_everywhere(storage: Storage, key: str) -> None:
    for call in (
        lambda: storage.put(key, b"x"),
        lambda: storage.create(key, b"x"),
        lambda: storage.get(key),
        lambda: storage.delete(key),
        lambda: storage.head(key),
    ):
        with pytest.raises(InvalidKey):
            call()
    with pytest.raises(InvalidKey):
        storage.delete_many(["ok/key", key])
    assert keys(storage) == set()


def test_s3_credentials_are_checked(s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket()
    wrong = S3Settings(s3_server.endpoint, s3_server.region, s3_server.access_key, "not-the-secret")
    with pytest.raises(StorageError):
        S3Storage(bucket, settings=wrong).put("k", b"x")
    assert "not-the-secret" not in repr(wrong)


def test_s3_uri_and_env_settings(s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket()
    settings = S3Settings.from_env(s3_server.env())
    assert settings.endpoint == s3_server.endpoint and settings.path_style
    store = S3Storage.from_uri(f"s3://{bucket}/some/prefix/", settings=settings)
    store.put("k.json", b"v")
    raw = s3_server.client().get_object(Bucket=bucket, Key="some/prefix/k.json")
    assert raw["Body"].read() == b"v"
    with pytest.raises(InvalidKey):
        S3Storage("Bad_Bucket", settings=settings)


def test_s3_small_puts_send_the_body_without_waiting_for_100_continue(
    s3_server: S3Server, lake_bucket: str
) -> None:
    """Expect: 100-continue costs a round trip per PUT; only bodies of 1 MiB or more wait."""
    settings = S3Settings(
        s3_server.endpoint, s3_server.region, s3_server.access_key, s3_server.secret_key
    )
    store = S3Storage(lake_bucket, "expect-continue", settings=settings)
    expect: dict[str, object] = {}

    def record(request: Any, **_: Any) -> None:
        name = request.url.rsplit("/", 1)[1]
        if request.method == "PUT" and name in {"small", "created", "large"}:
            expect[name] = request.headers.get("Expect")

    store.client.meta.events.register("before-send.s3", record)
    small, large = b"s" * 1000, b"L" * (2 << 20)
    store.put("small", small)
    assert store.create("created", small)
    store.put("large", large)
    assert expect == {"small": None, "created": None, "large": b"100-continue"}
    assert store.get("small") == small and store.get("created") == small  # still signed right
    assert store.get("large") == large
    store.delete_many(["small", "created", "large"])
