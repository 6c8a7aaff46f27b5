"""The HTTP client: one ``requests.Session``, retries, error parsing, API usage accounting.

Retry policy (:func:`classify` decides it, from the answer's status and error code and whether
the call is safe to send again): transient failures (connection errors, 420/500/502/503/504,
the concurrent-request 403) are sent again with exponential backoff and full jitter; each 401
is answered by one re-authentication and one replay (at most :data:`SESSION_RENEWALS` logins
per call, so a token that expires again while a call is retried does not end the run); the
daily-allocation 403 and everything else surface at once. A call that is not idempotent (a
create) is only sent again when it cannot have been applied: Salesforce may have committed a
create whose answer was lost.

Salesforce documents the statuses and codes in the REST API Developer Guide ("Status Codes
and Error Responses"), the two 403 ``REQUEST_LIMIT_EXCEEDED`` limits in the Salesforce
Developer Limits and Allocations Quick Reference ("API Request Limits and Allocations"), and
the ``Sforce-Limit-Info`` header in the REST API Developer Guide ("Limit Info Header").
"""

from __future__ import annotations

import enum
import re
import threading
from collections.abc import Mapping
from typing import IO, Any, Protocol

import backoff
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from target_salesforce_out.auth import Authenticator, Session, connection_failure
from target_salesforce_out.errors import (
    ApiBudgetExceededError,
    ApiLimitError,
    ConnectionFailedError,
    ErrorDetail,
    OutcomeUnknownError,
    SalesforceApiError,
    SessionExpiredError,
    TransientApiError,
)

USER_AGENT = "target-salesforce-out"
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
# 420 is Salesforce Edge's routing failure; the 5xx are server and gateway errors.
_TRANSIENT_STATUS = frozenset({420, 500, 502, 503, 504})
# A 503 is taken to mean the server was too busy to take the call, so even a create is sent
# again: not documented by Salesforce; the emulator's choice too (docs/salesforce.md).
_REFUSED_STATUS = 503
# The message tells the daily allocation from the concurrent long-running request limit;
# both come as 403 REQUEST_LIMIT_EXCEEDED.
_DAILY_LIMIT_MESSAGE = "TotalRequests Limit exceeded."
# Logins one call may trigger, each after a 401 for the token it had just been given.
SESSION_RENEWALS = 3
_BODY_BLOCK = 1024 * 1024


class Readable(Protocol):
    """A request body read in blocks (an upload streamed from disk)."""

    def read(self, size: int = -1, /) -> bytes:
        """The next block; ``b""`` at the end."""
        ...


Body = bytes | Readable


class Decision(enum.Enum):
    """What the request loop does with a call that failed, and the error it raises for it."""

    RETRY = "retry"  # TransientApiError, ConnectionFailedError: back off, send again
    REAUTHENTICATE = "re-authenticate"  # SessionExpiredError: log in again, then replay
    STOP = "stop"  # ApiLimitError: the org's daily allocation is spent
    OUTCOME_UNKNOWN = "outcome unknown"  # OutcomeUnknownError: may be applied; not resent
    FAIL = "fail"  # SalesforceApiError: sending it again would get the same answer


def classify(
    status: int | None, code: str = "", message: str = "", *, safe_to_resend: bool
) -> Decision:
    """Decide what to do with a failed call.

    Args:
        status: The answer's HTTP status (400 or more), or None when no answer came back
            (the connection failed or timed out).
        code: The first error's ``errorCode``.
        message: The first error's message.
        safe_to_resend: The call is idempotent, or it cannot have reached Salesforce.

    Returns:
        The decision; the request loop raises the error class named beside each member.
    """
    if status is None:
        return Decision.RETRY if safe_to_resend else Decision.OUTCOME_UNKNOWN
    if status == 401:
        return Decision.REAUTHENTICATE
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        # Either limit refuses the call before it runs, so the concurrency one is retried
        # whatever the call; the daily one will not lift for hours.
        return Decision.STOP if message.startswith(_DAILY_LIMIT_MESSAGE) else Decision.RETRY
    if status in _TRANSIENT_STATUS:
        if safe_to_resend or status == _REFUSED_STATUS:
            return Decision.RETRY
        return Decision.OUTCOME_UNKNOWN
    return Decision.FAIL


# The error raised for each decision about an answer (OUTCOME_UNKNOWN has its own shape).
_ANSWER_ERRORS: dict[Decision, type[SalesforceApiError]] = {
    Decision.RETRY: TransientApiError,
    Decision.REAUTHENTICATE: SessionExpiredError,
    Decision.STOP: ApiLimitError,
    Decision.FAIL: SalesforceApiError,
}


def parse_errors(response: requests.Response) -> list[ErrorDetail]:
    """Parse a REST error array (``errorCode``); never empty, whatever the body.

    HTML and empty bodies occur on 5xx answers from Salesforce's edge.
    """
    try:
        payload = response.json()
    except ValueError:
        text = response.text.strip()[:200]
        return [ErrorDetail(f"HTTP_{response.status_code}", text or response.reason or "")]
    items = payload if isinstance(payload, list) else [payload]
    errors = []
    for item in items:
        if isinstance(item, dict):
            code = item.get("errorCode") or item.get("statusCode") or item.get("error")
            message = item.get("message") or item.get("error_description") or ""
            fields = item.get("fields") or ()
            errors.append(ErrorDetail(str(code or "UNKNOWN"), str(message), tuple(fields)))
        else:
            # A 300 answer to an upsert is a list of record URLs.
            errors.append(ErrorDetail(f"HTTP_{response.status_code}", str(item)))
    return errors or [ErrorDetail(f"HTTP_{response.status_code}", response.reason or "")]


