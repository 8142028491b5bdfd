"""The Argo CD example of work kept in Git: recurring work as schedules, one-off jobs without a
TTL (with self-heal, a TTL-deleted job would be re-created and run again)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml

from helix_batch.operator.scheduling import load_schedule, render_run
from helix_batch.operator.spec import validate
from tests.operator.test_schedule_crd import crd_validator

from .manifests import MANIFESTS, render

APPLICATION = MANIFESTS / "argocd" / "analytics-application.yaml"


def test_the_application_syncs_the_analytics_folder_with_self_heal() -> None:
    app: dict[str, Any] = yaml.safe_load(APPLICATION.read_text())
    path = app["spec"]["source"]["path"]
    assert (MANIFESTS.parent / path / "kustomization.yaml").is_file()
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_git_holds_schedules_and_one_off_jobs_without_a_ttl() -> None:
    docs = render("argocd/analytics")
    kinds = {d["kind"] for d in docs}
    assert kinds == {"HelixBatchSchedule", "HelixBatchJob"}
    for doc in docs:
        if doc["kind"] == "HelixBatchJob":
            validate(doc)
            assert "ttlSecondsAfterFinished" not in doc["spec"], doc["metadata"]["name"]
        else:
            assert list(crd_validator().iter_errors(doc)) == []
            template = doc["spec"]["jobTemplate"]["spec"]
            assert "ttlSecondsAfterFinished" not in template
            # Monday 2026-11-30 06:00 UTC: the week Monday 23rd to Sunday 29th.
            job = render_run(load_schedule(doc), datetime(2026, 11, 30, 6, tzinfo=UTC))
            validate(job)
            assert (job["spec"]["input"]["startDate"], job["spec"]["input"]["endDate"]) == (
                "2026-11-23",
                "2026-11-29",
            )
