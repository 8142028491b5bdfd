"""Argo CD's health checks as Argo CD runs them: the Lua script on the object, in Lua 5.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa.lua51 as lua

HEALTH = Path(__file__).parents[2] / "manifests" / "argocd" / "health"
HELIXBATCHJOB = HEALTH / "helixbatchjob.lua"
HELIXBATCHSCHEDULE = HEALTH / "helixbatchschedule.lua"


def health(script: Path, obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) of ``obj``, with ``obj`` a global as Argo CD sets it."""
    runtime = lua.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    result = runtime.execute(script.read_text())
    return str(result["status"]), str(result["message"])
