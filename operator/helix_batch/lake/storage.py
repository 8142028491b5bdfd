"""The storage interface both backends implement, and ``open_storage(uri)``.

Keys are relative to the lake root (a directory, or a bucket plus optional prefix) and are
checked by :func:`helix_batch.lake.keys.check_key` on every call, so nothing can reach outside
the root. Both backends behave the same; ``tests/lake`` runs one suite against both.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from helix_batch.lake.concurrency import bounded_map, run_all

DEFAULT_CONCURRENCY = 32
DELETE_BATCH = 1000  # DeleteObjects' limit


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Listing:
    """One level of a delimited listing: objects directly under the prefix and sub-folders."""

    objects: tuple[ObjectInfo, ...]
    folders: tuple[str, ...]  # full prefixes ending with '/'


class Storage(abc.ABC):
    """An object store rooted at ``uri``."""

    uri: str
    concurrency: int = DEFAULT_CONCURRENCY

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; raises NotFound."""

    @abc.abstractmethod
    def put(self, key: str, body: bytes) -> None:
        """Write atomically (readers see the old or the new object, never a partial one)."""

    @abc.abstractmethod
    def create(self, key: str, body: bytes) -> bool:
        """Write only if no object exists under key; False (and nothing written) if one does."""

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Size and modification time, or None when absent."""

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with prefix (recursively), in key order."""

    @abc.abstractmethod
    def list_level(self, prefix: str) -> Listing:
        """Objects and sub-folders directly under a folder prefix (delimiter '/')."""

    @abc.abstractmethod
    def _delete_batch(self, keys: Sequence[str]) -> None:
        """Delete up to DELETE_BATCH keys; absent keys are not an error; raises DeleteFailed."""

    def delete(self, key: str) -> None:
        self._delete_batch([key])

    def delete_many(
        self,
        keys: Iterable[str],
        batch: int = DELETE_BATCH,
        on_batch: Callable[[Sequence[str]], None] | None = None,
        workers: int | None = None,
    ) -> int:
        """Delete keys in batches, ``workers`` (default ``concurrency``) batches at a time;
        returns the key count.

        ``on_batch`` is called after each batch is gone (an exception there stops the rest).
        """
        if not 1 <= batch <= DELETE_BATCH:
            raise ValueError(f"batch size must be 1..{DELETE_BATCH}")
        batches = list(_chunks(list(keys), batch))

        def one(chunk: Sequence[str]) -> None:
            self._delete_batch(chunk)
            if on_batch is not None:
                on_batch(chunk)

        run_all(one, batches, workers or self.concurrency)
        return sum(len(b) for b in batches)

    def atomic_create(self) -> bool:
        """Whether create-only writes are atomic here (else check-then-write)."""
        return True

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def get_many(self, keys: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """(key, body) for each key, in order, fetched with bounded concurrency."""
        return bounded_map(lambda k: (k, self.get(k)), keys, self.concurrency)

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> int:
        return run_all(lambda kv: self.put(kv[0], kv[1]), items, self.concurrency)

    def folders(self, prefix: str) -> tuple[str, ...]:
        return self.list_level(prefix).folders

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (the S3 backend's pool)."""


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def open_storage(uri: str, concurrency: int = DEFAULT_CONCURRENCY) -> Storage:
    """``s3://bucket/prefix`` (also ``s3a://``), ``file:///path`` or a plain path."""
    if uri.startswith(("s3://", "s3a://")):
        from helix_batch.lake.s3_storage import S3Storage

        return S3Storage.from_uri(uri, concurrency=concurrency)
    from helix_batch.lake.local_storage import LocalStorage

    return LocalStorage.from_uri(uri, concurrency=concurrency)
