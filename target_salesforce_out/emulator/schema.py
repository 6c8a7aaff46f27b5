"""Object metadata: the JSON metadata file format, its validation and the in-memory schema.

A metadata file declares objects compactly; everything a real describe carries is derived from it
(see describe.py). Format::

    {"objects": {
       "Invoice__c": {
         "keyPrefix": "a0B", "label": "Invoice", "labelPlural": "Invoices",
         "fields": {
           "Number__c": {"type": "string", "length": 40, "externalId": true, "unique": true},
           "Account__c": {"type": "reference", "referenceTo": ["Account"]},
           "Status__c": {"type": "picklist", "values": ["Draft", "Sent"], "restricted": true}}}}}

System fields (Id, IsDeleted, audit fields, OwnerId unless ``"owner": false``, Name on custom
objects) are added automatically. Objects from a user file replace built-ins of the same name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from . import ids

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
_DEFAULT_LENGTH = {
    "string": 255,
    "textarea": 255,
    "email": 80,
    "phone": 40,
    "url": 255,
    "picklist": 255,
    "multipicklist": 4099,
    "combobox": 255,
    "encryptedstring": 175,
    "id": 18,
    "reference": 18,
}
_FIELD_KEYS = frozenset(
    {
        "type",
        "label",
        "length",
        "required",
        "nillable",
        "createable",
        "updateable",
        "defaultedOnCreate",
        "externalId",
        "idLookup",
        "unique",
        "caseSensitive",
        "referenceTo",
        "relationshipName",
        "childRelationshipName",
        "values",
        "restricted",
        "precision",
        "scale",
        "digits",
        "calculated",
        "formula",
        "autoNumber",
        "nameField",
        "compoundFieldName",
        "extraTypeInfo",
        "defaultValue",
        "htmlFormatted",
        "cascadeDelete",
        "restrictedDelete",
    }
)
_OBJECT_KEYS = frozenset(
    {
        "keyPrefix",
        "label",
        "labelPlural",
        "fields",
        "owner",
        "createable",
        "updateable",
        "deletable",
        "queryable",
        "recordTypes",
        "rows",
    }
)
# salesforce-api.md 9.5: developer names; a namespace prefix follows the same rules.
_DEV_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)")
_CUSTOM = re.compile(r"(?:(?P<ns>[^_].*?)__)?(?P<dev>.+)__(?P<suffix>c|pc)")


class SchemaError(ValueError):
    """A metadata file or dict that does not describe a valid org."""


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
        """Whether an insert must set the field (salesforce-api.md 3.7)."""
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


def validate_api_name(name: str, *, what: str) -> None:
    """Check an object or field API name against the rules of salesforce-api.md 9.5.

    Args:
        name: The API name.
        what: "object" or "field", used in the error message.

    Raises:
        SchemaError: If the name cannot be a Salesforce API name.
    """
    custom = _CUSTOM.fullmatch(name)
    if custom:
        namespace, dev = custom.group("ns"), custom.group("dev")
        if namespace is not None and (len(namespace) > 15 or not _DEV_NAME.fullmatch(namespace)):
            raise SchemaError(f"{what} {name!r}: invalid namespace prefix {namespace!r}")
        dev_ok = _DEV_NAME.fullmatch(dev) is not None
        if what == "object" and custom.group("suffix") != "c":
            dev_ok = False
    else:
        dev = name
        dev_ok = _DEV_NAME.fullmatch(name) is not None and "__" not in name
    if not dev_ok:
        raise SchemaError(
            f"{what} {name!r}: API names start with a letter, use only letters, digits and single "
            "underscores, do not end with an underscore, and custom names end with __c"
        )
    if len(dev) > 40:
        raise SchemaError(f"{what} {name!r}: the name part is longer than 40 characters")


def _words(name: str) -> str:
    base = re.sub(r"__(c|pc)$", "", name).replace("_", " ")
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base)


def _default_label(name: str, ftype: str) -> str:
    if ftype == "reference" and name.endswith("Id"):
        return name[:-2] + " ID"
    return _words(name)


def _default_relationship(name: str, ftype: str) -> str | None:
    if ftype != "reference":
        return None
    if name.endswith("__c"):
        return name[:-3] + "__r"
    return name[:-2] if name.endswith("Id") else name


def _picklist(values: list[Any], default: Any) -> list[dict[str, Any]]:
    out = []
    for value in values:
        if isinstance(value, dict):
            entry = {
                "active": bool(value.get("active", True)),
                "defaultValue": bool(value.get("default", False)),
                "label": str(value.get("label", value["value"])),
                "validFor": None,
                "value": str(value["value"]),
            }
        else:
            entry = {
                "active": True,
                "defaultValue": value == default,
                "label": str(value),
                "validFor": None,
                "value": str(value),
            }
        out.append(entry)
    return out


def build_field(name: str, spec: dict[str, Any], *, object_name: str) -> FieldDef:
    """Build a FieldDef from its metadata-file entry, applying the documented defaults.

    Args:
        name: Field API name.
        spec: The field's entry in the metadata file.
        object_name: Owning object, for error messages.

    Returns:
        The field definition.

    Raises:
        SchemaError: On unknown keys, unknown types or inconsistent settings.
    """
    where = f"{object_name}.{name}"
    unknown = sorted(set(spec) - _FIELD_KEYS)
    if unknown:
        raise SchemaError(f"field {where}: unknown keys {unknown}")
    ftype = spec.get("type")
    if ftype not in FIELD_TYPES:
        raise SchemaError(
            f"field {where}: type must be one of {sorted(FIELD_TYPES)}, got {ftype!r}"
        )
    validate_api_name(name, what="field")
    calculated = bool(spec.get("calculated", False) or spec.get("formula"))
    auto_number = bool(spec.get("autoNumber", False))
    read_only = calculated or auto_number or ftype in {"id", "address"}
    external_id = bool(spec.get("externalId", False))
    is_bool = ftype == "boolean"
    nillable = bool(spec.get("nillable", not spec.get("required", False)))
    if is_bool or ftype == "id":
        nillable = False
    reference_to = list(spec.get("referenceTo", []))
    if ftype == "reference" and not reference_to:
        raise SchemaError(f"field {where}: a reference field needs referenceTo")
    values = spec.get("values", [])
    if ftype in {"picklist", "multipicklist", "combobox"} and not isinstance(values, list):
        raise SchemaError(f"field {where}: values must be a list")
    default_value = spec.get("defaultValue", False if is_bool else None)
    precision = int(spec.get("precision", 18 if ftype in {"double", "currency", "percent"} else 0))
    scale = int(spec.get("scale", 2 if ftype == "currency" else 0))
    if scale > precision:
        raise SchemaError(f"field {where}: scale {scale} exceeds precision {precision}")
    length = int(spec.get("length", _DEFAULT_LENGTH.get(ftype, 0)))
    if ftype in STRING_TYPES and length <= 0:
        raise SchemaError(f"field {where}: length must be positive")
    extra = spec.get("extraTypeInfo")
    if extra is None and ftype == "textarea":
        extra = "richtextarea" if spec.get("htmlFormatted") else "plaintextarea"
    return FieldDef(
        name=name,
        type=ftype,
        label=str(spec.get("label", _default_label(name, ftype))),
        length=length,
        nillable=nillable,
        createable=bool(spec.get("createable", not read_only)),
        updateable=bool(spec.get("updateable", not read_only)),
        defaulted_on_create=bool(
            spec.get("defaultedOnCreate", is_bool or default_value is not None or auto_number)
        ),
        external_id=external_id,
        id_lookup=bool(spec.get("idLookup", external_id or ftype == "id")),
        unique=bool(spec.get("unique", False)),
        case_sensitive=bool(spec.get("caseSensitive", False)),
        reference_to=reference_to,
        relationship_name=spec.get("relationshipName", _default_relationship(name, ftype)),
        child_relationship_name=spec.get("childRelationshipName"),
        picklist_values=_picklist(values, default_value),
        restricted_picklist=bool(spec.get("restricted", False)),
        precision=precision,
        scale=scale,
        digits=int(spec.get("digits", 9 if ftype in {"int", "long"} else 0)),
        calculated=calculated,
        calculated_formula=spec.get("formula"),
        auto_number=auto_number,
        custom=name.endswith(("__c", "__pc")),
        name_field=bool(spec.get("nameField", False)),
        compound_field_name=spec.get("compoundFieldName"),
        extra_type_info=extra,
        default_value=default_value,
        html_formatted=bool(spec.get("htmlFormatted", False)),
        cascade_delete=bool(spec.get("cascadeDelete", False)),
        restricted_delete=bool(spec.get("restrictedDelete", False)),
    )


def _system_fields(
    obj_label: str, *, custom: bool, owner: bool
) -> tuple[list[FieldDef], list[FieldDef]]:
    def ref(name: str, label: str, rel: str, **kw: Any) -> FieldDef:
        return FieldDef(
            name=name,
            type="reference",
            label=label,
            length=18,
            reference_to=["User"],
            relationship_name=rel,
            **kw,
        )

    audit: dict[str, Any] = {
        "nillable": False,
        "createable": False,
        "updateable": False,
        "defaulted_on_create": True,
    }
    head = [
        FieldDef(
            name="Id",
            type="id",
            label=f"{obj_label} ID",
            length=18,
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
            id_lookup=True,
        ),
        FieldDef(name="IsDeleted", type="boolean", label="Deleted", default_value=False, **audit),
    ]
    if custom:
        head.append(
            FieldDef(
                name="Name",
                type="string",
                label=f"{obj_label} Name",
                length=80,
                nillable=True,
                defaulted_on_create=True,
                id_lookup=True,
                name_field=True,
            )
        )
    tail = []
    if owner:
        tail.append(ref("OwnerId", "Owner ID", "Owner", nillable=False, defaulted_on_create=True))
    tail += [
        FieldDef(name="CreatedDate", type="datetime", label="Created Date", **audit),
        ref("CreatedById", "Created By ID", "CreatedBy", **audit),
        FieldDef(name="LastModifiedDate", type="datetime", label="Last Modified Date", **audit),
        ref("LastModifiedById", "Last Modified By ID", "LastModifiedBy", **audit),
        FieldDef(name="SystemModstamp", type="datetime", label="System Modstamp", **audit),
    ]
    return head, tail


def _custom_prefixes() -> list[str]:
    return [f"a0{c}" for c in ids.BASE62[1:]] + [f"a1{c}" for c in ids.BASE62]


def build_object(name: str, spec: dict[str, Any], *, key_prefix: str) -> ObjectDef:
    """Build an ObjectDef (with its system fields) from a metadata-file entry.

    Args:
        name: Object API name.
        spec: The object's entry in the metadata file.
        key_prefix: The key prefix to use when the entry does not set one.

    Returns:
        The object definition.

    Raises:
        SchemaError: On invalid names, keys or fields.
    """
    validate_api_name(name, what="object")
    unknown = sorted(set(spec) - _OBJECT_KEYS)
    if unknown:
        raise SchemaError(f"object {name}: unknown keys {unknown}")
    prefix = str(spec.get("keyPrefix", key_prefix))
    if not re.fullmatch(r"[0-9A-Za-z]{3}", prefix):
        raise SchemaError(f"object {name}: keyPrefix must be 3 base-62 characters, got {prefix!r}")
    custom = name.endswith("__c")
    label = str(spec.get("label", _words(name)))
    field_specs = spec.get("fields", {})
    if not isinstance(field_specs, dict):
        raise SchemaError(f"object {name}: fields must be an object keyed by field API name")
    declared = [build_field(fname, fspec, object_name=name) for fname, fspec in field_specs.items()]
    declared_names = {f.name.lower() for f in declared}
    head, tail = _system_fields(label, custom=custom, owner=bool(spec.get("owner", True)))
    head = [f for f in head if f.name.lower() not in declared_names]
    tail = [f for f in tail if f.name.lower() not in declared_names]
    fields = head + declared + tail
    seen: set[str] = set()
    for f in fields:
        if f.name.lower() in seen:
            raise SchemaError(f"object {name}: field {f.name} declared twice")
        seen.add(f.name.lower())
    record_types = [
        RecordTypeDef(
            id=ids.fixed_id("012", 0),
            developer_name=str(rt["developerName"]),
            name=str(rt.get("name", rt["developerName"])),
            is_person_type=bool(rt.get("isPersonType", False)),
            default=bool(rt.get("default", False)),
        )
        for rt in spec.get("recordTypes", [])
    ]
    return ObjectDef(
        name=name,
        label=label,
        label_plural=str(spec.get("labelPlural", label + "s")),
        key_prefix=prefix,
        custom=custom,
        fields=fields,
        createable=bool(spec.get("createable", True)),
        updateable=bool(spec.get("updateable", True)),
        deletable=bool(spec.get("deletable", True)),
        queryable=bool(spec.get("queryable", True)),
        record_types=record_types,
        seed_rows=list(spec.get("rows", [])),
    )


def _read_metadata(metadata: str | Path | dict[str, Any]) -> dict[str, Any]:
    if isinstance(metadata, dict):
        data = metadata
    else:
        try:
            data = json.loads(Path(metadata).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SchemaError(f"cannot read metadata file {metadata}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("objects"), dict):
        raise SchemaError('metadata must be a JSON object with an "objects" object')
    objects: dict[str, Any] = data["objects"]
    return objects


def builtin_metadata() -> dict[str, Any]:
    """Return the built-in metadata (Account, Contact, Lead, Opportunity, Case, ...).

    Returns:
        The parsed builtin_metadata.json.
    """
    text = resources.files(__package__).joinpath("builtin_metadata.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def load_schema(
    metadata: str | Path | dict[str, Any] | None = None, *, person_accounts: bool = False
) -> Schema:
    """Build the org schema from the built-ins plus an optional user metadata file.

    Args:
        metadata: Path to a metadata JSON file, or the parsed dict; its objects replace built-ins
            of the same name (case-insensitively) and add new ones.
        person_accounts: Enable Person Accounts (salesforce-api.md 3.6).

    Returns:
        The schema.

    Raises:
        SchemaError: If the metadata is invalid.
    """
    specs: dict[str, dict[str, Any]] = {}
    for name, spec in _read_metadata(builtin_metadata()).items():
        specs[name.lower()] = {"name": name, **spec}
    if metadata is not None:
        for name, spec in _read_metadata(metadata).items():
            if not isinstance(spec, dict):
                raise SchemaError(f"object {name}: must be a JSON object")
            specs[name.lower()] = {"name": name, **spec}
    declared_person_types = any(
        rt.get("isPersonType") for rt in specs.get("account", {}).get("recordTypes", [])
    )
    if person_accounts and "account" in specs and not declared_person_types:
        # Metadata that declares its own person record types (as a recorded org's describe
        # may, e.g. one DeveloperName listed twice) keeps them.
        account = dict(specs["account"])
        account["recordTypes"] = [
            {"developerName": "Business_Account", "name": "Business Account", "default": True},
            {"developerName": "PersonAccount", "name": "Person Account", "isPersonType": True},
        ]
        specs["account"] = account
    taken = {s.get("keyPrefix") for s in specs.values()}
    free = iter(p for p in _custom_prefixes() if p not in taken)
    objects = []
    for spec in specs.values():
        body = {k: v for k, v in spec.items() if k != "name"}
        prefix = body.get("keyPrefix") or next(free)
        objects.append(build_object(spec["name"], body, key_prefix=prefix))
    prefixes: dict[str, str] = {}
    for obj in objects:
        if obj.key_prefix in prefixes:
            raise SchemaError(
                f"objects {prefixes[obj.key_prefix]} and {obj.name} "
                f"share keyPrefix {obj.key_prefix}"
            )
        prefixes[obj.key_prefix] = obj.name
    _number_record_types(objects)
    schema = Schema(objects, person_accounts=person_accounts)
    if person_accounts:
        enable_person_accounts(schema)
    _check_references(schema)
    return schema


# Imported late: person_accounts builds on FieldDef and Schema defined above.
from .person_accounts import enable_person_accounts  # noqa: E402


def _number_record_types(objects: list[ObjectDef]) -> None:
    number = 1
    for obj in objects:
        for rt in obj.record_types:
            rt.id = ids.fixed_id("012", number)
            number += 1
        if obj.record_types and obj.field("RecordTypeId") is None:
            rt_field = FieldDef(
                name="RecordTypeId",
                type="reference",
                label="Record Type ID",
                length=18,
                reference_to=["RecordType"],
                relationship_name="RecordType",
            )
            obj.fields.insert(len(obj.fields) - 5, rt_field)
            obj.reindex()


def _check_references(schema: Schema) -> None:
    for obj in schema.objects:
        for f in obj.fields:
            canonical = []
            for target in f.reference_to:
                parent = schema.get(target)
                if parent is None:
                    raise SchemaError(
                        f"field {obj.name}.{f.name}: referenceTo unknown object {target}"
                    )
                canonical.append(parent.name)
            f.reference_to = canonical
