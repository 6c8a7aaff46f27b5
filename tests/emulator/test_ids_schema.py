"""Record ids, API-name validation and the metadata file format.

SOAP API Developer Guide, "Field Types" (the ID type); Salesforce Help, Knowledge article 000381913
(API names).
"""

from __future__ import annotations

import json

import pytest

from target_salesforce_out.emulator import ids
from target_salesforce_out.emulator.schema import SchemaError, load_schema, validate_api_name


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("00558000001N0Ke", "00558000001N0KeAAK"),
        ("001D000000IRFma", "001D000000IRFmaIAH"),
        ("003D000000QV9n2", "003D000000QV9n2IAD"),
        ("a02D0000006YUHr", "a02D0000006YUHrIAO"),
        ("0015500001QdQWa", "0015500001QdQWaAAN"),
        ("0015500001QdQWf", "0015500001QdQWfAAN"),
        ("0035500001H9cal", "0035500001H9calAAB"),
        ("012000000000000", "012000000000000AAA"),
    ],
)
def test_checksum_vectors(id15: str, id18: str) -> None:
    assert ids.to18(id15) == id18
    assert ids.normalize(id18) == id18
    assert ids.normalize(id18[:15] + id18[15:].lower()) == id18


def test_malformed_ids() -> None:
    for bad in ("001RM000003oLrB000", "001", "001D000000IRFma!", "001D000000IRFmaIAX", ""):
        assert ids.normalize(bad) is None
    with pytest.raises(ValueError, match="malformed id"):
        ids.to18("nope")


def test_new_ids_are_valid_and_prefixed() -> None:
    made = {ids.new_id("003") for _ in range(1000)}
    assert len(made) == 1000
    assert all(i.startswith("003") and len(i) == 18 and ids.normalize(i) == i for i in made)


@pytest.mark.parametrize(
    "name", ["Account", "Invoice__c", "ns__Invoice__c", "My_Field_2__c", "A" * 40 + "__c"]
)
def test_valid_api_names(name: str) -> None:
    validate_api_name(name, what="field")


@pytest.mark.parametrize(
    "name",
    [
        "1Field__c",
        "My__Field__c__c",
        "Field___c",
        "My Field__c",
        "Trailing___c",
        "A" * 41 + "__c",
        "_x__c",
    ],
)
def test_invalid_api_names(name: str) -> None:
    with pytest.raises(SchemaError):
        validate_api_name(name, what="field")


def test_metadata_file_adds_and_replaces_objects(tmp_path) -> None:
    path = tmp_path / "org.json"
    path.write_text(
        json.dumps(
            {
                "objects": {
                    "Shipment__c": {
                        "label": "Shipment",
                        "fields": {
                            "Tracking__c": {
                                "type": "string",
                                "length": 30,
                                "externalId": True,
                                "unique": True,
                            },
                            "Invoice__c": {"type": "reference", "referenceTo": ["invoice__c"]},
                        },
                    },
                    "lead": {
                        "keyPrefix": "00Q",
                        "fields": {"LastName": {"type": "string", "required": True}},
                    },
                }
            }
        )
    )
    schema = load_schema(path)
    shipment = schema.get("shipment__C")
    assert shipment is not None and shipment.key_prefix.startswith("a")
    assert [f.name for f in shipment.fields][:3] == ["Id", "IsDeleted", "Name"]
    assert shipment.field("OwnerId") is not None and shipment.field("SystemModstamp") is not None
    reference = shipment.field("Invoice__c")
    assert reference is not None and reference.reference_to == ["Invoice__c"]
    assert reference.relationship_name == "Invoice__r"
    assert shipment.by_relationship("invoice__r") is reference
    lead = schema.get("Lead")
    assert lead is not None and lead.field("Company") is None  # replaced, not merged


@pytest.mark.parametrize(
    ("objects", "needle"),
    [
        ({"Bad Name__c": {}}, "API names"),
        ({"X__c": {"fields": {"F__c": {"type": "blob"}}}}, "type must be one of"),
        ({"X__c": {"fields": {"F__c": {"type": "reference"}}}}, "needs referenceTo"),
        (
            {"X__c": {"fields": {"F__c": {"type": "reference", "referenceTo": ["Nope"]}}}},
            "unknown object",
        ),
        ({"X__c": {"keyPrefix": "001"}}, "share keyPrefix"),
        ({"X__c": {"colour": "red"}}, "unknown keys"),
        ({"X__c": {"fields": {"F__c": {"type": "string", "lenght": 3}}}}, "unknown keys"),
    ],
)
def test_metadata_validation(objects, needle) -> None:
    with pytest.raises(SchemaError, match=needle):
        load_schema({"objects": objects})
