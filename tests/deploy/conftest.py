"""The deploy suite uses the end-to-end suite's real control plane (re-exported, not copied)."""

from tests.e2e.conftest import control_plane

__all__ = ["control_plane"]
