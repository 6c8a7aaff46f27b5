"""Exception hierarchy: every error carries what a caller needs to act on it.

Salesforce answers with three envelopes (REST error arrays with ``errorCode``, per-record
results with ``statusCode``, OAuth objects with ``error``); they all end up here as one of a
few classes so the sinks can decide between retrying, dead-lettering and stopping.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class SalesforceOutError(Exception):
    """Base class of every error raised by this target."""


class ConfigError(SalesforceOutError):
    """A setting, or a combination of settings, cannot work."""


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

    def as_dict(self) -> dict[str, object]:
        """Return the JSON shape used in the dead-letter file and the report."""
        return {"errorCode": self.code, "message": self.message, "fields": list(self.fields)}


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
