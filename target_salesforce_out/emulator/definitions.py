"""The in-memory description of an org's objects: fields, record types and the schema.

``FieldDef``, ``ObjectDef``, ``RecordTypeDef`` and ``Schema`` are what describe, the store, SOQL and
the Bulk job engine read; schema.py builds them from a metadata file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STRING_TYPES = frozenset(
    {
        "string",
        "textarea",
        "email",
        "phone",
        "url",
        "picklist",
        "multipicklist",
        "combobox",
        "encryptedstring",
    }
)
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int", "long"})
FIELD_TYPES = (
    STRING_TYPES
    | NUMBER_TYPES
    | {
        "id",
        "reference",
        "boolean",
        "date",
        "datetime",
        "time",
        "address",
    }
)
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "long": "xsd:long",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "time": "xsd:time",
    "address": "urn:address",
}


@dataclass
class FieldDef:
    """One field of an object, with the properties describe reports."""

    name: str
    type: str
    label: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    external_id: bool = False
    id_lookup: bool = False
    unique: bool = False
    case_sensitive: bool = False
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    child_relationship_name: str | None = None
    picklist_values: list[dict[str, Any]] = field(default_factory=list)
    restricted_picklist: bool = False
    precision: int = 0
    scale: int = 0
    digits: int = 0
    calculated: bool = False
    calculated_formula: str | None = None
    auto_number: bool = False
    custom: bool = False
    name_field: bool = False
    compound_field_name: str | None = None
    extra_type_info: str | None = None
    default_value: Any = None
    html_formatted: bool = False
    cascade_delete: bool = False
    restricted_delete: bool = False

    @property
    def is_string(self) -> bool:
        """Whether values are text (empty strings are stored as null)."""
        return self.type in STRING_TYPES

    @property
    def soap_type(self) -> str:
        """The XML schema type describe reports."""
        return SOAP_TYPES.get(self.type, "xsd:string")

    @property
    def required_on_insert(self) -> bool:
        """Whether an insert must set the field: createable, not nillable, not defaulted.

        SOAP API Developer Guide, "DescribeSObjectResult" (the Field properties).
        """
        return (
            self.createable
            and not self.nillable
            and not self.defaulted_on_create
            and self.type != "boolean"
        )

    @property
    def picklist_set(self) -> frozenset[str]:
        """Active picklist values, for restricted-picklist checks."""
        return frozenset(str(v["value"]) for v in self.picklist_values if v["active"])


@dataclass
class RecordTypeDef:
    """A record type of an object (besides the implicit Master)."""

    id: str
    developer_name: str
    name: str
    is_person_type: bool = False
    default: bool = False


@dataclass
class AssignmentRuleDef:
    """An assignment rule of Lead or Case, reduced to one owner it assigns every record to.

    Real rules hold ordered entries with criteria (Salesforce Help, "Set Up Assignment
    Rules"); one unconditional owner is the emulator's simplification.
    """

    id: str
    name: str
    active: bool
    assign_to: str  # Username of the User the rule makes owner


@dataclass
class DuplicateRuleDef:
    """A duplicate rule with its matching rule reduced to equal values in every listed field.

    Real matching rules also match fuzzily (Salesforce Help, "Matching Rules"); exact equality,
    ignoring case for text, is the emulator's simplification. ``action`` is ``block`` or
    ``allow`` (Salesforce Help, "Duplicate Rules": "Allow" with an alert can be saved with
    ``allowSave``; "Block" cannot).
    """

    name: str
    fields: list[str]
    action: str


@dataclass
class ObjectDef:
    """One sObject: flags, ordered fields and lookup indexes by name and relationship name."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    custom: bool
    fields: list[FieldDef]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    queryable: bool = True
    record_types: list[RecordTypeDef] = field(default_factory=list)
    assignment_rules: list[AssignmentRuleDef] = field(default_factory=list)
    duplicate_rules: list[DuplicateRuleDef] = field(default_factory=list)
    seed_rows: list[dict[str, Any]] = field(default_factory=list)
    _by_name: dict[str, FieldDef] = field(default_factory=dict, repr=False)
    _by_rel: dict[str, FieldDef] = field(default_factory=dict, repr=False)
    _unique: list[FieldDef] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        """Build the case-insensitive indexes."""
        self.reindex()

    def reindex(self) -> None:
        """Rebuild the name and relationship indexes after fields change."""
        self._by_name = {f.name.lower(): f for f in self.fields}
        self._unique = [f for f in self.fields if f.external_id or f.unique]
        self._by_rel = {f.relationship_name.lower(): f for f in self.fields if f.relationship_name}

    def field(self, name: str) -> FieldDef | None:
        """Return a field by API name, case-insensitively.

        Args:
            name: Field API name in any case.

        Returns:
            The field, or None.
        """
        return self._by_name.get(name.lower())

    def by_relationship(self, relationship_name: str) -> FieldDef | None:
        """Return the reference field whose relationship name matches, case-insensitively.

        Args:
            relationship_name: e.g. ``Account`` or ``Primary_Account__r``.

        Returns:
            The reference field, or None.
        """
        return self._by_rel.get(relationship_name.lower())

    @property
    def unique_fields(self) -> list[FieldDef]:
        """Fields with an index: external ids and unique fields."""
        return self._unique


class Schema:
    """All objects of the org, looked up case-insensitively by name or by key prefix."""

    def __init__(self, objects: list[ObjectDef], *, person_accounts: bool = False) -> None:
        """Index the objects.

        Args:
            objects: The org's objects.
            person_accounts: Whether the org has Person Accounts enabled.
        """
        self.person_accounts = person_accounts
        self._objects = {o.name.lower(): o for o in objects}
        self._by_prefix = {o.key_prefix: o for o in objects}

    def get(self, name: str) -> ObjectDef | None:
        """Return an object by API name, case-insensitively.

        Args:
            name: Object API name in any case.

        Returns:
            The object, or None.
        """
        return self._objects.get(name.lower())

    def by_prefix(self, key_prefix: str) -> ObjectDef | None:
        """Return the object that owns a key prefix.

        Args:
            key_prefix: The first three characters of an id.

        Returns:
            The object, or None.
        """
        return self._by_prefix.get(key_prefix)

    @property
    def objects(self) -> list[ObjectDef]:
        """All objects, sorted by name as describe global lists them."""
        return sorted(self._objects.values(), key=lambda o: o.name.lower())

    def child_relationships(self, parent: ObjectDef) -> list[tuple[ObjectDef, FieldDef]]:
        """Reference fields of every object that point at ``parent``.

        Args:
            parent: The parent object.

        Returns:
            (child object, reference field) pairs.
        """
        return [
            (child, f)
            for child in self.objects
            for f in child.fields
            if f.type == "reference" and parent.name in f.reference_to
        ]
