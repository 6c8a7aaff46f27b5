"""aiosalesforce 0.6.2, used as its README shows, against ``salesforce-emulator --tls``.

aiosalesforce only takes a My Domain base URL (``https://acme.my.salesforce.com``, port 443) and
sends every call there, so it runs through the ``my_domain`` fixture (the stand-in for the CI
hosts entry). The CA file reaches httpx through ``SSL_CERT_FILE``; nothing else is configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosalesforce import Salesforce
from aiosalesforce.auth import ClientCredentialsFlow, JwtBearerFlow, SoapLogin
from aiosalesforce.exceptions import AuthenticationError, NotFoundError

from target_salesforce_out.emulator import DEFAULT_CREDENTIALS, Emulator

CREDS = DEFAULT_CREDENTIALS


def _run(host: str, auth: Any, work: Callable[[Salesforce], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with httpx.AsyncClient() as client:
            sf = Salesforce(client, base_url=f"https://{host}", auth=auth, version="62.0")
            return await work(sf)

    return asyncio.run(main())


def _soap() -> Any:
    return SoapLogin(CREDS.username, CREDS.password, CREDS.security_token)


def _client_credentials() -> Any:
    return ClientCredentialsFlow(CREDS.client_id, CREDS.client_secret)


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(_soap, id="soap-login"),
        pytest.param(_client_credentials, id="client-credentials"),
        pytest.param("jwt", id="jwt-bearer"),
    ],
)
def test_logins_and_query_over_pages(
    my_domain: tuple[Emulator, str], jwt_private_pem: str, tmp_path: Path, auth: Any
) -> None:
    emulator, host = my_domain
    if auth == "jwt":
        key_file = tmp_path / "server.key"
        key_file.write_text(jwt_private_pem)
        credentials: Any = JwtBearerFlow(CREDS.client_id, CREDS.username, key_file)
    else:
        credentials = auth()
    rows = [{"Name": f"Q {n}", "External_Id__c": f"Q-{n}"} for n in range(2100)]
    emulator.org.save("insert", "Account", rows)

    async def work(sf: Salesforce) -> list[dict[str, Any]]:
        return [r async for r in sf.query("SELECT Id FROM Account WHERE Name LIKE 'Q %'")]

    found = _run(host, credentials, work)
    assert len({r["Id"] for r in found}) == 2100


def test_wrong_password_fails_soap_login(my_domain: tuple[Emulator, str]) -> None:
    _, host = my_domain

    async def work(sf: Salesforce) -> Any:
        return await sf.get_limits()

    with pytest.raises(AuthenticationError) as failed:
        _run(host, SoapLogin(CREDS.username, "wrong", CREDS.security_token), work)
    assert failed.value.error_code == "INVALID_LOGIN"


def test_sobject_crud_and_upsert(my_domain: tuple[Emulator, str]) -> None:
    _, host = my_domain

    async def work(sf: Salesforce) -> dict[str, Any]:
        new_id = await sf.sobject.create("Contact", {"LastName": "Doe"})
        await sf.sobject.update("Contact", new_id, {"FirstName": "Jane"})
        got = await sf.sobject.get("Contact", new_id)
        inserted = await sf.sobject.upsert(
            "Contact", "X-1", external_id_field="External_Id__c", data={"LastName": "Roe"}
        )
        updated = await sf.sobject.upsert(
            "Contact", "X-1", external_id_field="External_Id__c", data={"LastName": "Poe"}
        )
        await sf.sobject.delete("Contact", new_id)
        try:
            await sf.sobject.get("Contact", new_id)
        except NotFoundError as exc:
            gone = exc.error_code
        return {"got": got, "inserted": inserted, "updated": updated, "gone": gone}

    out = _run(host, _client_credentials(), work)
    assert out["got"]["FirstName"] == "Jane" and out["got"]["LastName"] == "Doe"
    assert out["inserted"].created is True
    assert out["updated"].created is False and out["updated"].id == out["inserted"].id
    assert out["gone"] == "NOT_FOUND"


def test_bulk_ingest_results(my_domain: tuple[Emulator, str]) -> None:
    emulator, host = my_domain
    records = [
        {"LastName": "Ok", "External_Id__c": "K-1"},
        {"LastName": "", "External_Id__c": "K-2"},  # LastName is required: a failed row
    ]

    async def work(sf: Salesforce) -> list[Any]:
        return [
            result
            async for result in sf.bulk_v2.ingest.perform_operation(
                "insert", "Contact", records, polling_interval=0.05
            )
        ]

    [job] = _run(host, _client_credentials(), work)
    assert job.job_info.state == "JobComplete"
    assert [r["External_Id__c"] for r in job.successful_results] == ["K-1"]
    assert [r["External_Id__c"] for r in job.failed_results] == ["K-2"]
    assert job.failed_results[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    assert job.unprocessed_records == []
    assert [r["LastName"] for r in emulator.records("Contact")] == ["Ok"]
