"""tests/e2e/pod_process.py, which test_helm_operator.py runs the chart's operator with: the
$(VAR) expansion Kubernetes documents for env values, command and args (the chart's
HELIX_NAMESPACES defaults to $(POD_NAMESPACE)), and what it reads through the API, including
what the chart does not use today (Secrets, envFrom)."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import yaml

from tests.e2e.controlplane import KubeCluster
from tests.e2e.pod_process import expand, pod_process


def test_references_to_earlier_variables_are_expanded() -> None:
    assert expand("$(POD_NAMESPACE)", {"POD_NAMESPACE": "helix-batch"}) == "helix-batch"
    assert expand("a-$(X)-$(X)", {"X": "1"}) == "a-1-1"


def test_escapes_and_unknown_references_stay_as_written() -> None:
    assert expand("$$(X)", {"X": "1"}) == "$(X)"
    assert expand("$(MISSING) $$ $", {}) == "$(MISSING) $ $"
    assert expand("$(not a name)", {}) == "$(not a name)"


def test_a_template_is_configured_from_the_api(control_plane: KubeCluster, tmp_path: Path) -> None:
    """Secret and ConfigMap keys, the pod's fields, envFrom, a Secret volume's items and the
    ServiceAccount's token, all read through the API; the template's mount path becomes the
    volume's folder in a setting naming a file under it."""
    cp, ns = control_plane, f"pod-process-{uuid.uuid4().hex[:6]}"
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner", "namespace": ns}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keys", "namespace": ns},
         "stringData": {"password": "s3cret", "cert.pem": "PEM"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns},
         "data": {"LEVEL": "DEBUG", "MODE": "fast"}},
    ]  # fmt: skip
    cp.kubectl_ok(
        "apply", "-f", "-", input=json.dumps({"kind": "List", "apiVersion": "v1", "items": objects})
    )
    template = {
        "spec": {
            "serviceAccountName": "runner",
            "containers": [{
                "name": "main",
                "command": ["helix-operator"],
                "args": ["--mode=$(MODE)"],
                "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
                "env": [
                    {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "MODE"}}},
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "password"}}},
                    {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "CERT", "value": "/etc/keys/tls.pem"},
                ],
                "volumeMounts": [{"name": "keys", "mountPath": "/etc/keys"}],
            }],
            "volumes": [{"name": "keys", "secret": {"secretName": "keys",
                                                    "items": [{"key": "cert.pem", "path": "tls.pem"}]}}],
        }
    }  # fmt: skip
    run = pod_process(cp, ns, template, "pod-1", tmp_path, overrides={"LEVEL": "INFO"})
    assert run.argv == [str(Path(sys.executable).parent / "helix-operator"), "--mode=fast"]
    env = run.env
    assert (env["CFG_LEVEL"], env["CFG_MODE"], env["MODE"]) == ("DEBUG", "fast", "fast")
    assert (env["PASSWORD"], env["ME"], env["LEVEL"]) == ("s3cret", "pod-1", "INFO")
    assert Path(env["CERT"]).read_text() == "PEM"
    assert sorted(p.name for p in Path(env["CERT"]).parent.iterdir()) == ["tls.pem"]
    kubeconfig = yaml.safe_load(Path(env["KUBECONFIG"]).read_text())
    (user,) = kubeconfig["users"]
    assert list(user["user"]) == ["token"]
    whoami = cp.kubectl("auth", "whoami", "-o", "json", kubeconfig=Path(env["KUBECONFIG"]))
    name = json.loads(whoami.stdout)["status"]["userInfo"]["username"]
    assert name == f"system:serviceaccount:{ns}:runner"
    cp.kubectl_ok("delete", "namespace", ns, "--wait=false")
