"""The HTTP layer: a threaded HTTP/1.1 server that turns exchanges into ``App.handle`` calls.

Keep-alive is on so benchmark clients reuse connections; an answer of None closes the connection
unanswered, and a cut body (``fault_answers.CutBody``) is sent only in part before the socket
closes. Everything above the socket is in app.py.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .app import App, header_block_size
from .fault_answers import CutBody
from .wire import JSON_TYPE, Response


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

    def do_HEAD(self) -> None:
        # The answer GET would give, headers only (REST API Developer Guide, "Resources and
        # HTTP Methods": REST resources take HEAD); the body is dropped below.
        self._dispatch()

    def version_string(self) -> str:
        """The ``Server`` header value."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log is available through the inspection endpoint."""

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        header_bytes = len(self.requestline) + header_block_size(self.headers)
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
            response = Response(500, {"Content-Type": JSON_TYPE}, payload)
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
    """Threaded HTTP server bound to one App; HTTPS when given a TLS context."""

    daemon_threads = True
    allow_reuse_address = True
    # Benchmarks open many connections at once.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], app: App, tls: ssl.SSLContext | None = None
    ) -> None:
        """Bind the server.

        Args:
            address: (host, port); port 0 picks a free port.
            app: The emulator state.
            tls: Server-side TLS context: serve HTTPS (``https://`` base URL) instead of HTTP.
        """
        self.app = app
        self.tls = tls
        super().__init__(address, _Handler)
        host, port = self.server_address[:2]
        scheme = "http" if tls is None else "https"
        app.set_base_url(f"{scheme}://{_url_host(str(host))}:{port}")

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Serve one connection; with TLS, the handshake happens here, in the worker thread.

        A client that does not trust the CA (or speaks plain HTTP to the HTTPS port) fails its
        handshake; the connection is closed without an answer, as there is none it could read.
        """
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            secured = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        try:
            super().finish_request(secured, client_address)
        finally:
            with contextlib.suppress(OSError):
                secured.shutdown(socket.SHUT_WR)
            secured.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
