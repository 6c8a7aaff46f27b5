"""Property -> field resolution and the checks against describe, then per-record mapping.

Everything that can be known from the stream's SCHEMA and the object's describe is checked once,
when the stream starts, and reported together as one config error. Each record is then mapped
to its fields, each value converted by its column's converter (see :mod:`.converters`); a value
that cannot fit rejects that record only, with a message naming the stream, the record's key
and the field.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from target_salesforce_out.converters import Converter, converter_for, shown
from target_salesforce_out.describe import FieldInfo, ObjectInfo
from target_salesforce_out.errors import (
    ConfigError,
    ErrorDetail,
    RecordRejectedError,
    ValueProblemError,
)
from target_salesforce_out.operations import Operation
from target_salesforce_out.settings import StreamSettings

LOGGER = logging.getLogger("target_salesforce_out.mapping")


# Resolution --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """Where one stream property goes."""

    prop: str
    field: FieldInfo  # the object's own field (the reference field for a relationship path)
    # Wire name: ``Email``; ``Account.External_Id__c`` for a relationship path;
    # ``Contact:Who.External_Id__c`` for a polymorphic one (the parent's type first).
    name: str
    parent_field: FieldInfo | None
    convert: Converter
    # Taps that read text files (CSV, spreadsheets) send "" for an empty cell; in a date,
    # number, boolean or id field that can only mean "no value".
    blank_is_null: bool = False

    @property
    def relationship(self) -> str | None:
        """``Account`` for ``Account.External_Id__c``, ``Who`` for ``Contact:Who.Email``."""
        if self.parent_field is None:
            return None
        return self.name.split(".", 1)[0].rpartition(":")[2]


def snake_to_field(prop: str, obj: ObjectInfo) -> FieldInfo | None:
    """``first_name`` -> ``FirstName``: a standard field whose name is the property unsnaked."""
    folded = prop.replace("_", "").lower()
    for field in obj.fields.values():
        if not field.custom and field.name.lower() == folded:
            return field
    return None


def resolve_property(prop: str, obj: ObjectInfo, mapping: Mapping[str, str]) -> str | None:
    """The field (or relationship path) a property maps to, in the documented order."""
    if prop in mapping:
        return mapping[prop]
    for candidate in (prop, prop + "__c"):
        field = obj.field(candidate)
        if field is not None:
            return field.name
    field = snake_to_field(prop, obj)
    return field.name if field is not None else None


def closest_fields(prop: str, obj: ObjectInfo) -> list[str]:
    """Up to three field names that look like ``prop`` (for 'did you mean' messages)."""
    names = {f.name.lower(): f.name for f in obj.fields.values()}
    folded = prop.replace("_", "").lower()
    matches = difflib.get_close_matches(folded, names.keys(), n=3, cutoff=0.5)
    matches += difflib.get_close_matches(prop.lower() + "__c", names.keys(), n=1, cutoff=0.8)
    return list(dict.fromkeys(names[m] for m in matches))[:3]


class RecordMapper:
    """Resolves a stream's properties once, then converts each record."""

    def __init__(
        self,
        stream: str,
        settings: StreamSettings,
        obj: ObjectInfo,
        properties: Iterable[str],
        parent_object: Callable[[str], ObjectInfo],
        key_properties: Iterable[str] = (),
    ) -> None:
        """Resolve and check everything; raise one :class:`ConfigError` listing every problem.

        Args:
            stream: Stream name, for messages.
            settings: The stream's loading settings.
            obj: Describe of the target object.
            properties: Property names of the stream's schema.
            parent_object: Describes a parent object (for relationship paths).
            key_properties: The stream's key properties, used to name records in messages.
        """
        self.stream = stream
        self.settings = settings
        self.obj = obj
        # Settings read from JSON carry the operation's text; the enum takes either.
        self.operation = Operation(settings.operation)
        self.columns: list[Column] = []
        problems: list[str] = []
        self._resolve(properties, parent_object, problems)
        self.key_column = self._find_key(problems)
        self.match_columns = self._find_match_columns(problems)
        # Values set on every record (a record type resolved from its name).
        self.constants: dict[str, Any] = {}
        self._key_properties = [p for p in key_properties if p in {c.prop for c in self.columns}]
        self._check_writable(problems)
        self._check_required(problems)
        # Most taps call their own primary key `id`, which resolves to Salesforce's record Id
        # by name: an insert cannot send it, an upsert without a key cannot use it.
        by_name = [
            c.prop
            for c in self.columns
            if c.field.name == "Id"
            and c.prop.lower() == "id"
            and c.prop not in settings.field_mapping
        ]
        op = self.operation
        # The operation sends no key, or needs one named and none is: either way the
        # property named id is not what finds the record.
        must_name_key = op.needs_key and op.default_key is None
        no_key = not (settings.external_id_field or settings.match_fields)
        keyless = not op.needs_key or (must_name_key and no_key)
        if problems and by_name and keyless:
            problems.insert(
                0,
                f"property {by_name[0]!r} was matched to the record Id by its name; if it is the "
                "source system's id, map it to an external id field: field_mapping "
                f'{{"{by_name[0]}": "External_Id__c"}}'
                + (" and external_id_field External_Id__c" if must_name_key else ""),
            )
        if problems:
            raise ConfigError(f"stream {stream!r} -> {obj.name}: " + "; ".join(problems))

    # -- setup -------------------------------------------------------------------------

    def _resolve(
        self,
        properties: Iterable[str],
        parent_object: Callable[[str], ObjectInfo],
        problems: list[str],
    ) -> None:
        mapping = self.settings.field_mapping
        # A mapping may name a property that only a later SCHEMA of the stream brings; its
        # target must still be a real field.
        present = set(properties)
        for prop in (p for p in mapping if p not in present):
            LOGGER.info("stream %r: field_mapping names %r, not in this SCHEMA", self.stream, prop)
            self._column(prop, mapping[prop], parent_object, problems)
        unmapped: list[str] = []
        seen: dict[str, str] = {}
        for prop in properties:
            if prop.startswith("_sdc_") and prop not in mapping:
                continue
            target = resolve_property(prop, self.obj, mapping)
            if target is None:
                unmapped.append(prop)
                continue
            column = self._column(prop, target, parent_object, problems)
            if column is None:
                continue
            # Polymorphic paths of different types still set the one lookup field.
            wire = column.field.name if ":" in column.name else column.name
            if wire.lower() in seen:
                problems.append(
                    f"properties {seen[wire.lower()]!r} and {prop!r} both map to {wire}"
                )
                continue
            seen[wire.lower()] = prop
            self.columns.append(column)
        self._report_unmapped(unmapped, problems)

    def _report_unmapped(self, unmapped: list[str], problems: list[str]) -> None:
        if not unmapped or self.settings.unmapped_properties == "ignore":
            return
        if not self.operation.sends_fields:
            return
        described = []
        for prop in unmapped:
            close = closest_fields(prop, self.obj)
            hint = f" (closest fields: {', '.join(close)})" if close else ""
            described.append(f"{prop!r}{hint}")
        text = (
            f"properties with no field on {self.obj.name}: {'; '.join(described)}. Map them in "
            "field_mapping, or set unmapped_properties to ignore or warn"
        )
        if self.settings.unmapped_properties == "warn":
            LOGGER.warning("stream %r: %s; they are not sent", self.stream, text)
        else:
            problems.append(text)

    def _column(
        self,
        prop: str,
        target: str,
        parent_object: Callable[[str], ObjectInfo],
        problems: list[str],
    ) -> Column | None:
        if "." not in target:
            field = self.obj.field(target)
            if field is None:
                close = closest_fields(target, self.obj)
                hint = f" (closest: {', '.join(close)})" if close else ""
                problems.append(
                    f"property {prop!r} maps to {target!r}, which {self.obj.name} lacks{hint}"
                )
                return None
            return Column(prop, field, field.name, None, converter_for(field), not field.is_text)
        path, parent_name = target.split(".", 1)
        # ``Type:Relationship.Field`` names the parent's type, as a polymorphic lookup needs
        # (Bulk API 2.0 Developer Guide, "Relationship Fields in a Header Row").
        type_name, _, relationship = path.rpartition(":")
        field = self.obj.relationships.get(relationship.lower())
        if field is None or not field.reference_to:
            problems.append(
                f"property {prop!r} maps to {target!r}, but {relationship!r} is not a "
                f"relationship of {self.obj.name}"
            )
            return None
        polymorphic = len(field.reference_to) > 1
        allowed = ", ".join(field.reference_to)
        if polymorphic and not type_name:
            problems.append(
                f"property {prop!r} maps to {target!r}: {field.name} is polymorphic ({allowed}); "
                f"name the parent's type, e.g. {field.reference_to[0]}:{target}"
            )
            return None
        if type_name and not polymorphic:
            problems.append(
                f"property {prop!r} maps to {target!r}: {field.name} only looks up "
                f"{field.reference_to[0]}; drop the type, e.g. {relationship}.{parent_name}"
            )
            return None
        parent_type = type_name or field.reference_to[0]
        known = {t.lower(): t for t in field.reference_to}
        if parent_type.lower() not in known:
            problems.append(
                f"property {prop!r} maps to {target!r}, but {field.name} cannot look up "
                f"{parent_type!r}; it looks up {allowed}"
            )
            return None
        parent = parent_object(known[parent_type.lower()])
        parent_field = parent.field(parent_name)
        if parent_field is None or not (parent_field.external_id or parent_field.id_lookup):
            problems.append(
                f"property {prop!r} maps to {target!r}, but {parent.name}.{parent_name} is not "
                "an external id field"
            )
            return None
        prefix = f"{parent.name}:" if polymorphic else ""
        name = f"{prefix}{field.relationship_name}.{parent_field.name}"
        return Column(
            prop, field, name, parent_field, converter_for(parent_field), not parent_field.is_text
        )

    def _find_key(self, problems: list[str]) -> Column | None:
        op = self.operation
        key = self.settings.external_id_field
        if key is None:
            if self.settings.match_fields:
                return None
            if op.needs_key and op.default_key is None:
                problems.append(
                    f"operation {op} needs external_id_field (an external id field, or Id) "
                    "or match_fields"
                )
            key = op.default_key
            if key is None:
                return None
        field = self.obj.field(key)
        if field is None:
            problems.append(f"external_id_field {key!r} is not a field of {self.obj.name}")
            return None
        if field.name != "Id" and not (field.external_id or field.id_lookup):
            problems.append(
                f"external_id_field {field.name} is not an external id field of {self.obj.name} "
                "(mark it External ID in Setup, or use Id)"
            )
            return None
        for column in self.columns:
            if column.parent_field is None and column.field.name == field.name:
                return column
        if not op.creates_without(field.name):
            problems.append(f"no property maps to the key field {field.name}")
        return None

    def _find_match_columns(self, problems: list[str]) -> list[Column]:
        columns = []
        for name in self.settings.match_fields:
            field = self.obj.field(name)
            column = next(
                (c for c in self.columns if c.parent_field is None and field and c.field == field),
                None,
            )
            if field is None:
                problems.append(f"match field {name!r} is not a field of {self.obj.name}")
            elif column is None:
                problems.append(f"no property maps to the match field {field.name}")
            elif field.type in {"textarea", "multipicklist", "base64"} and field.length > 255:
                problems.append(f"match field {field.name} is a long text field SOQL cannot filter")
            else:
                columns.append(column)
        return columns

    def _check_writable(self, problems: list[str]) -> None:
        """Every field sent must be createable if the operation creates, updateable if it updates.

        An operation that does both (upsert) only warns about a field it cannot update: new
        records still take it.
        """
        op = self.operation
        if not op.sends_fields:
            return
        for column in self.columns:
            field = column.field
            if field.name == "Id" and op.updates:
                continue  # the key of an update or upsert, not a value written
            if op.creates and not field.createable:
                cannot = f", so {op} cannot insert it" if op.updates else ""
                problems.append(
                    f"{field.name} is not createable{cannot} (property {column.prop!r})"
                )
            elif op.updates and not field.updateable and not op.creates:
                problems.append(f"{field.name} is not updateable (property {column.prop!r})")
            elif op.updates and not field.updateable and column is not self.key_column:
                LOGGER.warning(
                    "stream %r: %s is createable but not updateable; updates that change it "
                    "will be rejected by Salesforce",
                    self.stream,
                    field.name,
                )
        if not op.updates and any(c.field.name == "Id" for c in self.columns):
            problems.append(f"Id cannot be sent on {op}; use upsert or update")

    def _check_required(self, problems: list[str]) -> None:
        if not self.operation.needs_required_fields:
            return
        mapped = {c.field.name for c in self.columns}
        required = {
            f.name
            for f in self.obj.fields.values()
            if f.createable and not f.nillable and not f.defaulted_on_create and f.type != "boolean"
        }
        if self.obj.name == "Account" and self.obj.has_person_accounts:
            # Describe cannot say it: Name is required for business accounts only.
            required.discard("Name")
            required.add("LastName" if self.settings.person_account else "Name")
        if self.settings.person_account:
            if self.obj.name != "Account":
                problems.append("person_account only applies to Account streams")
            elif not self.obj.has_person_accounts:
                problems.append("person_account is true but Person Accounts are not enabled")
            if "Name" in mapped:
                problems.append(
                    "person accounts cannot set Name (Salesforce derives it from FirstName and "
                    "LastName); map the name to LastName/FirstName instead"
                )
            required.add("LastName")
        missing = sorted(required - mapped)
        if missing:
            problems.append(f"required fields with no property: {', '.join(missing)}")

    # -- per record ----------------------------------------------------------------------

    def describe_key(self, record: Mapping[str, Any]) -> str:
        """How a record is named in messages: its key field value, else its key properties."""
        if self.key_column is not None and self.key_column.prop in record:
            return f"{self.key_column.field.name}={shown(record[self.key_column.prop])!r}"
        keys = [f"{p}={shown(record.get(p))!r}" for p in self._key_properties]
        return ", ".join(keys) if keys else "(no key)"

    def key_values(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record's key as data: its key field's value, else its key properties' values."""
        if self.key_column is not None and self.key_column.prop in record:
            return {self.key_column.name: record[self.key_column.prop]}
        return {p: record.get(p) for p in self._key_properties}

    def reject(
        self, record: Mapping[str, Any], code: str, text: str, fields: Iterable[str] = ()
    ) -> RecordRejectedError:
        """Build the rejection for ``record``, with stream and key in the message."""
        message = f"stream {self.stream!r}, record {self.describe_key(record)}: {text}"
        return RecordRejectedError(ErrorDetail(code, message, tuple(fields)))

    def convert(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Map and convert one record; absent properties stay absent, null clears.

        Raises:
            RecordRejectedError: a value cannot fit its field.
        """
        out: dict[str, Any] = {}
        for column in self.columns:
            if column.prop not in record:
                continue
            value = record[column.prop]
            if column.blank_is_null and value == "":
                value = None if column.field.type != "boolean" else False
            if value is None and column.field.type != "boolean":
                # A null relationship path clears the lookup field itself.
                out[column.field.name if column.parent_field else column.name] = None
                continue
            try:
                out[column.name] = column.convert(value)
            except ValueProblemError as problem:
                raise self.reject(
                    record,
                    problem.code,
                    f"property {column.prop!r} -> {column.name}: {problem}",
                    (column.field.name,),
                ) from None
        if self.constants:
            out.update(self.constants)
        if self.settings.person_account and "LastName" in out and not out["LastName"]:
            raise self.reject(
                record, "REQUIRED_FIELD_MISSING", "person accounts need LastName", ("LastName",)
            )
        return out
