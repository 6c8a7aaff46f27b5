"""The built-in ``Organization`` object (Object Reference for the Salesforce Platform,
"Organization"): describe, query, retrieve, read-only, and a metadata file overriding it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from emu_client import Client

from target_salesforce_out.emulator import Emulator


@pytest.fixture
def api(salesforce_emulator: Emulator) -> Client:
    return Client(salesforce_emulator)


def test_query_org_row_like_simple_salesforce_is_sandbox(api: Client) -> None:
    # simple-salesforce's is_sandbox() runs exactly this query and reads records[0].IsSandbox.
    response = api.get("/query", params={"q": "SELECT IsSandbox FROM Organization LIMIT 1"})
    assert response.status_code == 200, response.text
    assert response.json()["records"][0]["IsSandbox"] is False


def test_org_row_carries_the_org_id_and_usual_fields(
    api: Client, salesforce_emulator: Emulator
) -> None:
    query = "SELECT Id, Name, InstanceName, OrganizationType, NamespacePrefix FROM Organization"
    record = api.get("/query", params={"q": query}).json()["records"][0]
    org_id = salesforce_emulator.org.org_id
    assert record["Id"] == org_id and org_id.startswith("00D")
    assert record["Name"] == "Salesforce Emulator"
    assert record["InstanceName"] == "EMU1"
    assert record["OrganizationType"] == "Developer Edition"
    assert record["NamespacePrefix"] is None
    retrieved = api.get(f"/sobjects/Organization/{org_id}")
    assert retrieved.status_code == 200
    assert retrieved.json()["IsSandbox"] is False


def test_describe_and_read_only(api: Client) -> None:
    describe = api.get("/sobjects/Organization/describe").json()
    assert describe["keyPrefix"] == "00D"
    assert (describe["createable"], describe["updateable"], describe["deletable"]) == (
        False,
        False,
        False,
    )
    fields = {f["name"]: f for f in describe["fields"]}
    assert fields["IsSandbox"]["type"] == "boolean"
    assert fields["InstanceName"]["type"] == "string"
    refused = api.post("/sobjects/Organization", json={"Name": "Other"})
    assert refused.status_code == 400


def test_metadata_file_can_make_a_sandbox(salesforce_emulator_factory: Callable[..., Any]) -> None:
    metadata = {
        "objects": {
            "Organization": {
                "keyPrefix": "00D",
                "owner": False,
                "createable": False,
                "updateable": False,
                "deletable": False,
                "fields": {
                    "IsSandbox": {"type": "boolean"},
                    "InstanceName": {"type": "string", "length": 5},
                },
                "rows": [{"IsSandbox": True, "InstanceName": "CS42"}],
            }
        }
    }
    emulator = salesforce_emulator_factory(metadata=metadata)
    api = Client(emulator)
    query = "SELECT Id, IsSandbox, InstanceName FROM Organization"
    record = api.get("/query", params={"q": query}).json()["records"][0]
    assert record["IsSandbox"] is True and record["InstanceName"] == "CS42"
    assert record["Id"] == emulator.org.org_id
