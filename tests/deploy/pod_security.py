"""Restricted Pod Security admission of a pod template, asked of a real API server: a pod made
from the template is admitted (server-side dry run) in a namespace enforcing the restricted
profile, and the same pod with one control loosened is refused, so the check can fail."""

from __future__ import annotations

import copy

from tests.e2e.controlplane import KubeCluster

from .manifests import NAMESPACE, Doc, dump

PSS_REJECTION = 'violates PodSecurity "restricted:latest"'


def pod_from(template: Doc, name: str, namespace: str = NAMESPACE) -> Doc:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": template["metadata"]["labels"],
        },
        "spec": copy.deepcopy(template["spec"]),
    }


def loosen(template: Doc) -> Doc:
    """The same template with one restricted-profile control removed."""
    loose = copy.deepcopy(template)
    for c in loose["spec"]["containers"]:
        c["securityContext"]["allowPrivilegeEscalation"] = True
    return loose


def assert_restricted(cp: KubeCluster, owner: str, template: Doc, name: str) -> None:
    """`name` is the dry-run pod's; the namespace (helix-batch) must enforce restricted."""
    result = cp.kubectl(
        "create", "--dry-run=server", "-f", "-", input=dump([pod_from(template, name)])
    )
    assert result.returncode == 0, f"{owner}: {result.stderr}"
    loose = dump([pod_from(loosen(template), name)])
    result = cp.kubectl("create", "--dry-run=server", "-f", "-", input=loose)
    assert result.returncode != 0, f"{owner}: a loosened pod was admitted"
    assert PSS_REJECTION in result.stderr, result.stderr
