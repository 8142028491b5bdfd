"""Jobs that must not run, against the real API server and a real operator: the hostile-spec
corpus (tests/hostile/specs.yaml) gets the verdict each case names, from the layer it names;
a job stored under a looser CRD fails InvalidSpec and can still be deleted."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from helix_batch.operator.crd import crd
from tests.e2e.controlplane import KubeCluster
from tests.e2e.harness import Cluster, Operator, wait_for
from tests.e2e.test_operator import fresh_namespace, installed  # noqa: F401 - a fixture
from tests.operator.helpers import job_doc
from tests.operator.test_hostile_specs import CASES, case_doc, verdict


def test_every_case_gets_its_verdict(control_plane: KubeCluster, installed: Path) -> None:  # noqa: F811
    cluster = Cluster(control_plane, fresh_namespace())
    operator = Operator(control_plane, installed, "op-hostile", cluster.ns)
    try:
        for case in CASES:
            kind, field = verdict(case)
            doc = case_doc(case)
            doc["metadata"] = {"name": case["name"], "namespace": cluster.ns}
            result = cluster.apply(doc)
            if kind == "admission":
                assert result.returncode != 0 and field in result.stderr, (case, result.stderr)
            else:
                assert result.returncode == 0, (case, result.stderr)
        for case in CASES:
            kind, field = verdict(case)
            if kind == "policy":
                status = cluster.wait_phase(case["name"], "Failed")
                assert status["reason"] == "PolicyViolation" and field in status["message"], case
                assert "PolicyViolation" in cluster.event_reasons(case["name"])
            elif kind == "ok":
                cluster.wait_phase(case["name"], "Submitted")
        admitted = {c["name"] for c in CASES if "admission" not in c}
        assert set(cluster.names("hbj")) == admitted
        ok = {f"{c['name']}-1" for c in CASES if "ok" in c}
        assert set(cluster.names("sparkapplication")) == ok  # none for a refused job
    finally:
        operator.stop()


def relaxed_crd() -> dict[str, Any]:
    """The CRD as an older, looser version might have been: any spec goes."""
    doc = copy.deepcopy(crd())
    schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema.pop("x-kubernetes-validations")
    schema["properties"]["spec"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return doc


# It swaps the CRD of the shared control plane for a moment (a real cluster's would stay).
@pytest.mark.own_control_plane
def test_a_job_stored_under_a_looser_crd_fails_and_can_be_deleted(
    control_plane: KubeCluster,
    installed: Path,  # noqa: F811
) -> None:
    cp = control_plane
    cluster = Cluster(cp, fresh_namespace())
    strict = json.dumps(crd())
    cp.kubectl_ok("replace", "-f", "-", input=json.dumps(relaxed_crd()))
    try:
        job = {
            "apiVersion": "batch.helixagent.io/v1alpha1",
            "kind": "HelixBatchJob",
            "metadata": {"name": "unreadable", "namespace": cluster.ns},
            "spec": {"type": "EntityExtraction", "output": {"uri": "s3a://lake/out/"}},
        }
        wait_for("the relaxed CRD", lambda: cluster.apply(job).returncode == 0 or None)
        # Readable, but no SparkApplication can be made of it: a type no job has.
        wrong = job_doc("wrong-type", type="Reporting")
        wrong["metadata"] = {"name": "wrong-type", "namespace": cluster.ns}
        assert cluster.apply(wrong).returncode == 0
    finally:
        cp.kubectl_ok("replace", "-f", "-", input=strict)
    operator = Operator(cp, installed, "op-unreadable", cluster.ns)
    try:
        status = cluster.wait_phase("unreadable", "Failed")
        assert status["reason"] == "InvalidSpec" and "'input'" in status["message"], status
        wait_for(
            "the Warning Event",
            lambda: "InvalidSpec" in cluster.event_reasons("unreadable") or None,
        )
        status = cluster.wait_phase("wrong-type", "Failed")
        assert status["reason"] == "InvalidSpec" and "Reporting" in status["message"], status
        assert cluster.names("sparkapplication") == []
        cp.kubectl_ok("delete", "hbj", "unreadable", "-n", cluster.ns, "--wait=false")
        wait_for("the job to go", lambda: cluster.get("hbj", "unreadable") is None or None)
        assert "Traceback" not in operator.log()
    finally:
        operator.stop()
