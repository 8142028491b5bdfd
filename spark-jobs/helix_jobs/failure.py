"""Why a job stopped: a reason word, one line for people, and a JSON message for the operator."""

from __future__ import annotations

import json

INVALID_ARGUMENTS = "InvalidArguments"
OUTPUT_CONFLICT = "OutputConflict"
OUTPUT_NOT_OWNED = "OutputNotOwned"
NO_INPUT = "NoInput"
JOB_FAILED = "JobFailed"

# Distinct exit codes, so a script can tell a refusal from a crash without parsing text.
EXIT_CODES = {
    JOB_FAILED: 1,
    INVALID_ARGUMENTS: 2,
    OUTPUT_CONFLICT: 3,
    OUTPUT_NOT_OWNED: 4,
    NO_INPUT: 5,
}
MESSAGE_LIMIT = 4096  # bytes of the termination message


class JobFailure(Exception):
    """A job refused or stopped for a reason the user can act on."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def one_line(text: str) -> str:
    """The first non-empty line of a message (a JVM error's stack trace follows it)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def termination_message(reason: str, message: str) -> str:
    """``{"error": reason, "message": message}`` in at most MESSAGE_LIMIT bytes of UTF-8."""
    text = message
    while True:
        body = json.dumps({"error": reason, "message": text}, separators=(",", ":"))
        size = len(body.encode())
        if size <= MESSAGE_LIMIT:
            return body
        text = text[: len(text) * MESSAGE_LIMIT // size - 1]  # escapes make chars uneven


def describe(error: BaseException) -> str:
    """One line saying what went wrong; for a JVM error, the Java exception's own message."""
    java = getattr(error, "java_exception", None)
    text = str(java.toString()) if java is not None else str(error)
    return one_line(text) or type(error).__name__
