"""A lake in a local directory (``file://`` URIs or plain paths).

Writes go to a hidden temporary file in the target folder and are renamed into place, so a
reader or a killed writer never leaves a partial object; create-only writes use ``os.link``,
which fails atomically when the target exists. Folders left empty by deletes are removed, so
a delimited listing shows the same folders an S3 listing would.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from helix_batch.lake.errors import InvalidKey, NotFound, StorageError
from helix_batch.lake.keys import check_folder, check_key, check_prefix
from helix_batch.lake.storage import DEFAULT_CONCURRENCY, Listing, ObjectInfo, Storage

TMP_PREFIX = ".helix-tmp-"


class LocalStorage(Storage):
    def __init__(self, root: str | Path, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.root = Path(root).expanduser().absolute()
        self.uri = self.root.as_uri()
        self.concurrency = concurrency

    @classmethod
    def from_uri(cls, uri: str, concurrency: int = DEFAULT_CONCURRENCY) -> LocalStorage:
        path = uri.removeprefix("file://")
        if not path:
            raise InvalidKey(f"no path in lake URI {uri!r}")
        return cls(path, concurrency=concurrency)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object {key!r} in {self.uri}") from None

    def put(self, key: str, body: bytes) -> None:
        target = self.path(key)
        tmp = self._write_tmp(target, body)
        os.replace(tmp, target)

    def create(self, key: str, body: bytes) -> bool:
        target = self.path(key)
        if target.exists():
            return False
        tmp = self._write_tmp(target, body)
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def _write_tmp(self, target: Path, body: bytes) -> Path:
        tmp = target.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}")
        for _ in range(5):  # a concurrent delete may prune the folder between the two calls
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with open(tmp, "xb") as handle:
                    handle.write(body)
                return tmp
            except FileNotFoundError:
                continue
        raise StorageError(f"could not create folder for {target}")

    def get_many(self, keys: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """Sequential: reads from the page cache are CPU-bound, threads only add GIL churn."""
        return ((key, self.get(key)) for key in keys)

    def head(self, key: str) -> ObjectInfo | None:
        try:
            stat = self.path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not os.path.isfile(self.path(key)):
            return None
        return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        folder, _, start = prefix.rpartition("/")
        base = self.root / folder if folder else self.root
        yield from self._walk(base, f"{folder}/" if folder else "", start)

    def _walk(self, folder: Path, key_prefix: str, name_start: str) -> Iterator[ObjectInfo]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if not entry.name.startswith(name_start) or entry.name.startswith(TMP_PREFIX):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), f"{key_prefix}{entry.name}/", "")
            elif entry.is_file(follow_symlinks=False):
                info = _info(f"{key_prefix}{entry.name}", entry)
                if info is not None:
                    yield info

    def list_level(self, prefix: str) -> Listing:
        check_folder(prefix)
        objects: list[ObjectInfo] = []
        folders: list[str] = []
        try:
            entries = sorted(os.scandir(self.root / prefix), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return Listing((), ())
        for entry in entries:
            if entry.name.startswith(TMP_PREFIX):
                continue
            if entry.is_dir(follow_symlinks=False):
                folders.append(f"{prefix}{entry.name}/")
            elif entry.is_file(follow_symlinks=False):
                info = _info(f"{prefix}{entry.name}", entry)
                if info is not None:
                    objects.append(info)
        return Listing(tuple(objects), tuple(folders))

    def _delete_batch(self, keys: Sequence[str]) -> None:
        parents: set[Path] = set()
        for key in keys:
            path = self.path(key)
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                continue
            parents.add(path.parent)
        for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            self._prune(parent)

    def _prune(self, folder: Path) -> None:
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): stop climbing
                if folder.exists():
                    return
            folder = folder.parent


def _info(key: str, entry: os.DirEntry[str]) -> ObjectInfo | None:
    """None when the file was deleted between the folder scan and the stat."""
    try:
        stat = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
    return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))
