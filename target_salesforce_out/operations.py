"""The operations a stream can load with, and every fact about each, in one table.

To add an operation: add a member to :class:`Operation` and a row to :data:`_FACTS`, then give
it its call in the REST sink (``sinks/rest.py``) and, if Bulk API 2.0 has it, nothing more in
the Bulk sink (a job names its operation by :attr:`OperationFacts.bulk_name`).

The setting's text is the member's value (``Operation("hard_delete")``), so settings files, the
run report and the dead-letter file read exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from target_salesforce_out.reporting import Count

if TYPE_CHECKING:
    from target_salesforce_out.describe import ObjectInfo


class Operation(StrEnum):
    """What a stream does to the records of its object (the ``operation`` setting)."""

    INSERT = "insert"
    UPDATE = "update"
    UPSERT = "upsert"
    DELETE = "delete"
    HARD_DELETE = "hard_delete"

    @property
    def facts(self) -> OperationFacts:
        """This operation's row of :data:`_FACTS`."""
        return _FACTS[self]

    @property
    def bulk_name(self) -> str:
        """The job's ``operation`` in Bulk API 2.0 (Bulk API 2.0 Developer Guide, Create a Job)."""
        return self.facts.bulk_name

    @property
    def creates(self) -> bool:
        """May create records: the object and every sent field must be createable."""
        return self.facts.creates

    @property
    def updates(self) -> bool:
        """May change existing records: the object and every sent field must be updateable."""
        return self.facts.updates

    @property
    def deletes(self) -> bool:
        """Removes records: the object must be deletable, and only the Id is sent."""
        return self.facts.deletes

    @property
    def sends_fields(self) -> bool:
        """Whether record fields are sent at all (a delete sends only the Id)."""
        return not self.facts.deletes

    @property
    def needs_required_fields(self) -> bool:
        """Whether the object's required fields must each have a property (it creates)."""
        return self.facts.creates

    def allowed_on(self, obj: ObjectInfo) -> bool:
        """Whether the object's describe allows it: createable, updateable, deletable as needed."""
        facts = self.facts
        return (
            (obj.createable or not facts.creates)
            and (obj.updateable or not facts.updates)
            and (obj.deletable or not facts.deletes)
        )

    @property
    def needs_key(self) -> bool:
        """Whether records are found by a key (``external_id_field``, ``Id`` or match fields)."""
        return self.facts.needs_key

    @property
    def default_key(self) -> str | None:
        """The key field when neither ``external_id_field`` nor ``match_fields`` is set."""
        return self.facts.default_key

    @property
    def finds_by_key(self) -> bool:
        """Salesforce finds each record by the key field's value itself (upsert).

        The other keyed operations address records by Id, which is first looked up with SOQL
        when the key is an external id.
        """
        return self.facts.finds_by_key

    @property
    def rest(self) -> bool:
        """Whether sObject Collections can do it (hard delete is Bulk API only)."""
        return self.facts.rest

    @property
    def creates_when_not_found(self) -> bool:
        """Whether a record its key finds in no existing record is created (upsert)."""
        return self.facts.finds_by_key and self.facts.creates

    def creates_without(self, key_field: str) -> bool:
        """Whether a record with no value for ``key_field`` is created instead of rejected.

        Upsert by Id: a record without an Id can only be new. Real orgs insert it (REST API
        Developer Guide, sObject Collections Upsert, allows Id as the external id field but
        does not say what a record without one does).
        """
        return self.creates_when_not_found and key_field == "Id"

    def outcome(self, *, created: bool) -> Count:
        """The counter of a record Salesforce wrote; ``created`` is what its result says."""
        if created:
            return Count.CREATED
        return self.facts.outcome or Count.UPDATED

    def dry_run_count(self, *, exists: bool) -> Count | None:
        """The dry run's counter of a record; None when it would be rejected (NOT_FOUND).

        ``exists``: a record with the key's value is in the org (not looked up for an
        operation that needs no key: it would create every record).
        """
        if not self.facts.needs_key:
            return Count.WOULD_CREATE
        if exists:
            return Count.WOULD_DELETE if self.facts.deletes else Count.WOULD_UPDATE
        return Count.WOULD_CREATE if self.creates_when_not_found else None


@dataclass(frozen=True)
class OperationFacts:
    """One row of :data:`_FACTS`.

    Attributes:
        bulk_name: The Bulk API 2.0 job ``operation`` (Bulk API 2.0 Developer Guide, Create
            a Job): ``insert``, ``update``, ``upsert``, ``delete``, ``hardDelete``.
        creates: May create records.
        updates: May change existing records.
        deletes: Removes records (only the Id is sent).
        needs_key: Records are found by a key field or match fields.
        default_key: The key when the settings name none (None: insert needs none, upsert must
            name one).
        finds_by_key: Salesforce finds the record by the key field itself (upsert); otherwise
            by Id.
        rest: sObject Collections can do it.
        outcome: The counter of a written record; None when Salesforce's result says whether
            it was created or updated (upsert).
    """

    bulk_name: str
    creates: bool
    updates: bool
    deletes: bool
    needs_key: bool
    default_key: str | None
    finds_by_key: bool
    rest: bool
    outcome: Count | None


_FACTS: dict[Operation, OperationFacts] = {
    Operation.INSERT: OperationFacts(
        bulk_name="insert",
        creates=True,
        updates=False,
        deletes=False,
        needs_key=False,
        default_key=None,
        finds_by_key=False,
        rest=True,
        outcome=Count.CREATED,
    ),
    Operation.UPDATE: OperationFacts(
        bulk_name="update",
        creates=False,
        updates=True,
        deletes=False,
        needs_key=True,
        default_key="Id",
        finds_by_key=False,
        rest=True,
        outcome=Count.UPDATED,
    ),
    Operation.UPSERT: OperationFacts(
        bulk_name="upsert",
        creates=True,
        updates=True,
        deletes=False,
        needs_key=True,
        default_key=None,
        finds_by_key=True,
        rest=True,
        outcome=None,
    ),
    Operation.DELETE: OperationFacts(
        bulk_name="delete",
        creates=False,
        updates=False,
        deletes=True,
        needs_key=True,
        default_key="Id",
        finds_by_key=False,
        rest=True,
        outcome=Count.DELETED,
    ),
    # Hard delete skips the Recycle Bin; only Bulk API offers it (Bulk API 2.0 Developer
    # Guide, Create a Job: operation hardDelete).
    Operation.HARD_DELETE: OperationFacts(
        bulk_name="hardDelete",
        creates=False,
        updates=False,
        deletes=True,
        needs_key=True,
        default_key="Id",
        finds_by_key=False,
        rest=False,
        outcome=Count.DELETED,
    ),
}
