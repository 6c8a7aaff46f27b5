"""The sync ledger: per stream and key, the payload Salesforce last confirmed, and kept rejects.

With ``ledger_path`` set, one SQLite file (WAL journal) remembers across runs:

* per stream, a *signature* (object, operation, key, mapped columns, constants such as the
  record type): when it changes, the stream's digests are dropped, so a changed mapping,
  object or operation resends every record once;
* per (stream, key), the *digest* of the converted payload Salesforce last confirmed for that
  key, the record's Salesforce Id, and the run that confirmed it. A record whose converted
  payload has the same digest is not sent again (counted ``unchanged``). An insert stream
  whose tap sends ``key_properties`` uses the remembered Id so that a replayed record is not
  inserted twice: unchanged it is skipped, changed it is sent as an update by that Id;
* next to each digest, the *raw digest* of the record as the tap sent it (without its
  ``_sdc_*`` properties), and per stream a *raw signature*: the stream's signature, its
  SCHEMA, the describe of its mapped fields, its settings and this package's version. While
  the raw signature holds, a record whose raw digest matches is unchanged without being
  validated or converted (the target's fast path): the same record under the same SCHEMA,
  describe and settings converts to the same payload. A new raw signature drops the raw
  digests (rebuilt by the run's confirmations) and turns the fast path off for that run;
* *kept* records: records rejected for a reason that can pass (a row lock, the API limit, a
  missing parent, a run that stopped before sending them), offered again on the next runs of
  their stream, up to ``retry_rejected_runs`` runs, unless the tap sends their key again.

Crash semantics. Confirmations are written only after Salesforce answered success for the
record, and committed in batches: before every STATE message and at the end of the run, and
for insert streams also after each REST call's results and each block of a Bulk job's success
results. A crash therefore never marks an unsent or rejected record as synced; it can only lose
confirmations not yet committed, whose records are then sent again on the replay: harmless for
upsert, update and delete; for insert only the records whose answer was in flight when the
process died can be created twice. Edits made in Salesforce since the last sync are not seen:
the ledger knows what this target last wrote, not what the org holds now.

Threading: the sinks confirm from worker threads; every statement runs on one connection under
one lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from target_salesforce_out.errors import ConfigError

LOGGER = logging.getLogger("target_salesforce_out.ledger")

# Rows written (seen keys) per executemany.
_BLOCK = 1000
# Confirmations buffered before they are written when no commit is needed yet.
_MANY = 10_000
# Sorted keys and Decimals as text: one payload always encodes to the same bytes.
_CANONICAL = msgspec.json.Encoder(order="sorted", decimal_format="string", enc_hook=str)
# Kept records as they were received (the dead-letter file's encoding).
_RECORD_ENCODER = msgspec.json.Encoder(enc_hook=str, decimal_format="number")
# A record as received, canonical: sorted keys, numbers as the tap wrote them (a Decimal stays
# a JSON number, so 1.5 and "1.5" differ).
_RAW = msgspec.json.Encoder(order="sorted", decimal_format="number", enc_hook=str)
# A payload digest is 16 bytes; a stored digest of 32 bytes carries the raw digest after it.
DIGEST_SIZE = 16

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    sobject TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS digests (
    stream INTEGER NOT NULL,
    key TEXT NOT NULL,
    digest BLOB,
    sf_id TEXT,
    run TEXT NOT NULL,
    PRIMARY KEY (stream, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS raw_signatures (
    stream INTEGER PRIMARY KEY,
    signature TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kept (
    stream INTEGER NOT NULL,
    key TEXT NOT NULL,
    record BLOB NOT NULL,
    code TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    run TEXT NOT NULL,
    PRIMARY KEY (stream, key)
);
CREATE TEMP TABLE IF NOT EXISTS seen (
    stream INTEGER NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (stream, key)
) WITHOUT ROWID;
"""


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """The ledger settings' problems, one line each (none without ``ledger_path``)."""
    problems: list[str] = []
    path = config.get("ledger_path")
    if path:
        folder = Path(str(path)).expanduser().parent
        if not folder.is_dir():
            problems.append(
                f"ledger_path {str(path)!r}: the directory {str(folder)!r} does not exist "
                "(create it, on a volume that outlives the run)"
            )
    runs = config.get("retry_rejected_runs")
    if runs is not None and not 0 <= int(runs) <= 100:
        problems.append(f"retry_rejected_runs {runs} must be between 0 and 100")
    if not path:
        # Without the ledger these settings would silently do nothing. Their defaults (false,
        # 3) are what Meltano passes when they are left unset.
        problems += [
            f"{name} needs ledger_path (the ledger it works on); set ledger_path or remove {name}"
            for name, unset in (("full_refresh", (None, False)), ("retry_rejected_runs", (None, 3)))
            if config.get(name) not in unset
        ]
    return problems


