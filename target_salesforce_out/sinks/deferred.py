"""Records a sink writes later than they arrive: hierarchy levels and second-pass lookups.

**Self-references, level by level.** A record whose parent is a record of the same stream (an
Account's ``Parent.External_Id__c``, a Contact's ``ReportsTo``, a ``ParentId`` holding an Id)
is held until its parent is written, then written with its lookup in place: roots first, then
their children, then theirs, each level a wave whose calls (or Bulk job) end before the next
starts. Salesforce does not let a record find a parent saved in the same request: sObject
Collections saves a chunk of one object type as one unit (REST API Developer Guide, "Create
Records Using sObject Collections"), and a Bulk job's batches run in parallel and in no set
order (Bulk API 2.0 Developer Guide, "How Requests Are Processed"). Levels are chosen over the
other safe way, writing every record without the lookup and then updating it (CumulusCI's
``after:`` steps, SFDMU's second pass), because each record is then written once, complete:
``N/200`` Collections calls plus one partly filled call per level instead of twice that, one
Bulk job per level instead of two jobs with the children twice, no record ever saved without
its parent (its triggers, rules and sharing see it whole), and nothing half-written when a
lookup fails.

A child whose parent is neither written in this run nor pending in it is looked up in the org
(by the parent's external id, one SOQL query per chunk of values; each value once): found, the
child is written at once; not found, it waits for the parent to arrive later in the input.
At the end of the input a child whose parent never came is dead-lettered ``MISSING_PARENT``
(naming the stream, its key and the parent's key); records whose parents form a loop are
dead-lettered ``HIERARCHY_CYCLE``. A record whose earlier version is held waits behind it, so
the last version of a key is still written last.

**Second-pass lookups.** When the load plan (:mod:`target_salesforce_out.planner`) cuts a cycle
between streams at this stream, the lookups named by :meth:`DeferredWrites.defer` are left out
of the records' first write and kept with the record's key; at the end of the input each
record written in the first pass gets them by an update by Id (sObject Collections update, or
one Bulk API 2.0 update job). Such a record's outcome (created or updated, as in the first
pass) is counted once the second pass has set its lookups; a record whose second pass fails
is dead-lettered with Salesforce's error and the Id it was written under.

Held records and second-pass rows wait in memory for a REST sink (which keeps its batch's
records in memory anyway) and in a SQLite file for a Bulk sink, whose memory stays flat; while
a release works out the next level, the held records are read into memory (a 10,000-record
hierarchy takes a few MB). The keys written so far are kept in memory, about 100 bytes each.
STATE is withheld while any record is held (see :meth:`DeferredWrites.holds_records`).

**In a dry run** records are held and released the same way, and each level is handed to the
sink's dry run in place of a write (:meth:`DeferredWrites.dry_write`): it counts the level's
would-be outcomes and the calls or Bulk job a real run spends on it, and a record it does not
reject counts as written once its batch or level ends, as a real run's confirmed write does.
Parents are looked up in the org as in a real run (read-only SOQL, counted in the predicted
calls), and the end of the input dead-letters the same records ``MISSING_PARENT`` and
``HIERARCHY_CYCLE``. Second passes are not predicted: a dry run sends every lookup in place.
"""

from __future__ import annotations

import logging
import pickle
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from target_salesforce_out.errors import ErrorDetail, SalesforceOutError
from target_salesforce_out.mapping import Column
from target_salesforce_out.operations import Operation
from target_salesforce_out.planner import Reference
from target_salesforce_out.reporting import NOT_SENT, OUTCOME_UNKNOWN, Count
from target_salesforce_out.retry_policy import RECORD_RETRIES, backoff_seconds, is_retryable
from target_salesforce_out.settings import REST_MAX_BATCH
from target_salesforce_out.sinks import bulk_job
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.bulk_csv import quote_cell, to_cell
from target_salesforce_out.sinks.bulk_results import parse_sf_error
from target_salesforce_out.sinks.item import Item
from target_salesforce_out.sinks.rest import call_failure, record_errors, update_records
from target_salesforce_out.soql import find_ids, key_of

