"""The overlays on a real API server: dry run, apply, RBAC as granted, Pod Security as enforced.

The control plane runs kube-apiserver with PodSecurity admission and kube-controller-manager's
job and cronjob controllers, so a Job made from the CronJob really has its pod created (and
admitted, or refused) by the job controller. There is no kubelet: pods stay Pending.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable

import pytest

from tests.e2e.controlplane import ControlPlane

from .manifests import (
    MANIFESTS,
    NAMESPACE,
    OVERLAYS,
    Doc,
    dump,
    find,
    overlay,
    pod_templates,
)

# Installs both overlays into helix-batch, production last: on a real cluster that would replace
# the operator it runs.
pytestmark = pytest.mark.own_control_plane

HBJ_CRD = "helixbatchjobs.batch.helixagent.io"
HBS_CRD = "helixbatchschedules.batch.helixagent.io"
PSS_REJECTION = 'violates PodSecurity "restricted:latest"'
FIELD_MANAGER = "helix-deploy-test"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.3)


def crd_established(cp: ControlPlane, name: str) -> bool:
    result = cp.kubectl("get", "crd", name, "-o", "json")
    if result.returncode != 0:
        return False
    conditions = json.loads(result.stdout).get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def apply(cp: ControlPlane, *args: str, input: str | None = None) -> tuple[int, str]:
    result = cp.kubectl(
        "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", *args, input=input
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(control_plane: ControlPlane) -> ControlPlane:
    """Both overlays dry-run and then applied for real, dev first, production last (as Argo CD
    would leave it)."""
    cp = control_plane
    for name in OVERLAYS:
        docs = overlay(name)
        # A server-side dry run of namespaced objects needs their namespace to exist already.
        code, out = apply(cp, "-f", "-", input=dump([find(docs, "Namespace", NAMESPACE)]))
        assert code == 0, out
        path = str(MANIFESTS / "overlays" / name)
        code, out = apply(cp, "--dry-run=server", "-k", path)
        assert code == 0, f"dry run of {name}:\n{out}"
        assert "would violate PodSecurity" not in out, out
        code, out = apply(cp, "-k", path)
        assert code == 0, f"apply of {name}:\n{out}"
        # PodSecurity warns about workload templates that pods could not be made from.
        assert "would violate PodSecurity" not in out, out
    wait_for(lambda: all(crd_established(cp, c) for c in (HBJ_CRD, HBS_CRD)), "CRDs established")
    return cp


def live(cp: ControlPlane, *what: str) -> Doc:
    doc: Doc = json.loads(cp.kubectl_ok("get", *what, "-n", NAMESPACE, "-o", "json"))
    return doc


def test_dry_run_is_a_real_validation(control_plane: ControlPlane) -> None:
    """The negative case: the server refuses an invalid object even in a dry run."""
    cp = control_plane
    docs = overlay("production")
    code, out = apply(cp, "-f", "-", input=dump([find(docs, "Namespace", NAMESPACE)]))
    assert code == 0, out
    broken = find(docs, "CronJob", "helix-lake-maintenance")
    broken["spec"]["concurrencyPolicy"] = "Sometimes"
    code, out = apply(cp, "--dry-run=server", "-f", "-", input=dump([broken]))
    assert code != 0
    assert "concurrencyPolicy" in out


@pytest.mark.parametrize("name", OVERLAYS)
def test_reapply_dry_run_and_live_state(installed: ControlPlane, name: str) -> None:
    """Each overlay still dry-runs over the installed one; production (applied last) is live."""
    cp = installed
    code, out = apply(cp, "--dry-run=server", "-k", str(MANIFESTS / "overlays" / name))
    assert code == 0, out
    deployment = live(cp, "deployment", "helix-operator")
    assert deployment["spec"]["replicas"] == 2  # production was applied last
    cron = live(cp, "cronjob", "helix-lake-maintenance")
    rendered = find(overlay("production"), "CronJob", "helix-lake-maintenance")
    assert cron["spec"]["schedule"] == rendered["spec"]["schedule"]
    volumes = rendered["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    cm_name = next(v for v in volumes if v["name"] == "policy")["configMap"]["name"]
    assert live(cp, "configmap", cm_name)["data"]["policy.yaml"]
    ns = json.loads(cp.kubectl_ok("get", "namespace", NAMESPACE, "-o", "json"))
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_samples_apply(installed: ControlPlane) -> None:
    cp = installed
    path = str(MANIFESTS / "samples")
    code, out = apply(cp, "--dry-run=server", "-k", path)
    assert code == 0, out
    code, out = apply(cp, "-k", path)
    assert code == 0, out
    names = cp.kubectl_ok("get", "hbj", "-n", NAMESPACE, "-o", "name").split()
    assert len(names) >= 5
    # Only the jobs: the operator is not running here, so nothing should act on them.
    cp.kubectl_ok("delete", "-k", path, "--wait=false")


def can(cp: ControlPlane, account: str, verb: str, resource: str, namespace: str) -> bool:
    """`kubectl auth can-i` as the ServiceAccount; "pods/exec" is the subresource exec."""
    resource, _, sub = resource.partition("/")
    result = cp.kubectl(
        "auth",
        "can-i",
        verb,
        resource,
        *([f"--subresource={sub}"] if sub else []),
        "-n",
        namespace,
        f"--as=system:serviceaccount:{NAMESPACE}:{account}",
    )
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), result.stderr
    return answer == "yes"


def test_spark_driver_can_run_executors_and_nothing_else(installed: ControlPlane) -> None:
    cp = installed
    sa = "helix-spark-driver"
    for verb, resource in [
        ("create", "pods"),
        ("watch", "pods"),
        ("deletecollection", "pods"),
        ("create", "configmaps"),
        ("deletecollection", "configmaps"),
        ("create", "persistentvolumeclaims"),
        ("delete", "services"),
    ]:
        assert can(cp, sa, verb, resource, NAMESPACE), f"driver cannot {verb} {resource}"
    for verb, resource, namespace in [
        ("get", "secrets", NAMESPACE),
        ("create", "pods/exec", NAMESPACE),
        ("create", "pods", "default"),
        ("create", "sparkapplications.sparkoperator.k8s.io", NAMESPACE),
        ("get", "helixbatchjobs.batch.helixagent.io", NAMESPACE),
        ("create", "roles.rbac.authorization.k8s.io", NAMESPACE),
    ]:
        assert not can(cp, sa, verb, resource, namespace), f"driver can {verb} {resource}"


def test_built_in_roles_give_job_authors_and_viewers_what_they_need(
    installed: ControlPlane,
) -> None:
    """helix-batch's ClusterRoles aggregate into edit/admin and view: a namespace's editors
    write jobs, its viewers read them, and neither writes a status or a SparkApplication."""
    cp = installed
    team = f"team-{uuid.uuid4().hex[:6]}"
    cp.kubectl_ok("create", "namespace", team)
    for account, role in (("author", "edit"), ("reader", "view")):
        cp.kubectl_ok("-n", team, "create", "serviceaccount", account)
        cp.kubectl_ok(
            "-n", team, "create", "rolebinding", account,
            f"--clusterrole={role}", f"--serviceaccount={team}:{account}",
        )  # fmt: skip

    def allowed(account: str, verb: str, resource: str) -> bool:
        resource, _, sub = resource.partition("/")
        result = cp.kubectl(
            "auth", "can-i", verb, resource, *([f"--subresource={sub}"] if sub else []),
            "-n", team, f"--as=system:serviceaccount:{team}:{account}",
        )  # fmt: skip
        return result.stdout.strip() == "yes"

    hbj = "helixbatchjobs.batch.helixagent.io"
    hbs = "helixbatchschedules.batch.helixagent.io"
    wait_for(lambda: allowed("author", "create", hbj), "aggregation into the edit role")
    for kind in (hbj, hbs):
        for verb in ("get", "list", "watch", "create", "patch", "delete"):
            assert allowed("author", verb, kind), (verb, kind)
        for verb in ("get", "list", "watch"):
            assert allowed("reader", verb, kind), (verb, kind)
            assert allowed("reader", verb, f"{kind}/status"), (verb, kind)
    for account, verb, resource in [
        ("author", "patch", f"{hbj}/status"),
        ("author", "update", f"{hbj}/status"),
        ("author", "patch", f"{hbs}/status"),
        ("author", "create", "sparkapplications.sparkoperator.k8s.io"),
        ("reader", "create", hbj),
        ("reader", "delete", hbj),
        ("reader", "create", hbs),
        ("reader", "get", "secrets"),
    ]:
        assert not allowed(account, verb, resource), (account, verb, resource)


def test_maintenance_account_has_no_api_access(installed: ControlPlane) -> None:
    cp = installed
    for verb, resource in [("list", "pods"), ("get", "configmaps"), ("get", "secrets")]:
        assert not can(cp, "helix-lake-maintenance", verb, resource, NAMESPACE)


def test_operator_can_hold_its_lease(installed: ControlPlane) -> None:
    cp = installed
    for verb in ("get", "create", "update"):
        assert can(cp, "helix-operator", verb, "leases.coordination.k8s.io", NAMESPACE)
    assert not can(cp, "helix-operator", "get", "leases.coordination.k8s.io", "kube-system")


def pod_from(template: Doc, name: str) -> Doc:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
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


@pytest.mark.parametrize("name", OVERLAYS)
def test_pod_templates_pass_restricted_pod_security(installed: ControlPlane, name: str) -> None:
    cp = installed
    for owner, template in pod_templates(overlay(name)):
        pod = pod_from(template, f"pss-{uuid.uuid4().hex[:8]}")
        result = cp.kubectl("create", "--dry-run=server", "-f", "-", input=dump([pod]))
        assert result.returncode == 0, f"{owner}: {result.stderr}"
        result = cp.kubectl(
            "create",
            "--dry-run=server",
            "-f",
            "-",
            input=dump([pod_from(loosen(template), pod["metadata"]["name"])]),
        )
        assert result.returncode != 0, f"{owner}: a loosened pod was admitted"
        assert PSS_REJECTION in result.stderr, result.stderr


def job_pods(cp: ControlPlane, job: str) -> list[Doc]:
    out = cp.kubectl_ok("get", "pods", "-n", NAMESPACE, "-l", f"job-name={job}", "-o", "json")
    items: list[Doc] = json.loads(out)["items"]
    return items


def pod_creation_refusals(cp: ControlPlane, job: str) -> list[str]:
    out = cp.kubectl_ok(
        "get",
        "events",
        "-n",
        NAMESPACE,
        "--field-selector",
        f"involvedObject.kind=Job,involvedObject.name={job},reason=FailedCreate",
        "-o",
        "json",
    )
    return [e["message"] for e in json.loads(out)["items"]]


def test_job_controller_creates_the_cronjob_pod(installed: ControlPlane) -> None:
    """A run of the live CronJob: the job controller's pod passes PodSecurity admission."""
    cp = installed
    job = f"lake-run-{uuid.uuid4().hex[:6]}"
    cp.kubectl_ok("create", "job", job, "--from=cronjob/helix-lake-maintenance", "-n", NAMESPACE)
    try:
        wait_for(
            lambda: bool(job_pods(cp, job)) or bool(pod_creation_refusals(cp, job)),
            f"a pod (or a refusal) for job {job}",
        )
        assert not pod_creation_refusals(cp, job)
        (pod,) = job_pods(cp, job)
        c = pod["spec"]["containers"][0]
        assert c["command"] == ["helixctl"]
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    finally:
        cp.kubectl("delete", "job", job, "-n", NAMESPACE, "--cascade=background", "--wait=false")


def test_job_controller_cannot_create_a_loosened_pod(installed: ControlPlane) -> None:
    """The negative case of the test above: PodSecurity refuses the job controller's pod."""
    cp = installed
    cron = find(overlay("production"), "CronJob", "helix-lake-maintenance")
    job_name = f"lake-loose-{uuid.uuid4().hex[:6]}"
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name, "namespace": NAMESPACE},
        "spec": {
            **cron["spec"]["jobTemplate"]["spec"],
            "template": loosen(cron["spec"]["jobTemplate"]["spec"]["template"]),
        },
    }
    cp.kubectl_ok("create", "-f", "-", input=dump([job]))
    try:
        wait_for(lambda: bool(pod_creation_refusals(cp, job_name)), f"job {job_name} refused")
        assert PSS_REJECTION in pod_creation_refusals(cp, job_name)[0]
        assert not job_pods(cp, job_name)
    finally:
        cp.kubectl("delete", "job", job_name, "-n", NAMESPACE, "--wait=false")
