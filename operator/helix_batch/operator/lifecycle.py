"""The lifecycle decision: (spec, status, SparkApplication, driver pod, now) -> (status, actions).

Pure: no I/O, no clock. The kopf handlers observe the live objects, call ``decide`` and carry
out the actions it returns. Status is the plain ``status`` mapping as stored in the API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from helix_batch.operator import names as n
from helix_batch.operator.names import DRIVER_CONTAINER, LABEL_ATTEMPT, app_name
from helix_batch.operator.settings import Settings
from helix_batch.operator.spec import Job
from helix_jobs import failure

TERMINAL = frozenset({"Succeeded", "Failed", "Cancelled"})
# Failures the job reports that another attempt would meet again: not retried.
PERMANENT = frozenset(
    {failure.INVALID_ARGUMENTS, failure.OUTPUT_CONFLICT, failure.OUTPUT_NOT_OWNED, failure.NO_INPUT}
)
# What describes the current attempt while it lives (or waits for its retry).
ATTEMPT_STATE = (
    "sparkApplication",
    "attemptStartTime",
    "nextAttemptTime",
    "driver",
    "missingSince",
)
MAX_RESULT_BYTES = 4096
# Waiting reasons that mean the driver will not start by itself.
START_FAILURES = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
     "CreateContainerError", "Unschedulable"}
)  # fmt: skip
# SparkApplication states in which the spark-operator gave up on starting a driver.
APP_FAILURES = {
    "SUBMISSION_FAILED": n.REASON_SUBMISSION_FAILED,
    "FAILED": n.REASON_SPARK_APPLICATION_FAILED,
}
# How much of the spark-operator's error message the status and Events keep.
MAX_APP_MESSAGE = 600
# The application's state changes no pod: while its driver pod is awaited, it is read this often.
APP_POLL_SECONDS = 5
# The line of spark-submit's output that says why it failed: its exception's own message.
_EXCEPTION = re.compile(r'(?:Exception in thread "[^"]*" )?[\w.$]+(?:Exception|Error): (.+)')


@dataclass(frozen=True)
class App:
    """What the operator needs to know about an attempt's SparkApplication."""

    state: str = ""  # status.applicationState.state; "" until the spark-operator sets one
    message: str = ""  # status.applicationState.errorMessage


def observe_app(app: Mapping[str, Any]) -> App:
    state = (app.get("status") or {}).get("applicationState") or {}
    return App(str(state.get("state") or ""), str(state.get("errorMessage") or ""))


@dataclass(frozen=True)
class Driver:
    """What the operator needs to know about a driver pod."""

    name: str
    attempt: int | None
    phase: str
    state: str  # "waiting", "running", "terminated" or "" (no container status yet)
    exit_code: int | None = None
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class CreateApp:
    attempt: int


@dataclass(frozen=True)
class DeleteApp:
    """Delete the attempt's SparkApplication and its driver pod, if it outlives it."""

    attempt: int


@dataclass(frozen=True)
class DeleteJob:
    """Remove the finished job (ttlSecondsAfterFinished)."""


@dataclass(frozen=True)
class Emit:
    type: str  # "Normal" or "Warning"
    reason: str
    message: str


Action = CreateApp | DeleteApp | DeleteJob | Emit


@dataclass
class Decision:
    status: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    # When the clock alone can next change the new status (see next_deadline).
    due: datetime | None = None


def observe_driver(pod: Mapping[str, Any]) -> Driver:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    attempt = (meta.get("labels") or {}).get(LABEL_ATTEMPT)
    base = Driver(
        name=meta.get("name", ""),
        attempt=int(attempt) if attempt and attempt.isdigit() else None,
        phase=status.get("phase", "Pending"),
        state="",
        reason=status.get("reason", ""),
        message=status.get("message", ""),
    )
    for container in status.get("containerStatuses") or ():
        if container.get("name") != DRIVER_CONTAINER:
            continue
        state = container.get("state") or {}
        if "terminated" in state:
            t = state["terminated"]
            return _replace(
                base, "terminated", t.get("exitCode"), t.get("reason", ""), t.get("message", "")
            )
        if "running" in state:
            return _replace(base, "running", None, "", "")
        if "waiting" in state:
            w = state["waiting"]
            return _replace(base, "waiting", None, w.get("reason", ""), w.get("message", ""))
    for condition in status.get("conditions") or ():
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return _replace(
                base, "", None, condition.get("reason", ""), condition.get("message", "")
            )
    return base


