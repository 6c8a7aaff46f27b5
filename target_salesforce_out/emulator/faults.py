"""The fault plan: injected HTTP errors, dropped connections, latency and per-record errors.

A plan is a JSON list of rules (README, "Fault plan format"); each rule has ``match``
(``method``, ``path_contains``; empty matches every request) and one effect:

* ``status`` (with optional ``on_calls``): answer with Salesforce's error body for that status;
* ``drop_connection`` (with optional ``on_calls``): close the socket without answering;
* ``lose_answer`` (with optional ``on_calls``): carry the request out (save the records, store
  the upload, change the job's state), then close the socket without answering: the answer is
  lost, not the request;
* ``cut_answer_after_bytes`` (with optional ``on_calls``): answer, announcing the whole body's
  ``Content-Length``, but close the socket after that many bytes of the body;
* ``latency_ms`` (with optional ``on_calls``): wait before answering;
* ``expire_token`` (with optional ``on_calls``): invalidate every access token first, so the call
  gets 401 ``INVALID_SESSION_ID``;
* ``record_error`` (with ``every_nth_record``, ``first_attempts``, optional ``message``): inside
  Collections calls and Bulk jobs, every n-th distinct record fails its first attempts;
* ``fail_job_after_rows`` (with optional ``error_message``): read by the Bulk module;
* ``echo_as_parsed`` (``true``): read by the Bulk module: result files echo typed cells as
  parsed values rendered anew (numbers as Java doubles such as ``1.0E2``, booleans upper-case,
  datetimes with ``+0000``, ids with 18 characters, ``#N/A`` as empty) instead of as uploaded.

``on_calls`` lists 1-based numbers counted over the requests that match the rule; without it the
effect applies to every matching request.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import RecordError

# Default messages of record-level faults, as real orgs word them (REST API Developer Guide,
# "Status Codes and Error Responses"; the trigger and validation texts are the emulator's choice).
RECORD_MESSAGES = {
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record",
    "DUPLICATES_DETECTED": "Use one of these records?",
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY": (
        "EmulatorTrigger: execution of AfterInsert caused by: System.DmlException: Insert "
        "failed. First exception on row 0; first error: UNABLE_TO_LOCK_ROW, unable to obtain "
        "exclusive access to this record: []"
    ),
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "Record rejected by the emulator's validation rule",
    "INSUFFICIENT_ACCESS_OR_READONLY": "insufficient access rights on object id",
}
FAULT_STATUSES = frozenset({401, 403, 420, 500, 502, 503, 504})
_EFFECTS = (
    "status",
    "drop_connection",
    "lose_answer",
    "cut_answer_after_bytes",
    "latency_ms",
    "expire_token",
    "record_error",
)
_BULK_EFFECTS = ("fail_job_after_rows", "echo_as_parsed")
_KEYS = frozenset(
    {
        "match",
        "on_calls",
        "body",
        "message",
        "every_nth_record",
        "first_attempts",
        "error_message",
        *_EFFECTS,
        *_BULK_EFFECTS,
    }
)


class FaultPlanError(ValueError):
    """A fault plan that cannot be applied as written."""


@dataclass
class FaultRule:
    """One validated rule plus its counters.

    Attributes:
        raw: The rule as written (other modules read extra kinds from it).
        method: Upper-case method to match, or None for any.
        path_contains: Substring the path must contain ("" matches all).
    """

    raw: dict[str, Any]
    method: str | None
    path_contains: str
    calls: int = 0
    ordinals: dict[str, int] = field(default_factory=dict)
    sightings: dict[str, int] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        """Whether a request (or a Bulk job's upload) is covered by this rule."""
        if self.method is not None and method.upper() != self.method:
            return False
        return self.path_contains in path


@dataclass
class RequestFaults:
    """Effects that apply to one request."""

    status: int | None = None
    body: str | None = None
    drop_connection: bool = False
    lose_answer: bool = False
    cut_after_bytes: int | None = None
    latency_ms: float = 0.0
    expire_token: bool = False


class FaultPlan:
    """A validated, thread-safe fault plan."""

    def __init__(self, rules: list[dict[str, Any]] | None = None) -> None:
        """Validate the rules.

        Args:
            rules: The plan as a list of rule dicts.
        """
        self._lock = threading.Lock()
        self.rules = [_validate(i, r) for i, r in enumerate(rules or [], start=1)]

    def on_request(self, method: str, path: str) -> RequestFaults:
        """Count a request against every matching rule and return the effects that fire.

        Args:
            method: HTTP method.
            path: Request path (no query string).

        Returns:
            The combined effects.
        """
        out = RequestFaults()
        with self._lock:
            for rule in self.rules:
                raw = rule.raw
                if "record_error" in raw or any(k in raw for k in _BULK_EFFECTS):
                    continue
                if not rule.matches(method, path):
                    continue
                rule.calls += 1
                on_calls = raw.get("on_calls")
                if on_calls is not None and rule.calls not in on_calls:
                    continue
                if "status" in raw and out.status is None:
                    out.status = int(raw["status"])
                    out.body = raw.get("body")
                if raw.get("drop_connection"):
                    out.drop_connection = True
                if raw.get("lose_answer"):
                    out.lose_answer = True
                if "cut_answer_after_bytes" in raw and out.cut_after_bytes is None:
                    out.cut_after_bytes = int(raw["cut_answer_after_bytes"])
                if raw.get("expire_token"):
                    out.expire_token = True
                out.latency_ms += float(raw.get("latency_ms", 0))
        return out

    def record_fault(self, method: str, path: str, key: str) -> RecordError | None:
        """Decide whether one record fails with an injected per-record error.

        Distinct records (by ``key``: external id, Id or canonical JSON) are numbered in
        first-seen order per rule; every ``every_nth_record``-th one fails the first
        ``first_attempts`` times it is seen.

        Args:
            method: Method of the request carrying the record (``PUT`` for Bulk rows).
            path: Path of that request (the job's upload path for Bulk rows).
            key: Stable identity of the record.

        Returns:
            The error to report, or None.
        """
        with self._lock:
            for rule in self.rules:
                raw = rule.raw
                if "record_error" not in raw or not rule.matches(method, path):
                    continue
                ordinal = rule.ordinals.setdefault(key, len(rule.ordinals) + 1)
                if ordinal % int(raw.get("every_nth_record", 1)) != 0:
                    continue
                seen = rule.sightings.get(key, 0)
                if seen >= int(raw.get("first_attempts", 1)):
                    continue
                rule.sightings[key] = seen + 1
                code = str(raw["record_error"])
                return RecordError(code, str(raw.get("message") or RECORD_MESSAGES[code]))
        return None

    def job_failure(self, method: str, path: str) -> tuple[int, str | None] | None:
        """The first ``fail_job_after_rows`` rule covering a Bulk job, if any.

        Args:
            method: ``PUT``: Bulk rules match like record-level rules, against the upload.
            path: The job's upload path.

        Returns:
            (rows after which the job fails, the rule's ``error_message`` or None), or None.
        """
        for rule in self.rules:
            raw = rule.raw
            if "fail_job_after_rows" in raw and rule.matches(method, path):
                message = raw.get("error_message")
                return int(raw["fail_job_after_rows"]), str(message) if message else None
        return None

    def echo_as_parsed(self, method: str, path: str) -> bool:
        """Whether an ``echo_as_parsed`` rule covers a Bulk job (matched like ``job_failure``)."""
        return any(r.raw.get("echo_as_parsed") and r.matches(method, path) for r in self.rules)

    def reset_counters(self) -> None:
        """Forget call counts and record sightings (the rules stay)."""
        with self._lock:
            for rule in self.rules:
                rule.calls = 0
                rule.ordinals.clear()
                rule.sightings.clear()


def _validate(number: int, rule: Any) -> FaultRule:
    where = f"fault rule {number}"
    if not isinstance(rule, dict):
        raise FaultPlanError(f"{where}: must be a JSON object")
    unknown = sorted(set(rule) - _KEYS)
    if unknown:
        raise FaultPlanError(f"{where}: unknown keys {unknown}; known keys are {sorted(_KEYS)}")
    match = rule.get("match", {})
    if not isinstance(match, dict) or set(match) - {"method", "path_contains"}:
        raise FaultPlanError(f'{where}: "match" must be an object with "method"/"path_contains"')
    effects = [k for k in (*_EFFECTS, *_BULK_EFFECTS) if k in rule]
    if len(effects) != 1:
        raise FaultPlanError(
            f"{where}: needs exactly one effect of {[*_EFFECTS, *_BULK_EFFECTS]}, got {effects}"
        )
    on_calls = rule.get("on_calls")
    if on_calls is not None and (
        not isinstance(on_calls, list)
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in on_calls)
    ):
        raise FaultPlanError(f'{where}: "on_calls" must be a list of 1-based call numbers')
    if "status" in rule and rule["status"] not in FAULT_STATUSES:
        raise FaultPlanError(f"{where}: status must be one of {sorted(FAULT_STATUSES)}")
    if "body" in rule and rule["body"] not in {"json", "html", "empty"}:
        raise FaultPlanError(f'{where}: "body" must be "json", "html" or "empty"')
    for flag in ("lose_answer", "echo_as_parsed"):
        if flag in rule and rule[flag] is not True:
            raise FaultPlanError(f'{where}: "{flag}" must be true')
    if "cut_answer_after_bytes" in rule and not (
        isinstance(rule["cut_answer_after_bytes"], int)
        and not isinstance(rule["cut_answer_after_bytes"], bool)
        and rule["cut_answer_after_bytes"] >= 0
    ):
        raise FaultPlanError(f'{where}: "cut_answer_after_bytes" must be a non-negative integer')
    if "latency_ms" in rule and not (
        isinstance(rule["latency_ms"], int | float) and rule["latency_ms"] >= 0
    ):
        raise FaultPlanError(f'{where}: "latency_ms" must be a non-negative number')
    if "record_error" in rule:
        if rule["record_error"] not in RECORD_MESSAGES and not rule.get("message"):
            raise FaultPlanError(
                f"{where}: record_error must be one of {sorted(RECORD_MESSAGES)} "
                '(or give a "message" for another status code)'
            )
        if on_calls is not None:
            raise FaultPlanError(f'{where}: record_error rules count records, not "on_calls"')
        for key in ("every_nth_record", "first_attempts"):
            value = rule.get(key, 1)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise FaultPlanError(f"{where}: {key} must be a positive integer")
    method = match.get("method")
    return FaultRule(
        raw=dict(rule),
        method=str(method).upper() if method else None,
        path_contains=str(match.get("path_contains") or ""),
    )


def load_fault_plan(source: list[dict[str, Any]] | str | Path | None) -> FaultPlan:
    """Build a FaultPlan from a list of rules or a JSON file.

    Args:
        source: The rules, a path to a JSON file holding them, or None for no faults.

    Returns:
        The validated plan.

    Raises:
        FaultPlanError: If the file cannot be read or a rule is invalid.
    """
    if source is None:
        return FaultPlan([])
    if isinstance(source, str | Path):
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise FaultPlanError(f"cannot read fault plan {source}: {exc}") from exc
    else:
        data = source
    if not isinstance(data, list):
        raise FaultPlanError("a fault plan is a JSON list of rules")
    return FaultPlan(data)
