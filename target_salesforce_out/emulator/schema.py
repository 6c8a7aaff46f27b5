"""The metadata file: its JSON format, its validation and building the org's ``Schema`` from it.

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
from importlib import resources
from pathlib import Path
from typing import Any

from . import ids
from .definitions import (
    FIELD_TYPES,
    STRING_TYPES,
    AssignmentRuleDef,
    DuplicateRuleDef,
    FieldDef,
    ObjectDef,
    RecordTypeDef,
    Schema,
)
from .person_accounts import enable_person_accounts

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
        "assignmentRules",
        "duplicateRules",
        "rows",
    }
)
# Developer names (Salesforce Help, Knowledge article 000381913); a namespace prefix follows the
# same rules.
_DEV_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)")
_CUSTOM = re.compile(r"(?:(?P<ns>[^_].*?)__)?(?P<dev>.+)__(?P<suffix>c|pc)")


class SchemaError(ValueError):
    """A metadata file or dict that does not describe a valid org."""


def validate_api_name(name: str, *, what: str) -> None:
    """Check an object or field API name against Salesforce's naming rules.

    At most 40 characters before the suffix, a letter first, letters, digits and single
    underscores, no trailing underscore (Salesforce Help, Knowledge article 000381913).

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
    assignment_rules = [
        AssignmentRuleDef(
            id=ids.fixed_id("01Q", 0),
            name=str(rule["name"]),
            active=bool(rule.get("active", False)),
            assign_to=str(rule["assignTo"]),
        )
        for rule in spec.get("assignmentRules", [])
    ]
    duplicate_rules = [
        _duplicate_rule(name, rule, fields) for rule in spec.get("duplicateRules", [])
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
        assignment_rules=assignment_rules,
        duplicate_rules=duplicate_rules,
        seed_rows=list(spec.get("rows", [])),
    )


def _duplicate_rule(obj: str, spec: dict[str, Any], fields: list[FieldDef]) -> DuplicateRuleDef:
    """One ``duplicateRules`` entry: ``{name, fields, action}``, fields named as declared."""
    by_name = {f.name.lower(): f.name for f in fields}
    names = [str(n) for n in spec.get("fields") or []]
    unknown = [n for n in names if n.lower() not in by_name]
    if "name" not in spec or not names or unknown:
        raise SchemaError(
            f"object {obj}: a duplicate rule needs a name and fields of the object"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    action = str(spec.get("action", "block"))
    if action not in {"block", "allow"}:
        raise SchemaError(f"object {obj}: duplicate rule action {action!r} is not block or allow")
    return DuplicateRuleDef(
        name=str(spec["name"]), fields=[by_name[n.lower()] for n in names], action=action
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
        person_accounts: Enable Person Accounts (Object Reference for the Salesforce Platform,
            "PersonAccount").

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


def _number_record_types(objects: list[ObjectDef]) -> None:
    number = 1
    rule_number = 1
    for obj in objects:
        for rule in obj.assignment_rules:
            rule.id = ids.fixed_id("01Q", rule_number)
            rule_number += 1
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