def _replace(d: Driver, state: str, exit_code: int | None, reason: str, message: str) -> Driver:
    return Driver(
        d.name, d.attempt, d.phase, state, exit_code, reason or d.reason, message or d.message
    )


def decide(
    job: Job,
    status: Mapping[str, Any],
    app: App | None,
    driver: Driver | None,
    now: datetime,
    settings: Settings,
    deleting: bool = False,
    refusal: str | None = None,
) -> Decision:
    """``app``: the attempt's SparkApplication, None if there is none; it matters only while
    the driver pod is not there. ``refusal``: why the policy forbids the job's next attempt (the
    caller asks the policy only when a first decision would create one); the job then fails
    instead."""
    d = _Draft(job, dict(status), now, settings)
    phase = d.phase
    attempt = int(d.status.get("attempt") or 0)

    if deleting:
        if phase not in TERMINAL and attempt:
            d.actions.append(DeleteApp(attempt))
            d.finish(
                "Cancelled", n.REASON_DELETED, "the job was deleted; its attempt was cancelled"
            )
        return d.result()
    if phase in TERMINAL:
        return _expire(d)
    if refusal is not None:
        if attempt and not d.status.pop("nextAttemptTime", None):
            d.end_attempt("Failed", None, n.REASON_POLICY_VIOLATION)
        d.finish("Failed", n.REASON_POLICY_VIOLATION, refusal)
        return d.result()
    if job.spec.suspend:
        if phase != "Suspended":
            if attempt and not d.status.get("nextAttemptTime"):
                d.actions.append(DeleteApp(attempt))
                d.end_attempt("Suspended", None, n.REASON_SUSPENDED)
            # No attempt is live any more: what described one (or its retry) would be stale.
            for key in ATTEMPT_STATE:
                d.status.pop(key, None)
            d.condition(n.CONDITION_RUNNING, False, n.REASON_SUSPENDED, "the job is suspended")
            d.move(
                "Suspended",
                n.REASON_SUSPENDED,
                "the job is suspended",
                condition=(n.CONDITION_SUSPENDED, True),
            )
        return d.result()
    if phase == "Suspended" or attempt == 0:
        d.status["startTime"] = format_time(now)
        return d.start(attempt + 1)

    deadline = job.spec.active_deadline_seconds
    if deadline is not None and now >= parse_time(d.status["startTime"]) + timedelta(
        seconds=deadline
    ):
        if not d.status.get("nextAttemptTime"):
            d.actions.append(DeleteApp(attempt))
            d.end_attempt("Failed", None, n.REASON_DEADLINE_EXCEEDED)
        d.status.pop("nextAttemptTime", None)
        d.finish(
            "Failed",
            n.REASON_DEADLINE_EXCEEDED,
            f"the job ran longer than activeDeadlineSeconds={deadline}",
        )
        return d.result()

    due = d.status.get("nextAttemptTime")
    if due:
        if now >= parse_time(due):
            d.status.pop("nextAttemptTime")
            return d.start(attempt + 1)
        return d.result()

    if driver is not None and driver.attempt != attempt:
        driver = None  # a pod of another attempt says nothing about this one
    if driver is None:
        return _without_driver(d, attempt, app)
    return _with_driver(d, attempt, driver)


def _without_driver(d: _Draft, attempt: int, app: App | None) -> Decision:
    if "driver" in d.status:
        missing = d.status.setdefault("missingSince", format_time(d.now))
        grace = timedelta(seconds=d.settings.missing_driver_grace_seconds)
        if d.now >= parse_time(missing) + grace:
            d.actions.append(DeleteApp(attempt))
            return d.fail_attempt(None, n.REASON_DRIVER_POD_MISSING, "the driver pod disappeared")
        return d.result()
    if app is None:
        d.actions.append(CreateApp(attempt))  # idempotent: adopts an existing one
    elif app.state in APP_FAILURES:
        d.actions.append(DeleteApp(attempt))
        why = trim(app.message)
        message = f"the spark-operator could not start the driver: {why}"
        return d.fail_attempt(None, APP_FAILURES[app.state], message, detail=why)
    return _check_start_deadline(d, attempt, "", "no driver pod was created")


