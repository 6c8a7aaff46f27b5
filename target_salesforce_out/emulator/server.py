"""The HTTP layer: routing, authentication, API counting, faults, latency and inspection.

``App`` holds the emulated org and answers parsed requests; ``EmulatorHTTPServer`` is a
``ThreadingHTTPServer`` whose handler speaks HTTP/1.1 with keep-alive so benchmark clients reuse
connections.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .bulk import BulkIngest
from .faults import CutBody, FaultPlan, fault_response, load_fault_plan
from .oauth import TokenService, load_public_key
from .rest import DataContext, api_versions, handle_data, supported_version
from .schema import load_schema
from .store import Org
from .wire import JSON_TYPE, Request, Response, error_response, json_response, not_found, render

MAX_URI_AND_HEADERS = 16_384  # KB 000386264: larger requests get 414 / 431
INSPECTION_PREFIX = "/__emulator"
DATA_PREFIX = "/services/data"


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


class App:
    """The emulator's state and request dispatch. Thread-safe."""

    def __init__(self, options: EmulatorOptions) -> None:
        """Build the org, token service, fault plan and Bulk resource.

        Args:
            options: Emulator settings.
        """
        self.options = options
        self.faults: FaultPlan = load_fault_plan(options.faults)
        self.org = Org(
            load_schema(options.metadata, person_accounts=options.person_accounts),
            faults=self.faults,
        )
        self.tokens = TokenService(
            org_id=self.org.org_id,
            user_lookup=self._user_id,
            jwt_public_key=load_public_key(options.jwt_public_key),
            token_ttl_calls=options.token_ttl_calls,
        )
        self.bulk = BulkIngest(self.org, self.faults, options.record_ms)
        self.base_url = ""
        self.ctx = DataContext(
            org=self.org, base_url="", record_ms=options.record_ms, bulk=self.bulk
        )
        self.ctx.api_usage = self.usage
        self._lock = threading.Lock()
        self._api_usage = 0
        self._log: list[dict[str, Any]] = []
        self._in_flight = 0

    # ------------------------------------------------------------- Python API
    def set_base_url(self, base_url: str) -> None:
        """Record the URL the server listens on (login host and instance URL)."""
        self.base_url = base_url
        self.ctx.base_url = base_url

    def usage(self) -> tuple[int, int]:
        """(API calls used, daily allocation)."""
        with self._lock:
            return self._api_usage, self.options.api_limit

    def requests(self) -> list[dict[str, Any]]:
        """Copy of the request log."""
        with self._lock:
            return [dict(r) for r in self._log]

    def set_faults(self, rules: list[dict[str, Any]] | str | Path | None) -> None:
        """Replace the fault plan (validated first)."""
        plan = load_fault_plan(rules)
        self.faults = plan
        self.org.faults = plan
        self.bulk.faults = plan

    def reset(self) -> None:
        """Drop records, Bulk jobs, query cursors, the request log and API usage."""
        self.bulk.reset()
        self.org.reset()
        self.faults.reset_counters()
        self.tokens.restore_refresh_tokens()
        with self.ctx.cursor_lock:
            self.ctx.cursors.clear()
        with self._lock:
            self._log.clear()
            self._api_usage = 0

    def shutdown(self) -> None:
        """Stop background work (Bulk workers)."""
        self.bulk.shutdown()

    def _user_id(self, username: str) -> str | None:
        matches = self.org.find("User", "Username", username)
        return matches[0] if matches else None

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
        if path.startswith(INSPECTION_PREFIX + "/") or path == INSPECTION_PREFIX:
            return self._inspect(method, path)
        entry = {"method": method, "path": path, "query": parts.query, "counted": False}
        # How many requests were being served when this one arrived (itself included), so
        # tests can see a client's concurrency.
        with self._lock:
            self._in_flight += 1
            entry["in_flight"] = self._in_flight
        try:
            response = self._serve(method, path, query, headers, body, header_bytes, entry)
        finally:
            with self._lock:
                self._in_flight -= 1
        entry["status"] = response[0] if response is not None else None
        with self._lock:
            self._log.append(entry)
        return response

    def _serve(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Any,
        body: bytes,
        header_bytes: int,
        entry: dict[str, Any],
    ) -> Response | None:
        if header_bytes > MAX_URI_AND_HEADERS:
            uri_only = header_bytes - _header_block(headers) > MAX_URI_AND_HEADERS
            status = 414 if uri_only else 431
            return status, {"Content-Type": "text/html;charset=UTF-8"}, _status_page(status)
        faults = self.faults.on_request(method, path)
        delay = self.options.latency_ms + faults.latency_ms
        if delay > 0:
            time.sleep(delay / 1000)
        if faults.drop_connection:
            return None
        if faults.expire_token:
            self.tokens.expire_all()
        if faults.status is not None:
            status, content_type, payload = fault_response(faults.status, faults.body)
            return status, {"Content-Type": content_type}, payload
        if headers.get("Content-Encoding", "").lower() == "gzip" and body:
            body = gzip.decompress(body)
        if path in {"/services/oauth2/token", "/services/oauth2/revoke"}:
            return self._oauth(method, path, query, headers, body)
        if path.startswith("/id/"):
            return self._identity(path, headers)
        if path.rstrip("/") == DATA_PREFIX:
            return json_response(200, api_versions())
        if not path.startswith(DATA_PREFIX + "/v"):
            return not_found()
        return faults.after(self._data(method, path, query, headers, body, entry))

    def _data(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Any,
        body: bytes,
        entry: dict[str, Any],
    ) -> Response:
        auth = headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        user_id = None
        if scheme.lower() in {"bearer", "oauth"} and token.strip():
            user_id = self.tokens.authenticate(token.strip(), count=True)
        if user_id is None:
            return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")
        with self._lock:
            limit = self.options.api_limit
            if self._api_usage >= limit:
                limit_info = f"api-usage={self._api_usage}/{limit}"
                status, out_headers, payload = error_response(
                    403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
                )
                out_headers["Sforce-Limit-Info"] = limit_info
                return status, out_headers, payload
            self._api_usage += 1
            limit_info = f"api-usage={self._api_usage}/{limit}"
        entry["counted"] = True
        segment, _, tail = path[len(DATA_PREFIX) + 2 :].partition("/")
        req = Request(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=body,
            version=segment,
            user_id=user_id,
        )
        if not supported_version(segment):
            response = not_found(req)
        else:
            response = handle_data(self.ctx, req, "/" + tail if tail or path.endswith("/") else "")
        status, out_headers, payload = response
        out_headers = dict(out_headers)
        out_headers["Sforce-Limit-Info"] = limit_info
        return status, out_headers, payload

    def _oauth(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        form = {k: v[0] for k, v in query.items()}
        if body:
            parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            form.update({k: v[0] for k, v in parsed.items()})
        if path.endswith("/revoke"):
            if method not in {"GET", "POST"}:
                return not_found()
            status, error = self.tokens.revoke(form.get("token"))
            if error is None:
                return status, {}, b""
            return status, {"Content-Type": JSON_TYPE}, render(error)
        if method != "POST":
            return not_found()
        status, payload = self.tokens.token(form, headers.get("Authorization"), self.base_url)
        return status, {"Content-Type": JSON_TYPE}, render(payload)

    def _identity(self, path: str, headers: Any) -> Response:
        auth = headers.get("Authorization") or ""
        token = auth.partition(" ")[2].strip()
        user_id = self.tokens.authenticate(token, count=False) if token else None
        if user_id is None:
            return 403, {"Content-Type": "text/plain"}, b"Bad_OAuth_Token"
        found = self.org.get(user_id)
        if found is None or path.rstrip("/").split("/")[-1] != user_id:
            return not_found()
        user = found[1]
        return json_response(
            200,
            {
                "id": f"{self.base_url}{path}",
                "asserted_user": True,
                "user_id": user_id,
                "organization_id": self.org.org_id,
                "username": user.get("Username"),
                "display_name": user.get("Name"),
                "email": user.get("Email"),
                "active": True,
                "user_type": "STANDARD",
                "urls": {
                    "rest": f"{self.base_url}/services/data/v{{version}}/",
                    "sobjects": f"{self.base_url}/services/data/v{{version}}/sobjects/",
                    "query": f"{self.base_url}/services/data/v{{version}}/query/",
                },
            },
        )

    def _inspect(self, method: str, path: str) -> Response:
        tail = path[len(INSPECTION_PREFIX) :].strip("/")
        if method == "GET" and tail.startswith("records/"):
            name = tail.split("/", 1)[1]
            if self.org.schema.get(name) is None:
                return not_found()
            return json_response(200, self.org.rows(name))
        if method == "GET" and tail == "requests":
            return json_response(200, self.requests())
        if method == "POST" and tail == "reset":
            self.reset()
            return 204, {}, b""
        return not_found()


def _header_block(headers: Any) -> int:
    return sum(len(k) + len(v) + 4 for k, v in headers.items())


def _status_page(status: int) -> bytes:
    reason = {414: "URI Too Long", 431: "Request Header Fields Too Large"}[status]
    return f"<html><body><h1>{status} {reason}</h1></body></html>".encode()


class _Handler(BaseHTTPRequestHandler):
    """Translates HTTP exchanges to ``App.handle`` calls."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle + delayed ACK would add ~40 ms per call.
    disable_nagle_algorithm = True
    server_version = "salesforce-emulator"
    server: EmulatorHTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def version_string(self) -> str:
        """The ``Server`` header value."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log is available through the inspection endpoint."""

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        header_bytes = len(self.requestline) + _header_block(self.headers)
        try:
            response = self.server.app.handle(
                self.command, self.path, self.headers, body, header_bytes
            )
        except Exception as exc:
            payload = json.dumps(
                [
                    {
                        "message": f"An unexpected error occurred: {exc!r}",
                        "errorCode": "UNKNOWN_EXCEPTION",
                    }
                ]
            ).encode()
            response = 500, {"Content-Type": JSON_TYPE}, payload
        if response is None:
            self.close_connection = True
            return
        status, headers, payload = response
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        cut = payload.cut_at if isinstance(payload, CutBody) else None
        if payload and self.command != "HEAD":
            self.wfile.write(payload if cut is None else payload[:cut])
        if cut is not None:
            self.close_connection = True  # the rest of the body never comes


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threaded HTTP server bound to one App."""

    daemon_threads = True
    allow_reuse_address = True
    # Benchmarks open many connections at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        """Bind the server.

        Args:
            address: (host, port); port 0 picks a free port.
            app: The emulator state.
        """
        self.app = app
        super().__init__(address, _Handler)
        host, port = self.server_address[:2]
        app.set_base_url(f"http://{_url_host(str(host))}:{port}")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
