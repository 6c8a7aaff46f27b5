"""One request's way through the emulator, and the state it runs against.

``App`` builds the models (a :class:`~.backend.Backend`) from the options and answers each parsed
request: inspection calls go straight to their handlers; every other call is logged, checked for
size, given the fault plan's effects and latency, then routed. Calls under
``/services/data/vXX.X`` are REST API calls: they need a valid access token, count against the
daily allocation (``Sforce-Limit-Info`` on every answer) and are the ones faults may lose or cut.
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import fault_answers
from .api_usage import ApiUsage
from .backend import Backend
from .bulk_jobs import BulkIngest
from .bulk_queries import BulkQueries
from .cursors import QueryCursors
from .faults import FaultPlan, load_fault_plan
from .oauth import TokenService, load_public_key
from .request_log import RequestLog
from .routes import Area, Resolved, resolve
from .routing import call
from .row_locks import RowLocks
from .schema import load_schema
from .store import Org
from .versions import supported_version
from .wire import Request, Response, error_response, not_found

# Salesforce Help, Knowledge article 000386264: a request line plus headers over 16,384 bytes is
# refused with 414 (URI) or 431 (headers).
MAX_URI_AND_HEADERS = 16_384


@dataclass
class EmulatorOptions:
    """Settings shared by the CLI and the Python API (see ``salesforce-emulator --help``)."""

    latency_ms: float = 0.0
    record_ms: float = 0.0
    api_limit: int = 15_000
    metadata: str | Path | dict[str, Any] | None = None
    faults: list[dict[str, Any]] | str | Path | None = None
    person_accounts: bool = False
    jwt_public_key: str | bytes | Path | None = None
    token_ttl_calls: int | None = None
    # Saves lock their parents and fail on a parent another transaction holds (row_locks.py).
    lock_model: bool = False


class App:
    """The emulator's state and request handling. Thread-safe."""

    def __init__(self, options: EmulatorOptions) -> None:
        """Build the org, token service, fault plan and Bulk job engine.

        Args:
            options: Emulator settings.
        """
        self.options = options
        faults = load_fault_plan(options.faults)
        org = Org(load_schema(options.metadata, person_accounts=options.person_accounts))

        def user_id(username: str) -> str | None:
            matches = org.find("User", "Username", username)
            return matches[0] if matches else None

        tokens = TokenService(
            org_id=org.org_id,
            user_lookup=user_id,
            jwt_public_key=load_public_key(options.jwt_public_key),
            token_ttl_calls=options.token_ttl_calls,
        )
        locks = RowLocks(enabled=options.lock_model)
        self.backend = Backend(
            org=org,
            tokens=tokens,
            bulk=BulkIngest(org, options.record_ms, locks=locks),
            faults=faults,
            usage=ApiUsage(options.api_limit),
            cursors=QueryCursors(),
            log=RequestLog(),
            queries=BulkQueries(org),
            record_ms=options.record_ms,
            locks=locks,
        )

    # ------------------------------------------------------------- Python API
    @property
    def org(self) -> Org:
        """The emulated org."""
        return self.backend.org

    @property
    def tokens(self) -> TokenService:
        """OAuth grants and sessions."""
        return self.backend.tokens

    @property
    def bulk(self) -> BulkIngest:
        """The Bulk API 2.0 job engine."""
        return self.backend.bulk

    @property
    def faults(self) -> FaultPlan:
        """The fault plan in force."""
        return self.backend.faults

    @property
    def base_url(self) -> str:
        """``http://host:port`` once the server listens, else ""."""
        return self.backend.base_url

    @property
    def _in_flight(self) -> int:
        """Requests being served now (tests wait for it to reach 0)."""
        return self.backend.log.in_flight

    def set_base_url(self, base_url: str) -> None:
        """Record the URL the server listens on (login host and instance URL)."""
        self.backend.base_url = base_url

    def set_ca_pem(self, pem: bytes) -> None:
        """Record the CA certificate of an HTTPS emulator (served at ``/__emulator/ca.pem``)."""
        self.backend.ca_pem = pem

    def usage(self) -> tuple[int, int]:
        """(API calls used, daily allocation)."""
        return self.backend.usage.usage()

    def requests(self) -> list[dict[str, Any]]:
        """Copy of the request log."""
        return self.backend.log.entries()

    def set_faults(self, rules: list[dict[str, Any]] | str | Path | None) -> None:
        """Replace the fault plan (validated first)."""
        self.backend.faults = load_fault_plan(rules)

    def reset(self) -> None:
        """Drop records, Bulk jobs, query cursors, the request log and API usage."""
        self.backend.reset()

    def shutdown(self) -> None:
        """Stop background work (Bulk workers)."""
        self.backend.shutdown()

    # ----------------------------------------------------------------- serving
    def handle(
        self, method: str, target: str, headers: Any, body: bytes, header_bytes: int
    ) -> Response | None:
        """Answer one HTTP request.

        Args:
            method: HTTP method.
            target: Request target (path and query).
            headers: Request headers (``email.message.Message``-like, case-insensitive).
            body: Request body.
            header_bytes: Size of the request line plus headers.

        Returns:
            The response, or None to drop the connection unanswered.
        """
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        override = (query.get("_HttpMethod") or [""])[0].upper()
        if method == "POST" and override in {"PATCH", "DELETE", "PUT"}:
            method = override
        # HEAD is answered as GET would be; server.py sends the headers only. Only the request
        # log keeps the method as sent.
        sent, method = method, "GET" if method == "HEAD" else method
        resolved = resolve(method, path)
        if resolved.area is Area.INSPECTION:
            req = Request(self.backend, method, path, query, headers, body, resolved.params)
            return call(resolved.handler, req)
        log = self.backend.log
        entry = {"method": sent, "path": path, "query": parts.query, "counted": False}
        # The Sforce-* option headers only: never Authorization or other credentials.
        entry["headers"] = {k: v for k, v in headers.items() if k.lower().startswith("sforce-")}
        # How many requests were being served when this one arrived (itself included), so
        # tests can see a client's concurrency.
        entry["in_flight"] = log.arrive()
        try:
            served = self._serve(resolved, method, path, query, headers, body, header_bytes)
        finally:
            log.leave()
        entry["counted"] = served.counted
        entry["status"] = served.answer.status if served.answer is not None else None
        log.append(entry)
        return served.answer

    def _serve(
        self,
        resolved: Resolved,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Any,
        body: bytes,
        header_bytes: int,
    ) -> _Served:
        if header_bytes > MAX_URI_AND_HEADERS:
            uri_only = header_bytes - header_block_size(headers) > MAX_URI_AND_HEADERS
            status = 414 if uri_only else 431
            page = _status_page(status)
            return _Served(Response(status, {"Content-Type": "text/html;charset=UTF-8"}, page))
        backend = self.backend
        faults = backend.faults.on_request(method, path)
        delay = self.options.latency_ms + faults.latency_ms
        if delay > 0:
            time.sleep(delay / 1000)
        if faults.drop_connection:
            return _Served(None)
        if faults.expire_token:
            backend.tokens.expire_all()
        if faults.status is not None:
            return _Served(fault_answers.fault_response(faults.status, faults.body))
        if headers.get("Content-Encoding", "").lower() == "gzip" and body:
            body = gzip.decompress(body)
        req = Request(backend, method, path, query, headers, body, resolved.params)
        if resolved.area is Area.ROOT:
            return _Served(call(resolved.handler, req))
        answer, counted = self._api_call(resolved, req)
        return _Served(fault_answers.after(faults, answer), counted=counted)

    def _api_call(self, resolved: Resolved, req: Request) -> tuple[Response, bool]:
        """Authenticate and count a REST API call, then answer it with ``Sforce-Limit-Info``.

        Returns:
            The answer and whether the call counted against the API allocation.
        """
        backend = self.backend
        scheme, _, bearer = (req.headers.get("Authorization") or "").partition(" ")
        user_id = None
        if scheme.lower() in {"bearer", "oauth"} and bearer.strip():
            user_id = backend.tokens.authenticate(bearer.strip(), count=True)
        if user_id is None:
            return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid"), False
        counted, used = backend.usage.spend()
        limit_info = f"api-usage={used}/{backend.usage.limit}"
        if not counted:
            refused = error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            refused.headers["Sforce-Limit-Info"] = limit_info
            return refused, False
        api_req = Request(
            backend,
            req.method,
            req.path,
            req.query,
            req.headers,
            req.body,
            resolved.params,
            version=resolved.version,
            user_id=user_id,
        )
        if not supported_version(resolved.version):
            status, headers, payload = not_found(api_req)
        else:
            status, headers, payload = call(resolved.handler, api_req)
        headers = dict(headers)
        headers["Sforce-Limit-Info"] = limit_info
        return Response(status, headers, payload), True


@dataclass(frozen=True)
class _Served:
    """An answer (None: drop the connection) and whether the call counted as an API call."""

    answer: Response | None
    counted: bool = False


def header_block_size(headers: Any) -> int:
    """Bytes of a header block as sent (name, ": ", value, CRLF per header)."""
    return sum(len(k) + len(v) + 4 for k, v in headers.items())


def _status_page(status: int) -> bytes:
    reason = {414: "URI Too Long", 431: "Request Header Fields Too Large"}[status]
    return f"<html><body><h1>{status} {reason}</h1></body></html>".encode()