def _with_driver(d: _Draft, attempt: int, driver: Driver) -> Decision:
    d.status.pop("missingSince", None)
    d.status["driver"] = {
        k: v
        for k, v in {
            "pod": driver.name,
            "phase": driver.phase,
            "exitCode": driver.exit_code,
            "reason": driver.reason or None,
        }.items()
        if v is not None
    }
    if driver.state == "terminated" and driver.phase not in ("Succeeded", "Failed"):
        d.actions.append(DeleteApp(attempt))  # a sidecar keeps the pod alive: stop it
    if (driver.state == "terminated" and driver.exit_code == 0) or (
        driver.phase == "Succeeded" and driver.state != "terminated"
    ):
        return _succeed(d, attempt, driver)
    if driver.state == "terminated":
        reported = reported_failure(driver.message)
        if reported is not None:
            reason, message = reported
            return d.fail_attempt(driver.exit_code, reason, message, retry=reason not in PERMANENT)
        reason = driver.reason or n.REASON_ERROR
        return d.fail_attempt(
            driver.exit_code, reason, f"driver exited with code {driver.exit_code} ({reason})"
        )
    if driver.phase == "Failed":
        reason = driver.reason or n.REASON_POD_FAILED
        d.actions.append(DeleteApp(attempt))
        return d.fail_attempt(None, reason, driver.message or f"driver pod failed ({reason})")
    if driver.state == "running":
        d.move(
            "Running",
            n.REASON_DRIVER_RUNNING,
            f"driver {driver.name} is running",
            condition=(n.CONDITION_RUNNING, True),
        )
        return d.result()
    return _check_start_deadline(d, attempt, driver.reason, driver.message)


def _check_start_deadline(d: _Draft, attempt: int, reason: str, message: str) -> Decision:
    started = parse_time(d.status["attemptStartTime"])
    limit = d.job.spec.start_deadline_seconds
    if d.now < started + timedelta(seconds=limit):
        return d.result()
    d.actions.append(DeleteApp(attempt))
    why = f"{reason}: {message}" if reason else message
    return d.fail_attempt(
        None,
        reason if reason in START_FAILURES else n.REASON_START_DEADLINE_EXCEEDED,
        f"the driver did not start within startDeadlineSeconds={limit}: {why}",
    )


def _succeed(d: _Draft, attempt: int, driver: Driver) -> Decision:
    result, problem = parse_result(driver.message)
    if result is not None:
        d.status["result"] = result
    d.end_attempt("Succeeded", driver.exit_code, n.REASON_COMPLETED)
    message = "the job completed" + (f"; {problem}" if problem else "")
    d.finish("Succeeded", n.REASON_COMPLETED, message)
    return d.result()


def trim(message: str) -> str:
    """What the spark-operator's error message says, on one line of at most MAX_APP_MESSAGE
    characters: when it holds spark-submit's output (logging, stack traces), only the message of
    its exception, without the request fabric8 quotes before the API server's answer."""
    found = _EXCEPTION.search(message)
    if found:
        message = found.group(1).split(" Message: ", 1)[-1]
    line = " ".join(message.split()) or "no error message"
    return line if len(line) <= MAX_APP_MESSAGE else line[: MAX_APP_MESSAGE - 1] + "…"


def reported_failure(message: str) -> tuple[str, str] | None:
    """(reason, message) when the driver said why it stopped (helix_jobs.failure's
    ``{"error": ..., "message": ...}`` termination message), else None."""
    if not message.startswith("{") or len(message.encode()) > MAX_RESULT_BYTES:
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    reason, text = value.get("error"), value.get("message")
    if not isinstance(reason, str) or not reason.isalnum() or not isinstance(text, str):
        return None
    return reason, text


def parse_result(message: str) -> tuple[dict[str, Any] | None, str]:
    """The driver's result object from its termination message, or why there is none."""
    if not message.strip():
        return None, "the driver wrote no result"
    if len(message.encode()) > MAX_RESULT_BYTES:
        return None, "the driver's result exceeds 4 KiB"
    try:
        value = json.loads(message)
    except ValueError:
        return None, "the driver's result is not JSON"
    if not isinstance(value, dict):
        return None, "the driver's result is not a JSON object"
    return value, ""