def payload_digest(fields: Mapping[str, Any]) -> bytes:
    """16-byte BLAKE2b of the converted payload (by wire name) in canonical JSON."""
    return hashlib.blake2b(_CANONICAL.encode(fields), digest_size=16).digest()


def raw_digest(record: Mapping[str, Any]) -> bytes:
    """16-byte BLAKE2b of the record as received, without its ``_sdc_*`` properties.

    The Singer metadata (extraction and batch times, table version, sequence) changes every
    run without the row changing. A record holding such a property pays for a second encoding
    without it; the text test also matches a value that starts with ``_sdc_``, which only costs
    that second encoding.
    """
    encoded = _RAW.encode(record)
    if b'"_sdc_' in encoded:
        encoded = _RAW.encode({k: v for k, v in record.items() if not k.startswith("_sdc_")})
    return hashlib.blake2b(encoded, digest_size=DIGEST_SIZE).digest()


def signature_of(parts: Mapping[str, Any]) -> str:
    """A stream's signature: the hash of what decides how its records are written."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Remembered:
    """What the ledger holds for one key: the confirmed payload's digest and the record's Id.

    ``digest`` is None when the stream's digests were dropped (a new signature) but the Id
    was kept (the object did not change). ``again``: the key was seen earlier in this run.
    ``raw``: the raw digest stored with the payload's, if any.
    """

    digest: bytes | None
    sf_id: str | None
    again: bool = False
    raw: bytes | None = None


@dataclass(frozen=True)
class KeptRecord:
    """A rejected record kept to be offered again; ``attempts``: offers made so far."""

    key: str
    record: bytes
    code: str
    attempts: int


class Ledger:
    """The ledger file, opened once per run (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        *,
        full_refresh: bool = False,
        retry_runs: int = 3,
        read_only: bool = False,
    ) -> None:
        """Open (or create) the file; ``full_refresh`` ignores every stream's digests this run.

        Args:
            path: The SQLite file; its directory must exist.
            full_refresh: Ignore the digests this run (records are all sent) and rebuild them.
            retry_runs: How many later runs re-offer a kept record (``retry_rejected_runs``).
            read_only: A dry run: the digests are compared, nothing is changed.
        """
        self.path = Path(path).expanduser()
        self.full_refresh = full_refresh
        self.read_only = read_only
        self.retry_runs = retry_runs
        self.run_id = uuid.uuid4().hex
        self.lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.executescript(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=FILE;"
            )
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(
                f"ledger_path {str(path)!r} cannot be used as the ledger ({exc}): give the path "
                "of a new file or of a ledger this target wrote"
            ) from exc
        self._streams: dict[str, StreamLedger] = {}
        self._in_transaction = False

    # -- transactions: every write goes through _write, committed by commit() -----------------

    def _write(self, sql: str, rows: Sequence[Sequence[Any]] | None = None) -> None:
        """Run a write inside the open transaction (started on first use). Caller holds lock."""
        if not self._in_transaction:
            self._db.execute("BEGIN")
            self._in_transaction = True
        if rows is None:
            self._db.execute(sql)
        else:
            self._db.executemany(sql, rows)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self.lock:
            return self._db.execute(sql, args).fetchall()

    def commit(self) -> None:
        """Write every stream's buffered confirmations, then commit (before STATE, at the end)."""
        with self.lock:
            for stream in self._streams.values():
                stream.flush_locked()
            if self._in_transaction:
                self._db.execute("COMMIT")
                self._in_transaction = False

    def close(self) -> None:
        """Commit and close the file (idempotent)."""
        with self.lock:
            if self._db is None:
                return
            for stream in self._streams.values():
                if stream.fast_skipped:
                    LOGGER.info(
                        "stream %r: %d unchanged record(s) recognised as received, before "
                        "validation and conversion",
                        stream.name,
                        stream.fast_skipped,
                    )
            self.commit()
            self._db.close()
            self._db = None  # type: ignore[assignment]

    # -- streams -----------------------------------------------------------------------------

    def stream(self, name: str, *, sobject: str, signature: str) -> StreamLedger:
        """The ledger of stream ``name`` (one per stream per run).

        A stream whose ``signature`` differs from the stored one has its digests dropped at
        once (committed: a crash later in the run cannot bring them back); the Salesforce Ids
        are kept unless ``sobject`` changed too, so an insert stream whose mapping changed
        still updates its records instead of creating them again.
        """
        with self.lock:
            existing = self._streams.get(name)
            if existing is not None:
                return existing
            row = self._db.execute(
                "SELECT id, sobject, signature FROM streams WHERE name = ?", (name,)
            ).fetchone()
            if self.read_only:
                # A dry run compares only where the stored signature still holds.
                stream = StreamLedger(self, name, int(row[0]) if row is not None else -1)
                stream.skips = stream.skips and row is not None and row[2] == signature
                self._streams[name] = stream
                return stream
            if row is None:
                self._write(
                    "INSERT INTO streams (name, sobject, signature) VALUES (?, ?, ?)",
                    [(name, sobject, signature)],
                )
                stream_id = int(self._db.execute("SELECT last_insert_rowid()").fetchone()[0])
            else:
                stream_id = int(row[0])
                if row[1] != sobject:
                    self._write("DELETE FROM digests WHERE stream = ?", [(stream_id,)])
                    LOGGER.info(
                        "stream %r: its object changed (%s -> %s); the ledger's entries for it "
                        "were dropped",
                        name,
                        row[1],
                        sobject,
                    )
                elif row[2] != signature:
                    self._write("UPDATE digests SET digest = NULL WHERE stream = ?", [(stream_id,)])
                    LOGGER.info(
                        "stream %r: its mapping or operation changed since the last run; every "
                        "record is sent once and its digest rebuilt",
                        name,
                    )
                if row[1] != sobject or row[2] != signature:
                    self._write(
                        "UPDATE streams SET sobject = ?, signature = ? WHERE id = ?",
                        [(sobject, signature, stream_id)],
                    )
            self.commit()
            stream = StreamLedger(self, name, stream_id)
            self._streams[name] = stream
            return stream


