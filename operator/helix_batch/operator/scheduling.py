"""HelixBatchSchedules: which run to create, which runs to delete, and when to look again.

Pure: ``decide`` takes (schedule, its runs, its status, now) and returns the next status and
actions; ``render_run`` makes the HelixBatchJob of one scheduled time. schedules.py observes
and acts. Times are aware datetimes; the cron expression is evaluated in the schedule's time
zone by cronsim (Debian cron's rules at daylight-saving changes: a skipped time runs once right
after the change, a repeated time once)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from helix_batch.operator import names as n
from helix_batch.operator.lifecycle import TERMINAL, Emit, format_time, parse_time, set_condition
from helix_batch.operator.names import (
    ANNOTATION_SCHEDULED_TIME,
    API_VERSION,
    KIND,
    LABEL_SCHEDULE,
    SCHEDULE_KIND,
)
from helix_batch.operator.schedule_crd import DEFAULT_END_OFFSET_DAYS

# On each run: the schedule that made it (listing them), and its scheduled time.
RUN_STAMP = "%Y%m%d-%H%M"
FAILED = frozenset({"Failed", "Cancelled"})
POLICIES = ("Allow", "Forbid", "Replace")


class ScheduleError(ValueError):
    """A schedule whose spec cannot be used; ``field`` is the offending field's path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class ScheduleSpec:
    cron: str
    time_zone: ZoneInfo
    suspend: bool = False
    concurrency_policy: str = "Forbid"
    starting_deadline_seconds: int | None = None
    successful_jobs_history_limit: int = 3
    failed_jobs_history_limit: int = 1


@dataclass(frozen=True)
class Schedule:
    name: str
    namespace: str
    uid: str
    generation: int
    created: datetime
    spec: ScheduleSpec
    template: Mapping[str, Any]  # spec.jobTemplate


def load_schedule(doc: Mapping[str, Any]) -> Schedule:
    """The schedule with its defaults; ScheduleError for a schedule or zone that cannot be
    evaluated (beyond what the CRD checks)."""
    meta = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    cron = spec.get("schedule")
    if not isinstance(cron, str) or len(cron.split()) != 5:
        raise ScheduleError("spec.schedule", f"expected five cron fields, got {cron!r}")
    zone_name = spec.get("timeZone", "UTC")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError("spec.timeZone", f"unknown IANA time zone {zone_name!r}") from None
    try:
        CronSim(cron, datetime(2000, 1, 1, tzinfo=zone))  # parses; the date does not matter
    except CronSimError as error:
        raise ScheduleError("spec.schedule", f"{cron!r}: {error}") from None
    policy = spec.get("concurrencyPolicy", "Forbid")
    if policy not in POLICIES:
        raise ScheduleError("spec.concurrencyPolicy", f"expected one of {', '.join(POLICIES)}")
    template = spec.get("jobTemplate")
    if not isinstance(template, Mapping) or not isinstance(template.get("spec"), Mapping):
        raise ScheduleError("spec.jobTemplate.spec", "required")
    created = meta.get("creationTimestamp")
    return Schedule(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", "default"),
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation", 1)),
        created=parse_time(created) if created else datetime.min.replace(tzinfo=UTC),
        spec=ScheduleSpec(
            cron=cron,
            time_zone=zone,
            suspend=bool(spec.get("suspend", False)),
            concurrency_policy=policy,
            starting_deadline_seconds=spec.get("startingDeadlineSeconds"),
            successful_jobs_history_limit=int(spec.get("successfulJobsHistoryLimit", 3)),
            failed_jobs_history_limit=int(spec.get("failedJobsHistoryLimit", 1)),
        ),
        template=template,
    )


def next_time(spec: ScheduleSpec, after: datetime) -> datetime | None:
    """The first scheduled time after ``after`` (None: the expression never matches)."""
    try:
        return next(CronSim(spec.cron, after.astimezone(spec.time_zone))).astimezone(UTC)
    except StopIteration:
        return None


def latest_time(spec: ScheduleSpec, at: datetime) -> datetime | None:
    """The last scheduled time at or before ``at``."""
    start = at.replace(microsecond=0) + timedelta(seconds=1)
    try:
        found = next(CronSim(spec.cron, start.astimezone(spec.time_zone), reverse=True))
    except StopIteration:
        return None
    return found.astimezone(UTC)


def run_name(schedule_name: str, scheduled: datetime) -> str:
    """Deterministic: every replica names the run of a scheduled time alike, so create-only
    makes it once. The CRD keeps schedule names short enough for a 63-character name."""
    return f"{schedule_name}-{scheduled.astimezone(UTC).strftime(RUN_STAMP)}"


