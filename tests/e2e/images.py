"""The project's images, built from its own Dockerfiles without Docker or a registry: buildah
(daemonless, ``--isolation chroot``) runs the Dockerfile on a base image that debootstrap makes
from Debian's archive, and tagged as the Dockerfile's FROM (debian:bookworm-slim), so what the
tests run is what ``docker build`` makes from the same file.

The result is a docker archive (for ``ctr images import``), cached by the content of
everything the build reads: the Dockerfile, the files of its context that its
``Dockerfile.dockerignore`` lets in, and the base's recipe. buildah's own storage, kept in the
same cache, holds the base and the layers, so a change to spark-jobs/ rebuilds only the last
layers of the Spark image (the operator image is rebuilt whole: see layer_cache).
"""

from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.controlplane import REPO_ROOT, ControlPlaneError

DEBIAN_RELEASE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_IMAGE = f"docker.io/library/debian:{DEBIAN_RELEASE}-slim"
# What debian:bookworm-slim lists besides the release itself.
APT_SOURCES = (
    f"deb {DEBIAN_MIRROR} {DEBIAN_RELEASE} main\n"
    f"deb {DEBIAN_MIRROR} {DEBIAN_RELEASE}-updates main\n"
    f"deb http://deb.debian.org/debian-security {DEBIAN_RELEASE}-security main\n"
)
BASE_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# This machine's CA bundle, for a TLS-inspecting proxy between the build and PyPI or Maven
# Central; the Dockerfiles take it as the build argument BUILD_CA_BUNDLE.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA_PATH = "/run/helix-build-ca.crt"
BUILD_TIMEOUT = 1800.0
# Part of every image's cache key: change it when the way images are built changes.
RECIPE = "buildah bud 2"
COMMANDS = ("buildah", "debootstrap")


class ImageError(ControlPlaneError):
    pass


@dataclass(frozen=True)
class Image:
    dockerfile: Path  # relative to REPO_ROOT, which is the build context
    name: str  # the reference's repository, tagged with the content hash


SPARK = Image(Path("images/spark/Dockerfile"), "docker.io/library/helix-spark")
OPERATOR = Image(Path("images/operator/Dockerfile"), "docker.io/library/helix-operator")


def cache_root() -> Path:
    return Path(os.environ.get("HELIX_CACHE", Path.home() / ".cache" / "helix-batch"))


