"""The API's names, in one place: group, versions, kinds and plurals, labels, annotations, the
finalizer, condition types, reasons, and how applications and driver pods are named.

The controller, the CLI and the tests import these instead of spelling the strings; the CRDs
in crds/ and the manifests spell the same values (tests compare them)."""

from __future__ import annotations

import hashlib

# The HelixBatchJob and HelixBatchSchedule API.
GROUP = "batch.helixagent.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "HelixBatchJob"
PLURAL = "helixbatchjobs"
SCHEDULE_KIND = "HelixBatchSchedule"
SCHEDULE_PLURAL = "helixbatchschedules"

# The spark-operator's API, whose SparkApplications the operator creates.
SPARK_GROUP = "sparkoperator.k8s.io"
SPARK_VERSION = "v1beta2"
SPARK_API_VERSION = f"{SPARK_GROUP}/{SPARK_VERSION}"
SPARK_KIND = "SparkApplication"
SPARK_PLURAL = "sparkapplications"

# Labels on SparkApplications and their pods (job, uid, attempt), on jobs (phase, schedule).
LABEL_JOB = f"{GROUP}/job"
LABEL_JOB_UID = f"{GROUP}/job-uid"
LABEL_ATTEMPT = f"{GROUP}/attempt"
LABEL_PHASE = f"{GROUP}/phase"
LABEL_SCHEDULE = f"{GROUP}/schedule"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "helix-batch"

# The annotation on a schedule's run: the scheduled time it was made for.
ANNOTATION_SCHEDULED_TIME = f"{GROUP}/scheduled-time"

# Held by every HelixBatchJob until its attempt is cancelled.
FINALIZER = f"{GROUP}/cancel"

# The containers of a driver and an executor pod, as Spark names them.
DRIVER_CONTAINER = "spark-kubernetes-driver"
EXECUTOR_CONTAINER = "spark-kubernetes-executor"

# Condition types: a job's, then a schedule's.
CONDITION_SUBMITTED = "Submitted"
CONDITION_RUNNING = "Running"
CONDITION_COMPLETE = "Complete"
CONDITION_FAILED = "Failed"
CONDITION_SUSPENDED = "Suspended"
CONDITION_READY = "Ready"
CONDITION_ACTIVE = "Active"

# Reasons of a job's status, its conditions and its Events.
REASON_SUBMITTED = "Submitted"
REASON_DRIVER_RUNNING = "DriverRunning"
REASON_COMPLETED = "Completed"
REASON_SUSPENDED = "Suspended"
REASON_RESUMED = "Resumed"
REASON_RETRYING = "Retrying"
REASON_ATTEMPT_FAILED = "AttemptFailed"
REASON_BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
REASON_DEADLINE_EXCEEDED = "DeadlineExceeded"
REASON_START_DEADLINE_EXCEEDED = "StartDeadlineExceeded"
REASON_DRIVER_POD_MISSING = "DriverPodMissing"
REASON_POD_FAILED = "PodFailed"
REASON_ERROR = "Error"
REASON_SUBMISSION_FAILED = "SubmissionFailed"
REASON_SPARK_APPLICATION_FAILED = "SparkApplicationFailed"
REASON_INVALID_SPEC = "InvalidSpec"
REASON_POLICY_VIOLATION = "PolicyViolation"
REASON_DELETED = "Deleted"
# ... of a schedule's.
REASON_SCHEDULED = "Scheduled"
REASON_INVALID_SCHEDULE = "InvalidSchedule"
REASON_INVALID_TEMPLATE = "InvalidTemplate"
REASON_MISSED_SCHEDULE = "MissedSchedule"
REASON_RUN_CREATED = "RunCreated"
REASON_RUN_REPLACED = "RunReplaced"
REASON_RUN_ACTIVE = "RunActive"
REASON_NO_ACTIVE_RUN = "NoActiveRun"

# A driver pod is named "<app>-driver"; keep it within a DNS label (63).
DRIVER_SUFFIX = "-driver"
MAX_APP_NAME = 63 - len(DRIVER_SUFFIX)


def app_name(job_name: str, attempt: int) -> str:
    """Deterministic, unique per (job, attempt), at most MAX_APP_NAME characters."""
    suffix = f"-{attempt}"
    if len(job_name) + len(suffix) <= MAX_APP_NAME:
        return job_name + suffix
    digest = hashlib.sha256(job_name.encode()).hexdigest()[:8]
    keep = MAX_APP_NAME - len(suffix) - len(digest) - 1
    return f"{job_name[:keep].rstrip('-')}-{digest}{suffix}"


def driver_pod_name(job_name: str, attempt: int) -> str:
    return app_name(job_name, attempt) + DRIVER_SUFFIX