def window(schedule: Schedule, scheduled: datetime) -> tuple[date, date]:
    """(startDate, endDate) of the run at ``scheduled``: days before its day in the zone."""
    spec_window = schedule.template["spec"]["input"]["window"]
    days = int(spec_window["days"])
    offset = int(spec_window.get("endOffsetDays", DEFAULT_END_OFFSET_DAYS))
    end = scheduled.astimezone(schedule.spec.time_zone).date() - timedelta(days=offset)
    return end - timedelta(days=days - 1), end


def render_run(schedule: Schedule, scheduled: datetime) -> dict[str, Any]:
    """The HelixBatchJob the schedule creates for ``scheduled``."""
    template = schedule.template
    spec: dict[str, Any] = copy.deepcopy(dict(template["spec"]))
    start, end = window(schedule, scheduled)
    job_input = spec["input"]
    del job_input["window"]
    job_input.update(startDate=start.isoformat(), endDate=end.isoformat())
    output = spec["output"]
    output["uri"] = f"{output['uri'].rstrip('/')}/{start.isoformat()}_{end.isoformat()}/"
    meta = template.get("metadata") or {}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": run_name(schedule.name, scheduled),
            "namespace": schedule.namespace,
            "labels": {**(meta.get("labels") or {}), LABEL_SCHEDULE: schedule.name},
            "annotations": {
                **(meta.get("annotations") or {}),
                ANNOTATION_SCHEDULED_TIME: format_time(scheduled),
            },
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": SCHEDULE_KIND,
                    "name": schedule.name,
                    "uid": schedule.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


@dataclass(frozen=True)
class Run:
    """What the schedule needs to know about one of its HelixBatchJobs."""

    name: str
    uid: str
    scheduled: datetime
    phase: str = ""  # "" until the operator gives the job one
    reason: str = ""
    message: str = ""
    completion: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL


def observe_run(job: Mapping[str, Any], schedule_uid: str) -> Run | None:
    """The run, if ``job`` is one of the schedule's (controlled by it, with its time)."""
    meta = job.get("metadata") or {}
    owned = any(
        ref.get("uid") == schedule_uid and ref.get("controller")
        for ref in meta.get("ownerReferences") or ()
    )
    stamp = (meta.get("annotations") or {}).get(ANNOTATION_SCHEDULED_TIME)
    if not owned or not stamp:
        return None
    status = job.get("status") or {}
    completion = status.get("completionTime")
    return Run(
        name=meta["name"],
        uid=meta.get("uid", ""),
        scheduled=parse_time(stamp),
        phase=status.get("phase") or "",
        reason=status.get("reason") or "",
        message=status.get("message") or "",
        completion=parse_time(completion) if completion else None,
    )


@dataclass
class Decision:
    status: dict[str, Any]
    create: datetime | None = None  # the scheduled time of the run to create
    delete: list[Run] = field(default_factory=list)
    events: list[Emit] = field(default_factory=list)
    due: datetime | None = None  # when the clock alone next changes something


def decide(
    schedule: Schedule,
    runs: Sequence[Run],
    status: Mapping[str, Any],
    now: datetime,
    refusal: tuple[str, str] | None = None,
) -> Decision:
    """``refusal``: (reason, message) when the run a schedule would create is invalid or
    against the job policy; nothing is created until the schedule changes."""
    spec = schedule.spec
    d = Decision(dict(status))
    d.status["observedGeneration"] = schedule.generation
    runs = sorted(runs, key=lambda r: r.scheduled)
    active = [r for r in runs if not r.finished]
    d.delete = _beyond_history(runs, spec)
    last = max([*_time(status, "lastScheduleTime"), schedule.created, *(r.scheduled for r in runs)])
    waiting = ""
    if refusal:
        _ready(d, schedule.generation, now, False, *refusal)
    elif spec.suspend:
        _ready(
            d,
            schedule.generation,
            now,
            True,
            n.REASON_SUSPENDED,
            "spec.suspend is true: no new runs",
        )
    else:
        _ready(
            d, schedule.generation, now, True, n.REASON_SCHEDULED, f"{spec.cron} ({spec.time_zone})"
        )
        candidate = latest_time(spec, now)
        # A time skipped past its deadline is not looked at (and warned about) again.
        if candidate is not None and candidate > max([last, *_time(status, "lastMissedTime")]):
            waiting = _start(d, schedule, candidate, active, now)
            last = d.create or last
    d.due = None if spec.suspend else next_time(spec, now)
    _set_time(d.status, "nextScheduleTime", d.due)
    if last > schedule.created:
        d.status["lastScheduleTime"] = format_time(last)
    gone = {r.uid for r in d.delete}
    _observe(d, schedule, [r for r in active if r.uid not in gone], runs, now, waiting)
    return d