class SalesforceClient:
    """Sends REST and Bulk API calls for the whole run; safe to share between threads."""

    def __init__(
        self,
        auth: Authenticator,
        http: requests.Session,
        *,
        api_version: str,
        timeout: float = 120.0,
        max_tries: int = 6,
        backoff_factor: float = 0.5,
        backoff_max: float = 60.0,
        max_api_usage_percent: float | None = None,
    ) -> None:
        """Configure retries and the API budget; no call is made here."""
        self.auth = auth
        self.http = http
        self.api_version = api_version
        self.timeout = timeout
        self.max_api_usage_percent = max_api_usage_percent
        self._lock = threading.Lock()
        self.api_calls = 0
        self.retries = 0
        self.usage_used: int | None = None
        self.usage_limit: int | None = None
        self._send_retrying = backoff.on_exception(
            backoff.expo,
            (TransientApiError, ConnectionFailedError),
            max_tries=max_tries,
            jitter=backoff.full_jitter,
            factor=backoff_factor,
            max_value=backoff_max,
            on_backoff=self._count_retry,
            raise_on_giveup=True,
        )(self._send_once)

    @property
    def data_path(self) -> str:
        """Path prefix of the versioned REST API."""
        return f"/services/data/v{self.api_version}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Body | None = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
        idempotent: bool = True,
        accept: str = "application/json",
        stream: bool = False,
        into: IO[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one API call (retrying as the module docstring says) and return a 2xx/3xx answer.

        ``path`` is relative to ``/services/data/vXX.X`` unless it starts with ``/services/``
        (as ``nextRecordsUrl`` does). ``body`` may be a file-like object that rewinds itself
        when ``requests`` asks for its length, so a retry sends it whole again. With
        ``stream`` the answer's body is left unread for the caller to iterate (and close).
        With ``into`` (idempotent calls only) the body is written there, and a body cut off
        midway counts as a failed call: it is sent again and the body written whole again.
        ``headers`` are added to the call's own (e.g. ``Sforce-Auto-Assign``).
        """
        full_path = path if path.startswith("/services/") else self.data_path + path
        sent = {
            "Accept": accept,
            "Sforce-Call-Options": f"client={USER_AGENT}",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        }
        if body is not None:
            sent["Content-Type"] = content_type

        def send(session: Session) -> requests.Response:
            return self._send_retrying(
                method,
                full_path,
                session.instance_url,
                session.access_token,
                body,
                sent,
                params,
                idempotent,
                stream,
                into,
            )

        session = self.auth.session()
        # A 401 on the replay is a new expiry (the token was fresh when the replay began, but
        # other threads' calls or a long backoff may outlive it): log in again, a few times.
        for _ in range(SESSION_RENEWALS - 1):
            try:
                return send(session)
            except SessionExpiredError:
                session = self.auth.refresh(session.access_token)
        return send(session)

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET a JSON resource."""
        return self.request("GET", path, params=params).json()

    def _count_retry(self, details: Any) -> None:
        with self._lock:
            self.retries += 1

    def _reserve_call(self) -> None:
        with self._lock:
            percent = self.max_api_usage_percent
            if percent is not None and self.usage_used is not None and self.usage_limit:
                if self.usage_used + 1 > self.usage_limit * percent / 100.0:
                    raise ApiBudgetExceededError(self.usage_used, self.usage_limit, percent)
                # Count the call as used now so concurrent callers see it before its answer.
                self.usage_used += 1
            self.api_calls += 1

    def _note_usage(self, response: requests.Response) -> None:
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match is None:
            return
        used, limit = int(match.group(1)), int(match.group(2))
        with self._lock:
            self.usage_used = max(used, self.usage_used or 0)
            self.usage_limit = limit

    def _send_once(
        self,
        method: str,
        path: str,
        instance_url: str,
        token: str,
        body: Body | None,
        headers: dict[str, str],
        params: Mapping[str, str] | None,
        idempotent: bool,
        stream: bool,
        into: IO[bytes] | None = None,
    ) -> requests.Response:
        self._reserve_call()
        try:
            response = self.http.request(
                method,
                instance_url + path,
                data=body,
                params=params,
                headers={**headers, "Authorization": f"Bearer {token}"},
                timeout=self.timeout,
                stream=stream or into is not None,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            safe = idempotent or _never_sent(exc)
            if classify(None, safe_to_resend=safe) is Decision.RETRY:
                raise ConnectionFailedError(f"{method} {path}: {connection_failure(exc)}") from None
            raise OutcomeUnknownError(method, path, connection_failure(exc)) from None
        self._note_usage(response)
        status = response.status_code
        if status < 400:
            if into is not None:
                _read_body(response, into)
            return response
        errors = parse_errors(response)
        first = errors[0]
        decision = classify(status, first.code, first.message, safe_to_resend=idempotent)
        if decision is Decision.OUTCOME_UNKNOWN:
            raise OutcomeUnknownError(method, path, f"HTTP {status} {first.code}")
        raise _ANSWER_ERRORS[decision](status, method, path, errors)


def _read_body(response: requests.Response, into: IO[bytes]) -> None:
    """Write the whole body to ``into`` (emptied first), or raise a retryable error."""
    into.seek(0)
    into.truncate()
    try:
        with response:
            for chunk in response.iter_content(chunk_size=_BODY_BLOCK):
                into.write(chunk)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        raise ConnectionFailedError(f"the answer was cut off: {type(exc).__name__}") from None


def _never_sent(exc: Exception) -> bool:
    """True when the connection failed before any byte of the request reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError)
