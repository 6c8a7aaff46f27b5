"""A local Salesforce emulator for tests, demos and CI (``salesforce-emulator``).

How it is built, one way down:

* server.py (HTTP/1.1 bytes in and out) ->
* app.py (per request: log, size limits, fault plan, latency; for REST API calls the access
  token and the API allocation) ->
* routes.py (the route table: method and path to handler; routing.py matches) ->
* responses/ (one module per API; each handler parses the request, calls the models, renders
  the answer) ->
* models, which know nothing of HTTP: store.py (the Org: records and DML), bulk_jobs.py (the
  Bulk API 2.0 job engine, with bulk_csv.py), soql.py, schema.py / definitions.py (metadata),
  oauth.py (tokens), faults.py (the fault plan), reached through backend.py.

To add an endpoint: add a handler function in the responses module of its API and one line in
the route table (routes.py).

Python API::

    from target_salesforce_out.emulator import run_emulator

    with run_emulator(person_accounts=True) as sf:
        token = sf.access_token()          # or POST {sf.base_url}/services/oauth2/token
        ...
        assert sf.records("Contact")[0]["LastName"] == "Doe"
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .app import App, EmulatorOptions
from .oauth import Credentials
from .server import EmulatorHTTPServer
from .store import Org
from .tls import TlsFiles, check_hostname, make_tls_files, server_context

__all__ = ["DEFAULT_CREDENTIALS", "Emulator", "EmulatorOptions", "run_emulator"]

DEFAULT_CREDENTIALS = Credentials()


class Emulator:
    """A running (or startable) emulator and its inspection hooks.

    Attributes:
        host: Interface the server binds to.
        port: Requested port (0 picks a free one); ``base_url`` has the real one once started.
        options: The emulator settings.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        record_ms: float = 0.0,
        api_limit: int = 15_000,
        metadata: str | Path | dict[str, Any] | None = None,
        faults: list[dict[str, Any]] | str | Path | None = None,
        person_accounts: bool = False,
        jwt_public_key: str | bytes | Path | None = None,
        token_ttl_calls: int | None = None,
        tls: bool = False,
        tls_hostnames: Sequence[str] = (),
        tls_dir: str | Path | None = None,
        lock_model: bool = False,
    ) -> None:
        """Configure (and validate) the emulator without starting it.

        Args:
            host: Interface to bind (loopback by default).
            port: Port to bind; 0 picks a free port.
            latency_ms: Added latency per call.
            record_ms: Added processing time per record (Collections calls, Bulk rows).
            api_limit: Daily API request allocation.
            metadata: Metadata file path or dict (objects added to / replacing the built-ins).
            faults: Fault plan (list of rules or JSON file path).
            person_accounts: Enable Person Accounts.
            jwt_public_key: PEM public key (text, bytes or file path) that verifies JWT assertions.
            token_ttl_calls: Access tokens stop working after this many API calls.
            tls: Serve HTTPS with a certificate made at start (``ca_path`` is its CA file).
            tls_hostnames: Extra host names the certificate names (a My Domain host mapped to
                loopback, e.g. ``acme.my.salesforce.com``); implies nothing without ``tls``.
            tls_dir: Where to write the CA and certificate files (default: a temporary
                directory removed at ``stop``).
            lock_model: Saves lock their parents; a record whose parent another Bulk batch or
                Collections call holds fails with ``UNABLE_TO_LOCK_ROW`` (see row_locks.py).
        """
        self.host = host
        self.port = port
        self.tls = tls
        self.tls_hostnames = tuple(check_hostname(h) for h in tls_hostnames)
        self.tls_dir = Path(tls_dir) if tls_dir is not None else None
        self._tls_files: TlsFiles | None = None
        self._tls_temp: tempfile.TemporaryDirectory[str] | None = None
        self.options = EmulatorOptions(
            latency_ms=latency_ms,
            record_ms=record_ms,
            api_limit=api_limit,
            metadata=metadata,
            faults=faults,
            person_accounts=person_accounts,
            jwt_public_key=jwt_public_key,
            token_ttl_calls=token_ttl_calls,
            lock_model=lock_model,
        )
        self.app = App(self.options)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Emulator:
        """Bind the port and serve in a background thread.

        Returns:
            self, for chaining.
        """
        if self._server is not None:
            return self
        context = None
        if self.tls:
            directory = self.tls_dir
            if directory is None:
                self._tls_temp = tempfile.TemporaryDirectory(prefix="salesforce-emulator-")
                directory = Path(self._tls_temp.name)
            self._tls_files = make_tls_files(directory, (*self.tls_hostnames, self.host))
            context = server_context(self._tls_files)
            self.app.set_ca_pem(self._tls_files.ca_path.read_bytes())
        self._server = EmulatorHTTPServer((self.host, self.port), self.app, context)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="salesforce-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and stop background workers."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.app.shutdown()
        if self._tls_temp is not None:
            self._tls_temp.cleanup()
            self._tls_temp = None

    def __enter__(self) -> Emulator:
        """Start the emulator."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop the emulator."""
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with TLS): login host and instance URL."""
        if not self.app.base_url:
            raise RuntimeError("the emulator is not started")
        return self.app.base_url

    @property
    def ca_path(self) -> Path:
        """The CA file clients trust (``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``); TLS only."""
        if self._tls_files is None:
            raise RuntimeError("the emulator was not started with tls=True")
        return self._tls_files.ca_path

    @property
    def org(self) -> Org:
        """The emulated org (schema, records, DML)."""
        return self.app.org

    @property
    def credentials(self) -> Credentials:
        """The credentials the token endpoint accepts."""
        return self.app.tokens.credentials

    def records(self, sobject: str) -> list[dict[str, Any]]:
        """Stored live records of an object, with canonical field names.

        Args:
            sobject: Object API name, any case.

        Returns:
            Record copies.
        """
        return self.org.rows(sobject)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Request log: method, path, query, counted, status, in arrival order."""
        return self.app.requests()

    @property
    def api_usage(self) -> int:
        """API calls counted so far."""
        return self.app.usage()[0]

    def reset(self) -> None:
        """Drop all records, jobs, the request log and API usage; re-seed built-in rows."""
        self.app.reset()

    def set_faults(self, rules: list[dict[str, Any]] | str | Path | None) -> None:
        """Replace the fault plan.

        Args:
            rules: Rules as the README's "Fault plan format" describes them (or a JSON file
                path, or None).
        """
        self.app.set_faults(rules)

    def access_token(self) -> str:
        """Issue an access token for the admin user without an OAuth round trip."""
        return self.app.tokens.issue(self.org.admin_user_id)

    def expire_all_tokens(self) -> None:
        """Invalidate every access token; the next data call gets 401 INVALID_SESSION_ID."""
        self.app.tokens.expire_all()

    def revoke_all_tokens(self) -> None:
        """Expire every access token and revoke the refresh token (``invalid_grant``)."""
        self.app.tokens.revoke_refresh_tokens()
        self.app.tokens.expire_all()


@contextlib.contextmanager
def run_emulator(**options: Any) -> Iterator[Emulator]:
    """Start an emulator on a free loopback port for the duration of a ``with`` block.

    Args:
        **options: Keyword arguments of :class:`Emulator`.

    Yields:
        The running emulator.
    """
    emulator = Emulator(**options)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
