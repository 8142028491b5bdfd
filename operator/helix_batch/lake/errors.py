"""The lake's exceptions: one base class so the CLI can report any of them cleanly."""

from __future__ import annotations

from collections.abc import Sequence


class LakeError(Exception):
    """Base class of every error the lake library raises on purpose."""


class InvalidKey(LakeError, ValueError):
    """A key or id that would escape its prefix or is not a plain relative key."""


class NotFound(LakeError, KeyError):
    """No object (or record) under that key."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "not found"


class RecordConflict(LakeError):
    """A different record already exists under the same id."""


class InvalidRecord(LakeError, ValueError):
    """A record that is not JSON, is too large, or does not match its schema."""


class PolicyError(LakeError, ValueError):
    """A maintenance policy that is malformed or dangerous."""


class StorageError(LakeError):
    """The store refused or failed an operation."""


class DeleteFailed(StorageError):
    """Some keys of a batch delete could not be removed (DeleteObjects per-key errors)."""

    def __init__(self, failures: Sequence[tuple[str, str]]) -> None:
        self.failures = tuple(failures)
        shown = ", ".join(f"{key} ({reason})" for key, reason in self.failures[:5])
        more = f" and {len(self.failures) - 5} more" if len(self.failures) > 5 else ""
        super().__init__(f"could not delete {len(self.failures)} object(s): {shown}{more}")