def _start(
    d: Decision, schedule: Schedule, scheduled: datetime, active: list[Run], now: datetime
) -> str:
    """Start the run due at ``scheduled``, or say why it waits ("" if it does not)."""
    spec = schedule.spec
    name = run_name(schedule.name, scheduled)
    deadline = spec.starting_deadline_seconds
    if deadline is not None and (now - scheduled).total_seconds() > deadline:
        d.events.append(
            Emit("Warning", n.REASON_MISSED_SCHEDULE,
                 f"run {name} (due {format_time(scheduled)}) did not start within "
                 f"startingDeadlineSeconds={deadline}; skipped")
        )  # fmt: skip
        d.status["lastMissedTime"] = format_time(scheduled)
        return ""
    if active and spec.concurrency_policy == "Forbid":
        # The end of the active run brings the schedule back here.
        return f"; {name} waits for it (concurrencyPolicy Forbid)"
    if active and spec.concurrency_policy == "Replace":
        d.delete += [r for r in active if r not in d.delete]
        names = ", ".join(r.name for r in active)
        d.events.append(Emit("Normal", n.REASON_RUN_REPLACED, f"deleting {names} for {name}"))
    d.create = scheduled
    return ""


def _beyond_history(runs: list[Run], spec: ScheduleSpec) -> list[Run]:
    """Finished runs beyond the history limits, oldest first."""
    succeeded = [r for r in runs if r.phase == "Succeeded"]
    failed = [r for r in runs if r.phase in FAILED]
    return (
        succeeded[: max(0, len(succeeded) - spec.successful_jobs_history_limit)]
        + failed[: max(0, len(failed) - spec.failed_jobs_history_limit)]
    )


def _observe(
    d: Decision,
    schedule: Schedule,
    active: list[Run],
    runs: list[Run],
    now: datetime,
    waiting: str,
) -> None:
    """active, lastRun, lastSuccessfulTime and the Active condition, from the runs."""
    status = d.status
    status["active"] = [
        {"apiVersion": API_VERSION, "kind": KIND, "name": r.name,
         "namespace": schedule.namespace, "uid": r.uid}
        for r in active
    ]  # fmt: skip
    finished = [r for r in runs if r.finished]
    last_run = status.get("lastRun") or {}
    if finished and format_time(finished[-1].scheduled) >= last_run.get("scheduledTime", ""):
        latest = finished[-1]
        status["lastRun"] = {
            "name": latest.name,
            "scheduledTime": format_time(latest.scheduled),
            "phase": latest.phase,
            "reason": latest.reason,
            "message": latest.message,
        }
    # Kept when the run that set it is gone (history limits).
    successes = [r.completion for r in runs if r.phase == "Succeeded" and r.completion]
    successes += _time(status, "lastSuccessfulTime")
    _set_time(status, "lastSuccessfulTime", max(successes, default=None))
    if active:
        reason, message = n.REASON_RUN_ACTIVE, ", ".join(r.name for r in active) + waiting
    else:
        reason, message = n.REASON_NO_ACTIVE_RUN, "no run is active"
    set_condition(
        status, n.CONDITION_ACTIVE, bool(active), reason, message, now, schedule.generation
    )


def _ready(
    d: Decision, generation: int, now: datetime, ready: bool, reason: str, message: str
) -> None:
    """The Ready condition; a Warning Event each time it turns False or says something new."""
    conditions = d.status.get("conditions") or ()
    previous: Mapping[str, Any] = next(
        (c for c in conditions if c["type"] == n.CONDITION_READY), {}
    )
    set_condition(d.status, n.CONDITION_READY, ready, reason, message, now, generation)
    if not ready and (previous.get("status") != "False" or previous.get("message") != message):
        d.events.append(Emit("Warning", reason, message))


def refuse_invalid(
    status: Mapping[str, Any], generation: int, now: datetime, message: str
) -> Decision:
    """A schedule that cannot be evaluated: Ready False, nothing scheduled."""
    d = Decision(dict(status))
    d.status["observedGeneration"] = generation
    d.status.pop("nextScheduleTime", None)
    _ready(d, generation, now, False, n.REASON_INVALID_SCHEDULE, message)
    return d


def _time(status: Mapping[str, Any], key: str) -> list[datetime]:
    value = status.get(key)
    return [parse_time(value)] if value else []


def _set_time(status: dict[str, Any], key: str, value: datetime | None) -> None:
    if value is None:
        status.pop(key, None)
    else:
        status[key] = format_time(value)
