"""The emulated org: schema, records, validation and DML (insert/update/upsert/delete).

One ``Org`` holds every record in memory, keyed by id, with indexes on external-id and unique
fields so upserts and lookups by external id never scan a table. A single lock serialises DML:
each save is short (at most a few hundred records), so this is simpler and faster than finer locks.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import ids
from .definitions import FieldDef, ObjectDef, Schema
from .errors import RecordError, RecordErrorException, SaveResult, record_error
from .row_locks import NOT_LOCKED_PARENTS, ParentLock
from .values import now_text, parse_json_value, parse_text_value

__all__ = [
    "Org",
    "RecordError",
    "RecordErrorException",
    "RecordFault",
    "SaveResult",
    "parse_json_value",
    "parse_text_value",
]

# Decides whether one record fails with an injected error, given the record's stable identity
# (``{Object}:ext:{value}``, ``{Object}:id:{Id}`` or ``{Object}:json:{body}``); None: it does not.
RecordFault = Callable[[str], RecordError | None]

ORG_ID = ids.to18("00DEm0000000001")
ADMIN_USER_ID = ids.fixed_id("005", 1)
OPERATIONS = frozenset({"insert", "update", "upsert", "delete", "hardDelete"})
# The ``assignment`` of a save that runs each object's active assignment rule; any other value
# is an AssignmentRule Id, and None runs no rule.
ACTIVE_RULE = "active"
ASSIGNMENT_RULE_PREFIX = "01Q"

ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header",
)

# Undo entries: (sobject, id, record before the change or None when the change was an insert,
# whether the record was in the recycle bin before).
_Undo = tuple[str, str, dict[str, Any] | None, bool]
_TRANSACTION: contextvars.ContextVar[list[_Undo] | None] = contextvars.ContextVar(
    "emulator_transaction", default=None
)


def _key(f: FieldDef, value: Any) -> str:
    text = str(value)
    return text if f.case_sensitive else text.lower()


@dataclass
class _Table:
    """Live records of one object plus its unique/external-id indexes."""

    obj: ObjectDef
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    index: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Prepare the empty indexes and the all-null record template."""
        self.index = {f.name: {} for f in self.obj.unique_fields}
        self.template = {f.name: None for f in self.obj.fields if f.type != "address"}

    def add_index(self, record: dict[str, Any]) -> None:
        for f in self.obj.unique_fields:
            value = record.get(f.name)
            if value is not None:
                self.index[f.name].setdefault(_key(f, value), set()).add(record["Id"])

    def drop_index(self, record: dict[str, Any]) -> None:
        for f in self.obj.unique_fields:
            value = record.get(f.name)
            if value is not None:
                bucket = self.index[f.name].get(_key(f, value))
                if bucket is not None:
                    bucket.discard(record["Id"])
                    if not bucket:
                        del self.index[f.name][_key(f, value)]

    def find(self, f: FieldDef, value: Any) -> list[str]:
        """Ids of live records whose field equals value (indexed, or a scan for idLookup)."""
        if f.name in self.index:
            return sorted(self.index[f.name].get(_key(f, value), ()))
        wanted = _key(f, value)
        return sorted(
            rid
            for rid, row in self.rows.items()
            if row.get(f.name) is not None and _key(f, row[f.name]) == wanted
        )


