"""Property -> field resolution, start-up validation messages, value conversion per type."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from helpers import base_config, record, run_target, schema
from helpers import describe_field as field

from target_salesforce_out.converters import converter_for
from target_salesforce_out.describe import ObjectInfo
from target_salesforce_out.errors import ValueProblemError
from target_salesforce_out.mapping import RecordMapper, resolve_property
from target_salesforce_out.settings import StreamSettings


def obj(*fields, name="Contact"):
    return ObjectInfo(
        name=name,
        label=name,
        label_plural=name + "s",
        key_prefix="003",
        createable=True,
        updateable=True,
        deletable=True,
        queryable=True,
        fields={f.name.lower(): f for f in fields},
        relationships={f.relationship_name.lower(): f for f in fields if f.relationship_name},
    )


CONTACT = obj(
    field("Id", "id", createable=False, updateable=False, nillable=False),
    field("FirstName", length=40),
    field("LastName", length=80, nillable=False),
    field("Email", "email", length=80),
    field("My_Custom_Field__c", length=10),
    field("External_Id__c", length=50, external_id=True, id_lookup=True),
    field("AccountId", "reference", reference_to=("Account",), relationship_name="Account"),
    field("Name", createable=False, updateable=False),
)


@pytest.mark.parametrize(
    ("prop", "mapping", "expected"),
    [
        ("anything", {"anything": "Email"}, "Email"),  # field_mapping first
        ("email", {}, "Email"),  # exact API name, any case
        ("EMAIL", {}, "Email"),
        ("my_custom_field", {}, "My_Custom_Field__c"),  # property + __c
        ("My_Custom_Field__c", {}, "My_Custom_Field__c"),
        ("first_name", {}, "FirstName"),  # snake_case to standard name
        ("account_id", {}, "AccountId"),
        ("acct", {"acct": "Account.External_Id__c"}, "Account.External_Id__c"),
        ("nothing_like_it", {}, None),
    ],
)
def test_resolution_order(prop, mapping, expected):
    assert resolve_property(prop, CONTACT, mapping) == expected


def test_mapping_wins_over_exact_name():
    assert (
        resolve_property("email", CONTACT, {"email": "My_Custom_Field__c"}) == "My_Custom_Field__c"
    )


def _mapper(props, **settings):
    account = obj(field("Id", "id"), field("External_Id__c", external_id=True), name="Account")
    settings.setdefault("external_id_field", "External_Id__c")
    return RecordMapper(
        "contacts", StreamSettings(**settings), CONTACT, props, lambda _: account, ["ref"]
    )


def test_sdc_properties_are_never_sent_unless_mapped():
    mapper = _mapper(
        ["ref", "last_name", "_sdc_extracted_at"], field_mapping={"ref": "External_Id__c"}
    )
    assert [c.name for c in mapper.columns] == ["External_Id__c", "LastName"]


@pytest.mark.parametrize(
    ("props", "settings", "message"),
    [
        (["ref", "last_name", "emial"], {}, "'emial' (closest fields: Email"),
        (
            ["ref", "last_name", "full_name"],
            {"field_mapping": {"ref": "External_Id__c", "full_name": "Name"}},
            "Name is not createable",
        ),
        (["ref", "first_name"], {}, "required fields with no property: LastName"),
        (
            ["ref", "last_name"],
            {"external_id_field": "Email"},
            "Email is not an external id field of Contact",
        ),
        (
            ["ref", "last_name"],
            {"external_id_field": "Nope"},
            "external_id_field 'Nope' is not a field of Contact",
        ),
        (
            ["ref", "last_name", "acct"],
            {"field_mapping": {"ref": "External_Id__c", "acct": "Owner.Email"}},
            "'Owner' is not a relationship of Contact",
        ),
        (
            ["ref", "last_name"],
            {"field_mapping": {"ref": "External_Id__c", "later": "Emial"}},
            "property 'later' maps to 'Emial', which Contact lacks",
        ),
        (
            ["ref", "last_name", "email"],
            {"field_mapping": {"ref": "External_Id__c", "email": "Emial"}},
            "maps to 'Emial', which Contact lacks (closest: Email",
        ),
        (
            ["ref", "last_name", "email", "e2"],
            {"field_mapping": {"ref": "External_Id__c", "e2": "Email"}},
            "both map to Email",
        ),
    ],
)
def test_startup_validation_messages(props, settings, message):
    settings.setdefault("field_mapping", {"ref": "External_Id__c"})
    with pytest.raises(Exception, match="stream 'contacts' -> Contact") as info:
        _mapper(props, **settings)
    assert message in str(info.value)


def test_mapping_for_a_property_a_later_schema_brings_is_accepted():
    mapper = _mapper(
        ["ref", "last_name"], field_mapping={"ref": "External_Id__c", "later": "Email"}
    )
    assert [c.name for c in mapper.columns] == ["External_Id__c", "LastName"]


def test_update_checks_updateable_and_upsert_needs_a_key():
    with pytest.raises(Exception, match="operation upsert needs external_id_field"):
        RecordMapper("contacts", StreamSettings(), CONTACT, ["last_name"], lambda _: CONTACT)
    RecordMapper(
        "contacts",
        StreamSettings(operation="update"),
        CONTACT,
        ["id", "last_name"],
        lambda _: CONTACT,
    )


def test_unmapped_properties_ignore_and_warn(caplog):
    mapper = _mapper(
        ["ref", "last_name", "junk"],
        field_mapping={"ref": "External_Id__c"},
        unmapped_properties="ignore",
    )
    assert "junk" not in {c.prop for c in mapper.columns}
    mapper = _mapper(
        ["ref", "last_name", "junk"],
        field_mapping={"ref": "External_Id__c"},
        unmapped_properties="warn",
    )
    assert "junk" in caplog.text


@pytest.mark.parametrize(
    ("fld", "value", "expected"),
    [
        (field("D__c", "double", precision=18, scale=2), Decimal("12345.67"), Decimal("12345.67")),
        (field("D__c", "currency", precision=18, scale=2), "1e3", Decimal("1E+3")),
        (field("I__c", "int", digits=9), Decimal("42"), 42),
        (field("I__c", "int", digits=9), "7", 7),
        (field("B__c", "boolean"), True, True),
        (field("B__c", "boolean"), "false", False),
        (field("B__c", "boolean"), None, False),
        (field("B__c", "boolean"), 1, True),
        (field("Dt__c", "date"), date(2024, 2, 29), "2024-02-29"),
        (field("Dt__c", "date"), "2024-02-29", "2024-02-29"),
        (field("Dt__c", "date"), datetime(2024, 2, 29, 23, 0, tzinfo=UTC), "2024-02-29"),
        (
            field("Ts__c", "datetime"),
            datetime(2024, 1, 31, 12, 0, 5, 123456, tzinfo=timezone(timedelta(hours=2))),
            "2024-01-31T10:00:05.123Z",
        ),
        (field("Ts__c", "datetime"), "2024-01-31T00:00:00+05:30", "2024-01-30T18:30:00.000Z"),
        (field("Ts__c", "datetime"), "2024-01-31T00:00:00Z", "2024-01-31T00:00:00.000Z"),
        (field("Ts__c", "datetime"), date(2024, 1, 31), "2024-01-31T00:00:00.000Z"),
        (field("T__c", "time"), time(13, 30), "13:30:00.000Z"),
        (field("M__c", "multipicklist"), ["A", "B"], "A;B"),
        (field("M__c", "multipicklist"), "A;C", "A;C"),
        (field("S__c", length=5), "abcde", "abcde"),
        (field("S__c", length=20), 12, "12"),
        (field("S__c", length=20), Decimal("1.50"), "1.50"),
        (field("R__c", "reference"), "001D000000IRFma", "001D000000IRFma"),
        (field("R__c", "reference"), "001D000000IRFmaIAH", "001D000000IRFmaIAH"),
        (
            field(
                "P__c", "picklist", restricted_picklist=True, picklist_values=frozenset({"Gold"})
            ),
            "Gold",
            "Gold",
        ),
    ],
)
def test_value_conversion(fld, value, expected):
    assert converter_for(fld)(value) == expected


@pytest.mark.parametrize(
    ("fld", "value", "code"),
    [
        (field("S__c", length=5), "abcdef", "STRING_TOO_LONG"),
        (field("I__c", "int", digits=3), 12345, "NUMBER_OUTSIDE_VALID_RANGE"),
        (field("I__c", "int", digits=9), Decimal("1.5"), "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        (
            field("D__c", "currency", precision=5, scale=2),
            Decimal("1234.5"),
            "NUMBER_OUTSIDE_VALID_RANGE",
        ),
        (field("D__c", "double", precision=18, scale=2), "abc", "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        (field("B__c", "boolean"), "maybe", "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        (field("Dt__c", "date"), "31/01/2024", "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        (field("Ts__c", "datetime"), "yesterday", "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        (field("R__c", "reference"), ["001D000000IRFmaIAH", "001D000000IRFmaIAH"], "MALFORMED_ID"),
        (field("R__c", "reference"), "001D000000IRFmaXXX", "MALFORMED_ID"),
        (field("R__c", "reference"), "short", "MALFORMED_ID"),
        (
            field(
                "P__c", "picklist", restricted_picklist=True, picklist_values=frozenset({"Gold"})
            ),
            "Platinum",
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        ),
    ],
)
def test_value_problems(fld, value, code):
    with pytest.raises(ValueProblemError) as info:
        converter_for(fld)(value)
    assert info.value.code == code


def test_rejected_record_names_stream_key_and_field():
    mapper = _mapper(["ref", "last_name", "account_id"], field_mapping={"ref": "External_Id__c"})
    with pytest.raises(Exception) as info:
        mapper.convert({"ref": "C-9", "last_name": "X", "account_id": ["001D000000IRFmaIAH"]})
    detail = info.value.detail
    assert detail.code == "MALFORMED_ID"
    assert "stream 'contacts'" in detail.message
    assert "External_Id__c='C-9'" in detail.message
    assert "'account_id' -> AccountId" in detail.message
    assert detail.fields == ("AccountId",)


def test_null_clears_and_absent_leaves_alone():
    mapper = _mapper(
        ["ref", "last_name", "email", "acct"],
        field_mapping={"ref": "External_Id__c", "acct": "Account.External_Id__c"},
    )
    assert mapper.convert({"ref": "C-1", "email": None}) == {"External_Id__c": "C-1", "Email": None}
    assert mapper.convert({"ref": "C-1", "acct": None}) == {
        "External_Id__c": "C-1",
        "AccountId": None,
    }
    assert mapper.convert({"ref": "C-1", "acct": "A-1"}) == {
        "External_Id__c": "C-1",
        "Account.External_Id__c": "A-1",
    }


INVOICE_PROPS = {
    "number": {"type": "string"},
    "amount": {"type": ["number", "null"]},
    "quantity": {"type": ["integer", "null"]},
    "tax_rate": {"type": ["number", "null"]},
    "invoice_date": {"type": ["string", "null"], "format": "date"},
    "paid_at": {"type": ["string", "null"], "format": "date-time"},
    "is_paid": {"type": ["boolean", "null"]},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    "notes": {"type": ["string", "null"]},
}


def test_values_land_in_salesforce_as_typed(salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={
            "invoices": {
                "sobject": "Invoice__c",
                "external_id_field": "Invoice_Number__c",
                "field_mapping": {"number": "Invoice_Number__c"},
            }
        },
    )
    rec = {
        "number": "INV-1",
        "amount": 1234567.891,
        "quantity": 3,
        "tax_rate": 7.5,
        "invoice_date": "2024-02-29",
        "paid_at": "2024-03-01T09:30:00+02:00",
        "is_paid": True,
        "tags": ["Urgent", "Export"],
        "notes": "line1\nline2 \u00e9\u4e2d",
    }
    run = run_target(
        config, [schema("invoices", INVOICE_PROPS, ["number"]), record("invoices", rec)], tmp_path
    )
    assert run.returncode == 0, run.stderr + str(run.dead_letters)
    stored = salesforce_emulator.records("Invoice__c")[0]
    assert stored["Invoice_Number__c"] == "INV-1"
    assert stored["Quantity__c"] == 3
    assert stored["Tax_Rate__c"] == 7.5
    assert stored["Invoice_Date__c"] == "2024-02-29"
    assert stored["Paid_At__c"] == "2024-03-01T07:30:00.000+0000"
    assert stored["Is_Paid__c"] is True
    assert stored["Tags__c"] == "Urgent;Export"
    assert stored["Notes__c"] == "line1\nline2 \u00e9\u4e2d"
    # A second run with nulls clears; absent properties leave values alone.
    rec2 = {"number": "INV-1", "notes": None, "is_paid": None}
    run = run_target(
        config, [schema("invoices", INVOICE_PROPS, ["number"]), record("invoices", rec2)], tmp_path
    )
    assert run.returncode == 0, run.stderr
    stored = salesforce_emulator.records("Invoice__c")[0]
    assert stored["Notes__c"] is None
    assert stored["Is_Paid__c"] is False
    assert stored["Quantity__c"] == 3


def test_unknown_property_fails_before_any_write(salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={
            "contacts": {
                "sobject": "Contact",
                "external_id_field": "External_Id__c",
                "field_mapping": {"ref": "External_Id__c"},
            }
        },
    )
    props = {
        "ref": {"type": "string"},
        "last_name": {"type": "string"},
        "emial": {"type": "string"},
    }
    run = run_target(
        config,
        [
            schema("contacts", props, ["ref"]),
            record("contacts", {"ref": "C-1", "last_name": "X", "emial": "x@y"}),
        ],
        tmp_path,
    )
    assert run.returncode != 0
    assert "'emial' (closest fields: Email" in run.stderr
    writes = [r for r in salesforce_emulator.requests if r["method"] in {"POST", "PATCH", "DELETE"}]
    assert [r["path"] for r in writes] == ["/services/oauth2/token"]


def test_blank_strings_in_typed_fields_mean_null():
    date_field = field("Birthdate", "date")
    contact = obj(*CONTACT.fields.values(), date_field, field("Opt__c", "boolean"))
    mapper = RecordMapper(
        "contacts",
        StreamSettings(external_id_field="External_Id__c", field_mapping={"ref": "External_Id__c"}),
        contact,
        ["ref", "last_name", "birthdate", "opt", "email"],
        lambda _: contact,
    )
    converted = mapper.convert(
        {"ref": "C-1", "last_name": "X", "birthdate": "", "opt": "", "email": ""}
    )
    assert converted == {
        "External_Id__c": "C-1",
        "LastName": "X",
        "Birthdate": None,
        "Opt__c": False,
        "Email": "",
    }