LOGGER = logging.getLogger("target_salesforce_out.plan")

MISSING_PARENT = "MISSING_PARENT"
HIERARCHY_CYCLE = "HIERARCHY_CYCLE"
# Rows per second-pass Bulk job: far under the upload limit for an Id and a few lookups.
SECOND_PASS_JOB_ROWS = 100_000
_POLL_FIRST, _POLL_MAX, _JOB_TIMEOUT = 0.2, 10.0, 6 * 3600.0

ParentKey = tuple[str, str]  # (parent field, canonical value)


class _Shelf:
    """Values by text key, in insertion order: a dict, or a SQLite table for flat memory."""

    def __init__(self, path: Path | None) -> None:
        self._memory: dict[str, Any] | None = {} if path is None else None
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                "CREATE TABLE shelf (n INTEGER PRIMARY KEY, k TEXT UNIQUE NOT NULL, v BLOB);"
            )

    def put(self, key: str, value: Any) -> None:
        if self._memory is not None:
            self._memory[key] = value
            return
        assert self._db is not None
        self._db.execute(
            "INSERT INTO shelf (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
            (key, pickle.dumps(value, pickle.HIGHEST_PROTOCOL)),
        )

    def get(self, key: str) -> Any:
        if self._memory is not None:
            return self._memory.get(key)
        assert self._db is not None
        row = self._db.execute("SELECT v FROM shelf WHERE k = ?", (key,)).fetchone()
        return None if row is None else pickle.loads(row[0])  # noqa: S301 - written above

    def pop(self, key: str) -> None:
        if self._memory is not None:
            self._memory.pop(key, None)
        elif self._db is not None:
            self._db.execute("DELETE FROM shelf WHERE k = ?", (key,))

    def items(self) -> list[tuple[str, Any]]:
        if self._memory is not None:
            return list(self._memory.items())
        assert self._db is not None
        rows = self._db.execute("SELECT k, v FROM shelf ORDER BY n").fetchall()
        return [(str(k), pickle.loads(v)) for k, v in rows]  # noqa: S301 - written above

    def __len__(self) -> int:
        if self._memory is not None:
            return len(self._memory)
        assert self._db is not None
        return int(self._db.execute("SELECT count(*) FROM shelf").fetchone()[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
            self._memory = {}


def _own_column(sink: SalesforceSink, field: str) -> Column | None:
    """The column holding a record's own value of ``field`` (what its children point at)."""
    for c in sink.mapper.columns:
        if c.parent_field is None and c.field.name.lower() == field.lower():
            return c
    return None


class DeferredWrites:
    """One sink's held hierarchy records and second-pass lookups (see the module doc)."""

    def __init__(self, sink: SalesforceSink) -> None:
        """Find the stream's self-references that can be ordered (their parent field mapped)."""
        self._sink = sink
        self._lock = threading.RLock()
        own = sink.obj.name.lower()
        # (reference, column of the record's own value of the referenced field).
        self.levels: list[tuple[Reference, Column | None]] = []
        for ref in sink.references:
            if ref.parent.lower() != own:
                continue
            column = _own_column(sink, ref.parent_field)
            if column is not None or ref.parent_field == "Id":
                self.levels.append((ref, column))
        self.deferred: tuple[str, ...] = ()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._held: _Shelf | None = None
        self._stash: _Shelf | None = None
        self._seq = 0
        self._held_own: dict[ParentKey, int] = {}  # own keys of held records, with counts
        self._written: set[ParentKey] = set()
        self._seen: set[ParentKey] = set()
        self._in_org: set[ParentKey] = set()
        self._not_in_org: set[ParentKey] = set()
        self._passing: set[int] = set()  # records whose confirm is counted, not held
        # A dry run: records its current batch rejected (by identity), and the own keys of
        # those it would write, written once the batch or level ends (see dry_write).
        self._dry_rejected: set[int] = set()
        self._dry_unsettled: list[ParentKey] = []
        self._dry_count = 0
        self.stats: dict[str, Any] = {
            "written": 0,  # first writes confirmed (their outcome may wait for the second)
            "held": 0,
            "waves": [],
            "missing_parent": 0,
            "cycles": 0,
            "deferred_rows": 0,
            "second_pass": {"sent": 0, "updated": 0, "failed": 0},
        }

    @property
    def hierarchy_columns(self) -> tuple[str, ...]:
        """The self-reference columns ordered level by level."""
        return tuple(ref.column for ref, _ in self.levels)

    def defer(self, columns: tuple[str, ...]) -> None:
        """Leave ``columns`` out of the first write; set them in the second pass."""
        self.deferred = columns

    def holds_records(self) -> bool:
        """Whether records wait here (held for a parent, or for their second pass)."""
        with self._lock:
            return bool(
                (self._held is not None and len(self._held))
                or (self._stash is not None and len(self._stash))
            )

    # -- storage -------------------------------------------------------------------------------

    def _shelf(self, name: str) -> _Shelf:
        if self._sink.tracks_in_memory:
            return _Shelf(None)
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(
                prefix="target-salesforce-out-plan-", ignore_cleanup_errors=True
            )
        return _Shelf(Path(self._tmp.name) / f"{name}.db")

    def _held_shelf(self) -> _Shelf:
        if self._held is None:
            self._held = self._shelf("held")
        return self._held

    def _stash_shelf(self) -> _Shelf:
        if self._stash is None:
            self._stash = self._shelf("second_pass")
        return self._stash

    # -- keys --------------------------------------------------------------------------------

    def _canonical(self, field: str, value: Any) -> str | None:
        return key_of(value, self._sink.key_type(field))

    def _parents(self, fields: dict[str, Any]) -> list[ParentKey]:
        found = []
        for ref, _ in self.levels:
            key = self._canonical(ref.parent_field, fields.get(ref.column))
            if key is not None:
                found.append((ref.parent_field.lower(), key))
        return found

    def _own(self, fields: dict[str, Any]) -> list[ParentKey]:
        found = []
        for ref, column in self.levels:
            if column is not None:
                key = self._canonical(ref.parent_field, fields.get(column.name))
                if key is not None:
                    found.append((ref.parent_field.lower(), key))
        return found

    def _record_key(self, record: dict[str, Any]) -> str | None:
        """The record's key field value, canonical, from the record as received."""
        column = self._sink.mapper.key_column
        if column is None or record.get(column.prop) is None:
            return None
        try:
            value = column.convert(record[column.prop])
        except Exception:
            return None
        return self._canonical(column.field.name, value)

    # -- on the way in -----------------------------------------------------------------------

    def admit(self, item: Item) -> Item | None:
        """The item to write now (deferred lookups left out), or None when it is held."""
        if self.deferred and not self._sink.runtime.dry_run:
            item = self._strip(item)
        if not self.levels:
            return item
        own = self._own(item.fields)
        parents = self._parents(item.fields)
        with self._lock:
            self._seen.update(own)
            waits = any(p not in self._written and p not in self._in_org for p in parents)
            behind = any(o in self._held_own for o in own)
            if not (waits or behind):
                return item
            self._seq += 1
            self._held_shelf().put(f"{self._seq:012d}", item)
            for o in own:
                self._held_own[o] = self._held_own.get(o, 0) + 1
            self.stats["held"] += 1
        return None

    def admit_all(self, items: list[Item]) -> list[Item]:
        """:meth:`admit` for each of ``items``: those to write now."""
        return [kept for item in items if (kept := self.admit(item)) is not None]

    def _strip(self, item: Item) -> Item:
        """Leave the deferred lookups out; keep their values for the second pass by key."""
        record, fields = item
        key = self._record_key(record)
        if key is None:
            return item  # no key to match the second pass by: sent with the lookup
        values = {c: fields[c] for c in self.deferred if fields.get(c) is not None}
        cleared = [c for c in self.deferred if self._cleared(c, fields)]
        release = None
        with self._lock:
            stash = self._stash_shelf()
            row = stash.get(key)
            if row is None and not values:
                return item
            row = row or {"values": {}, "done": None}
            row["values"].update(values)
            for column in cleared:
                row["values"].pop(column, None)
            if row["values"]:
                if row["done"] is None:
                    self.stats["deferred_rows"] += 1
                stash.put(key, row)
            else:
                stash.pop(key)
                release = row["done"]
        if release is not None:
            self._count(*release)
        return Item(record, {k: v for k, v in fields.items() if k not in values})

    def _cleared(self, column: str, fields: dict[str, Any]) -> bool:
        """Whether the record clears the lookup of ``column`` (a null is sent as its field)."""
        for c in self._sink.mapper.columns:
            if c.name == column:
                return c.field.name in fields and fields[c.field.name] is None
        return False

    # -- outcomes ------------------------------------------------------------------------------

    def after_write(
        self,
        record: dict[str, Any],
        outcome: Count,
        salesforce_id: str | None,
        note: tuple[str, bytes] | None = None,
    ) -> bool:
        """A record was written: note its key; True when its outcome waits for a second pass.

        ``note`` travels with the record to its final confirmation (the sync ledger's).
        """
        with self._lock:
            if id(record) in self._passing:
                self._passing.discard(id(record))
                return False
            self.stats["written"] += 1
        if self.levels:
            written = []
            for ref, column in self.levels:
                value: Any = None
                if ref.parent_field == "Id":
                    value = salesforce_id
                elif column is not None and record.get(column.prop) is not None:
                    try:
                        value = column.convert(record[column.prop])
                    except Exception:
                        value = None
                key = self._canonical(ref.parent_field, value)
                if key is not None:
                    written.append((ref.parent_field.lower(), key))
            with self._lock:
                self._written.update(written)
        if self._stash is None:
            return False
        key = self._record_key(record)
        if key is None:
            return False
        with self._lock:
            row = self._stash.get(key)
            if row is None:
                return False
            earlier = row["done"]
            row["done"] = (record, outcome.value, salesforce_id, note)
            self._stash.put(key, row)
        if earlier is not None:
            self._count(*earlier)  # an earlier version of the key: its own outcome stands
        return True

    def _count(
        self,
        record: dict[str, Any],
        outcome: str,
        salesforce_id: str | None,
        note: tuple[str, bytes] | None = None,
    ) -> None:
        """Count a written record through the sink (not held again)."""
        with self._lock:
            self._passing.add(id(record))
        self._sink.confirm(record, Count(outcome), salesforce_id, note)

    # -- a dry run's stand-in for writes ----------------------------------------------------------

    def dry_write(self, items: list[Item], predict: Callable[[list[Item]], None]) -> None:
        """``predict`` what writing ``items`` would do; note those it does not reject.

        They count as written when the batch or level ends (:meth:`_dry_settle`), as a real
        run's writes are confirmed: a child in the same batch as its parent still waits.
        """
        with self._lock:
            self._dry_rejected = set()
        predict(items)
        with self._lock:
            rejected, self._dry_rejected = self._dry_rejected, set()
            for record, fields in items:
                if id(record) not in rejected:
                    self._dry_unsettled.extend(self._own(fields))
                    self._dry_count += 1

    def rejected(self, record: dict[str, Any]) -> None:
        """``record`` was rejected: in a dry run, a real run would not have written it."""
        if self._sink.runtime.dry_run:
            with self._lock:
                self._dry_rejected.add(id(record))

    def _dry_settle(self) -> None:
        """The dry run's would-be writes so far are written: their children may follow."""
        with self._lock:
            self._written.update(self._dry_unsettled)
            self._dry_unsettled = []
            self.stats["written"] += self._dry_count
            self._dry_count = 0

    # -- levels --------------------------------------------------------------------------------

    def release(self, *, final: bool) -> None:
        """Write the held records whose parents are written, level by level.

        ``final``: the input has ended; a record whose parent never came is dead-lettered.
        """
        self._dry_settle()
        if self._held is None or not len(self._held):
            return
        self._sink.write_wave([])  # what this batch wrote has its outcome first
        self._dry_settle()
        if final:
            self._not_in_org.clear()  # looked up once more: it may have been created since
        while True:
            held = self._held.items()
            if not held:
                return
            ready, waiting, unknown = self._classify(held)
            if unknown and self._look_up(unknown):
                continue
            if ready:
                self._write(ready)
                continue
            if not final or not self._reject_stuck(waiting):
                break
        if final:
            for seq, item in self._held.items():
                self._reject(seq, item, HIERARCHY_CYCLE, self._loop_text(item))
                self.stats["cycles"] += 1

    def _classify(
        self, held: list[tuple[str, Item]]
    ) -> tuple[list[tuple[str, Item]], list[tuple[str, Item]], set[ParentKey]]:
        """Held records now writable, those still waiting, and parent keys to look up."""
        with self._lock:
            pending = set(self._held_own)
            known = self._written | self._in_org
            skip = set(self._not_in_org)
        ready, waiting, unknown = [], [], set()
        blocked: set[ParentKey] = set()
        for seq, item in held:
            own = self._own(item.fields)
            waits = any(o in blocked for o in own)
            for parent in self._parents(item.fields):
                if parent in known:
                    continue
                if parent in pending:
                    waits = True
                elif parent[0] == "id":
                    continue  # an Id names a record that exists (Salesforce checks it)
                else:
                    waits = True
                    if parent not in skip:
                        unknown.add(parent)
            if waits:
                waiting.append((seq, item))
                blocked.update(own)
            else:
                ready.append((seq, item))
        return ready, waiting, unknown

    def _look_up(self, parents: set[ParentKey]) -> bool:
        """Look ``parents`` up in the org; True when any was found."""
        by_field: dict[str, list[str]] = {}
        for field, value in parents:
            by_field.setdefault(field, []).append(value)
        found_any = False
        sink = self._sink
        client = sink.runtime.client
        for field, values in by_field.items():
            name = sink.obj.field(field)
            field_name = name.name if name is not None else field
            before = client.api_calls
            found = find_ids(client, sink.obj.name, field_name, values, sink.key_type(field_name))
            if sink.forecast is not None:  # a real run makes the same queries
                sink.forecast.lookup_queries += client.api_calls - before
            with self._lock:
                for value in values:
                    if value in found:
                        self._in_org.add((field, value))
                        found_any = True
                    else:
                        self._not_in_org.add((field, value))
        return found_any

    def _write(self, ready: list[tuple[str, Item]]) -> None:
        """One level: write ``ready`` and wait for every outcome."""
        assert self._held is not None
        with self._lock:
            for seq, item in ready:
                self._held.pop(seq)
                self._forget(item)
        self.stats["waves"].append(len(ready))
        LOGGER.info(
            "stream %r: hierarchy level of %d record(s) whose parents are written",
            self._sink.stream_name,
            len(ready),
        )
        self._sink.write_wave([item for _, item in ready])
        self._dry_settle()

    def _forget(self, item: Item) -> None:
        for o in self._own(item.fields):
            left = self._held_own.get(o, 0) - 1
            if left > 0:
                self._held_own[o] = left
            else:
                self._held_own.pop(o, None)

    def _reject_stuck(self, waiting: list[tuple[str, Item]]) -> bool:
        """Dead-letter the held records whose parent can no longer come; True if any."""
        with self._lock:
            pending = set(self._held_own)
            known = self._written | self._in_org
        stuck = []
        for seq, item in waiting:
            for parent in self._parents(item.fields):
                if parent not in known and parent not in pending and parent[0] != "id":
                    stuck.append((seq, item, parent))
                    break
        for seq, item, parent in stuck:
            with self._lock:
                in_run = parent in self._seen
            column = next(
                ref.column for ref, _ in self.levels if ref.parent_field.lower() == parent[0]
            )
            value = item.fields.get(column)
            where = (
                "was in this run but was not written (see its own dead-letter line)"
                if in_run
                else f"is neither in this run nor in the org ({self._sink.obj.name} has no "
                f"{parent[0]} {value!r})"
            )
            self._reject(seq, item, MISSING_PARENT, f"its parent {column}={value!r} {where}")
            self.stats["missing_parent"] += 1
        return bool(stuck)

    def _loop_text(self, item: Item) -> str:
        columns = ", ".join(self.hierarchy_columns)
        return (
            f"its parent ({columns}) leads back to itself through records of this run, so no "
            "order writes every parent first"
        )

    def _reject(self, seq: str, item: Item, code: str, text: str) -> None:
        assert self._held is not None
        with self._lock:
            self._held.pop(seq)
            self._forget(item)
        detail = ErrorDetail(code, self._sink.message(item.record, text), self.hierarchy_fields)
        self._sink.reject(item.record, detail, source="target")

    @property
    def hierarchy_fields(self) -> tuple[str, ...]:
        """The lookup fields of the self-references (named in rejections)."""
        return tuple(ref.field for ref, _ in self.levels)

    # -- the second pass ------------------------------------------------------------------------

    def second_pass(self) -> None:
        """Set the deferred lookups of every record written in the first pass."""
        if self._stash is None or self._sink.runtime.dry_run:
            return
        rows = []
        with self._lock:
            for key, row in self._stash.items():
                if row["done"] is None:
                    self._stash.pop(key)  # its first write failed: it has its outcome
                else:
                    rows.append((key, row))
        if not rows:
            return
        LOGGER.info(
            "stream %r: second pass sets %s on %d record(s)",
            self._sink.stream_name,
            ", ".join(self.deferred),
            len(rows),
        )
        if self._sink.runs_jobs:
            for start in range(0, len(rows), SECOND_PASS_JOB_ROWS):
                self._second_pass_job(rows[start : start + SECOND_PASS_JOB_ROWS])
        else:
            for start in range(0, len(rows), REST_MAX_BATCH):
                self._second_pass_call(rows[start : start + REST_MAX_BATCH])

    def _landed(self, key: str, row: dict[str, Any]) -> None:
        with self._lock:
            self._stash_shelf().pop(key)
        self.stats["second_pass"]["updated"] += 1
        self._count(*row["done"])

    def _failed(self, key: str, row: dict[str, Any], error: ErrorDetail, source: str) -> None:
        record, _, salesforce_id, _ = row["done"]
        with self._lock:
            self._stash_shelf().pop(key)
        self.stats["second_pass"]["failed"] += 1
        columns = ", ".join(row["values"])
        text = (
            f"written in the first pass (Id {salesforce_id}) without {columns}; the second pass "
            f"could not set it: {error.code}: {error.message}"
        )
        detail = ErrorDetail(error.code, self._sink.message(record, text), error.fields)
        self._sink.reject(record, detail, source=source)

    def _second_pass_call(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        """One sObject Collections update; rows that hit a row lock go again with backoff."""
        sink = self._sink
        headers: dict[str, str] = dict(getattr(sink, "_save_headers", {}))
        pending = rows
        self.stats["second_pass"]["sent"] += len(rows)
        for attempt in range(RECORD_RETRIES + 1):
            chunk = [
                Item(row["done"][0], {"Id": row["done"][2], **row["values"]}) for _, row in pending
            ]
            try:
                results = update_records(sink.runtime.client, sink.obj.name, chunk, headers)
            except SalesforceOutError as exc:
                detail, source = call_failure(exc, "the second pass was not sent")
                for key, row in pending:
                    self._failed(key, row, detail, source)
                raise
            retry = []
            for (key, row), result in zip(pending, results, strict=False):
                if result.get("success"):
                    self._landed(key, row)
                    continue
                error = record_errors(result)[0]
                if attempt < RECORD_RETRIES and is_retryable(error, Operation.UPDATE, attempt):
                    retry.append((key, row))
                else:
                    self._failed(key, row, error, "salesforce")
            for key, row in pending[len(results) :]:
                error = ErrorDetail("UNEXPECTED_RESPONSE", f"{len(results)} results")
                self._failed(key, row, error, "salesforce")
            if not retry:
                return
            sink.count(Count.RETRIED, len(retry))
            time.sleep(backoff_seconds(attempt))
            pending = retry

    def _second_pass_job(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        """One Bulk API 2.0 update job (Id and the deferred lookups); results matched by Id."""
        sink = self._sink
        client = sink.runtime.client
        header = ["Id", *self.deferred]
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(
                prefix="target-salesforce-out-plan-", ignore_cleanup_errors=True
            )
        directory = Path(self._tmp.name)
        path = directory / "second_pass.csv"
        by_id: dict[str, tuple[str, dict[str, Any]]] = {}
        with path.open("w", encoding="utf-8", newline="") as out:
            out.write(",".join(header) + "\n")
            for key, row in rows:
                values = {"Id": row["done"][2], **row["values"]}
                out.write(",".join(quote_cell(to_cell(values.get(c), c)) for c in header) + "\n")
                by_id[key_of(row["done"][2], is_id=True) or ""] = (key, row)
        self.stats["second_pass"]["sent"] += len(rows)
        job_id = str(bulk_job.create_job(client, sink.obj.name, Operation.UPDATE, None)["id"])
        try:
            if bulk_job.upload(client, job_id, path) == "Open":
                bulk_job.close(client, job_id)
            info = bulk_job.wait_for_terminal(
                client,
                job_id,
                stop=threading.Event(),
                first_delay=_POLL_FIRST,
                max_delay=_POLL_MAX,
                timeout=_JOB_TIMEOUT,
            )
        except SalesforceOutError as exc:
            detail = ErrorDetail(OUTCOME_UNKNOWN, f"the second pass's Bulk job {job_id}: {exc}")
            for key, row in by_id.values():
                self._failed(key, row, detail, "target")
            raise
        finally:
            path.unlink(missing_ok=True)
        for kind in ("successfulResults", "failedResults"):
            for result_id, row in self._result_rows(job_id, kind, directory):
                entry = by_id.pop(key_of(result_id, is_id=True) or "", None)
                if entry is None:
                    continue
                if kind == "successfulResults":
                    self._landed(*entry)
                else:
                    self._failed(*entry, parse_sf_error(row.get("sf__error", "")), "salesforce")
        state = str(info.get("state"))
        for key, row in by_id.values():
            code = NOT_SENT if state in ("Failed", "Aborted") else OUTCOME_UNKNOWN
            message = str(info.get("errorMessage") or f"no result row (job {state})")
            self._failed(key, row, ErrorDetail(code, message), "salesforce")
        sink.runtime.report.add_job(
            sink.stream_name,
            {
                "id": job_id,
                "operation": "update",
                "object": sink.obj.name,
                "state": state,
                "records": len(rows),
                "processed": int(info.get("numberRecordsProcessed") or 0),
                "failed": int(info.get("numberRecordsFailed") or 0),
                "unprocessed": 0,
                "attempt": 1,
                "pass": "set_lookups",
            },
        )

    def _result_rows(
        self, job_id: str, kind: str, directory: Path
    ) -> Iterator[tuple[str, dict[str, str]]]:
        for row in bulk_job.result_rows(self._sink.runtime.client, job_id, kind, directory):
            yield row.get("id") or row.get("sf__id", ""), row

    # -- the run's end ---------------------------------------------------------------------------

    def account_unfinished(self) -> None:
        """Dead-letter what still waits here: the run stopped before it was written."""
        held = self._held.items() if self._held is not None else []
        for seq, item in held:
            text = "held until its parent was written; the run stopped first"
            with self._lock:
                self._held_shelf().pop(seq)
            self._sink.reject(
                item.record,
                ErrorDetail(NOT_SENT, self._sink.message(item.record, text)),
                source="target",
            )
        rows = self._stash.items() if self._stash is not None else []
        for key, row in rows:
            with self._lock:
                self._stash_shelf().pop(key)
            if row["done"] is None:
                continue
            record, _, salesforce_id, _ = row["done"]
            text = (
                f"written in the first pass (Id {salesforce_id}) without "
                f"{', '.join(row['values'])}; the run stopped before the second pass set it; "
                "load it again"
            )
            self._sink.reject(
                record, ErrorDetail(NOT_SENT, self._sink.message(record, text)), source="target"
            )

    def close(self) -> None:
        """Remove the temporary files."""
        for shelf in (self._held, self._stash):
            if shelf is not None:
                shelf.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