def _buildah(*args: str, timeout: float = BUILD_TIMEOUT) -> str:
    storage = cache_root() / "buildah"
    command = [
        "buildah", "--root", str(storage / "root"), "--runroot", "/run/helix-batch-buildah",
        "--storage-driver", "overlay", *args,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise ImageError(f"buildah {' '.join(args[:2])} failed ({result.returncode}):\n{tail}")
    return result.stdout


def context_files(image: Image) -> list[Path]:
    """The context files a build of ``image`` may read: those its Dockerfile.dockerignore lets
    in. Handles that file's forms: ``*``, ``!path`` (a file or folder) and ``**/name``."""
    ignore = REPO_ROOT / f"{image.dockerfile}.dockerignore"
    lines = [ln.strip() for ln in ignore.read_text().splitlines()]
    patterns = [ln for ln in lines if ln and not ln.startswith("#")]
    if patterns[0] != "*":
        raise ImageError(f"{ignore}: expected to start with '*' (only what it lists goes in)")
    included = [REPO_ROOT / p[1:] for p in patterns if p.startswith("!")]
    excluded = [p.removeprefix("**/") for p in patterns[1:] if not p.startswith("!")]
    found: list[Path] = []
    for root in included:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            relative = path.relative_to(REPO_ROOT)
            if path.is_file() and not any(
                fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in excluded
            ):
                found.append(relative)
    return found


def content_key(image: Image) -> str:
    digest = hashlib.sha256()
    for part in (RECIPE, BASE_IMAGE, APT_SOURCES, DEBIAN_MIRROR, image.name, *layer_cache(image)):
        digest.update(part.encode() + b"\0")
    for relative in [image.dockerfile, *context_files(image)]:
        digest.update(str(relative).encode() + b"\0")
        digest.update(hashlib.sha256((REPO_ROOT / relative).read_bytes()).digest())
    return digest.hexdigest()[:16]


def missing_commands() -> list[str]:
    return [c for c in COMMANDS if shutil.which(c) is None]


def build(image: Image) -> tuple[str, Path]:
    """The image's reference and its docker archive, built once per content."""
    key = content_key(image)
    reference = f"{image.name}:{key}"
    images = cache_root() / "images"
    archive = images / f"{Path(image.name).name}-{key}.tar"
    if archive.exists():
        return reference, archive
    missing = missing_commands()
    if missing:
        raise ImageError(
            f"building {image.dockerfile} needs {', '.join(missing)}: "
            "run tests/node/install-debian-packages.sh"
        )
    images.mkdir(parents=True, exist_ok=True)
    with (images / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if archive.exists():
            return reference, archive
        ensure_base()
        _buildah(
            "bud", "--isolation", "chroot", *layer_cache(image), "--pull=never",
            "--file", str(REPO_ROOT / image.dockerfile),
            "--ignorefile", str(REPO_ROOT / f"{image.dockerfile}.dockerignore"),
            *build_ca_arguments(),
            "--tag", reference, str(REPO_ROOT),
        )  # fmt: skip
        partial = archive.with_suffix(".part")
        partial.unlink(missing_ok=True)
        _buildah("push", reference, f"docker-archive:{partial}:{reference}")
        partial.rename(archive)  # atomic: an archive is complete or absent
        for old in images.glob(f"{Path(image.name).name}-*.tar"):
            if old != archive:
                old.unlink()
        # Earlier builds' tags: their layers stay only while a newer build still uses them.
        for tagged in _buildah("images", "--format", "{{.Name}}:{{.Tag}}").split():
            if tagged.startswith(f"{image.name}:") and tagged != reference:
                _buildah("rmi", tagged)
    return reference, archive


def build_ca_arguments() -> list[str]:
    if not HOST_CA_BUNDLE.is_file():
        return []
    mount = f"{HOST_CA_BUNDLE}:{BUILD_CA_PATH}:ro"
    return ["--volume", mount, "--build-arg", f"BUILD_CA_BUNDLE={BUILD_CA_PATH}"]


def layer_cache(image: Image) -> list[str]:
    """buildah's layer cache (``--layers``), except for a Dockerfile that bind-mounts another
    stage into a RUN: buildah 1.28 reuses such a RUN's cached layer whatever the mounted files
    hold, so the operator image kept the wheel of an older operator/."""
    text = (REPO_ROOT / image.dockerfile).read_text()
    return [] if re.search(r"--mount=\S*from=", text) else ["--layers"]


def ensure_base() -> None:
    """BASE_IMAGE in buildah's storage: Debian's minimal system from debootstrap."""
    if BASE_IMAGE in _buildah("images", "--format", "{{.Name}}:{{.Tag}}").split():
        return
    with tempfile.TemporaryDirectory(prefix="helix-debootstrap-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", DEBIAN_RELEASE, str(rootfs), DEBIAN_MIRROR],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise ImageError(f"debootstrap failed ({result.returncode}): {result.stdout[-3000:]}")
        (rootfs / "etc" / "apt" / "sources.list").write_text(APT_SOURCES)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        container = _buildah("from", "scratch").strip()
        try:
            mount = _buildah("mount", container).strip()
            subprocess.run(["cp", "-a", f"{rootfs}/.", f"{mount}/"], check=True)
            _buildah("umount", container)
            _buildah("config", "--env", BASE_PATH, "--cmd", "bash", container)
            _buildah("commit", container, BASE_IMAGE)
        finally:
            _buildah("rm", container)


@contextmanager
def mounted(reference: str) -> Iterator[Path]:
    """The root file system of a built image (still in buildah's storage), read-only use."""
    container = _buildah("from", "--pull=never", reference).strip()
    try:
        yield Path(_buildah("mount", container).strip())
    finally:
        _buildah("umount", container)
        _buildah("rm", container)
