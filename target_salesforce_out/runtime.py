"""The objects one run shares across sinks: client, describe cache, report, worker pool.

It knows nothing of sinks: sinks use it, and the target decides the order between them (see
:mod:`target_salesforce_out.load_order`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import requests

from target_salesforce_out.auth import Authenticator
from target_salesforce_out.client import SalesforceClient
from target_salesforce_out.describe import DescribeCache, ObjectInfo
from target_salesforce_out.errors import ConfigError, SalesforceApiError
from target_salesforce_out.ledger import Ledger
from target_salesforce_out.reporting import PROGRESS_INTERVAL_SECONDS, RunReport
from target_salesforce_out.settings import DEFAULT_API_VERSION

T = TypeVar("T")


class Runtime:
    """Built from the validated config; makes no network call until a sink needs one."""

    def __init__(self, config: dict[str, Any]) -> None:
        """Create the HTTP session, authenticator, client and report."""
        self.config = config
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "target-salesforce-out"
        self.auth = Authenticator(config, self.http, timeout=60.0)
        self.client = SalesforceClient(
            self.auth,
            self.http,
            api_version=str(config.get("api_version") or DEFAULT_API_VERSION),
            max_api_usage_percent=config.get("max_api_usage_percent"),
        )
        self.describe = DescribeCache(self.client)
        self.dry_run = bool(config.get("dry_run"))
        self.on_record_error = str(config.get("on_record_error") or "fail")
        self.max_concurrency = int(config.get("max_concurrency") or 4)
        self.report = RunReport(
            config.get("dead_letter_path"),
            config.get("report_path"),
            dry_run=self.dry_run,
            success_path=config.get("success_path"),
        )
        # The sync ledger (ledger_path), shared by the sinks; None: every record is sent.
        ledger_path = config.get("ledger_path")
        self.ledger = (
            Ledger(
                ledger_path,
                full_refresh=bool(config.get("full_refresh")),
                retry_runs=int(config.get("retry_rejected_runs") or 0)
                if config.get("retry_rejected_runs") is not None
                else 3,
                read_only=self.dry_run,
            )
            if ledger_path
            else None
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._progress: threading.Thread | None = None
        self._stopping = threading.Event()
        self._report: dict[str, Any] | None = None

    def describe_object(self, stream_name: str, sobject: str | None) -> ObjectInfo:
        """The object a stream loads into: ``sobject`` if set, else matched by name."""
        name = sobject or self.describe.resolve_object_name(stream_name)
        if name is None:
            raise ConfigError(
                f"stream {stream_name!r}: no Salesforce object is named or labelled like it; "
                "set streams.<stream>.sobject to the object's API name"
            )
        try:
            return self.describe.sobject(name)
        except SalesforceApiError as exc:
            if exc.status == 404:
                raise ConfigError(
                    f"stream {stream_name!r}: object {name!r} does not exist or this user "
                    "cannot see it"
                ) from None
            raise

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn`` on the shared pool: at most ``max_concurrency`` calls in flight."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.max_concurrency, thread_name_prefix="salesforce-call"
                )
            return self._pool.submit(fn, *args)

    def start_progress(self, interval: float = PROGRESS_INTERVAL_SECONDS) -> None:
        """Log progress every ``interval`` seconds until :meth:`finish` (idempotent)."""
        with self._pool_lock:
            if self._progress is not None:
                return
            self._progress = threading.Thread(
                target=self._progress_loop, args=(interval,), name="progress", daemon=True
            )
            self._progress.start()

    def _progress_loop(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            self.report.log_progress(self.client.api_calls, self.usage_text())

    def usage_text(self) -> str:
        """``used/limit`` from the latest ``Sforce-Limit-Info``, or ``unknown``."""
        used, limit = self.client.usage_used, self.client.usage_limit
        return f"{used}/{limit}" if used is not None else "unknown"

    def stop_workers(self) -> None:
        """Stop the progress lines and the pool: once this returns, no call runs any more.

        Calls not started yet are cancelled. Idempotent.
        """
        self._stopping.set()
        if self._progress is not None:
            self._progress.join(timeout=5)
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def finish(self, status: str) -> dict[str, Any]:
        """Stop workers, write the report, close the session; later calls return that report.

        Records without an outcome must be accounted for between :meth:`stop_workers` and
        this (the target does it for its sinks).
        """
        if self._report is not None:
            return self._report
        self.stop_workers()
        if self.ledger is not None:
            self.ledger.close()  # every confirmation and kept record, committed
        report = self.report.finish(
            status=status,
            api_calls=self.client.api_calls,
            usage=(self.client.usage_used, self.client.usage_limit),
        )
        self.http.close()
        self._report = report
        return report
