"""What `kubectl kustomize` renders for each overlay: checked as data, before any cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from helix_batch.lake.policy import parse_policy
from helix_batch.operator import policy
from helix_batch.operator.settings import Settings

from .manifests import (
    CREDENTIAL_KEYS,
    LAKE_SECRET,
    MANIFESTS,
    NAMESPACE,
    OVERLAYS,
    container,
    env_of,
    find,
    kustomize,
    overlay,
    pod_templates,
    render,
)

CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}


@pytest.mark.parametrize("name", OVERLAYS)
def test_overlay_renders_the_whole_system(name: str) -> None:
    docs = overlay(name)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for wanted in [
        ("Namespace", NAMESPACE),
        ("CustomResourceDefinition", "helixbatchjobs.batch.helixagent.io"),
        ("ServiceAccount", "helix-operator"),
        ("ServiceAccount", "helix-spark-driver"),
        ("ServiceAccount", "helix-lake-maintenance"),
        ("ClusterRole", "helix-operator"),
        ("Role", "helix-spark-driver"),
        ("RoleBinding", "helix-spark-driver"),
        ("Deployment", "helix-operator"),
        ("Service", "helix-operator-metrics"),
        ("CronJob", "helix-lake-maintenance"),
    ]:
        assert wanted in kinds, f"{name} lacks {wanted}"
    for d in docs:
        if d["kind"] not in CLUSTER_SCOPED:
            assert d["metadata"].get("namespace") == NAMESPACE, d["metadata"]["name"]
    ns = find(docs, "Namespace", NAMESPACE)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_overlays_differ_where_environments_do() -> None:
    dev, prod = overlay("dev"), overlay("production")
    dev_op, prod_op = find(dev, "Deployment"), find(prod, "Deployment")
    assert dev_op["spec"]["replicas"] == 1
    assert prod_op["spec"]["replicas"] == 2
    assert container(dev_op["spec"]["template"], "operator")["image"].endswith(":dev")
    assert container(prod_op["spec"]["template"], "operator")["image"] == (
        "ghcr.io/helixagent/helix-operator:0.1.0"
    )
    dev_env = env_of(container(dev_op["spec"]["template"], "operator"))
    prod_env = env_of(container(prod_op["spec"]["template"], "operator"))
    assert dev_env["HELIX_SPARK_IMAGE"]["value"].endswith(":dev")
    assert prod_env["HELIX_SPARK_IMAGE"]["value"] == "ghcr.io/helixagent/helix-spark:0.1.0"
    assert dev_env["HELIX_LAKE_ENDPOINT"] != prod_env["HELIX_LAKE_ENDPOINT"]
    dev_cron, prod_cron = find(dev, "CronJob"), find(prod, "CronJob")
    assert dev_cron["spec"]["schedule"] != prod_cron["spec"]["schedule"]
    # One image for the operator and the CronJob, set once per overlay by `images:`.
    for docs in (dev, prod):
        images = {c["image"] for _, t in pod_templates(docs) for c in t["spec"]["containers"]}
        assert len(images) == 1, images


@pytest.mark.parametrize("name", OVERLAYS)
def test_operator_deployment(name: str) -> None:
    deployment = find(overlay(name), "Deployment", "helix-operator")
    template = deployment["spec"]["template"]
    assert template["spec"]["serviceAccountName"] == "helix-operator"
    c = container(template, "operator")
    env = env_of(c)
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["HELIX_NAMESPACES"]["value"] == "$(POD_NAMESPACE)"
    port = next(p for p in c["ports"] if p["name"] == "metrics")
    assert port["containerPort"] == 8080 == int(env["HELIX_METRICS_PORT"]["value"])
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    assert "memory" in c["resources"]["limits"]
    service = find(overlay(name), "Service", "helix-operator-metrics")
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    # The job policy: the generated ConfigMap, mounted where HELIX_POLICY_FILE points, parses.
    folder, _, file = env["HELIX_POLICY_FILE"]["value"].rpartition("/")
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == folder)
    volume = next(v for v in template["spec"]["volumes"] if v["name"] == mount["name"])
    config = find(overlay(name), "ConfigMap", volume["configMap"]["name"])
    rules = policy.parse(yaml.safe_load(config["data"][file]), policy.Policy.defaults(Settings()))
    assert rules.max_executor_instances >= 1
    kinds = {(d["kind"], d["metadata"]["name"]) for d in overlay(name)}
    assert {("ClusterRole", "helix-batch-edit"), ("ClusterRole", "helix-batch-view")} <= kinds


@pytest.mark.parametrize("name", OVERLAYS)
def test_pod_templates_are_hardened(name: str) -> None:
    """The restricted profile and more: read-only root with a writable /tmp, no root uid."""
    templates = list(pod_templates(overlay(name)))
    assert len(templates) == 2
    for owner, template in templates:
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, owner
        assert pod["securityContext"]["runAsUser"] != 0, owner
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, owner
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, owner
            assert sc["readOnlyRootFilesystem"] is True, owner
            assert sc["capabilities"] == {"drop": ["ALL"]}, owner
            tmp = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
            assert "emptyDir" in volumes[tmp["name"]], owner


@pytest.mark.parametrize("name", OVERLAYS)
def test_cronjob(name: str) -> None:
    docs = overlay(name)
    cron = find(docs, "CronJob", "helix-lake-maintenance")
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1
    assert spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] > 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    c = container(job["template"], "maintain")
    argv = [*c["command"], *c["args"]]
    assert argv[:3] == ["helixctl", "lake", "maintain"]
    assert argv[argv.index("--policy") + 1] == "/etc/helix/policy.yaml"
    # The policy file is the generated ConfigMap (its hashed name), mounted read-only.
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/helix")
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    configmap = find(docs, "ConfigMap", volume["configMap"]["name"])
    assert configmap["metadata"]["name"].startswith("helix-lake-policy-")
    assert {"key": "policy.yaml", "path": "policy.yaml"} in volume["configMap"]["items"]
    assert configmap["data"]["policy.yaml"] == (MANIFESTS / "base" / "lake-policy.yaml").read_text()
    parse_policy(yaml.safe_load(configmap["data"]["policy.yaml"]), "ConfigMap policy.yaml")


@pytest.mark.parametrize("name", OVERLAYS)
def test_credentials_only_by_secret_reference(name: str) -> None:
    docs = overlay(name)
    cron = find(docs, "CronJob", "helix-lake-maintenance")
    c = container(cron["spec"]["jobTemplate"]["spec"]["template"], "maintain")
    env = env_of(c)
    for key in CREDENTIAL_KEYS:
        assert env[key] == {
            "name": key,
            "valueFrom": {"secretKeyRef": {"name": LAKE_SECRET, "key": key}},
        }
    assert "envFrom" not in c
    # Nothing anywhere carries a literal credential or a Secret object.
    assert not [d for d in docs if d["kind"] == "Secret"]
    for owner, template in pod_templates(docs):
        for c in template["spec"]["containers"]:
            for e in c.get("env", []):
                if "value" in e:
                    assert not _secretish(e["name"]), f"{owner}: {e['name']} has a literal value"


def _secretish(name: str) -> bool:
    # HELIX_LAKE_CREDENTIALS_SECRET names a Secret; it holds none.
    words = ("ACCESS_KEY", "SECRET_KEY", "PASSWORD", "TOKEN")
    return any(w in name.upper() for w in words)


def test_spark_driver_role_is_namespaced_and_minimal() -> None:
    docs = overlay("production")
    role = find(docs, "Role", "helix-spark-driver")
    resources: dict[str, set[str]] = {}
    for rule in role["rules"]:
        assert rule["apiGroups"] == [""]
        for r in rule["resources"]:
            resources.setdefault(r, set()).update(rule["verbs"])
    assert set(resources) == {"pods", "services", "configmaps", "persistentvolumeclaims"}
    assert "create" in resources["pods"] and "watch" in resources["pods"]
    assert not any("*" in verbs or "escalate" in verbs for verbs in resources.values())
    binding = find(docs, "RoleBinding", "helix-spark-driver")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "helix-spark-driver", "namespace": NAMESPACE}
    ]
    assert not [
        d
        for d in docs
        if d["kind"] == "ClusterRoleBinding"
        and any(s.get("name") == "helix-spark-driver" for s in d["subjects"])
    ]


def test_samples_kustomization_lists_every_sample() -> None:
    samples = MANIFESTS / "samples"
    files = {p.name for p in samples.glob("*.yaml")} - {"kustomization.yaml"}
    docs = render("samples")
    assert len(docs) == len(files) == 6
    schedules = [d for d in docs if d["kind"] == "HelixBatchSchedule"]
    assert len(schedules) == 1
    assert {d["spec"]["type"] for d in docs if d["kind"] == "HelixBatchJob"} == {
        "EntityExtraction",
        "RelationshipMining",
        "TopicModeling",
        "ProviderPerformance",
        "DebateAnalysis",
    }


def test_argocd_application_syncs_the_production_overlay() -> None:
    app: dict[str, Any] = yaml.safe_load((MANIFESTS / "argocd" / "application.yaml").read_text())
    assert app["apiVersion"] == "argoproj.io/v1alpha1"
    assert app["kind"] == "Application"
    source = app["spec"]["source"]
    path = Path(source["path"])
    assert path == Path("manifests/overlays/production")
    assert (MANIFESTS.parent / path / "kustomization.yaml").is_file()
    sync = app["spec"]["syncPolicy"]
    assert sync["automated"] == {"prune": True, "selfHeal": True}
    assert "ServerSideApply=true" in sync["syncOptions"]
    assert app["spec"]["destination"]["namespace"] == NAMESPACE


def test_rendering_is_deterministic() -> None:
    """Argo CD compares renders: the same tree must give byte-identical output."""
    first = kustomize(MANIFESTS / "overlays" / "production")
    assert kustomize(MANIFESTS / "overlays" / "production") == first
    json.dumps(overlay("production"))  # plain data all the way down
