"""Describe global and sObject describe, business and Person-Account orgs.

REST API Developer Guide, "Describe Global" and "sObject Describe".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emu_client import Client

from target_salesforce_out.emulator import Emulator

GLOBAL_KEYS = {
    "activateable",
    "associateEntityType",
    "associateParentEntity",
    "createable",
    "custom",
    "customSetting",
    "deepCloneable",
    "deletable",
    "deprecatedAndHidden",
    "feedEnabled",
    "hasSubtypes",
    "isInterface",
    "isSubtype",
    "keyPrefix",
    "label",
    "labelPlural",
    "layoutable",
    "mergeable",
    "mruEnabled",
    "name",
    "queryable",
    "replicateable",
    "retrieveable",
    "searchable",
    "triggerable",
    "undeletable",
    "updateable",
    "urls",
}
DESCRIBE_KEYS = {
    "actionOverrides",
    "activateable",
    "associateEntityType",
    "associateParentEntity",
    "childRelationships",
    "compactLayoutable",
    "createable",
    "custom",
    "customSetting",
    "deepCloneable",
    "defaultImplementation",
    "deletable",
    "deprecatedAndHidden",
    "extendedBy",
    "extendsInterfaces",
    "feedEnabled",
    "fields",
    "hasSubtypes",
    "implementedBy",
    "implementsInterfaces",
    "isInterface",
    "isSubtype",
    "keyPrefix",
    "label",
    "labelPlural",
    "layoutable",
    "listviewable",
    "lookupLayoutable",
    "mergeable",
    "mruEnabled",
    "name",
    "namedLayoutInfos",
    "networkScopeFieldName",
    "queryable",
    "recordTypeInfos",
    "replicateable",
    "retrieveable",
    "searchLayoutable",
    "searchable",
    "sobjectDescribeOption",
    "supportedScopes",
    "triggerable",
    "undeletable",
    "updateable",
    "urls",
}
FIELD_KEYS = {
    "aggregatable",
    "aiPredictionField",
    "autoNumber",
    "byteLength",
    "calculated",
    "calculatedFormula",
    "cascadeDelete",
    "caseSensitive",
    "compoundFieldName",
    "controllerName",
    "createable",
    "custom",
    "defaultValue",
    "defaultValueFormula",
    "defaultedOnCreate",
    "dependentPicklist",
    "deprecatedAndHidden",
    "digits",
    "displayLocationInDecimal",
    "encrypted",
    "externalId",
    "extraTypeInfo",
    "filterable",
    "filteredLookupInfo",
    "formulaTreatNullNumberAsZero",
    "groupable",
    "highScaleNumber",
    "htmlFormatted",
    "idLookup",
    "inlineHelpText",
    "label",
    "length",
    "mask",
    "maskType",
    "name",
    "nameField",
    "namePointing",
    "nillable",
    "permissionable",
    "picklistValues",
    "polymorphicForeignKey",
    "precision",
    "queryByDistance",
    "referenceTargetField",
    "referenceTo",
    "relationshipName",
    "relationshipOrder",
    "restrictedDelete",
    "restrictedPicklist",
    "scale",
    "searchPrefilterable",
    "soapType",
    "sortable",
    "type",
    "unique",
    "updateable",
    "writeRequiresMasterRead",
}


@pytest.fixture
def client(salesforce_emulator: Emulator) -> Iterator[Client]:
    c = Client(salesforce_emulator)
    yield c
    c.close()


@pytest.fixture
def person_client(salesforce_emulator_factory) -> Iterator[Client]:
    c = Client(salesforce_emulator_factory(person_accounts=True))
    yield c
    c.close()


def fields_of(body: dict) -> dict[str, dict]:
    return {f["name"]: f for f in body["fields"]}


def test_describe_global(client: Client) -> None:
    body = client.get("/sobjects").json()
    assert body["encoding"] == "UTF-8" and body["maxBatchSize"] == 200
    names = [o["name"] for o in body["sobjects"]]
    assert {
        "Account",
        "Contact",
        "Lead",
        "Opportunity",
        "Case",
        "User",
        "RecordType",
        "Invoice__c",
    } <= set(names)
    contact = next(o for o in body["sobjects"] if o["name"] == "Contact")
    assert set(contact) == GLOBAL_KEYS
    assert contact["keyPrefix"] == "003"
    assert contact["urls"] == {
        "rowTemplate": "/services/data/v62.0/sobjects/Contact/{ID}",
        "describe": "/services/data/v62.0/sobjects/Contact/describe",
        "sobject": "/services/data/v62.0/sobjects/Contact",
    }


def test_contact_describe_full_key_sets(client: Client) -> None:
    response = client.get("/sobjects/contact/describe")
    body = response.json()
    assert set(body) == DESCRIBE_KEYS and body["name"] == "Contact"
    assert all(set(f) == FIELD_KEYS for f in body["fields"])
    fields = fields_of(body)
    assert fields["External_Id__c"]["externalId"] and fields["External_Id__c"]["unique"]
    assert fields["External_Id__c"]["idLookup"] and fields["External_Id__c"]["custom"]
    assert fields["Loyalty_Tier__c"]["restrictedPicklist"]
    assert [v["value"] for v in fields["Loyalty_Tier__c"]["picklistValues"]] == ["Gold", "Silver"]
    assert (
        fields["Lifetime_Value__c"]["calculated"] and not fields["Lifetime_Value__c"]["createable"]
    )
    assert fields["Primary_Account__c"]["relationshipName"] == "Primary_Account__r"
    assert (
        fields["AccountId"]["referenceTo"] == ["Account"]
        and fields["AccountId"]["soapType"] == "tns:ID"
    )
    assert fields["LastName"]["nillable"] is False and fields["LastName"]["byteLength"] == 240
    assert fields["Description"]["length"] == 32000 and fields["Description"]["type"] == "textarea"
    assert fields["MailingStreet"]["compoundFieldName"] == "MailingAddress"
    assert (
        fields["HasOptedOutOfEmail"]["type"] == "boolean"
        and fields["HasOptedOutOfEmail"]["defaultValue"] is False
    )
    assert fields["OwnerId"]["defaultedOnCreate"] and fields["CreatedDate"]["type"] == "datetime"
    assert fields["Id"]["type"] == "id" and fields["Birthdate"]["soapType"] == "xsd:date"
    assert body["recordTypeInfos"] == [
        {
            "active": True,
            "available": True,
            "defaultRecordTypeMapping": True,
            "developerName": "Master",
            "master": True,
            "name": "Master",
            "recordTypeId": "012000000000000AAA",
            "urls": {
                "layout": "/services/data/v62.0/sobjects/Contact/describe/layouts/012000000000000AAA"
            },
        }
    ]
    assert body["urls"]["describe"] == "/services/data/v62.0/sobjects/Contact/describe"
    older = client.get(f"{client.base}/services/data/v50.0/sobjects/Contact/describe").json()
    assert older["urls"]["sobject"] == "/services/data/v50.0/sobjects/Contact"
    children = {(r["childSObject"], r["field"]): r for r in body["childRelationships"]}
    assert children[("Case", "ContactId")]["relationshipName"] == "Cases"


def test_custom_and_standard_objects(client: Client) -> None:
    invoice = client.get("/sobjects/Invoice__c/describe").json()
    assert invoice["custom"] is True
    fields = fields_of(invoice)
    assert (
        fields["Name"]["nameField"]
        and fields["Name"]["defaultedOnCreate"]
        and fields["Name"]["nillable"]
    )
    assert fields["Tags__c"]["type"] == "multipicklist"
    assert (
        fields["Tax_Rate__c"]["type"] == "percent"
        and fields["Tax_Rate__c"]["soapType"] == "xsd:double"
    )
    assert fields["Paid_At__c"]["soapType"] == "xsd:dateTime"
    opportunity = fields_of(client.get("/sobjects/Opportunity/describe").json())
    assert (
        opportunity["CloseDate"]["nillable"] is False
        and opportunity["Amount"]["type"] == "currency"
    )
    account = client.get("/sobjects/Account/describe").json()
    account_fields = fields_of(account)
    assert account_fields["Name"]["nillable"] is False and "IsPersonAccount" not in account_fields
    assert account_fields["External_Id__c"]["externalId"]


def test_person_account_describe(person_client: Client) -> None:
    body = person_client.get("/sobjects/Account/describe").json()
    fields = fields_of(body)
    assert fields["Name"]["nillable"] is True
    assert fields["Name"]["extraTypeInfo"] == "switchablepersonname"
    for name in ("LastName", "FirstName", "Salutation"):
        assert fields[name]["compoundFieldName"] == "Name"
    assert fields["IsPersonAccount"]["createable"] is False
    assert fields["PersonContactId"]["referenceTo"] == ["Contact"]
    assert fields["PersonEmail"]["type"] == "email"
    assert fields["PersonMailingStreet"]["compoundFieldName"] == "PersonMailingAddress"
    assert fields["Loyalty_Tier__pc"]["restrictedPicklist"]
    assert fields["Primary_Account__pc"]["relationshipName"] == "Primary_Account__pr"
    names = {rt["developerName"]: rt for rt in body["recordTypeInfos"]}
    assert set(names) == {"Business_Account", "PersonAccount", "Master"}
    assert all(set(f) == FIELD_KEYS for f in body["fields"])


def test_person_account_rules(person_client: Client) -> None:
    query = "SELECT Id, DeveloperName FROM RecordType WHERE SobjectType = 'Account' AND IsPersonType = true"
    rows = person_client.get("/query", params={"q": query}).json()["records"]
    assert [r["DeveloperName"] for r in rows] == ["PersonAccount"]
    person_rt = rows[0]["Id"]
    missing_last = person_client.post(
        "/sobjects/Account", json={"RecordTypeId": person_rt, "FirstName": "Ann"}
    )
    assert missing_last.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert missing_last.json()[0]["fields"] == ["LastName"]
    with_name = person_client.post(
        "/sobjects/Account", json={"RecordTypeId": person_rt, "LastName": "Lee", "Name": "Ann Lee"}
    )
    assert with_name.status_code == 400 and with_name.json()[0]["fields"] == ["Name"]
    aid = person_client.create(
        "Account",
        RecordTypeId=person_rt,
        FirstName="Ann",
        LastName="Lee",
        PersonEmail="ann@example.com",
    )
    record = person_client.get(f"/sobjects/Account/{aid}").json()
    assert record["IsPersonAccount"] is True and record["Name"] == "Ann Lee"
    assert record["PersonContactId"].startswith("003")
    business_missing = person_client.post("/sobjects/Account", json={"Phone": "1"})
    assert business_missing.json()[0]["fields"] == ["Name"]
    business_person_field = person_client.post(
        "/sobjects/Account", json={"Name": "Biz", "LastName": "X"}
    )
    assert business_person_field.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert person_client.create("Account", Name="Biz")
