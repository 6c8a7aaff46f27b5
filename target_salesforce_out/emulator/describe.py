"""Describe bodies built from the schema: describe global and sObject describe.

REST API Developer Guide, "Describe Global" and "sObject Describe"; the field properties are those
of the SOAP API Developer Guide, "DescribeSObjectResult".

Every key a real org emits is present, with the documented defaults (booleans false, ints 0,
strings null, arrays empty), and URLs use the API version of the request.
"""

from __future__ import annotations

from typing import Any

from . import ids
from .definitions import STRING_TYPES, FieldDef, ObjectDef, Schema

_NOT_FILTERABLE = frozenset({"address", "textarea"})


def _global_entry(obj: ObjectDef, version: str) -> dict[str, Any]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": not obj.custom,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "mergeable": obj.name in {"Account", "Contact", "Lead", "Case"},
        "mruEnabled": True,
        "name": obj.name,
        "queryable": obj.queryable,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": {
            "rowTemplate": f"{base}/{{ID}}",
            "describe": f"{base}/describe",
            "sobject": base,
        },
    }


def describe_global(schema: Schema, version: str) -> dict[str, Any]:
    """Body of ``GET /services/data/vXX.X/sobjects``.

    Args:
        schema: The org schema.
        version: API version of the request, e.g. ``62.0``.

    Returns:
        ``{"encoding", "maxBatchSize", "sobjects"}``.
    """
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_global_entry(o, version) for o in schema.objects],
    }


def sobject_basic_info(obj: ObjectDef, version: str) -> dict[str, Any]:
    """Body of ``GET /services/data/vXX.X/sobjects/{Object}`` (basic information)."""
    return {"objectDescribe": _global_entry(obj, version), "recentItems": []}


def _field(f: FieldDef) -> dict[str, Any]:
    is_string = f.type in STRING_TYPES
    long_text = f.type == "textarea" and f.length > 255
    byte_length = f.length * 3 if is_string else (18 if f.type in {"id", "reference"} else 0)
    filterable = f.type not in _NOT_FILTERABLE or not long_text
    if f.type == "address":
        filterable = False
    sortable = filterable and f.type != "multipicklist"
    groupable = sortable and f.type not in {"double", "currency", "percent", "datetime"}
    return {
        "aggregatable": sortable,
        "aiPredictionField": False,
        "autoNumber": f.auto_number,
        "byteLength": byte_length,
        "calculated": f.calculated,
        "calculatedFormula": f.calculated_formula,
        "cascadeDelete": f.cascade_delete,
        "caseSensitive": f.case_sensitive,
        "compoundFieldName": f.compound_field_name,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": f.default_value if f.type == "boolean" else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.defaulted_on_create,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": f.digits,
        "displayLocationInDecimal": False,
        "encrypted": f.type == "encryptedstring",
        "externalId": f.external_id,
        "extraTypeInfo": f.extra_type_info,
        "filterable": filterable,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": groupable,
        "highScaleNumber": False,
        "htmlFormatted": f.html_formatted,
        "idLookup": f.id_lookup,
        "inlineHelpText": None,
        "label": f.label,
        "length": f.length,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": False,
        "nillable": f.nillable,
        "permissionable": f.custom and f.nillable,
        "picklistValues": [dict(v) for v in f.picklist_values],
        "polymorphicForeignKey": len(f.reference_to) > 1,
        "precision": f.precision,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": f.restricted_delete,
        "restrictedPicklist": f.restricted_picklist,
        "scale": f.scale,
        "searchPrefilterable": False,
        "soapType": f.soap_type,
        "sortable": sortable,
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def _child_relationship(child: ObjectDef, f: FieldDef) -> dict[str, Any]:
    name = f.child_relationship_name
    if name is None:
        plural = child.label_plural.replace(" ", "")
        name = f"{plural}__r" if f.custom else plural
    return {
        "cascadeDelete": f.cascade_delete,
        "childSObject": child.name,
        "deprecatedAndHidden": False,
        "field": f.name,
        "junctionIdListNames": [],
        "junctionReferenceTo": [],
        "relationshipName": name,
        "restrictedDelete": f.restricted_delete,
    }


def _record_types(obj: ObjectDef, version: str) -> list[dict[str, Any]]:
    layouts = f"/services/data/v{version}/sobjects/{obj.name}/describe/layouts"
    has_default = any(rt.default for rt in obj.record_types)
    entries = [
        {
            "active": True,
            "available": True,
            "defaultRecordTypeMapping": rt.default,
            "developerName": rt.developer_name,
            "master": False,
            "name": rt.name,
            "recordTypeId": rt.id,
            "urls": {"layout": f"{layouts}/{rt.id}"},
        }
        for rt in obj.record_types
    ]
    master = {
        "active": True,
        "available": True,
        "defaultRecordTypeMapping": not has_default,
        "developerName": "Master",
        "master": True,
        "name": "Master",
        "recordTypeId": ids.MASTER_RECORD_TYPE_ID,
        "urls": {"layout": f"{layouts}/{ids.MASTER_RECORD_TYPE_ID}"},
    }
    return [*entries, master]


def describe_sobject(schema: Schema, obj: ObjectDef, version: str, base_url: str) -> dict[str, Any]:
    """Body of ``GET /services/data/vXX.X/sobjects/{Object}/describe``.

    Args:
        schema: The org schema (for child relationships).
        obj: The object.
        version: API version of the request.
        base_url: The instance URL (``ui*`` URL templates are absolute).

    Returns:
        The full describe body with every key a real org's describe carries.
    """
    entry = _global_entry(obj, version)
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    urls = {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "uiDetailTemplate": f"{base_url}/{{ID}}",
        "uiEditTemplate": f"{base_url}/{{ID}}/e",
        "listviews": f"{base}/listviews",
        "describe": f"{base}/describe",
        "uiNewRecord": f"{base_url}/{obj.key_prefix}/e",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }
    return {
        "actionOverrides": [],
        "activateable": entry["activateable"],
        "associateEntityType": None,
        "associateParentEntity": None,
        "childRelationships": [
            _child_relationship(child, f) for child, f in schema.child_relationships(obj)
        ],
        "compactLayoutable": True,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "defaultImplementation": None,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "extendedBy": None,
        "extendsInterfaces": None,
        "feedEnabled": entry["feedEnabled"],
        "fields": [_field(f) for f in obj.fields],
        "hasSubtypes": False,
        "implementedBy": None,
        "implementsInterfaces": None,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "listviewable": None,
        "lookupLayoutable": None,
        "mergeable": entry["mergeable"],
        "mruEnabled": True,
        "name": obj.name,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "queryable": obj.queryable,
        "recordTypeInfos": _record_types(obj, version),
        "replicateable": True,
        "retrieveable": True,
        "searchLayoutable": True,
        "searchable": True,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [
            {"label": "All " + obj.label_plural.lower(), "name": "everything"},
            {"label": "My " + obj.label_plural.lower(), "name": "mine"},
        ],
        "triggerable": True,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": urls,
    }
