"""Every exception the target raises, in one hierarchy that carries what a caller needs to act.

Salesforce answers with three envelopes (REST error arrays with ``errorCode``, per-record
results with ``statusCode``, OAuth objects with ``error``); they all end up here as one of a
few classes so the sinks can decide between retrying, dead-lettering and stopping. Errors of
the input (Singer lines, BATCH files), of one record (a value that does not fit its field) and
of Bulk jobs live here too, so a caller finds every error type in one module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.singerlib.exceptions import InvalidInputLine


class SalesforceOutError(Exception):
    """Base class of every error raised by this target."""


class ConfigError(SalesforceOutError):
    """A setting, or a combination of settings, cannot work."""


class ConfigFileError(ConfigError):
    """A ``--config`` file is missing, unreadable, or not a JSON object."""


class AuthenticationError(SalesforceOutError):
    """The token endpoint refused the credentials (never retried)."""

    def __init__(self, error: str, description: str, hint: str = "") -> None:
        """Keep the OAuth ``error``/``error_description`` pair and a hint for the user."""
        self.error = error
        self.description = description
        self.hint = hint
        text = f"Salesforce login failed: {error}: {description}"
        super().__init__(f"{text}. {hint}" if hint else text)


@dataclass(frozen=True)
class ErrorDetail:
    """One error as Salesforce reports it (``errorCode``/``statusCode``, message, fields)."""

    code: str
    message: str
    fields: tuple[str, ...] = field(default_factory=tuple)
    # For DUPLICATES_DETECTED: (Id, duplicate rule) of each record Salesforce matched.
    duplicates: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, object]:
        """Return the JSON shape used in the dead-letter file and the report."""
        out: dict[str, object] = {
            "errorCode": self.code,
            "message": self.message,
            "fields": list(self.fields),
        }
        if self.duplicates:
            out["duplicates"] = [{"id": rid, "rule": rule} for rid, rule in self.duplicates]
        return out


class SalesforceApiError(SalesforceOutError):
    """A call answered with an error status; carries the parsed Salesforce error body."""

    def __init__(self, status: int, method: str, path: str, errors: list[ErrorDetail]) -> None:
        """Build the message from the first error, keeping all of them."""
        self.status = status
        self.method = method
        self.path = path
        self.errors = errors
        first = errors[0] if errors else ErrorDetail("UNKNOWN", "no error body")
        self.error_code = first.code
        self.error_message = first.message
        self.fields = list(first.fields)
        super().__init__(f"{method} {path} -> HTTP {status} {first.code}: {first.message}")


class TransientApiError(SalesforceApiError):
    """A call that may succeed if sent again (5xx, edge errors, concurrency limit)."""


class SessionExpiredError(SalesforceApiError):
    """401 ``INVALID_SESSION_ID`` that survived one re-authentication."""


class ApiLimitError(SalesforceApiError):
    """403 ``REQUEST_LIMIT_EXCEEDED``: the org's rolling 24-hour allocation is spent."""


class ConnectionFailedError(SalesforceOutError):
    """The connection failed in a way that makes sending the same call again safe."""


class OutcomeUnknownError(SalesforceOutError):
    """A non-idempotent call was sent but no answer came back; it may have been applied."""

    def __init__(self, method: str, path: str, cause: str) -> None:
        """Say which call, and why its outcome is unknown."""
        self.method = method
        self.path = path
        super().__init__(
            f"{method} {path}: no response ({cause}); Salesforce may or may not have applied it, "
            "so it was not sent again"
        )


class ApiBudgetExceededError(SalesforceOutError):
    """The next call would take the org past ``max_api_usage_percent``."""

    def __init__(self, used: int, limit: int, percent: float) -> None:
        """Carry the usage figures so the message can show them."""
        self.used = used
        self.limit = limit
        self.percent = percent
        super().__init__(
            f"Stopped before the org's daily API usage passes max_api_usage_percent={percent:g}: "
            f"{used} of {limit} requests used ({100.0 * used / limit:.1f}%); nothing more was sent"
        )


class RunInterruptedError(SalesforceOutError):
    """SIGTERM or SIGINT: the run stops reading input (``hard``: a second signal, stop now)."""

    def __init__(self, signum: int, *, hard: bool) -> None:
        """Say which signal, and what the run does about it."""
        self.signum = signum
        self.hard = hard
        what = (
            "stopping now: open Bulk jobs are aborted and no STATE is written"
            if hard
            else "writing the records received so far, then STATE"
        )
        super().__init__(f"interrupted by signal {signum}: {what}")


class RecordsFailedError(SalesforceOutError):
    """``on_record_error: fail`` and a batch had records Salesforce (or we) rejected."""


# -- one record ------------------------------------------------------------------------------


class RecordRejectedError(Exception):
    """A record that cannot be sent; carries the error as it goes to the dead-letter file."""

    def __init__(self, detail: ErrorDetail) -> None:
        """Keep the detail; the message is the detail's message."""
        self.detail = detail
        super().__init__(detail.message)


class ValueProblemError(Exception):
    """A value does not fit its field (code and message in Salesforce's vocabulary)."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the Salesforce-style status code with the text."""
        self.code = code
        super().__init__(message)


class UnsendableValueError(Exception):
    """A value that Bulk CSV cannot carry (the string ``#N/A`` reads as null)."""

    def __init__(self, column: str) -> None:
        """Name the column whose value cannot be sent."""
        self.column = column
        super().__init__(column)


# -- Bulk API 2.0 jobs -------------------------------------------------------------------------


class BulkJobError(SalesforceOutError):
    """A job ended without processing all of its rows; carries the job's ``errorMessage``."""

    def __init__(self, job_id: str, state: str, error_message: str, text: str) -> None:
        """Keep the job id, its state and Salesforce's job-level message."""
        self.job_id = job_id
        self.state = state
        self.error_message = error_message
        super().__init__(text)


class BulkJobFailedError(BulkJobError):
    """The job ended ``Failed`` (some rows may have been committed; see the report)."""


class BulkJobAbortedError(BulkJobError):
    """The job was aborted (by this run when it was interrupted, or by someone in the org)."""


class BulkJobTimeoutError(BulkJobError):
    """The job did not reach a terminal state in time; it was aborted."""


class AnswersLostError(SalesforceOutError):
    """An upload or close went unanswered every time; the job was left Open, never closed."""


# -- input -------------------------------------------------------------------------------------


class BadInputError(InvalidInputLine):
    """A line of Singer input that cannot be read as a message."""


class RecordBeforeSchemaError(BadInputError, RecordsWithoutSchemaException):
    """A RECORD before its stream's SCHEMA; still the exception singer-sdk's callers expect."""


class BatchFileError(SalesforceOutError):
    """A BATCH message, or a file its manifest lists, cannot be read."""
