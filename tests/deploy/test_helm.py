"""The Helm chart charts/helix-batch: lint, renders, the same objects as the kustomize trees for
the same settings, restricted Pod Security of its pod templates, and install and upgrade on a
real control plane. helm is built from its Go module by tests/controlplane/build.sh --helm."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.controlplane import BUILD_SCRIPT, ControlPlane, ControlPlaneError

from .manifests import MANIFESTS, NAMESPACE, REPO, Doc, dump, kustomize, pod_templates
from .pod_security import assert_restricted

CHART = REPO / "charts" / "helix-batch"
RELEASE = "helix-batch"
# The kustomize tree each values file renders the same objects as (no file: the defaults).
VALUES = {
    "base": None,
    "overlays/dev": "values-dev.yaml",
    "overlays/production": "values-production.yaml",
}
MONITORING = MANIFESTS / "components" / "monitoring"
# Labels only Helm puts on its objects.
HELM_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
)
# kustomize's `labels:` reach the CRDs; Helm installs the files in crds/ as they are.
KUSTOMIZE_LABELS = ("app.kubernetes.io/part-of", "helix-batch/environment")


@cache
def helm_binary() -> str:
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--helm"], stdout=subprocess.PIPE, text=True, check=False
    )
    values = dict(line.partition("=")[::2] for line in result.stdout.splitlines())
    if result.returncode != 0 or not values.get("HELM"):
        raise ControlPlaneError(f"{BUILD_SCRIPT} --helm failed:\n{result.stdout}")
    return values["HELM"]


def helm(*args: str, kubeconfig: Path | None = None) -> str:
    where = [f"--kubeconfig={kubeconfig}"] if kubeconfig else []
    result = subprocess.run(
        [helm_binary(), *args, *where], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def values_args(values_file: str | None, *sets: str) -> list[str]:
    args = ["-f", str(CHART / values_file)] if values_file else []
    return args + [a for s in sets for a in ("--set", s)]


def template(values_file: str | None, *sets: str) -> list[Doc]:
    out = helm(
        "template",
        RELEASE,
        str(CHART),
        "-n",
        NAMESPACE,
        "--include-crds",
        *values_args(values_file, *sets),
    )
    return [d for d in yaml.safe_load_all(out) if d]


def crd_sources() -> list[Path]:
    """The CRD files kustomize (and the Python package) use, as manifests/base finds them."""
    base = yaml.safe_load((MANIFESTS / "base" / "kustomization.yaml").read_text())
    folder = next(MANIFESTS / "base" / r for r in base["resources"] if r.endswith("crds"))
    crds = yaml.safe_load((folder / "kustomization.yaml").read_text())
    files: list[Path] = []
    for r in crds["resources"]:
        path = (folder / r).resolve()
        files += sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return [p for p in files if p.name != "kustomization.yaml"]


def test_chart_copies_are_their_sources() -> None:
    """Helm reads nothing outside the chart, so it carries copies: the CRDs (installed from
    crds/ as they are) and the dashboard. Each must be its source, byte for byte."""
    copies = {f"crds/{p.name}": p for p in crd_sources()}
    assert len(copies) == 2
    assert sorted(f"crds/{p.name}" for p in (CHART / "crds").iterdir()) == sorted(copies)
    copies["files/helix-batch.json"] = MONITORING / "dashboard" / "helix-batch.json"
    stale = [
        f"cp {source.relative_to(REPO)} {(CHART / copy).relative_to(REPO)}"
        for copy, source in copies.items()
        if (CHART / copy).read_bytes() != source.read_bytes()
    ]
    assert not stale, "the chart's copies are stale:\n" + "\n".join(stale)


@pytest.mark.parametrize("values_file", VALUES.values())
def test_lint(values_file: str | None) -> None:
    helm("lint", "--strict", str(CHART), *values_args(values_file))


def normalised(docs: list[Doc]) -> dict[tuple[str, str, str], Doc]:
    """Objects by kind, namespace and name, without what only one tool can make or must add."""
    by_key: dict[tuple[str, str, str], Doc] = {}
    for d in docs:
        labels = d["metadata"].get("labels", {})
        dropped = KUSTOMIZE_LABELS if d["kind"] == "CustomResourceDefinition" else HELM_LABELS
        for label in dropped:
            labels.pop(label, None)
        if not labels:
            d["metadata"].pop("labels", None)
        for _, template in pod_templates([d]):
            # A strategic merge patch moves the env entries it sets to the front.
            for c in template["spec"]["containers"]:
                c["env"] = sorted(c.get("env", []), key=lambda e: e["name"])
        meta = d["metadata"]
        by_key[(d["kind"], meta.get("namespace", ""), meta["name"])] = d
    return by_key


def assert_same_objects(kustomized: list[Doc], helmed: list[Doc]) -> None:
    # The namespace holds the release, so it exists before it: the docs apply namespace.yaml.
    ours = normalised([d for d in kustomized if d["kind"] != "Namespace"])
    theirs = normalised(helmed)
    assert sorted(ours) == sorted(theirs)
    for key, doc in ours.items():
        assert theirs[key] == doc, (
            f"{key} differs:\nkustomize:\n{dump([doc])}\nhelm:\n{dump([theirs[key]])}"
        )


@pytest.mark.parametrize(("tree", "values_file"), VALUES.items())
def test_chart_renders_what_kustomize_does(tree: str, values_file: str | None) -> None:
    assert_same_objects(
        [d for d in yaml.safe_load_all(kustomize(MANIFESTS / tree)) if d], template(values_file)
    )


def with_component(tmp_path: Path, overlay: str, component: str) -> list[Doc]:
    """The overlay with the component added to its own kustomization, as the component says."""
    kustomization: dict[str, Any] = yaml.safe_load(
        (MANIFESTS / "overlays" / overlay / "kustomization.yaml").read_text()
    )
    kustomization["resources"] = [
        os.path.relpath(MANIFESTS / "overlays" / overlay / r, tmp_path)
        for r in kustomization["resources"]
    ]
    kustomization["components"] = [os.path.relpath(MONITORING / component, tmp_path)]
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return [d for d in yaml.safe_load_all(kustomize(tmp_path)) if d]


@pytest.mark.parametrize(
    ("component", "value"),
    [("service-monitor", "serviceMonitor"), ("pod-monitor", "podMonitor")],
)
def test_monitoring_toggle_renders_the_monitoring_component(
    tmp_path: Path, component: str, value: str
) -> None:
    assert_same_objects(
        with_component(tmp_path, "production", component),
        template("values-production.yaml", f"monitoring.{value}.enabled=true"),
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[ControlPlane]:
    """A control plane of its own: the session's holds kustomize's cluster-wide objects
    (ClusterRoles), which Helm refuses to take over. The release namespace is made as the docs
    say, enforcing restricted Pod Security."""
    with ControlPlane() as cp:
        cp.kubectl_ok("apply", "--server-side", "-f", str(MANIFESTS / "base" / "namespace.yaml"))
        yield cp


@pytest.fixture(scope="module")
def installed(cluster: ControlPlane) -> ControlPlane:
    helm(
        "install", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(CHART / "values-production.yaml"),
        kubeconfig=cluster.kubeconfig,
    )  # fmt: skip
    return cluster


@pytest.mark.own_control_plane
@pytest.mark.parametrize("values_file", [None, "values-production.yaml"])
def test_rendered_objects_pass_server_validation(
    cluster: ControlPlane, values_file: str | None
) -> None:
    result = cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=dump(template(values_file))
    )
    assert result.returncode == 0, result.stderr
    assert "would violate PodSecurity" not in result.stdout + result.stderr


@pytest.mark.own_control_plane
@pytest.mark.parametrize("values_file", [None, "values-production.yaml"])
def test_pod_templates_pass_restricted_pod_security(
    installed: ControlPlane, values_file: str | None
) -> None:
    """After the install: a pod needs its ServiceAccount to exist to reach admission."""
    templates = list(pod_templates(template(values_file)))
    assert [owner for owner, _ in templates] == [
        "Deployment/helix-operator",
        "CronJob/helix-lake-maintenance",
    ]
    for owner, pod_template in templates:
        assert_restricted(installed, owner, pod_template, f"pss-{uuid.uuid4().hex[:8]}")


def live(cp: ControlPlane, *what: str, namespace: str = NAMESPACE) -> Doc:
    doc: Doc = json.loads(cp.kubectl_ok("get", *what, "-n", namespace, "-o", "json"))
    return doc


def operator_env(cp: ControlPlane) -> dict[str, str]:
    deployment = live(cp, "deployment", "helix-operator")
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in c["env"]}


def policy_configmap(cp: ControlPlane) -> str:
    volumes = live(cp, "deployment", "helix-operator")["spec"]["template"]["spec"]["volumes"]
    name: str = next(v for v in volumes if v["name"] == "policy")["configMap"]["name"]
    return name


@pytest.mark.own_control_plane
def test_install_upgrade_uninstall(installed: ControlPlane, tmp_path: Path) -> None:
    cp, kubeconfig = installed, installed.kubeconfig
    production = str(CHART / "values-production.yaml")
    for crd in ("helixbatchjobs.batch.helixagent.io", "helixbatchschedules.batch.helixagent.io"):
        cp.kubectl_ok("get", "crd", crd)
    assert live(cp, "deployment", "helix-operator")["spec"]["replicas"] == 2
    assert live(cp, "cronjob", "helix-lake-maintenance")["spec"]["schedule"] == "15 3 * * *"
    assert operator_env(cp)["HELIX_NAMESPACES"] == "$(POD_NAMESPACE)"
    first_policy = policy_configmap(cp)
    assert (
        yaml.safe_load(live(cp, "configmap", first_policy)["data"]["policy.yaml"])["maxCores"] == 8
    )
    live(cp, "serviceaccount", "helix-spark-driver")

    team = f"team-{uuid.uuid4().hex[:6]}"
    cp.kubectl_ok("create", "namespace", team)
    policy = tmp_path / "policy.yaml"
    policy.write_text("maxCores: 4\n")
    helm(
        "upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "-f", production,
        "--set", "replicas=3", "--set", "lakeMaintenance.schedule=45 4 * * *",
        "--set", f"watchNamespaces={{{NAMESPACE},{team}}}", "--set-file", f"jobPolicy={policy}",
        kubeconfig=kubeconfig,
    )  # fmt: skip
    assert live(cp, "deployment", "helix-operator")["spec"]["replicas"] == 3
    assert live(cp, "cronjob", "helix-lake-maintenance")["spec"]["schedule"] == "45 4 * * *"
    assert operator_env(cp)["HELIX_NAMESPACES"] == f"{NAMESPACE},{team}"
    for kind, name in [
        ("serviceaccount", "helix-spark-driver"),
        ("role", "helix-spark-driver"),
        ("rolebinding", "helix-spark-driver"),
        ("rolebinding", "helix-operator"),
    ]:
        live(cp, kind, name, namespace=team)
    # A new policy is a new ConfigMap name, which rolls the operator; Helm removes the old one.
    new_policy = policy_configmap(cp)
    assert new_policy != first_policy
    assert live(cp, "configmap", new_policy)["data"]["policy.yaml"] == "maxCores: 4\n"
    assert cp.kubectl("get", "configmap", first_policy, "-n", NAMESPACE).returncode != 0
    status = json.loads(
        helm("status", RELEASE, "-n", NAMESPACE, "-o", "json", kubeconfig=kubeconfig)
    )
    assert status["version"] == 2

    cp.kubectl_ok("apply", "-f", str(MANIFESTS / "samples" / "entity-extraction.yaml"))
    helm("uninstall", RELEASE, "-n", NAMESPACE, kubeconfig=kubeconfig)
    assert cp.kubectl("get", "deployment", "helix-operator", "-n", NAMESPACE).returncode != 0
    # Helm never deletes what crds/ installed (the docs say so): the jobs survive an uninstall.
    assert cp.kubectl_ok("get", "hbj", "-n", NAMESPACE, "-o", "name").split() == [
        "helixbatchjob.batch.helixagent.io/entities-jan"
    ]


def test_argocd_helm_application_is_the_kustomize_one_from_the_chart() -> None:
    """manifests/argocd/helm-application.yaml: application.yaml with the chart as its source,
    and the namespace Argo CD makes labelled as manifests/base/namespace.yaml."""
    argocd = MANIFESTS / "argocd"
    kustomized: Doc = yaml.safe_load((argocd / "application.yaml").read_text())
    helmed: Doc = yaml.safe_load((argocd / "helm-application.yaml").read_text())
    source = helmed["spec"]["source"]
    assert REPO / source.pop("path") == CHART
    rendering = source.pop("helm")
    assert rendering["releaseName"] == RELEASE
    assert all((CHART / f).is_file() for f in rendering["valueFiles"])
    sync = helmed["spec"]["syncPolicy"]
    namespace = yaml.safe_load((MANIFESTS / "base" / "namespace.yaml").read_text())
    assert sync.pop("managedNamespaceMetadata") == {"labels": namespace["metadata"]["labels"]}
    sync["syncOptions"].remove("CreateNamespace=true")
    kustomized["spec"]["source"].pop("path")
    assert helmed == kustomized
