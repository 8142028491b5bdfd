from __future__ import annotations

from collections.abc import Iterator

import pytest

from .controlplane import ControlPlane


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """A real etcd + kube-apiserver + kube-controller-manager shared by the whole session."""
    with ControlPlane() as cp:
        yield cp
