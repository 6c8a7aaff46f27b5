"""The lock model: saving a child locks its parent, and a parent another transaction holds fails it.

Salesforce locks the parent record while a child of it is saved, for the length of the saving
transaction ("Designing Record Access for Enterprise Scale", Record-Level Locking); a save that
cannot get the lock fails with ``UNABLE_TO_LOCK_ROW`` (Apex Developer Guide, Locking
Statements). Bulk API 2.0 processes a job's 10,000-record batches in parallel, each in chunks
of 200 records (Bulk API 2.0 and Bulk API Developer Guide, How Requests Are Processed), which is
why rows of different batches or jobs sharing a parent contend for it, and why the guide's
General Guidelines for Data Loads say to keep a parent's children in the same job.

Off by default (``lock_model``): when on, each Bulk chunk and each sObject Collections call is
one transaction (:meth:`RowLocks.transaction`) that takes the lock of every parent its records
name (a reference field by Id, or a relationship by external id) and keeps them until it ends.
A record whose parent another open transaction holds fails at once, without saving. The
emulator's simplifications: no 10-second wait for the lock, and lookups to users, groups and
record types lock nothing.

Errors: ``UNABLE_TO_LOCK_ROW`` with the text real orgs give for a locked parent, ``unable to
obtain exclusive access to this record or 1 records: <Id>`` (Bulk ``sf__Error`` cells render
it as ``UNABLE_TO_LOCK_ROW:<message>:--``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator

from .errors import RecordError

__all__ = ["NOT_LOCKED_PARENTS", "ParentLock", "RowLocks", "lock_error"]

UNABLE_TO_LOCK_ROW = "UNABLE_TO_LOCK_ROW"
# Lookups whose target is one of these take no lock in the model (owners, queues, types).
NOT_LOCKED_PARENTS = frozenset({"User", "Group", "RecordType", "Profile", "UserRole"})

# Takes the locks of one record's parents (their 18-character Ids) for the calling
# transaction; returns the error of a record whose parent another transaction holds, or None.
ParentLock = Callable[[list[str]], RecordError | None]


def lock_error(record_id: str) -> RecordError:
    """``UNABLE_TO_LOCK_ROW`` for a record whose parent ``record_id`` is held elsewhere."""
    return RecordError(
        UNABLE_TO_LOCK_ROW,
        f"unable to obtain exclusive access to this record or 1 records: {record_id}",
    )


class RowLocks:
    """Which open transaction holds each locked record. Thread-safe.

    Attributes:
        enabled: Whether saves take locks at all (the ``lock_model`` option).
    """

    def __init__(self, *, enabled: bool = False) -> None:
        """Start with no lock held."""
        self.enabled = enabled
        self._mutex = threading.Lock()
        self._holders: dict[str, object] = {}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[ParentLock | None]:
        """One transaction: yields the ``parent_lock`` for ``Org.save`` (None when disabled).

        Every lock it took is released when the block ends.
        """
        if not self.enabled:
            yield None
            return
        owner = object()
        taken: list[str] = []

        def lock(parent_ids: list[str]) -> RecordError | None:
            with self._mutex:
                for parent_id in parent_ids:
                    holder = self._holders.get(parent_id)
                    if holder is not None and holder is not owner:
                        return lock_error(parent_id)
                for parent_id in parent_ids:
                    if parent_id not in self._holders:
                        self._holders[parent_id] = owner
                        taken.append(parent_id)
            return None

        try:
            yield lock
        finally:
            self._release(owner, taken)

    @contextlib.contextmanager
    def hold(self, record_ids: Iterable[str]) -> Iterator[None]:
        """Hold ``record_ids`` (18-character Ids) as another transaction would, for tests."""
        owner = object()
        taken: list[str] = []
        with self._mutex:
            for record_id in record_ids:
                if record_id not in self._holders:
                    self._holders[record_id] = owner
                    taken.append(record_id)
        try:
            yield
        finally:
            self._release(owner, taken)

    def held(self) -> int:
        """How many records are locked now (for inspection and tests)."""
        with self._mutex:
            return len(self._holders)

    def clear(self) -> None:
        """Forget every lock (the org was reset)."""
        with self._mutex:
            self._holders.clear()

    def _release(self, owner: object, taken: list[str]) -> None:
        with self._mutex:
            for record_id in taken:
                if self._holders.get(record_id) is owner:
                    del self._holders[record_id]
