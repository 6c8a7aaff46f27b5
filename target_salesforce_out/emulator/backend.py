"""The emulated org's models in one place: what every handler reaches through ``req.backend``.

Nothing here knows HTTP: the store, the Bulk job engine, tokens, the fault plan, query cursors,
the API allocation and the request log are plain objects; responses/ turns requests into calls
on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .api_usage import ApiUsage
from .bulk_jobs import BulkIngest
from .bulk_queries import BulkQueries
from .cursors import QueryCursors
from .errors import RecordError
from .faults import FaultPlan
from .oauth import TokenService
from .request_log import RequestLog
from .row_locks import RowLocks
from .store import Org, RecordFault


@dataclass
class Backend:
    """One emulated org and its services.

    Attributes:
        org: Records, schema and DML.
        tokens: OAuth grants and sessions.
        bulk: Bulk API 2.0 ingest jobs.
        faults: The fault plan (replaced as a whole by ``Emulator.set_faults``).
        usage: The daily API request allocation.
        cursors: Open query cursors.
        log: Requests served, for inspection.
        queries: Bulk API 2.0 query jobs.
        record_ms: Simulated processing time per record of REST calls, in milliseconds.
        base_url: ``http://host:port`` once the server listens (login host and instance URL).
        ca_pem: The CA certificate (PEM) of an HTTPS emulator, else empty.
        locks: The lock model (row_locks.py): parents locked by open transactions.
    """

    org: Org
    tokens: TokenService
    bulk: BulkIngest
    faults: FaultPlan
    usage: ApiUsage
    cursors: QueryCursors
    log: RequestLog
    queries: BulkQueries
    record_ms: float = 0.0
    base_url: str = ""
    ca_pem: bytes = b""
    locks: RowLocks = field(default_factory=RowLocks)

    def record_faults(self, method: str, path: str) -> RecordFault:
        """Per-record injected errors for records carried by one request (or one Bulk upload).

        The plan is read when a record is saved, so a plan set meanwhile applies.

        Args:
            method: The request's method (``PUT`` for Bulk rows).
            path: The request's path (the job's upload path for Bulk rows).

        Returns:
            The decision ``Org.save`` asks for each record.
        """

        def decide(key: str) -> RecordError | None:
            return self.faults.record_fault(method, path, key)

        return decide

    def reset(self) -> None:
        """Drop records, Bulk jobs, query cursors, the request log and API usage."""
        self.bulk.reset()
        self.queries.reset()
        self.org.reset()
        self.faults.reset_counters()
        self.tokens.restore_refresh_tokens()
        self.cursors.clear()
        self.log.clear()
        self.usage.reset()
        self.locks.clear()

    def shutdown(self) -> None:
        """Stop background work (Bulk workers)."""
        self.bulk.shutdown()