class StreamLedger:
    """One stream's part of the ledger. Thread-safe; confirmations are buffered until flush."""

    def __init__(self, ledger: Ledger, name: str, stream_id: int) -> None:
        """Used through :meth:`Ledger.stream`."""
        self.ledger = ledger
        self.name = name
        self.id = stream_id
        # Digests are compared unless this run is a full refresh.
        self.skips = not ledger.full_refresh
        # The raw signature of this run's sinks (see use_raw_signature); None before the first.
        self._raw_signature: str | None = None
        # Whether raw digests are compared (the fast path) and stored with confirmations.
        self._raw_fast = False
        self._raw_kept = not ledger.read_only
        # Records the fast path skipped in this run (reported when the ledger closes).
        self.fast_skipped = 0
        # For the stream's sinks (see sinks/ledger_hook.py): (key, digest) of records
        # converted and not yet confirmed, by identity; offers of kept records in this run.
        self.pending: dict[int, tuple[str, bytes]] = {}
        self.offered: dict[str, int] = {}
        self._confirmed: list[tuple[int, str, bytes | None, str | None, str]] = []
        self._forgotten: list[tuple[int, str]] = []
        # Keys seen in this run and not yet written to the temporary ``seen`` table.
        self._seen: set[str] = set()
        kept = ledger._read("SELECT count(*) FROM kept WHERE stream = ?", (stream_id,))
        # Whether confirmations must also clear kept rows (false in the common case).
        self._has_kept = bool(kept[0][0])

    # -- reads ---------------------------------------------------------------------------

    def digest_of(self, key: str) -> Remembered | None:
        """What the ledger holds for ``key``, or None (never confirmed, or forgotten).

        ``again`` tells whether ``key`` was already :meth:`seen` in this run: a record sent
        earlier in the run may still await its confirmation, so the digest must not be
        trusted for a later record of the same key.
        """
        with self.ledger.lock:
            row = self.ledger._db.execute(
                "SELECT digest, sf_id, EXISTS (SELECT 1 FROM seen s WHERE s.stream = d.stream "
                "AND s.key = d.key) FROM digests d WHERE d.stream = ? AND d.key = ?",
                (self.id, key),
            ).fetchone()
            if row is None:
                return None
            again = bool(row[2]) or key in self._seen
        if row[0] is None:
            return Remembered(None, row[1], again)
        stored = bytes(row[0])
        raw = stored[DIGEST_SIZE:] or None
        return Remembered(stored[:DIGEST_SIZE], row[1], again, raw)

    def use_raw_signature(self, signature: str) -> bool:
        """Whether a sink whose raw signature is ``signature`` may skip by raw digest.

        The first sink of the stream in this run compares it with the stored one: equal, the
        fast path is on (unless this run ignores digests); different, the stored raw digests
        are dropped at once and the new signature stored, so the run's confirmations rebuild
        them. A later sink of the same stream (a new SCHEMA in the run) with another raw
        signature turns the fast path off and stores no raw digest from then on; the stored
        signature is cleared, so the next run drops the mixed raw digests.
        """
        ledger = self.ledger
        with ledger.lock:
            if self._raw_signature is not None:
                if signature != self._raw_signature and self._raw_kept:
                    self._raw_fast = self._raw_kept = False
                    ledger._write(
                        "INSERT OR REPLACE INTO raw_signatures (stream, signature) VALUES (?, ?)",
                        [(self.id, "")],
                    )
                    ledger.commit()
                return self._raw_fast
            self._raw_signature = signature
            if ledger.read_only:
                return False
            row = ledger._db.execute(
                "SELECT signature FROM raw_signatures WHERE stream = ?", (self.id,)
            ).fetchone()
            if row is not None and row[0] == signature:
                self._raw_fast = self.skips
                return self._raw_fast
            ledger._write(
                "UPDATE digests SET digest = substr(digest, 1, ?) WHERE stream = ? "
                "AND length(digest) > ?",
                [(DIGEST_SIZE, self.id, DIGEST_SIZE)],
            )
            ledger._write(
                "INSERT OR REPLACE INTO raw_signatures (stream, signature) VALUES (?, ?)",
                [(self.id, signature)],
            )
            ledger.commit()
            return False

    @property
    def keeps_raw(self) -> bool:
        """Whether confirmations store the record's raw digest (see use_raw_signature)."""
        return self._raw_kept

    def unchanged_raw(self, key: str, raw: bytes) -> bool:
        """Whether ``key``'s record with raw digest ``raw`` is the one last confirmed.

        False for a key already seen in this run (its earlier record may still await its
        confirmation). True marks ``key`` seen, as the comparison of the payload would.
        """
        with self.ledger.lock:
            if key in self._seen:
                return False
            row = self.ledger._db.execute(
                "SELECT EXISTS (SELECT 1 FROM digests d WHERE d.stream = ? AND d.key = ? "
                "AND substr(d.digest, ?) = ? AND NOT EXISTS (SELECT 1 FROM seen s "
                "WHERE s.stream = d.stream AND s.key = d.key))",
                (self.id, key, DIGEST_SIZE + 1, raw),
            ).fetchone()
            if not row[0]:
                return False
            self.fast_skipped += 1
            self._seen.add(key)
            if len(self._seen) >= _BLOCK:
                self._write_seen()
            return True

    @property
    def has_kept(self) -> bool:
        """Whether this stream keeps rejected records to offer again."""
        return self._has_kept

    def count(self) -> int:
        """Keys this stream has in the ledger (records it wrote and did not delete)."""
        rows = self.ledger._read("SELECT count(*) FROM digests WHERE stream = ?", (self.id,))
        return int(rows[0][0])

    # -- confirmations (buffered; written by flush, committed by Ledger.commit) ---------------

    def confirm(self, key: str, digest: bytes | None, sf_id: str | None) -> None:
        """Salesforce confirmed the payload with ``digest`` for ``key`` (Id ``sf_id``).

        ``digest`` may carry the record's raw digest after the payload's. A None ``sf_id``
        keeps the Id already remembered; a None ``digest`` remembers the Id only (the record
        is sent again next run).
        """
        if digest is not None and not self._raw_kept:
            digest = digest[:DIGEST_SIZE]
        with self.ledger.lock:
            self._confirmed.append((self.id, key, digest, sf_id, self.ledger.run_id))

    def forget(self, keys: Sequence[str]) -> None:
        """The records of ``keys`` were deleted in Salesforce: drop them from the ledger."""
        with self.ledger.lock:
            self._forgotten.extend((self.id, k) for k in keys)

    def flush(self) -> None:
        """Write the buffered confirmations and commit them (one batch of answers)."""
        with self.ledger.lock:
            self.flush_locked()
            if self.ledger._in_transaction:
                self.ledger._db.execute("COMMIT")
                self.ledger._in_transaction = False

    def write_if_many(self) -> None:
        """Write the buffered confirmations once there are many (committed later)."""
        with self.ledger.lock:
            if len(self._confirmed) >= _MANY:
                self.flush_locked()

    def flush_locked(self) -> None:
        """Write buffered rows into the open transaction; the caller holds the lock."""
        ledger = self.ledger
        self._write_seen()
        if self._confirmed:
            ledger._write(
                "INSERT INTO digests (stream, key, digest, sf_id, run) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (stream, key) DO UPDATE SET digest = excluded.digest, "
                "sf_id = coalesce(excluded.sf_id, digests.sf_id), run = excluded.run",
                self._confirmed,
            )
            if self._has_kept:
                ledger._write(
                    "DELETE FROM kept WHERE stream = ? AND key = ?",
                    [(s, k) for s, k, _, _, _ in self._confirmed],
                )
            self._confirmed = []
        if self._forgotten:
            ledger._write("DELETE FROM digests WHERE stream = ? AND key = ?", self._forgotten)
            if self._has_kept:
                ledger._write("DELETE FROM kept WHERE stream = ? AND key = ?", self._forgotten)
            self._forgotten = []

    # -- keys seen in this run (for kept records and for mirror) ------------------------------

    def seen(self, key: str) -> None:
        """The tap sent ``key`` in this run (kept in a temporary table, in blocks)."""
        with self.ledger.lock:
            self._seen.add(key)
            if len(self._seen) >= _BLOCK:
                self._write_seen()

    def _write_seen(self) -> None:
        """Move the keys seen lately to the temporary table; the caller holds the lock."""
        if self._seen:
            rows = [(self.id, key) for key in self._seen]
            self.ledger._write("INSERT OR IGNORE INTO seen (stream, key) VALUES (?, ?)", rows)
            self._seen = set()

    def keys_not_seen(self) -> Iterator[tuple[str, str | None]]:
        """(key, Salesforce Id) of this stream's ledger entries whose key this run never sent.

        For mirror deletes: records written by earlier runs that the new version lacks. Read in
        pages, so the caller may write (forget, confirm) between pages. Only keys passed to
        :meth:`seen` count as seen: the sink does so for every record when the stream has
        ``mirror`` set (see ``sinks/ledger_hook.py``).
        """
        last = ""
        while True:
            with self.ledger.lock:
                self.flush_locked()
                rows = self.ledger._db.execute(
                    "SELECT d.key, d.sf_id FROM digests d WHERE d.stream = ? AND d.key > ? "
                    "AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.stream = d.stream "
                    "AND s.key = d.key) ORDER BY d.key LIMIT ?",
                    (self.id, last, _BLOCK),
                ).fetchall()
            if not rows:
                return
            for key, sf_id in rows:
                yield str(key), sf_id
            last = str(rows[-1][0])

    def clear_seen(self) -> None:
        """Forget the keys seen so far (a new table version starts)."""
        with self.ledger.lock:
            self._seen = set()
            self.ledger._write("DELETE FROM seen WHERE stream = ?", [(self.id,)])

    # -- kept records (retry later) -----------------------------------------------------------

    def keep(self, key: str, record: Mapping[str, Any], code: str, attempts: int) -> None:
        """Keep ``record`` (as received) to offer it again on the next run of the stream."""
        with self.ledger.lock:
            self._has_kept = True
            self.ledger._write(
                "INSERT OR REPLACE INTO kept (stream, key, record, code, attempts, run) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        self.id,
                        key,
                        _RECORD_ENCODER.encode(record),
                        code,
                        attempts,
                        self.ledger.run_id,
                    )
                ],
            )

    def drop_kept(self, key: str) -> None:
        """Stop offering the kept record of ``key`` (it failed for good, or was superseded)."""
        with self.ledger.lock:
            if self._has_kept:
                self.ledger._write(
                    "DELETE FROM kept WHERE stream = ? AND key = ?", [(self.id, key)]
                )

    def to_offer(self) -> Iterator[KeptRecord]:
        """Kept records of earlier runs to offer again now, in pages; the superseded dropped.

        A kept record whose key the tap sent again in this run is superseded (dropped); one
        offered ``retry_runs`` times already is given up (dropped, with a log line). Call once
        the tap's records of the stream have all been read.
        """
        ledger = self.ledger
        with ledger.lock:
            if not self._has_kept:
                return
            self.flush_locked()
            ledger._write(
                "DELETE FROM kept WHERE stream = ? AND run != ? AND EXISTS (SELECT 1 FROM seen s "
                "WHERE s.stream = kept.stream AND s.key = kept.key)",
                [(self.id, ledger.run_id)],
            )
            given_up = ledger._db.execute(
                "SELECT count(*) FROM kept WHERE stream = ? AND run != ? AND attempts >= ?",
                (self.id, ledger.run_id, ledger.retry_runs),
            ).fetchone()[0]
            if given_up:
                LOGGER.warning(
                    "stream %r: %d kept record(s) were offered again on %d runs and failed each "
                    "time; they are no longer offered (see the dead-letter files)",
                    self.name,
                    given_up,
                    ledger.retry_runs,
                )
                ledger._write(
                    "DELETE FROM kept WHERE stream = ? AND run != ? AND attempts >= ?",
                    [(self.id, ledger.run_id, ledger.retry_runs)],
                )
        last = 0
        while True:
            with ledger.lock:
                rows = ledger._db.execute(
                    "SELECT rowid, key, record, code, attempts FROM kept WHERE stream = ? "
                    "AND run != ? AND rowid > ? ORDER BY rowid LIMIT ?",
                    (self.id, ledger.run_id, last, _BLOCK),
                ).fetchall()
            if not rows:
                return
            for rowid, key, record, code, attempts in rows:
                last = int(rowid)
                yield KeptRecord(str(key), bytes(record), str(code), int(attempts))

    def kept_count(self) -> int:
        """Records this stream keeps to offer again."""
        rows = self.ledger._read("SELECT count(*) FROM kept WHERE stream = ?", (self.id,))
        return int(rows[0][0])
