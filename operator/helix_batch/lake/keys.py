"""Object keys relative to a lake root, checked so that none can escape it."""

from __future__ import annotations

from helix_batch.lake.errors import InvalidKey

MAX_KEY_BYTES = 1024  # S3's limit


def check_key(key: str) -> str:
    """A plain relative key: no leading slash, no empty, '.' or '..' segment, no control chars."""
    if not key:
        raise InvalidKey("empty key")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidKey(f"key longer than {MAX_KEY_BYTES} bytes: {key[:60]!r}...")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise InvalidKey(f"control character in key {key!r}")
    if "\\" in key:
        raise InvalidKey(f"backslash in key {key!r}")
    if key.startswith("/"):
        raise InvalidKey(f"absolute key {key!r}")
    parts = key.split("/")
    # A trailing slash is allowed (a folder-like prefix) but no segment may be empty otherwise.
    inner = parts[:-1] if key.endswith("/") else parts
    for part in inner:
        if part in ("", ".", ".."):
            raise InvalidKey(f"key {key!r} has an empty, '.' or '..' segment")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty (the whole root) or a valid key (usually ending in '/')."""
    return prefix if prefix == "" else check_key(prefix)


def check_folder(prefix: str) -> str:
    """A folder-level listing prefix: empty (the root) or a valid key ending with '/'."""
    check_prefix(prefix)
    if prefix and not prefix.endswith("/"):
        raise InvalidKey(f"a folder listing needs a prefix ending with '/': {prefix!r}")
    return prefix


def join(*parts: str) -> str:
    """Join folder parts into a key and check it; empty parts are skipped."""
    return check_key("/".join(p.strip("/") for p in parts if p.strip("/")))


def under(prefix: str, key: str) -> bool:
    """Whether key lies strictly inside the folder prefix (which must end with '/')."""
    if not prefix.endswith("/"):
        raise InvalidKey(f"folder prefix must end with '/': {prefix!r}")
    return key.startswith(prefix) and len(key) > len(prefix)