class Org:
    """An in-memory Salesforce org. Thread-safe.

    Attributes:
        schema: The org's objects and fields.
        org_id: 18-character organization id.
        admin_user_id: Id of the seeded admin user (owner and creator of records).
    """

    def __init__(self, schema: Schema) -> None:
        """Create the org and seed its built-in rows (the admin user, record types).

        Args:
            schema: The org's schema.
        """
        self.schema = schema
        self.org_id = ORG_ID
        self.admin_user_id = ADMIN_USER_ID
        self._lock = threading.RLock()
        self._tables: dict[str, _Table] = {}
        self._bin: dict[str, tuple[str, dict[str, Any]]] = {}
        # The delete log: id -> (object, deletion time), for ``sobjects/{X}/deleted``.
        self._deleted: dict[str, tuple[str, str]] = {}
        self._where: dict[str, str] = {}
        self._autonumber = itertools.count(1)
        self.reset()

    # ----------------------------------------------------------------- reading
    def reset(self) -> None:
        """Drop every record and re-seed the built-in rows."""
        with self._lock:
            self._tables = {o.name: _Table(o) for o in self.schema.objects}
            self._bin = {}
            self._deleted = {}
            self._where = {}
            self._autonumber = itertools.count(1)
            self._seed()

    def rows(self, sobject: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Snapshot of stored records of one object, with canonical field names.

        Args:
            sobject: Object API name, any case.
            include_deleted: Also return records in the recycle bin (``IsDeleted`` true).

        Returns:
            Copies of the records (empty for unknown objects).
        """
        obj = self.schema.get(sobject)
        if obj is None:
            return []
        with self._lock:
            out = [dict(r) for r in self._tables[obj.name].rows.values()]
            if include_deleted:
                out += [dict(r) for name, r in self._bin.values() if name == obj.name]
        return out

    def get(
        self, record_id: str, *, include_deleted: bool = False
    ) -> tuple[str, dict[str, Any]] | None:
        """Find a record by 15- or 18-character id.

        Args:
            record_id: The id.
            include_deleted: Also look in the recycle bin.

        Returns:
            (object name, record copy), or None.
        """
        rid = ids.normalize(record_id)
        if rid is None:
            return None
        with self._lock:
            sobject = self._where.get(rid)
            if sobject is not None:
                return sobject, dict(self._tables[sobject].rows[rid])
            if include_deleted and rid in self._bin:
                name, row = self._bin[rid]
                return name, dict(row)
        return None

    def is_deleted(self, record_id: str) -> bool:
        """Whether the id belongs to a record in the recycle bin."""
        rid = ids.normalize(record_id)
        with self._lock:
            return rid is not None and rid in self._bin

    def deletions(self, sobject: str) -> list[tuple[str, str]]:
        """The delete log of one object: (id, deletion time) of each deleted record.

        REST API Developer Guide, "sObject Get Deleted": deleted records are written to a delete
        log. Records removed with ``hardDelete`` stay in it too (not documented by Salesforce;
        the emulator's choice), and the log is never purged.

        Args:
            sobject: Object API name, any case.

        Returns:
            (id, datetime in the REST format) pairs, oldest first.
        """
        obj = self.schema.get(sobject)
        if obj is None:
            return []
        with self._lock:
            return [(rid, when) for rid, (name, when) in self._deleted.items() if name == obj.name]

    def find(self, sobject: str, field_name: str, value: Any) -> list[str]:
        """Ids of live records whose field equals value (case-insensitive unless caseSensitive).

        Uses the index for external-id/unique fields.

        Args:
            sobject: Object API name.
            field_name: Field API name.
            value: The value to match.

        Returns:
            Matching ids, sorted.
        """
        obj = self.schema.get(sobject)
        f = obj.field(field_name) if obj else None
        if obj is None or f is None:
            return []
        with self._lock:
            return self._tables[obj.name].find(f, value)

    def count(self, sobject: str) -> int:
        """Number of live records of an object (for ``/limits/recordCount``)."""
        obj = self.schema.get(sobject)
        with self._lock:
            return len(self._tables[obj.name].rows) if obj else 0

    # ------------------------------------------------------------- transactions
    @contextlib.contextmanager
    def transaction(self) -> Iterator[list[_Undo]]:
        """Collect undo entries of every save made in this context (e.g. a composite request).

        Yields:
            The undo log; pass it to ``rollback`` to undo those saves.
        """
        log: list[_Undo] = []
        token = _TRANSACTION.set(log)
        try:
            yield log
        finally:
            _TRANSACTION.reset(token)

    def rollback(self, log: list[_Undo]) -> None:
        """Undo the changes recorded in an undo log, newest first.

        Args:
            log: Entries collected by ``save`` or ``transaction``.
        """
        with self._lock:
            for sobject, rid, before, was_deleted in reversed(log):
                table = self._tables[sobject]
                current = table.rows.pop(rid, None)
                if current is not None:
                    table.drop_index(current)
                    self._where.pop(rid, None)
                self._bin.pop(rid, None)
                if before is None or not was_deleted:
                    self._deleted.pop(rid, None)  # inserted or live again: not deleted
                if before is None:
                    continue
                if was_deleted:
                    self._bin[rid] = (sobject, before)
                else:
                    table.rows[rid] = before
                    table.add_index(before)
                    self._where[rid] = sobject

    # --------------------------------------------------------------------- DML
    def save(
        self,
        operation: str,
        sobject: str,
        records: list[dict[str, Any]],
        *,
        external_id_field: str | None = None,
        all_or_none: bool = False,
        record_fault: RecordFault | None = None,
        assignment: str | None = None,
        allow_save: bool = False,
        api_version: str = "62.0",
        parent_lock: ParentLock | None = None,
    ) -> list[SaveResult]:
        """Insert, update, upsert or delete records, validating each like an org.

        Args:
            operation: ``insert``, ``update``, ``upsert``, ``delete`` or ``hardDelete``.
            sobject: Object API name (any case). Empty: each record's ``attributes.type`` (or, for
                deletes, its id's key prefix) decides.
            records: Field API name (any case) -> JSON-typed value; a nested ``{ExtField: value}``
                under a relationship name looks a parent up by external id. Update/delete records
                carry ``Id``.
            external_id_field: Upsert key (an external-id field or ``Id``).
            all_or_none: Roll every record back if any fails.
            record_fault: Injected per-record errors (the fault plan's decision, asked by the
                caller); consulted once per record that reaches validation.
            assignment: The assignment rule run on each created or updated record of an
                object that has rules (Lead, Case): :data:`ACTIVE_RULE`, a rule Id (see
                :meth:`rule_id_problem`), or None for none. The rule's user becomes the
                record's owner.
            allow_save: Save a record that only ``allow`` duplicate rules match (the
                ``allowSave`` of the REST API's Duplicate Rule Header); ``block`` rules
                always refuse it.
            api_version: The version in the ``attributes.url`` of matched duplicates.
            parent_lock: The lock model's transaction (see row_locks.py): takes the locks of
                each record's parents, or fails the record when another transaction holds one.

        Returns:
            One result per record, in input order.

        Raises:
            ValueError: For an unknown operation.
        """
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        results: list[SaveResult | None] = [None] * len(records)
        log: list[_Undo] = []
        now = now_text()
        # Records of one save are compared with existing records only, not with each other
        # (Salesforce Help, "Duplicate Rules": matching runs against saved records).
        saved: set[str] = set()
        with self._lock:
            if operation == "upsert":
                self._reject_duplicate_keys(sobject, records, external_id_field, results)
            for position, record in enumerate(records):
                if results[position] is not None:
                    continue
                try:
                    obj = self._object_for(operation, sobject, record)
                    if record_fault is not None:
                        key = _fault_key(operation, record, external_id_field)
                        error = record_fault(f"{obj.name}:{key}")
                        if error is not None:
                            raise RecordErrorException(error)
                    if parent_lock is not None:
                        locked = parent_lock(self._parent_ids(obj, record))
                        if locked is not None:
                            raise RecordErrorException(locked)
                    own: list[_Undo] = []
                    result = self._save_one(
                        operation, obj, record, external_id_field, log=own, now=now
                    )
                    if operation in {"insert", "update", "upsert"} and result.id is not None:
                        refusal = self._duplicates(obj, result.id, saved, allow_save, api_version)
                        if refusal is not None:
                            self.rollback(own)
                            raise RecordErrorException(refusal)
                        saved.add(result.id)
                    log.extend(own)
                    # The active rule runs on creates and updates; a rule named by its Id
                    # runs on created records only (REST API Developer Guide, Assignment
                    # Rule Header).
                    created = operation == "insert" or bool(result.created)
                    writes = operation in {"insert", "update", "upsert"}
                    if assignment is not None and writes and (assignment == ACTIVE_RULE or created):
                        self._assign(obj, result.id, assignment)
                    results[position] = result
                except RecordErrorException as exc:
                    results[position] = SaveResult(
                        id=self._echo_id(operation, record), success=False, errors=[exc.error]
                    )
            final = [r for r in results if r is not None]
            if all_or_none and not all(r.success for r in final):
                self.rollback(log)
                final = [
                    r if not r.success else SaveResult(None, False, [ROLLED_BACK]) for r in final
                ]
            else:
                outer = _TRANSACTION.get()
                if outer is not None:
                    outer.extend(log)
        return final

    def _duplicates(
        self, obj: ObjectDef, rid: str, skip: set[str], allow_save: bool, api_version: str
    ) -> RecordError | None:
        """``DUPLICATES_DETECTED`` when a duplicate rule refuses saved record ``rid``, or None.

        A rule matches another existing record (not one in ``skip``) whose every rule field
        has the same non-empty value, text compared ignoring case. The error carries the
        ``duplicateResult`` of the first refusing rule (SOAP API Developer Guide,
        "DuplicateResult"; REST API Developer Guide, "Duplicate Rule Header"); its wording and
        match rule name are the emulator's choice.
        """
        table = self._tables[obj.name]
        row = table.rows.get(rid)
        if row is None:
            return None
        for rule in obj.duplicate_rules:
            if rule.action == "allow" and allow_save:
                continue
            wanted = [_match_value(row.get(name)) for name in rule.fields]
            if any(v is None for v in wanted):
                continue
            matches = sorted(
                other_id
                for other_id, other in table.rows.items()
                if other_id != rid
                and other_id not in skip
                and [_match_value(other.get(name)) for name in rule.fields] == wanted
            )
            if not matches:
                continue
            message = "Use one of these records?"
            records = [
                {
                    "additionalInformation": [],
                    "fieldDiffs": [],
                    "matchConfidence": 100.0,
                    "record": {
                        "attributes": {
                            "type": obj.name,
                            "url": f"/services/data/v{api_version}/sobjects/{obj.name}/{mid}",
                        },
                        "Id": mid,
                    },
                }
                for mid in matches
            ]
            result: dict[str, object] = {
                "allowSave": rule.action == "allow",
                "duplicateRule": rule.name,
                "duplicateRuleEntityType": obj.name,
                "errorMessage": message,
                "matchResults": [
                    {
                        "entityType": obj.name,
                        "errors": [],
                        "matchEngine": "ExactMatchEngine",
                        "matchRecords": records,
                        "rule": f"{rule.name}_Match_Rule",
                        "size": len(records),
                        "success": True,
                    }
                ],
            }
            return RecordError("DUPLICATES_DETECTED", message, [], result)
        return None

    @staticmethod
    def rule_id_problem(value: str) -> RecordError | None:
        """``MALFORMED_ID`` when ``value`` is not an AssignmentRule Id (key prefix ``01Q``).

        SOAP API Developer Guide, "AssignmentRuleHeader": a badly formed Id is refused with
        ``MALFORMED_ID`` (the message is the emulator's choice).
        """
        rid = ids.normalize(value)
        if rid is None or rid[:3] != ASSIGNMENT_RULE_PREFIX:
            return RecordError(
                "MALFORMED_ID", f"Assignment Rule ID: id value of incorrect type: {value}"
            )
        return None

    def _assign(self, obj: ObjectDef, rid: str | None, assignment: str) -> None:
        """Make the user of the rule ``assignment`` names the owner of record ``rid``.

        A rule Id of another object, or one that names no rule, assigns nothing (not
        documented by Salesforce; the emulator's choice).
        """
        wanted = None if assignment == ACTIVE_RULE else ids.normalize(assignment)
        rule = next(
            (r for r in obj.assignment_rules if (r.active if wanted is None else r.id == wanted)),
            None,
        )
        users = self._tables.get("User")
        username = users.obj.field("Username") if users is not None else None
        if rule is None or rid is None or users is None or username is None:
            return
        owners = users.find(username, rule.assign_to)
        row = self._tables[obj.name].rows.get(rid)
        if owners and row is not None and "OwnerId" in row:
            row["OwnerId"] = owners[0]

    def check_request(self, sobject: str, records: list[dict[str, Any]]) -> RecordError | None:
        """Find errors that fail a whole REST JSON request before any record is saved.

        Salesforce deserializes the JSON body into typed sObjects first, so an unknown field
        (``INVALID_FIELD``) or an unparseable datetime (``JSON_PARSER_ERROR``) rejects the
        request as a whole with 400 instead of failing one record.

        Args:
            sobject: Object API name, or empty to use each record's ``attributes.type``.
            records: The request's records.

        Returns:
            The request-level error, or None.
        """
        for record in records:
            try:
                obj = self._object_for("insert", sobject, record)
            except RecordErrorException:
                continue
            for name, value in record.items():
                if name == "attributes":
                    continue
                f = obj.field(name)
                if f is None:
                    rel = obj.by_relationship(name)
                    if rel is None or not isinstance(value, dict):
                        return _no_such_column(name, obj).error
                    continue
                if f.type == "datetime" and isinstance(value, str):
                    try:
                        parse_json_value(f, value)
                    except RecordErrorException as exc:
                        if exc.error.status_code == "JSON_PARSER_ERROR":
                            return exc.error
        return None

    # --------------------------------------------------------------- internals
    def _seed(self) -> None:
        now = now_text()
        for obj in self.schema.objects:
            for number, row in enumerate(obj.seed_rows, start=1):
                values = {}
                for name, value in row.items():
                    f = obj.field(name)
                    if f is None or f.type == "id":
                        continue
                    values[f.name] = parse_json_value(f, value)
                rid = ids.fixed_id(obj.key_prefix, number)
                if obj.key_prefix == self.org_id[:3] and number == 1:
                    rid = self.org_id  # the Organization row, also from a user's metadata
                # A row may fix its own Id.
                given = ids.normalize(str(row.get("Id") or ""))
                if given is not None and given[:3] == obj.key_prefix:
                    rid = given
                self._store_new(obj, rid, values, now)
            rule_obj = self.schema.get("AssignmentRule")
            for rule in obj.assignment_rules:
                if rule_obj is None:
                    break
                values = {"Name": rule.name, "SobjectType": obj.name, "Active": rule.active}
                values = {k: v for k, v in values.items() if rule_obj.field(k) is not None}
                self._store_new(rule_obj, rule.id, values, now)
            for rt in obj.record_types:
                rt_obj = self.schema.get("RecordType")
                if rt_obj is None:
                    continue
                values = {
                    "Name": rt.name,
                    "DeveloperName": rt.developer_name,
                    "SobjectType": obj.name,
                    "IsActive": True,
                    "IsPersonType": rt.is_person_type,
                }
                values = {k: v for k, v in values.items() if rt_obj.field(k) is not None}
                self._store_new(rt_obj, rt.id, values, now)

    def _store_new(
        self, obj: ObjectDef, rid: str, values: dict[str, Any], now: str
    ) -> dict[str, Any]:
        table = self._tables[obj.name]
        row = dict(table.template)
        for f in obj.fields:
            if f.default_value is not None and f.type != "address":
                row[f.name] = f.default_value
            if f.auto_number:
                row[f.name] = f"{next(self._autonumber):08d}"
        row.update(values)
        row.update(Id=rid, IsDeleted=False)
        for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            if name in row:
                row[name] = now
        for name in ("CreatedById", "LastModifiedById"):
            if name in row:
                row[name] = self.admin_user_id
        if "OwnerId" in row and row["OwnerId"] is None:
            row["OwnerId"] = self.admin_user_id
        _derive_name(obj, row)
        table.rows[rid] = row
        table.add_index(row)
        self._where[rid] = obj.name
        return row

    def _object_for(self, operation: str, sobject: str, record: dict[str, Any]) -> ObjectDef:
        name = sobject
        attributes = record.get("attributes")
        if not name and isinstance(attributes, dict):
            name = str(attributes.get("type") or "")
        if not name and operation in {"delete", "hardDelete", "update"}:
            rid = _record_id(record)
            obj = self.schema.by_prefix(rid[:3]) if isinstance(rid, str) else None
            if obj is not None:
                return obj
            raise record_error("MALFORMED_ID", f"malformed id {rid}")
        if not name:
            raise record_error("INVALID_TYPE", "Must send a concrete entity type.")
        obj = self.schema.get(name)
        if obj is None:
            # The INVALID_TYPE text of real query errors, without the query caret prefix.
            raise record_error(
                "INVALID_TYPE",
                f"sObject type '{name}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your "
                "WSDL or the describe call for the appropriate names.",
            )
        return obj

    def _echo_id(self, operation: str, record: dict[str, Any]) -> str | None:
        if operation in {"update", "delete", "hardDelete"}:
            rid = _record_id(record)
            return ids.normalize(rid) if isinstance(rid, str) else None
        return None

    def _reject_duplicate_keys(
        self,
        sobject: str,
        records: list[dict[str, Any]],
        external_id_field: str | None,
        results: list[SaveResult | None],
    ) -> None:
        if not external_id_field or external_id_field.lower() == "id":
            return
        seen: dict[str, list[int]] = {}
        for position, record in enumerate(records):
            try:
                obj = self._object_for("upsert", sobject, record)
            except RecordErrorException:
                continue
            f = obj.field(external_id_field)
            value = _get_ci(record, external_id_field)
            if f is None or value in (None, ""):
                continue
            seen.setdefault(_key(f, value), []).append(position)
        for positions in seen.values():
            if len(positions) > 1:
                for position in positions:
                    value = _get_ci(records[position], external_id_field)
                    results[position] = SaveResult(
                        None,
                        False,
                        [
                            RecordError(
                                "DUPLICATE_VALUE", f"Duplicate external id specified: {value}"
                            )
                        ],
                    )

    def _save_one(
        self,
        operation: str,
        obj: ObjectDef,
        record: dict[str, Any],
        external_id_field: str | None,
        *,
        log: list[_Undo],
        now: str,
    ) -> SaveResult:
        if operation in {"delete", "hardDelete"}:
            return self._delete(obj, record, hard=operation == "hardDelete", log=log)
        if operation == "insert":
            if _record_id(record) is not None:
                raise record_error("INVALID_FIELD", "cannot specify Id in an insert call")
            rid = self._insert(obj, record, log, now)
            return SaveResult(rid, True, [])
        if operation == "update":
            rid = self._existing_id(obj, record)
            self._update(obj, rid, record, log, now)
            return SaveResult(rid, True, [])
        key_field = external_id_field or "Id"
        if key_field.lower() == "id":
            if _record_id(record) is None:
                body = {k: v for k, v in record.items() if k.lower() != "id"}
                return SaveResult(self._insert(obj, body, log, now), True, [], created=True)
            rid = self._existing_id(obj, record)
            self._update(obj, rid, record, log, now)
            return SaveResult(rid, True, [], created=False)
        f = obj.field(key_field)
        if f is None or not (f.external_id or f.id_lookup):
            raise record_error(
                "INVALID_FIELD",
                f"Provided external ID field does not exist or is not accessible: {key_field}",
            )
        raw = _get_ci(record, key_field)
        if raw in (None, ""):
            # Not documented by Salesforce (the emulator's choice): a per-record error.
            raise record_error("MISSING_ARGUMENT", f"{f.name} not specified", [f.name])
        value = parse_json_value(f, raw)
        matches = self._tables[obj.name].find(f, value)
        if len(matches) > 1:
            raise record_error(
                "DUPLICATE_EXTERNAL_ID",
                f"{f.label}: more than one record found for external id field: "
                f"[{', '.join(matches)}]",
                [f.name],
            )
        if matches:
            self._update(obj, matches[0], record, log, now)
            return SaveResult(matches[0], True, [], created=False)
        return SaveResult(self._insert(obj, record, log, now), True, [], created=True)

    def _existing_id(self, obj: ObjectDef, record: dict[str, Any]) -> str:
        raw = _record_id(record)
        if raw is None:
            raise record_error("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        rid = ids.normalize(raw) if isinstance(raw, str) else None
        if rid is None or rid[:3] != obj.key_prefix:
            raise record_error(
                "MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {raw}", ["Id"]
            )
        if rid in self._bin:
            raise record_error("ENTITY_IS_DELETED", "entity is deleted")
        if rid not in self._tables[obj.name].rows:
            raise record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        return rid

    def _insert(self, obj: ObjectDef, record: dict[str, Any], log: list[_Undo], now: str) -> str:
        if not obj.createable:
            raise record_error("INVALID_TYPE", f"Cannot create a new record of type {obj.name}", [])
        values = self._parse(obj, record, inserting=True)
        person = self._person_rules(obj, values, None)
        missing = [
            f.name for f in obj.fields if f.required_on_insert and values.get(f.name) is None
        ]
        missing = [m for m in missing if m not in person.get("not_required", ())]
        missing += [m for m in person.get("required", ()) if values.get(m) is None]
        if missing:
            raise record_error(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        rid = ids.new_id(obj.key_prefix)
        while rid in self._where or rid in self._bin:
            rid = ids.new_id(obj.key_prefix)
        self._check_unique(obj, values, rid)
        if obj.custom and values.get("Name") is None and obj.field("Name") is not None:
            # Commonly observed (not documented by Salesforce): an omitted custom-object Name
            # becomes the record id.
            values["Name"] = rid
        row = self._store_new(obj, rid, values, now)
        log.append((obj.name, rid, None, False))
        if person.get("is_person"):
            self._attach_person_contact(row, log, now)
        return rid

    def _update(
        self, obj: ObjectDef, rid: str, record: dict[str, Any], log: list[_Undo], now: str
    ) -> None:
        if not obj.updateable:
            raise record_error("INVALID_TYPE", f"Cannot update records of type {obj.name}", [])
        table = self._tables[obj.name]
        current = table.rows[rid]
        body = {k: v for k, v in record.items() if k.lower() != "id"}
        values = self._parse(obj, body, inserting=False)
        self._person_rules(obj, values, current)
        cleared = [
            name
            for name, value in values.items()
            if value is None and (f := obj.field(name)) is not None and not f.nillable
        ]
        if cleared:
            raise record_error(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(cleared)}]",
                cleared,
            )
        self._check_unique(obj, values, rid)
        before = dict(current)
        table.drop_index(current)
        current.update(values)
        current["LastModifiedDate"] = now
        current["SystemModstamp"] = now
        current["LastModifiedById"] = self.admin_user_id
        _derive_name(obj, current)
        table.add_index(current)
        log.append((obj.name, rid, before, False))
        person_contact = current.get("PersonContactId")
        if person_contact and person_contact in self._tables["Contact"].rows:
            contact = self._tables["Contact"].rows[person_contact]
            log.append(("Contact", person_contact, dict(contact), False))
            for name in ("FirstName", "LastName", "Salutation"):
                contact[name] = current.get(name)
            _derive_name(self._tables["Contact"].obj, contact)

    def _delete(
        self, obj: ObjectDef, record: dict[str, Any], *, hard: bool, log: list[_Undo]
    ) -> SaveResult:
        raw = _record_id(record)
        rid = ids.normalize(raw) if isinstance(raw, str) else None
        if rid is None:
            raise record_error("MALFORMED_ID", f"malformed id {raw}")
        if rid in self._bin:
            if not hard:
                raise record_error("ENTITY_IS_DELETED", "entity is deleted")
            sobject, before = self._bin.pop(rid)
            log.append((sobject, rid, before, True))
            return SaveResult(rid, True, [])
        if self._where.get(rid) != obj.name:
            raise record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        sobject = obj.name
        if not obj.deletable:
            raise record_error("DELETE_FAILED", f"Cannot delete records of type {obj.name}")
        table = self._tables[sobject]
        row = table.rows.pop(rid)
        table.drop_index(row)
        del self._where[rid]
        log.append((sobject, rid, dict(row), False))
        # SOAP API Developer Guide, "GetDeletedResult": a deletion's date is the record's
        # SystemModstamp, which the delete sets.
        now = now_text()
        self._deleted[rid] = (sobject, now)
        if not hard:
            row["IsDeleted"] = True
            if "SystemModstamp" in row:
                row["SystemModstamp"] = now
            self._bin[rid] = (sobject, row)
        return SaveResult(rid, True, [])

    def _parse(self, obj: ObjectDef, record: dict[str, Any], *, inserting: bool) -> dict[str, Any]:
        """Validate names, writability and values of one record; resolve parent lookups."""
        fields: list[tuple[FieldDef, Any]] = []
        lookups: list[tuple[FieldDef, dict[str, Any]]] = []
        for name, value in record.items():
            if name == "attributes":
                continue
            f = obj.field(name)
            if f is None:
                rel = obj.by_relationship(name)
                if rel is not None and isinstance(value, dict):
                    lookups.append((rel, value))
                    continue
                raise _no_such_column(name, obj)
            fields.append((f, value))
        read_only = [
            f.name for f, _ in fields + lookups if not (f.createable if inserting else f.updateable)
        ]
        if read_only:
            raise record_error(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                read_only,
            )
        values: dict[str, Any] = {}
        for f, value in fields:
            parsed = parse_json_value(f, value)
            if f.type == "reference" and parsed is not None:
                parsed = self._check_reference(f, parsed)
            values[f.name] = parsed
        for f, nested in lookups:
            values[f.name] = self._resolve_lookup(f, nested)
        return values

    def _parent_ids(self, obj: ObjectDef, record: dict[str, Any]) -> list[str]:
        """The parents a save of ``record`` locks: its lookups, by Id or by external id.

        Lookups to users, groups and record types lock nothing (the lock model's choice); a
        parent that cannot be found locks nothing, and the save reports it.
        """
        found: list[str] = []
        for name, value in record.items():
            f = obj.field(name)
            if f is None and isinstance(value, dict):
                f = obj.by_relationship(name)
            if f is None or f.type != "reference" or not value:
                continue
            if set(f.reference_to) <= NOT_LOCKED_PARENTS:
                continue
            if isinstance(value, dict):
                with contextlib.suppress(RecordErrorException):
                    found.append(self._resolve_lookup(f, value))
            elif isinstance(value, str) and (rid := ids.normalize(value)) is not None:
                found.append(rid)
        return found

    def _check_reference(self, f: FieldDef, value: Any) -> str:
        rid = ids.normalize(value) if isinstance(value, str) else None
        targets = [self.schema.get(t) for t in f.reference_to]
        prefixes = {t.key_prefix for t in targets if t is not None}
        if rid is None or rid[:3] not in prefixes:
            raise record_error(
                "MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name]
            )
        if rid not in self._where:
            raise record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        return rid

    def _resolve_lookup(self, f: FieldDef, nested: dict[str, Any]) -> str:
        attributes = nested.get("attributes")
        parent_name = f.reference_to[0]
        if isinstance(attributes, dict) and attributes.get("type"):
            parent_name = str(attributes["type"])
        elif len(f.reference_to) > 1:
            # A polymorphic parent must name its type (Bulk API Developer Guide, "Valid XML
            # and JSON Records"); the REST code and text are not documented by Salesforce and
            # are the emulator's choice.
            raise record_error(
                "INVALID_FIELD",
                f"The polymorphic relationship {f.relationship_name} needs attributes.type, one "
                f"of {', '.join(f.reference_to)}",
            )
        parent = self.schema.get(parent_name)
        keys = [(k, v) for k, v in nested.items() if k != "attributes"]
        if parent is None or parent.name not in f.reference_to or len(keys) != 1:
            raise record_error(
                "INVALID_FIELD",
                f"The relationship {f.relationship_name} needs exactly one external id field of "
                f"{' or '.join(f.reference_to)}",
            )
        key_name, raw = keys[0]
        key_field = parent.field(key_name)
        if key_field is None or not (key_field.external_id or key_field.id_lookup):
            # Text not documented by Salesforce; the emulator's choice.
            raise record_error(
                "INVALID_FIELD",
                f"Field name provided, {key_name} is not an External ID or indexed field for "
                f"{parent.name}",
            )
        if key_field.type == "id":
            rid = ids.normalize(raw) if isinstance(raw, str) else None
            matches = [rid] if rid and rid in self._tables[parent.name].rows else []
        else:
            value = parse_json_value(key_field, raw)
            matches = [] if value is None else self._tables[parent.name].find(key_field, value)
        if not matches:
            raise record_error(
                "INVALID_FIELD",
                f"Foreign key external ID: {raw} not found for field {key_field.name} in entity "
                f"{parent.name}",
            )
        if len(matches) > 1:
            # Code and text not documented by Salesforce; the emulator's choice.
            raise record_error(
                "INVALID_FIELD",
                f"Foreign key external ID: {raw} matched more than one record for field "
                f"{key_field.name} in entity {parent.name}",
            )
        return matches[0]

    def _check_unique(self, obj: ObjectDef, values: dict[str, Any], rid: str) -> None:
        table = self._tables[obj.name]
        for f in obj.unique_fields:
            if not f.unique or values.get(f.name) is None:
                continue
            others = [o for o in table.index[f.name].get(_key(f, values[f.name]), ()) if o != rid]
            if others:
                raise record_error(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: "
                    f"{sorted(others)[0]}",
                )

    def _person_rules(
        self, obj: ObjectDef, values: dict[str, Any], current: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Apply Person Account rules: the record type decides person vs business.

        Object Reference for the Salesforce Platform, "Account" and "PersonAccount".
        """
        if not self.schema.person_accounts or obj.name != "Account":
            return {}
        rt_id = values.get("RecordTypeId", current.get("RecordTypeId") if current else None)
        is_person = False
        if rt_id is not None:
            rt_table = self._tables.get("RecordType")
            rt = rt_table.rows.get(rt_id) if rt_table is not None else None
            is_person = bool(rt and rt.get("IsPersonType"))
        else:
            default = next((rt for rt in obj.record_types if rt.default), None)
            is_person = bool(default and default.is_person_type)
            if default is not None and current is None:
                values["RecordTypeId"] = default.id
        person_fields = [
            name
            for name in values
            if values[name] is not None
            and (
                name in {"FirstName", "LastName", "Salutation"}
                or name.startswith("Person")
                or name.endswith("__pc")
            )
        ]
        if is_person:
            if values.get("Name") is not None:
                # Name is derived for person accounts; the error for sending it is not
                # documented by Salesforce (the emulator's choice).
                raise record_error(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "Unable to create/update fields: Name. Please check the security settings of "
                    "this field and verify that it is read/write for your profile or permission "
                    "set.",
                    ["Name"],
                )
            values["IsPersonAccount"] = True
            if current is None or "LastName" in values:
                first = values.get("FirstName", current.get("FirstName") if current else None)
                last = values.get("LastName", current.get("LastName") if current else None)
                values["Name"] = " ".join(p for p in (first, last) if p)
            return {"is_person": True, "required": ["LastName"], "not_required": ["Name"]}
        if person_fields:
            raise record_error(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(person_fields)}. Please check the "
                "security settings of this field and verify that it is read/write for your profile "
                "or permission set.",
                person_fields,
            )
        return {"required": ["Name"]}

    def _attach_person_contact(self, account: dict[str, Any], log: list[_Undo], now: str) -> None:
        contact_obj = self.schema.get("Contact")
        if contact_obj is None:
            return
        values = {
            "AccountId": account["Id"],
            "FirstName": account.get("FirstName"),
            "LastName": account.get("LastName"),
            "Salutation": account.get("Salutation"),
            "IsPersonAccount": True,
        }
        values = {k: v for k, v in values.items() if contact_obj.field(k) is not None}
        rid = ids.new_id(contact_obj.key_prefix)
        self._store_new(contact_obj, rid, values, now)
        log.append((contact_obj.name, rid, None, False))
        before = dict(account)
        account["PersonContactId"] = rid
        log.append(("Account", account["Id"], before, False))


def _no_such_column(name: str, obj: ObjectDef) -> RecordErrorException:
    return record_error("INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")


def _get_ci(record: dict[str, Any], name: str) -> Any:
    lowered = name.lower()
    for key, value in record.items():
        if key.lower() == lowered:
            return value
    return None


def _record_id(record: dict[str, Any]) -> Any:
    return _get_ci(record, "Id")


def _fault_key(operation: str, record: dict[str, Any], external_id_field: str | None) -> str:
    """A stable identity for a record across retries (external id, Id, or canonical JSON)."""
    if operation == "upsert" and external_id_field and external_id_field.lower() != "id":
        value = _get_ci(record, external_id_field)
        if value not in (None, ""):
            return f"ext:{str(value).lower()}"
    rid = _record_id(record)
    if isinstance(rid, str) and ids.normalize(rid):
        return f"id:{ids.normalize(rid)}"
    body = {k: v for k, v in record.items() if k != "attributes"}
    return "json:" + json.dumps(body, sort_keys=True, default=str)


def _derive_name(obj: ObjectDef, row: dict[str, Any]) -> None:
    """Keep the compound Name of person-name objects (Contact, Lead, User) in step."""
    name = obj.field("Name")
    if name is None or name.createable or "LastName" not in row:
        return
    parts = [row.get("FirstName"), row.get("LastName")]
    row["Name"] = " ".join(p for p in parts if p) or None


def _match_value(value: object) -> object:
    """A field value as a duplicate rule compares it: text ignoring case; empty is None."""
    if value is None or value == "":
        return None
    return value.casefold() if isinstance(value, str) else value