def _expire(d: _Draft) -> Decision:
    ttl = d.job.spec.ttl_seconds_after_finished
    done = d.status.get("completionTime")
    if ttl is not None and done and d.now >= parse_time(done) + timedelta(seconds=ttl):
        d.actions.append(DeleteJob())
    return d.result()


def next_deadline(job: Job, status: Mapping[str, Any], settings: Settings) -> datetime | None:
    """The earliest moment the clock alone can change this job's status (a start or active
    deadline, a retry, the missing-pod grace, the TTL); None when only events can."""
    phase = status.get("phase")
    if phase is None:
        return datetime.min.replace(tzinfo=UTC)  # never reconciled: now
    spec = job.spec
    moments: list[datetime] = []

    def after(stamp: str | None, seconds: int | None) -> None:
        if stamp and seconds is not None:
            moments.append(parse_time(stamp) + timedelta(seconds=seconds))

    if phase in TERMINAL:
        after(status.get("completionTime"), spec.ttl_seconds_after_finished)
    elif phase != "Suspended":
        after(status.get("startTime"), spec.active_deadline_seconds)
        after(status.get("nextAttemptTime"), 0)
        after(status.get("missingSince"), settings.missing_driver_grace_seconds)
        if phase == "Submitted":
            after(status.get("attemptStartTime"), spec.start_deadline_seconds)
    return min(moments, default=None)


def backoff_seconds(failed_attempt: int, settings: Settings) -> int:
    """Capped exponential backoff before the attempt after ``failed_attempt``."""
    delay = settings.retry_backoff_base_seconds * 2 ** min(failed_attempt - 1, 30)
    return int(min(delay, settings.retry_backoff_cap_seconds))


def not_submitted(
    job: Job,
    status: Mapping[str, Any],
    now: datetime,
    settings: Settings,
    reason: str,
    message: str,
) -> Decision:
    """The status when the next attempt could not be created (``reason``): the job waits in
    Pending and says why; the caller tries again later."""
    d = _Draft(job, dict(status), now, settings)
    d.condition(n.CONDITION_SUBMITTED, False, reason, message)
    d.move("Pending", reason, message, warning=True)
    return Decision(d.status, d.actions)


def refuse_invalid(
    status: Mapping[str, Any], generation: int, now: datetime, message: str
) -> Decision:
    """A job whose spec cannot be read, checked or rendered fails with reason InvalidSpec (no
    deadline: its TTL may be unreadable too)."""
    d = _Status(dict(status), now, generation)
    if d.phase not in TERMINAL:
        d.status.pop("nextAttemptTime", None)
        d.finish("Failed", n.REASON_INVALID_SPEC, message)
    return Decision(d.status, d.actions)


class _Status:
    """A status being changed, with the bookkeeping every transition shares."""

    def __init__(self, status: dict[str, Any], now: datetime, generation: int) -> None:
        self.status = status
        self.now = now
        self.generation = generation
        self.actions: list[Action] = []
        self.phase = status.get("phase") or "Pending"
        status["observedGeneration"] = generation

    def move(
        self,
        phase: str,
        reason: str,
        message: str,
        condition: tuple[str, bool] | None = None,
        warning: bool = False,
    ) -> None:
        changed = self.status.get("phase") != phase or self.status.get("reason") != reason
        self.status.update(phase=phase, reason=reason, message=message)
        if condition:
            self.condition(condition[0], condition[1], reason, message)
        if changed:
            self.actions.append(Emit("Warning" if warning else "Normal", reason, message))

    def condition(self, kind: str, value: bool, reason: str, message: str) -> None:
        set_condition(self.status, kind, value, reason, message, self.now, self.generation)

    def finish(self, phase: str, reason: str, message: str) -> None:
        self.status["completionTime"] = format_time(self.now)
        start = self.status.get("startTime")
        if start:
            self.status["durationSeconds"] = int((self.now - parse_time(start)).total_seconds())
        self.condition(n.CONDITION_RUNNING, False, reason, message)
        if phase == "Succeeded":
            self.condition(n.CONDITION_COMPLETE, True, reason, message)
        elif phase == "Failed":
            self.condition(n.CONDITION_FAILED, True, reason, message)
        self.move(phase, reason, message, warning=phase != "Succeeded")


