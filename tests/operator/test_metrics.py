"""helix_job_failures_total says why jobs failed: the last attempt's reason, which is more use
on a dashboard than the job's BackoffLimitExceeded; the job's own reason when no attempt ran."""

from __future__ import annotations

from prometheus_client import REGISTRY

from helix_batch.operator import metrics
from helix_batch.operator.lifecycle import decide
from helix_batch.operator.spec import load_job
from tests.operator.helpers import at, job_doc, pod, terminated
from tests.operator.test_lifecycle import SETTINGS, running, step


def failures(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "helix_job_failures_total", {"type": "EntityExtraction", "reason": reason}
    )
    return value or 0.0


def test_a_job_out_of_retries_counts_its_last_attempts_reason() -> None:
    before = failures("OOMKilled"), failures("BackoffLimitExceeded")
    status = running(backoffLimit=0)
    oom = pod(1, phase="Failed", driver=terminated(137, "OOMKilled"))
    d = step(status, 60, oom, backoffLimit=0)
    assert (d.status["phase"], d.status["reason"]) == ("Failed", "BackoffLimitExceeded")
    metrics.record_transition(load_job(job_doc(), SETTINGS), "Running", "Failed", d.status, at(60))
    assert (failures("OOMKilled"), failures("BackoffLimitExceeded")) == (before[0] + 1, before[1])


def test_a_job_refused_before_any_attempt_counts_the_jobs_reason() -> None:
    before = failures("PolicyViolation")
    job = load_job(job_doc(), SETTINGS)
    d = decide(job, {}, None, None, at(0), SETTINGS, refusal="spec.image: not allowed")
    assert d.status["phase"] == "Failed" and "attempts" not in d.status
    metrics.record_transition(job, None, "Failed", d.status, at(0))
    assert failures("PolicyViolation") == before + 1
