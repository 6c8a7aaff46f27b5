"""Mirror on full-table versions: delete what a stream wrote earlier and the new version lacks.

A tap that re-reads a whole table sends ``ACTIVATE_VERSION`` once the pass is complete (Singer
extension: "delete all previously seen data and replace it with" the new version; singer-sdk,
"Activate Version"). With ``mirror: true`` (and ``ledger_path``), the target then:

1. writes the stream's pending records and waits for their outcomes;
2. takes the stream's ledger entries (records this stream wrote and Salesforce confirmed, in
   this run or earlier ones) whose key the run did not receive before the message: the new
   version is every record of the stream the run received up to then, written, unchanged or
   rejected (the records' own ``version`` numbers are not compared);
3. deletes those records by the Salesforce Id the ledger remembers (Collections delete, or a
   Bulk ``delete``/``hardDelete`` job per ``deleted_records`` and ``api``), and forgets them
   in the ledger. A record already gone (``ENTITY_IS_DELETED``) is forgotten too.

Guard rails, each reported in the run report's ``mirror`` entry for the stream and logged with
the setting to change: nothing is deleted when the run received no record of the stream (an
empty pass is more likely a broken source than an empty table), nor when the deletes would
be more than ``mirror_max_delete_percent`` (default 20) of the stream's ledger entries. A
delete Salesforce refuses leaves the entry in the ledger (the next version tries again); it is
logged and counted ``mirror_failed``, not dead-lettered (it is no record of the tap's input).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from target_salesforce_out.deleted_records import HARD_DELETE
from target_salesforce_out.errors import ErrorDetail
from target_salesforce_out.ids import id_problem, to18
from target_salesforce_out.operations import Operation
from target_salesforce_out.reporting import Count
from target_salesforce_out.runtime import Runtime
from target_salesforce_out.settings import DEFAULT_MIRROR_MAX_DELETE_PERCENT
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.deletes import ALREADY_GONE, BulkDeletes, delete_ids

LOGGER = logging.getLogger("target_salesforce_out")
# Failed mirror deletes logged (and listed in the report) one by one; the rest are counted.
SHOWN_FAILURES = 20


class Mirror:
    """Mirror deletes for the streams with ``mirror: true`` (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        """Read ``mirror_max_delete_percent``."""
        self.runtime = runtime
        percent = runtime.config.get("mirror_max_delete_percent")
        self.max_percent = float(DEFAULT_MIRROR_MAX_DELETE_PERCENT if percent is None else percent)
        self.jobs = BulkDeletes()

    def activate_version(self, sink: SalesforceSink, version: Any) -> dict[str, Any]:
        """Delete the stream's remembered records that the new version lacks; return the entry.

        The caller has written the stream's pending records and waited for them.
        """
        runtime, name = self.runtime, sink.stream_name
        entry: dict[str, Any] = {
            "version": version,
            "ledger_records": 0,
            "absent": 0,
            "deleted": 0,
            "already_deleted": 0,
            "failed": 0,
            "stopped": None,
        }
        runtime.report.stream(name).mirror = entry
        hook = getattr(sink, "ledger", None)
        if hook is None:
            entry["stopped"] = "the stream has no ledger key (external_id_field, match_fields)"
            LOGGER.warning("stream %r: mirror: nothing deleted: %s", name, entry["stopped"])
            return entry
        ledger = hook.stream
        total = ledger.count()
        entry["ledger_records"] = total
        if total == 0:
            return entry  # nothing written before: nothing to compare
        received = runtime.report.stream(name)[Count.RECEIVED]
        if received == 0:
            entry["stopped"] = (
                "the new version has no records (an empty pass looks like a broken source); "
                "nothing was deleted"
            )
            LOGGER.warning("stream %r: mirror: %s", name, entry["stopped"])
            return entry
        absent = list(ledger.keys_not_seen())
        entry["absent"] = len(absent)
        if not absent:
            return entry
        share = 100.0 * len(absent) / total
        if share > self.max_percent:
            entry["stopped"] = (
                f"{len(absent)} of the {total} records the ledger remembers ({share:.1f}%) are "
                f"missing from the new version, more than mirror_max_delete_percent "
                f"({self.max_percent:g}); nothing was deleted"
            )
            LOGGER.warning(
                "stream %r: mirror: %s. If the source really dropped them, raise "
                "mirror_max_delete_percent to at least %d for one run",
                name,
                entry["stopped"],
                int(share) + 1,
            )
            return entry
        if runtime.dry_run:
            entry["would_delete"] = len(absent)
            LOGGER.info(
                "stream %r: mirror (dry run): %d record(s) missing from the new version would be "
                "deleted in %s (report: streams.%s.mirror.would_delete)",
                name,
                len(absent),
                sink.obj.name,
                name,
            )
            return entry
        self._delete(sink, absent, entry)
        LOGGER.info(
            "stream %r: mirror: %d record(s) missing from the new version deleted in %s "
            "(%d already gone, %d failed)",
            name,
            entry["deleted"],
            sink.obj.name,
            entry["already_deleted"],
            entry["failed"],
        )
        return entry

    def _delete(
        self, sink: SalesforceSink, absent: list[tuple[str, str | None]], entry: dict[str, Any]
    ) -> None:
        """Delete ``absent`` (ledger key, Salesforce Id) and forget what is gone."""
        runtime, name, ledger = self.runtime, sink.stream_name, sink.ledger
        assert ledger is not None
        keys_by_id: dict[str, list[str]] = {}
        for key, sf_id in absent:
            if sf_id:
                keys_by_id.setdefault(_id_key(sf_id), []).append(key)
            else:
                # Written but its Id never came back (a lost answer): nothing to delete by.
                entry["failed"] += 1
                runtime.report.add(name, Count.MIRROR_FAILED)
                self._failed(entry, name, key, None, ErrorDetail("NO_ID", "no Id remembered"))
        settings = sink.settings
        hard = settings.deleted_records == HARD_DELETE
        bulk = (
            hard
            or settings.api == "bulk"
            or (settings.api == "auto" and len(keys_by_id) > settings.bulk_threshold)
        )
        lock = threading.Lock()

        def answer(rid: str, error: ErrorDetail | None) -> None:
            with lock:
                keys = keys_by_id.pop(_id_key(rid), [])
            if error is None or error.code in ALREADY_GONE:
                ledger.stream.forget(keys)
                counted = "deleted" if error is None else "already_deleted"
                with lock:
                    entry[counted] += len(keys)
                for key in keys:
                    runtime.report.succeed(name, Count.MIRROR_DELETED, {"ledger_key": key}, rid)
                return
            runtime.report.add(name, Count.MIRROR_FAILED, len(keys))
            for key in keys:
                with lock:
                    entry["failed"] += 1
                self._failed(entry, name, key, rid, error)

        try:
            delete_ids(
                runtime,
                name,
                sink.obj.name,
                list(keys_by_id),
                answer,
                operation=Operation.HARD_DELETE if hard else Operation.DELETE,
                bulk=bulk,
                jobs=self.jobs,
            )
        finally:
            ledger.flush()

    @staticmethod
    def _failed(
        entry: dict[str, Any], stream: str, key: str, rid: str | None, error: ErrorDetail
    ) -> None:
        failures = entry.setdefault("failures", [])
        if len(failures) >= SHOWN_FAILURES:
            return
        failures.append({"key": key, "id": rid, **error.as_dict()})
        LOGGER.warning(
            "stream %r: mirror: could not delete %s (ledger key %s): %s: %s; it stays in the "
            "ledger and is tried again at the next version",
            stream,
            rid or "(no Id)",
            key,
            error.code,
            error.message,
        )


def _id_key(rid: str) -> str:
    """An Id as compared: 18 characters when it is a well-formed id, else as given."""
    return to18(rid) if id_problem(rid) is None else rid
