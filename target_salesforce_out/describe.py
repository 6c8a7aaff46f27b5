"""Object metadata from describe calls, fetched once per object per run.

Describe counts against the API allocation, so each object is described once and shared by
every sink (parallel sinks wait for the first fetch instead of repeating it).

The calls are the REST API Developer Guide's "Describe Global" (``/sobjects``) and "sObject
Describe" (``/sobjects/{Object}/describe``); what each field property means (``createable``,
``nillable``, ``externalId``, ``idLookup``, ``referenceTo``, ``relationshipName``...) is in the
SOAP API Developer Guide, "DescribeSObjectResult" (Field). Person Accounts are on when Account
describes ``IsPersonAccount`` (Object Reference for the Salesforce Platform, "Account").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from target_salesforce_out.client import SalesforceClient

_STRING_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "combobox", "encryptedstring"}
)


@dataclass(frozen=True)
class FieldInfo:
    """The describe properties of one field that loading depends on."""

    name: str
    label: str
    type: str
    createable: bool
    updateable: bool
    nillable: bool
    defaulted_on_create: bool
    external_id: bool
    id_lookup: bool
    unique: bool
    length: int
    precision: int
    scale: int
    digits: int
    reference_to: tuple[str, ...]
    relationship_name: str | None
    picklist_values: frozenset[str]
    restricted_picklist: bool
    calculated: bool
    custom: bool

    @classmethod
    def from_describe(cls, raw: dict[str, Any]) -> FieldInfo:
        """Build from one entry of a describe ``fields`` array."""
        return cls(
            name=raw["name"],
            label=raw.get("label") or raw["name"],
            type=raw.get("type") or "string",
            createable=bool(raw.get("createable")),
            updateable=bool(raw.get("updateable")),
            nillable=bool(raw.get("nillable")),
            defaulted_on_create=bool(raw.get("defaultedOnCreate")),
            external_id=bool(raw.get("externalId")),
            id_lookup=bool(raw.get("idLookup")),
            unique=bool(raw.get("unique")),
            length=int(raw.get("length") or 0),
            precision=int(raw.get("precision") or 0),
            scale=int(raw.get("scale") or 0),
            digits=int(raw.get("digits") or 0),
            reference_to=tuple(raw.get("referenceTo") or ()),
            relationship_name=raw.get("relationshipName"),
            picklist_values=frozenset(
                str(p["value"]) for p in raw.get("picklistValues") or () if p.get("active", True)
            ),
            restricted_picklist=bool(raw.get("restrictedPicklist")),
            calculated=bool(raw.get("calculated")),
            custom=bool(raw.get("custom")),
        )

    @property
    def is_text(self) -> bool:
        """String-like: values are sent as text and bounded by ``length``."""
        return self.type in _STRING_TYPES


@dataclass(frozen=True)
class ObjectInfo:
    """One sObject's describe, indexed for case-insensitive lookups."""

    name: str
    label: str
    label_plural: str
    key_prefix: str | None
    createable: bool
    updateable: bool
    deletable: bool
    queryable: bool
    fields: dict[str, FieldInfo]
    relationships: dict[str, FieldInfo]

    @classmethod
    def from_describe(cls, raw: dict[str, Any]) -> ObjectInfo:
        """Build from a ``/sobjects/{Object}/describe`` body."""
        fields = [FieldInfo.from_describe(f) for f in raw.get("fields") or ()]
        return cls(
            name=raw["name"],
            label=raw.get("label") or raw["name"],
            label_plural=raw.get("labelPlural") or raw["name"],
            key_prefix=raw.get("keyPrefix"),
            createable=bool(raw.get("createable")),
            updateable=bool(raw.get("updateable")),
            deletable=bool(raw.get("deletable")),
            queryable=bool(raw.get("queryable")),
            fields={f.name.lower(): f for f in fields},
            relationships={f.relationship_name.lower(): f for f in fields if f.relationship_name},
        )

    def field(self, name: str) -> FieldInfo | None:
        """The field called ``name`` (any case), or None."""
        return self.fields.get(name.lower())

    @property
    def has_person_accounts(self) -> bool:
        """Person Accounts are enabled in the org (Account describes ``IsPersonAccount``)."""
        return "ispersonaccount" in self.fields


class DescribeCache:
    """Describe global and per-object describes, each fetched at most once."""

    def __init__(self, client: SalesforceClient) -> None:
        """Nothing is fetched until asked for."""
        self._client = client
        self._lock = threading.Lock()
        self._objects: dict[str, ObjectInfo] = {}
        self._object_locks: dict[str, threading.Lock] = {}
        self._global: list[dict[str, Any]] | None = None

    def global_objects(self) -> list[dict[str, Any]]:
        """The ``sobjects`` list of describe global."""
        with self._lock:
            if self._global is None:
                self._global = list(self._client.get_json("/sobjects")["sobjects"])
            return self._global

    def sobject(self, name: str) -> ObjectInfo:
        """Describe ``name``; raises :class:`SalesforceApiError` (404) for unknown objects."""
        key = name.lower()
        with self._lock:
            cached = self._objects.get(key)
            if cached is not None:
                return cached
            lock = self._object_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                cached = self._objects.get(key)
            if cached is not None:
                return cached
            info = ObjectInfo.from_describe(self._client.get_json(f"/sobjects/{name}/describe"))
            with self._lock:
                self._objects[key] = info
            return info

    def resolve_object_name(self, stream_name: str) -> str | None:
        """Match a stream name against object API names, then labels, then plural labels."""
        wanted = stream_name.lower()
        candidates = self.global_objects()
        for key in ("name", "label", "labelPlural"):
            for entry in candidates:
                if str(entry.get(key) or "").lower() == wanted:
                    return str(entry["name"])
        return None
