"""The client's retry decisions (target_salesforce_out.client): status x error code x safe to resend.

``classify`` is tested as a table first; then a few calls go through the real client to the
emulator with a fault plan, to show that the request loop acts on each decision: it sends
again, logs in again, or raises the decision's error without sending the call twice.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from http import HTTPStatus

import pytest
import requests

from target_salesforce_out.client import (
    SESSION_RENEWALS,
    Decision,
    SalesforceClient,
    classify,
    parse_errors,
)
from target_salesforce_out.errors import (
    ApiLimitError,
    ErrorDetail,
    OutcomeUnknownError,
    SalesforceApiError,
    SessionExpiredError,
    TransientApiError,
)
from target_salesforce_out.wire import encode_collection

DAILY = "TotalRequests Limit exceeded."
CONCURRENT = "ConcurrentPerOrgLongTxn Limit exceeded."

# (status, errorCode, message, safe to resend) -> decision
DECISIONS = [
    pytest.param(None, "", "", True, Decision.RETRY, id="no-answer-safe-retry"),
    pytest.param(None, "", "", False, Decision.OUTCOME_UNKNOWN, id="no-answer-create-unknown"),
    pytest.param(401, "INVALID_SESSION_ID", "", True, Decision.REAUTHENTICATE, id="401-get"),
    pytest.param(401, "INVALID_SESSION_ID", "", False, Decision.REAUTHENTICATE, id="401-create"),
    pytest.param(403, "REQUEST_LIMIT_EXCEEDED", DAILY, True, Decision.STOP, id="403-daily-get"),
    pytest.param(403, "REQUEST_LIMIT_EXCEEDED", DAILY, False, Decision.STOP, id="403-daily-create"),
    pytest.param(
        403, "REQUEST_LIMIT_EXCEEDED", CONCURRENT, True, Decision.RETRY, id="403-concurrent-get"
    ),
    pytest.param(
        403,
        "REQUEST_LIMIT_EXCEEDED",
        CONCURRENT,
        False,
        Decision.RETRY,
        id="403-concurrent-create-refused-before-running",
    ),
    pytest.param(
        403, "INSUFFICIENT_ACCESS", "no access", True, Decision.FAIL, id="403-other-code-fails"
    ),
    pytest.param(
        403, "API_DISABLED_FOR_ORG", "API is not enabled", True, Decision.FAIL, id="403-api-off"
    ),
    pytest.param(420, "HTTP_420", "", True, Decision.RETRY, id="420-get"),
    pytest.param(420, "HTTP_420", "", False, Decision.OUTCOME_UNKNOWN, id="420-create"),
    pytest.param(500, "UNKNOWN_EXCEPTION", "", True, Decision.RETRY, id="500-get"),
    pytest.param(500, "UNKNOWN_EXCEPTION", "", False, Decision.OUTCOME_UNKNOWN, id="500-create"),
    pytest.param(502, "HTTP_502", "", True, Decision.RETRY, id="502-get"),
    pytest.param(502, "HTTP_502", "", False, Decision.OUTCOME_UNKNOWN, id="502-create"),
    pytest.param(503, "SERVER_UNAVAILABLE", "", True, Decision.RETRY, id="503-get"),
    pytest.param(
        503, "SERVER_UNAVAILABLE", "", False, Decision.RETRY, id="503-create-was-not-applied"
    ),
    pytest.param(504, "HTTP_504", "", True, Decision.RETRY, id="504-get"),
    pytest.param(504, "HTTP_504", "", False, Decision.OUTCOME_UNKNOWN, id="504-create"),
    pytest.param(400, "MALFORMED_QUERY", "unexpected token", True, Decision.FAIL, id="400"),
    pytest.param(400, "JSON_PARSER_ERROR", "", False, Decision.FAIL, id="400-create"),
    pytest.param(404, "NOT_FOUND", "", True, Decision.FAIL, id="404"),
    pytest.param(405, "METHOD_NOT_ALLOWED", "", True, Decision.FAIL, id="405"),
    pytest.param(414, "HTTP_414", "", True, Decision.FAIL, id="414-uri-too-long"),
    pytest.param(431, "HTTP_431", "", True, Decision.FAIL, id="431-headers-too-large"),
    pytest.param(501, "HTTP_501", "", True, Decision.FAIL, id="501-not-in-the-transient-set"),
]


@pytest.mark.parametrize(("status", "code", "message", "safe", "expected"), DECISIONS)
def test_classify(status, code, message, safe, expected):
    assert classify(status, code, message, safe_to_resend=safe) is expected


def test_daily_limit_is_told_apart_by_the_message_start():
    decision = classify(403, "REQUEST_LIMIT_EXCEEDED", DAILY + " (more)", safe_to_resend=True)
    assert decision is Decision.STOP


# parse_errors: what the loop classifies by -------------------------------------------------


def _answer(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.reason = HTTPStatus(status).phrase
    response.encoding = "utf-8"
    return response


ERROR_BODIES = [
    pytest.param(
        401,
        b'[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]',
        [ErrorDetail("INVALID_SESSION_ID", "Session expired or invalid")],
        id="rest-error-array",
    ),
    pytest.param(
        400,
        b'[{"fields":["Id"],"message":"bad id","errorCode":"MALFORMED_ID"},'
        b'{"message":"second","errorCode":"X"}]',
        [ErrorDetail("MALFORMED_ID", "bad id", ("Id",)), ErrorDetail("X", "second")],
        id="fields-and-several-errors",
    ),
    pytest.param(
        400,
        b'{"error":"invalid_grant","error_description":"expired access/refresh token"}',
        [ErrorDetail("invalid_grant", "expired access/refresh token")],
        id="oauth-object",
    ),
    pytest.param(
        502,
        b"<html><body>Bad Gateway</body></html>",
        [ErrorDetail("HTTP_502", "<html><body>Bad Gateway</body></html>")],
        id="html-from-the-edge",
    ),
    pytest.param(503, b"", [ErrorDetail("HTTP_503", "Service Unavailable")], id="empty-body"),
    pytest.param(400, b"[]", [ErrorDetail("HTTP_400", "Bad Request")], id="empty-array"),
    pytest.param(
        300,
        b'["/services/data/v62.0/sobjects/Account/001A"]',
        [ErrorDetail("HTTP_300", "/services/data/v62.0/sobjects/Account/001A")],
        id="300-record-urls",
    ),
]


@pytest.mark.parametrize(("status", "body", "expected"), ERROR_BODIES)
def test_parse_errors(status, body, expected):
    assert parse_errors(_answer(status, body)) == expected


# The request loop against the emulator ----------------------------------------------------


@dataclass(frozen=True)
class _Session:
    access_token: str
    instance_url: str


class EmulatorLogin:
    """Stands in for the OAuth flows (tested elsewhere): tokens from the emulator's Python API.

    Like the real authenticator, a refresh for a token that was already replaced returns the
    newer session instead of logging in again.
    """

    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self.logins = 0
        self._session: _Session | None = None

    def session(self) -> _Session:
        if self._session is None:
            self._session = self._login()
        return self._session

    def refresh(self, stale_token: str) -> _Session:
        if self._session is None or self._session.access_token == stale_token:
            self._session = self._login()
        return self._session

    def _login(self) -> _Session:
        self.logins += 1
        return _Session(self.emulator.access_token(), self.emulator.base_url)


def _client(emulator, *, max_tries: int = 6) -> tuple[SalesforceClient, EmulatorLogin]:
    login = EmulatorLogin(emulator)
    # No backoff wait: the decisions are under test, not the timing.
    client = SalesforceClient(
        login,  # the client only calls session() and refresh()
        requests.Session(),
        api_version="62.0",
        max_tries=max_tries,
        backoff_factor=0.0,
        timeout=30,
    )
    return client, login


def _sent(emulator, method: str, path_part: str) -> int:
    return sum(1 for r in emulator.requests if r["method"] == method and path_part in r["path"])


def _describe_global(client: SalesforceClient) -> None:
    assert client.get_json("/sobjects")["sobjects"]


def _create_account(client: SalesforceClient) -> None:
    body = encode_collection("Account", [{"Name": "Retry Test"}])
    results = client.request("POST", "/composite/sobjects", body=body, idempotent=False).json()
    assert results[0]["success"] is True


GET = ("GET", "/sobjects", _describe_global)
CREATE = ("POST", "/composite/sobjects", _create_account)


def _rule(call, **effect):
    method, path, _ = call
    return {"match": {"method": method, "path_contains": path}, **effect}


# (call, fault rule, sends the emulator sees, retries counted, logins)
RECOVERED = [
    pytest.param(GET, {"status": 503, "on_calls": [1]}, 2, 1, 1, id="get-503-sent-again"),
    pytest.param(GET, {"status": 500, "on_calls": [1]}, 2, 1, 1, id="get-500-sent-again"),
    pytest.param(
        GET, {"status": 502, "body": "empty", "on_calls": [1]}, 2, 1, 1, id="get-502-empty-body"
    ),
    pytest.param(
        GET, {"status": 504, "body": "html", "on_calls": [1]}, 2, 1, 1, id="get-504-html-body"
    ),
    pytest.param(GET, {"status": 420, "on_calls": [1, 2]}, 3, 2, 1, id="get-420-twice"),
    pytest.param(GET, {"status": 403, "on_calls": [1]}, 2, 1, 1, id="get-403-concurrent"),
    pytest.param(GET, {"drop_connection": True, "on_calls": [1]}, 2, 1, 1, id="get-dropped"),
    pytest.param(GET, {"lose_answer": True, "on_calls": [1]}, 2, 1, 1, id="get-answer-lost"),
    pytest.param(
        CREATE, {"status": 503, "on_calls": [1]}, 2, 1, 1, id="create-503-was-not-applied"
    ),
    pytest.param(
        CREATE, {"status": 403, "on_calls": [1]}, 2, 1, 1, id="create-403-concurrent-refused"
    ),
    pytest.param(GET, {"expire_token": True, "on_calls": [1]}, 2, 0, 2, id="get-401-login-again"),
    pytest.param(
        CREATE, {"expire_token": True, "on_calls": [1]}, 2, 0, 2, id="create-401-login-again"
    ),
    pytest.param(
        GET,
        {"expire_token": True, "on_calls": list(range(1, SESSION_RENEWALS))},
        SESSION_RENEWALS,
        0,
        SESSION_RENEWALS,
        id="get-401-until-the-last-renewal",
    ),
]


@pytest.mark.parametrize(("call", "fault", "sends", "retries", "logins"), RECOVERED)
def test_the_loop_recovers(salesforce_emulator_factory, call, fault, sends, retries, logins):
    emulator = salesforce_emulator_factory(faults=[_rule(call, **fault)])
    client, login = _client(emulator)
    method, path, send = call
    send(client)
    assert _sent(emulator, method, path) == sends
    assert client.retries == retries
    assert login.logins == logins
    if call is CREATE:
        # A create sent again only when it was refused: one record, not two.
        assert len([r for r in emulator.records("Account") if r["Name"] == "Retry Test"]) == 1


# (call, fault rule, sends the emulator sees, error raised)
RAISED = [
    pytest.param(CREATE, {"status": 500, "on_calls": [1]}, 1, OutcomeUnknownError, id="create-500"),
    pytest.param(CREATE, {"status": 502, "on_calls": [1]}, 1, OutcomeUnknownError, id="create-502"),
    pytest.param(CREATE, {"status": 420, "on_calls": [1]}, 1, OutcomeUnknownError, id="create-420"),
    pytest.param(
        CREATE, {"drop_connection": True, "on_calls": [1]}, 1, OutcomeUnknownError, id="dropped"
    ),
    pytest.param(
        CREATE, {"lose_answer": True, "on_calls": [1]}, 1, OutcomeUnknownError, id="answer-lost"
    ),
    pytest.param(GET, {"status": 503}, 3, TransientApiError, id="get-503-until-tries-run-out"),
    pytest.param(
        GET,
        {"expire_token": True, "on_calls": list(range(1, SESSION_RENEWALS + 1))},
        SESSION_RENEWALS,
        SessionExpiredError,
        id="get-401-after-every-renewal",
    ),
]


@pytest.mark.parametrize(("call", "fault", "sends", "error"), RAISED)
def test_the_loop_raises_without_sending_again(
    salesforce_emulator_factory, call, fault, sends, error
):
    emulator = salesforce_emulator_factory(faults=[_rule(call, **fault)])
    client, _ = _client(emulator, max_tries=3)
    method, path, send = call
    with pytest.raises(error):
        send(client)
    assert _sent(emulator, method, path) == sends


def test_a_lost_create_answer_may_have_been_applied(salesforce_emulator_factory):
    """Why a create is not sent again: the emulator saved it, only the answer was lost."""
    emulator = salesforce_emulator_factory(faults=[_rule(CREATE, lose_answer=True)])
    client, _ = _client(emulator)
    with pytest.raises(OutcomeUnknownError):
        _create_account(client)
    assert [r["Name"] for r in emulator.records("Account")].count("Retry Test") == 1


def test_the_daily_allocation_stops_at_once(salesforce_emulator_factory):
    emulator = salesforce_emulator_factory(api_limit=1)
    client, _ = _client(emulator)
    _describe_global(client)
    with pytest.raises(ApiLimitError) as raised:
        _describe_global(client)
    assert raised.value.error_code == "REQUEST_LIMIT_EXCEEDED"
    assert _sent(emulator, "GET", "/sobjects") == 2
    assert client.retries == 0


def test_a_permanent_error_is_raised_after_one_send(salesforce_emulator):
    client, _ = _client(salesforce_emulator)
    with pytest.raises(SalesforceApiError) as raised:
        client.get_json("/sobjects/No_Such_Object__c/describe")
    assert type(raised.value) is SalesforceApiError
    assert raised.value.status == 404
    assert _sent(salesforce_emulator, "GET", "/No_Such_Object__c/") == 1


def test_a_body_cut_off_midway_is_fetched_whole_again(salesforce_emulator_factory):
    emulator = salesforce_emulator_factory(
        faults=[_rule(GET, cut_answer_after_bytes=10, on_calls=[1])]
    )
    client, _ = _client(emulator)
    into = io.BytesIO()
    client.request("GET", "/sobjects", into=into)
    assert json.loads(into.getvalue())["sobjects"]
    assert _sent(emulator, "GET", "/sobjects") == 2
    assert client.retries == 1
