"""A container of an installed pod template, run as a local process configured as the kubelet
would configure it from the API: its command and args, its environment (values with their
$(VAR) references, the pod's own fields, ConfigMap and Secret keys read through the API), its
ConfigMap, Secret and emptyDir volumes written to a folder of its own, and, for credentials, a
kubeconfig holding only a token of the pod's ServiceAccount, so that the ServiceAccount's RBAC
is all it may do.

What a process cannot share with a pod: its filesystem (an environment value naming a file
under a mount path names the same file in the volume's folder) and its network namespace (the
caller gives the settings that name ports). Anything else the template asks for that this
module cannot honour fails, so a chart change it misses is noticed.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.controlplane import KubeCluster

# Kubernetes' expansion in env values, command and args: $$ is a literal $, and $(NAME) is an
# earlier variable's value, or left as it is when there is none.
_REFERENCE = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


@dataclass(frozen=True)
class PodProcess:
    """What to run for one container of one pod (``env`` is all of its environment)."""

    argv: list[str]
    env: dict[str, str]


def expand(text: str, env: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return env.get(name, match.group(0))

    return _REFERENCE.sub(one, text)


def pod_process(
    cp: KubeCluster,
    namespace: str,
    template: dict[str, Any],
    pod_name: str,
    workdir: Path,
    overrides: Mapping[str, str],
) -> PodProcess:
    """The pod template's only container as pod ``pod_name`` would run it, with the variables
    of ``overrides`` set instead (ports: the process shares the host's network)."""
    spec = template["spec"]
    (container,) = spec["containers"]
    service_account = spec.get("serviceAccountName", "default")
    pod = {"metadata": {"name": pod_name, "namespace": namespace}, "spec": spec}
    mounts = _mount_volumes(cp, namespace, spec.get("volumes", []), container, workdir)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(_env_from(cp, namespace, source))
    for var in container.get("env", []):
        if "valueFrom" in var:
            value = _value_from(cp, pod, var["valueFrom"])
        else:
            value = expand(var.get("value", ""), env)
        env[var["name"]] = _local_path(value, mounts)
    env.update(overrides)
    if service_account and spec.get("automountServiceAccountToken", True) is not False:
        kubeconfig = cp.kubeconfig_for_service_account(namespace, service_account)
        env["KUBECONFIG"] = str(kubeconfig)
    command = [expand(a, env) for a in container.get("command", [])]
    args = [expand(a, env) for a in container.get("args", [])]
    if not command:
        raise AssertionError("the container has no command: the image's entry point is unknown")
    # The image's PATH holds the package's console scripts, as this interpreter's folder does.
    bin_dir = Path(sys.executable).parent
    executable = command[0] if "/" in command[0] else str(bin_dir / command[0])
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    return PodProcess(argv=[executable, *command[1:], *args], env=env)


def _read(cp: KubeCluster, kind: str, name: str, namespace: str) -> dict[str, str]:
    """The data of a ConfigMap or Secret, decoded, read through the API."""
    obj = json.loads(cp.kubectl_ok("get", kind, name, "-n", namespace, "-o", "json"))
    if kind == "secret":
        return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    data: dict[str, str] = obj.get("data") or {}
    return data


def _env_from(cp: KubeCluster, namespace: str, source: dict[str, Any]) -> dict[str, str]:
    prefix = source.get("prefix", "")
    for key, kind in (("configMapRef", "configmap"), ("secretRef", "secret")):
        if key in source:
            data = _read(cp, kind, source[key]["name"], namespace)
            return {prefix + k: v for k, v in data.items()}
    raise AssertionError(f"envFrom {source} is not supported here")


def _value_from(cp: KubeCluster, pod: dict[str, Any], source: dict[str, Any]) -> str:
    namespace = pod["metadata"]["namespace"]
    if "fieldRef" in source:
        path = source["fieldRef"]["fieldPath"]
        fields: dict[str, str] = {
            "metadata.name": pod["metadata"]["name"],
            "metadata.namespace": namespace,
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
        }
        if path not in fields:
            raise AssertionError(f"fieldRef {path} is not supported here")
        return fields[path]
    for key, kind in (("configMapKeyRef", "configmap"), ("secretKeyRef", "secret")):
        if key in source:
            ref = source[key]
            return _read(cp, kind, ref["name"], namespace)[ref["key"]]
    raise AssertionError(f"valueFrom {source} is not supported here")


def _mount_volumes(
    cp: KubeCluster,
    namespace: str,
    volumes: list[dict[str, Any]],
    container: dict[str, Any],
    workdir: Path,
) -> dict[str, Path]:
    """Each mount path of the container and the folder that stands in for it."""
    by_name = {v["name"]: v for v in volumes}
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts", []):
        volume = by_name[mount["name"]]
        folder = workdir / "volumes" / mount["name"]
        folder.mkdir(parents=True, exist_ok=True)
        for key, kind, ref in (
            ("configMap", "configmap", "name"),
            ("secret", "secret", "secretName"),
        ):
            if key in volume:
                data = _read(cp, kind, volume[key][ref], namespace)
                items = volume[key].get("items") or [{"key": k, "path": k} for k in data]
                for item in items:
                    (folder / item["path"]).write_text(data[item["key"]])
                break
        else:
            if "emptyDir" not in volume:
                raise AssertionError(f"volume {volume} is not supported here")
        mounts[mount["mountPath"].rstrip("/")] = folder
    return mounts


def _local_path(value: str, mounts: Mapping[str, Path]) -> str:
    for path, folder in mounts.items():
        if value == path or value.startswith(path + "/"):
            return str(folder) + value[len(path) :]
    return value