class _Draft(_Status):
    """The status of one job being decided."""

    def __init__(self, job: Job, status: dict[str, Any], now: datetime, settings: Settings) -> None:
        super().__init__(status, now, job.generation)
        self.job = job
        self.settings = settings

    def result(self) -> Decision:
        due = next_deadline(self.job, self.status, self.settings)
        if self.status.get("phase") == "Submitted" and "driver" not in self.status:
            poll = self.now + timedelta(seconds=APP_POLL_SECONDS)
            due = min(due or poll, poll)
        return Decision(self.status, self.actions, due)

    def start(self, attempt: int) -> Decision:
        name = app_name(self.job.name, attempt)
        self.status.update(
            attempt=attempt, sparkApplication=name, attemptStartTime=format_time(self.now)
        )
        for key in ("driver", "missingSince", "result"):
            self.status.pop(key, None)
        self.actions.append(CreateApp(attempt))
        if any(c["type"] == n.CONDITION_SUSPENDED for c in self.status.get("conditions") or ()):
            self.condition(n.CONDITION_SUSPENDED, False, n.REASON_RESUMED, "the job was resumed")
        self.move("Submitted", n.REASON_SUBMITTED, f"attempt {attempt}: created SparkApplication {name}",
                  condition=(n.CONDITION_SUBMITTED, True))  # fmt: skip
        return self.result()

    def end_attempt(
        self, outcome: str, exit_code: int | None, reason: str, message: str | None = None
    ) -> None:
        attempt = int(self.status.get("attempt") or 0)
        entry = {
            "attempt": attempt,
            "name": app_name(self.job.name, attempt),
            "startTime": self.status.get("attemptStartTime"),
            "endTime": format_time(self.now),
            "outcome": outcome,
            "exitCode": exit_code,
            "reason": reason,
            "message": message,
        }
        history = [
            *(self.status.get("attempts") or ()),
            {k: v for k, v in entry.items() if v is not None},
        ]
        self.status["attempts"] = history[-self.settings.attempts_history :]
        self.status.pop("missingSince", None)

    def fail_attempt(
        self,
        exit_code: int | None,
        reason: str,
        message: str,
        retry: bool = True,
        detail: str | None = None,
    ) -> Decision:
        """``detail``: what the attempt's history keeps beyond its reason."""
        attempt = int(self.status["attempt"])
        self.end_attempt("Failed", exit_code, reason, detail)
        self.condition(n.CONDITION_RUNNING, False, reason, message)
        if not retry:
            self.finish("Failed", reason, message)
        elif attempt <= self.job.spec.backoff_limit:
            delay = backoff_seconds(attempt, self.settings)
            self.status["nextAttemptTime"] = format_time(self.now + timedelta(seconds=delay))
            self.actions.append(
                Emit("Warning", n.REASON_ATTEMPT_FAILED, f"attempt {attempt}: {message}")
            )
            self.move(
                "Pending",
                n.REASON_RETRYING,
                f"attempt {attempt} failed ({reason}); retrying in {delay}s",
            )
        else:
            limit = self.job.spec.backoff_limit
            self.finish(
                "Failed",
                n.REASON_BACKOFF_LIMIT_EXCEEDED,
                f"attempt {attempt} failed ({reason}): {message}; no retries left "
                f"(backoffLimit={limit})",
            )
        return self.result()


def set_condition(
    status: dict[str, Any],
    kind: str,
    value: bool,
    reason: str,
    message: str,
    now: datetime,
    generation: int,
) -> None:
    """Set one Kubernetes-style condition of ``status``."""
    conditions: list[dict[str, Any]] = [dict(c) for c in status.get("conditions") or ()]
    text = "True" if value else "False"
    current = next((c for c in conditions if c["type"] == kind), None)
    if current is None:
        current = {"type": kind}
        conditions.append(current)
    if current.get("status") != text:
        current["lastTransitionTime"] = format_time(now)
    current.update(status=text, reason=reason, message=message, observedGeneration=generation)
    status["conditions"] = conditions


def format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
