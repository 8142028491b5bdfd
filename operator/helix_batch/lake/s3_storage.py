"""A lake in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, Ceph) through boto3.

Path-style addressing, the standard retry mode, checksums only where the API requires them
(newer botocore defaults break MinIO and SeaweedFS), paginated listings, DeleteObjects in
batches of at most 1000 with per-key errors raised, and create-only writes with
``If-None-Match: *``. A store that ignores that header is detected once with a probe; it then
falls back to check-then-write, and says so in the log. PUTs of small bodies are sent without
``Expect: 100-continue`` (see ``EXPECT_CONTINUE_MIN_BYTES``).
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.utils import determine_content_length

from helix_batch.lake.errors import DeleteFailed, InvalidKey, NotFound, StorageError
from helix_batch.lake.keys import check_folder, check_key, check_prefix
from helix_batch.lake.s3_settings import S3Settings
from helix_batch.lake.storage import DEFAULT_CONCURRENCY, Listing, ObjectInfo, Storage

log = logging.getLogger(__name__)

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_MISSING = {"404", "NoSuchKey", "NotFound"}
_EXISTS = {"412", "PreconditionFailed"}
_CONFLICT = {"409", "ConditionalRequestConflict"}
_UNSUPPORTED = {"501", "NotImplemented"}

# botocore makes every PUT wait for the server's "100 Continue" before sending the body: one
# more round trip per request (a raw record's PUT took 2 round trips instead of 1). Waiting pays
# only when a refusal saves sending a large body, so below this size the body goes at once.
EXPECT_CONTINUE_MIN_BYTES = 1 << 20


def no_expect_for_small_bodies(request: Any, **_: Any) -> None:
    size = determine_content_length(request.body)
    if size is not None and size < EXPECT_CONTINUE_MIN_BYTES:
        del request.headers["Expect"]  # not signed (botocore leaves it out of SigV4)


def make_client(settings: S3Settings, concurrency: int = DEFAULT_CONCURRENCY) -> Any:
    """A thread-safe boto3 S3 client configured for S3-compatible stores."""
    config = Config(
        region_name=settings.region,
        s3={"addressing_style": "path" if settings.path_style else "virtual"},
        retries={"mode": "standard", "max_attempts": 5},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=max(10, concurrency),
        connect_timeout=10,
        read_timeout=60,
    )
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        aws_session_token=settings.session_token,
        region_name=settings.region,
    )
    client = session.client("s3", endpoint_url=settings.endpoint, config=config)
    # before-sign comes after botocore's before-call handler that adds the header
    client.meta.events.register("before-sign.s3.PutObject", no_expect_for_small_bodies)
    return client


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> str:
    return str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


class S3Storage(Storage):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        settings: S3Settings | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        if not _BUCKET.fullmatch(bucket):
            raise InvalidKey(f"invalid bucket name {bucket!r}")
        prefix = prefix.strip("/")
        self.prefix = f"{check_key(prefix)}/" if prefix else ""
        self.bucket = bucket
        self.uri = f"s3://{bucket}/{self.prefix}"
        self.settings = settings or S3Settings.from_env()
        self.concurrency = concurrency
        self.client = make_client(self.settings, concurrency)
        self._create_mode: str | None = None  # "conditional" or "check-then-write"
        self._probe_lock = threading.Lock()

    @classmethod
    def from_uri(
        cls, uri: str, concurrency: int = DEFAULT_CONCURRENCY, settings: S3Settings | None = None
    ) -> S3Storage:
        rest = uri.split("://", 1)[1]
        bucket, _, prefix = rest.partition("/")
        return cls(bucket, prefix, settings=settings, concurrency=concurrency)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) :]

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _code(error) in _MISSING or _status(error) == "404":
                raise NotFound(f"no object {key!r} in {self.uri}") from None
            raise StorageError(f"GET {key!r} failed: {error}") from error
        body: bytes = response["Body"].read()
        return body

    def put(self, key: str, body: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body)
        except ClientError as error:
            raise StorageError(f"PUT {key!r} failed: {error}") from error

    def atomic_create(self) -> bool:
        return self._creation_mode() == "conditional"

    def create(self, key: str, body: bytes) -> bool:
        if self._creation_mode() == "check-then-write":
            if self.head(key) is not None:
                return False
            self.put(key, body)
            return True
        return self._conditional_put(self._key(key), body)

    def _conditional_put(self, full: str, body: bytes) -> bool:
        for _ in range(5):
            try:
                self.client.put_object(Bucket=self.bucket, Key=full, Body=body, IfNoneMatch="*")
                return True
            except ClientError as error:
                code = {_code(error), _status(error)}
                if code & _EXISTS:
                    return False
                if code & _CONFLICT:  # a concurrent conditional write is in flight: retry
                    continue
                raise StorageError(f"conditional PUT {full!r} failed: {error}") from error
        return False

    def _creation_mode(self) -> str:
        """Probe once whether the store honours If-None-Match on PUT."""
        with self._probe_lock:
            if self._create_mode is None:
                probe = f"{self.prefix}_helix/probe-{uuid.uuid4().hex}"
                try:
                    first = self._conditional_put(probe, b"probe")
                    second = self._conditional_put(probe, b"probe")
                    supported = first and not second
                except StorageError as error:
                    cause = error.__cause__
                    if not (
                        isinstance(cause, ClientError)
                        and {_code(cause), _status(cause)} & _UNSUPPORTED
                    ):
                        raise
                    supported = False
                finally:
                    self.client.delete_object(Bucket=self.bucket, Key=probe)
                self._create_mode = "conditional" if supported else "check-then-write"
                if not supported:
                    log.warning(
                        "%s ignores If-None-Match: create-only writes fall back to "
                        "check-then-write, which is not atomic against concurrent writers",
                        self.uri,
                    )
            return self._create_mode

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _code(error) in _MISSING or _status(error) == "404":
                return None
            raise StorageError(f"HEAD {key!r} failed: {error}") from error
        return ObjectInfo(key, int(response["ContentLength"]), response["LastModified"])

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict[str, Any]]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if delimiter:
            args["Delimiter"] = delimiter
        try:
            yield from self.client.get_paginator("list_objects_v2").paginate(**args)
        except ClientError as error:
            raise StorageError(f"LIST {prefix!r} failed: {error}") from error

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        for page in self._pages(prefix, None):
            for item in page.get("Contents", ()):
                yield ObjectInfo(self._rel(item["Key"]), int(item["Size"]), item["LastModified"])

    def list_level(self, prefix: str) -> Listing:
        check_folder(prefix)
        objects: list[ObjectInfo] = []
        folders: list[str] = []
        for page in self._pages(prefix, "/"):
            for item in page.get("Contents", ()):
                objects.append(
                    ObjectInfo(self._rel(item["Key"]), int(item["Size"]), item["LastModified"])
                )
            folders.extend(self._rel(p["Prefix"]) for p in page.get("CommonPrefixes", ()))
        return Listing(tuple(objects), tuple(folders))

    def _delete_batch(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        objects = [{"Key": self._key(k)} for k in keys]
        try:
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
            )
        except ClientError as error:
            raise StorageError(f"DeleteObjects of {len(keys)} keys failed: {error}") from error
        failures = [
            (self._rel(e.get("Key", "?")), f"{e.get('Code', '?')}: {e.get('Message', '')}")
            for e in response.get("Errors", ())
            if e.get("Code") != "NoSuchKey"
        ]
        if failures:
            raise DeleteFailed(failures)

    def close(self) -> None:
        self.client.close()
