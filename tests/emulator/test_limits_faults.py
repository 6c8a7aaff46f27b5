"""API allocation, limits resources and the fault plan.

REST API Developer Guide, "Limits", "Record Count" and "Limit Info Header"; Salesforce Developer
Limits and Allocations Quick Reference, "API Request Limits and Allocations".
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from emu_client import Client

from target_salesforce_out.emulator import Emulator
from target_salesforce_out.emulator.faults import FaultPlanError, load_fault_plan


def test_limits_and_record_count(salesforce_emulator: Emulator) -> None:
    c = Client(salesforce_emulator)
    try:
        c.create("Account", Name="A")
        limits = c.get("/limits").json()
        assert limits["DailyApiRequests"] == {"Max": 15000, "Remaining": 15000 - 2}
        assert set(limits) >= {"DailyApiRequests", "DailyBulkApiBatches", "DataStorageMB"}
        counts = c.get("/limits/recordCount", params={"sObjects": "Account,Contact"}).json()
        assert counts == {
            "sObjects": [{"count": 1, "name": "Account"}, {"count": 0, "name": "Contact"}]
        }
    finally:
        c.close()


def test_allocation_exhausted_gives_403(salesforce_emulator_factory) -> None:
    emulator = salesforce_emulator_factory(api_limit=3)
    c = Client(emulator)
    try:
        infos = [c.get("/limits").headers["Sforce-Limit-Info"] for _ in range(3)]
        assert infos == ["api-usage=1/3", "api-usage=2/3", "api-usage=3/3"]
        refused = c.get("/limits")
        assert refused.status_code == 403
        assert refused.json() == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
        assert refused.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    finally:
        c.close()


def test_what_counts(salesforce_emulator: Emulator) -> None:
    base = salesforce_emulator.base_url
    c = Client(salesforce_emulator)  # OAuth: not counted
    try:
        requests.get(f"{base}/services/data/", timeout=10)  # versions: not counted
        requests.get(f"{base}/__emulator/records/Account", timeout=10)  # inspection: not counted
        c.get("/sobjects")
        c.get("/limits", headers={"Authorization": "Bearer bad"})  # 401: not counted
        assert salesforce_emulator.api_usage == 1
        log = requests.get(f"{base}/__emulator/requests", timeout=10).json()
        assert [(r["path"], r["counted"], r["status"]) for r in log] == [
            ("/services/oauth2/token", False, 200),
            ("/services/data/", False, 200),
            ("/services/data/v62.0/sobjects", True, 200),
            ("/services/data/v62.0/limits", False, 401),
        ]
    finally:
        c.close()


def test_inspection_endpoints(salesforce_emulator: Emulator) -> None:
    base = salesforce_emulator.base_url
    c = Client(salesforce_emulator)
    try:
        c.create("Contact", LastName="Doe")
        records = requests.get(f"{base}/__emulator/records/contact", timeout=10).json()
        assert [r["LastName"] for r in records] == ["Doe"]
        assert requests.get(f"{base}/__emulator/records/Nope", timeout=10).status_code == 404
        assert requests.post(f"{base}/__emulator/reset", timeout=10).status_code == 204
        assert salesforce_emulator.records("Contact") == []
        assert salesforce_emulator.requests == [] and salesforce_emulator.api_usage == 0
        # Seeded rows come back: the admin user and the three users assignment rules assign to.
        assert len(salesforce_emulator.records("User")) == 4
    finally:
        c.close()


def test_status_faults_on_calls(salesforce_emulator_factory) -> None:
    emulator = salesforce_emulator_factory(
        faults=[
            {
                "match": {"method": "PATCH", "path_contains": "/composite/sobjects"},
                "on_calls": [1, 2],
                "status": 503,
            },
            {"match": {"path_contains": "/limits"}, "on_calls": [1], "status": 500, "body": "html"},
            {"match": {"path_contains": "/limits"}, "on_calls": [2], "status": 502},
            {"match": {"path_contains": "/limits"}, "on_calls": [3], "status": 403},
            {"match": {"path_contains": "/limits"}, "on_calls": [4], "status": 500},
        ]
    )
    c = Client(emulator)
    try:
        body = {
            "records": [
                {"attributes": {"type": "Contact"}, "External_Id__c": "C-1", "LastName": "D"}
            ]
        }
        url = "/composite/sobjects/Contact/External_Id__c"
        first, second, third = (c.patch(url, json=body) for _ in range(3))
        assert first.status_code == second.status_code == 503
        assert first.json() == [
            {
                "message": "Server temporarily unavailable. Please try again later.",
                "errorCode": "SERVER_UNAVAILABLE",
            }
        ]
        assert third.status_code == 200
        html = c.get("/limits")
        assert html.status_code == 500 and html.headers["Content-Type"].startswith("text/html")
        gateway = c.get("/limits")
        assert gateway.status_code == 502 and gateway.content == b""
        concurrency = c.get("/limits")
        assert concurrency.status_code == 403
        assert concurrency.json() == [
            {
                "message": "ConcurrentPerOrgLongTxn Limit exceeded.",
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
            }
        ]
        assert c.get("/limits").json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
        assert c.get("/limits").status_code == 200
        assert len(emulator.records("Contact")) == 1
    finally:
        c.close()


def test_drop_connection_and_latency(salesforce_emulator_factory) -> None:
    emulator = salesforce_emulator_factory(
        faults=[
            {"match": {"path_contains": "/limits"}, "on_calls": [1], "drop_connection": True},
            {"match": {"path_contains": "/sobjects"}, "latency_ms": 200},
        ]
    )
    c = Client(emulator)
    try:
        with pytest.raises(requests.ConnectionError):
            c.get("/limits")
        assert c.get("/limits").status_code == 200
        started = time.monotonic()
        c.get("/sobjects")
        assert time.monotonic() - started >= 0.2
    finally:
        c.close()


def test_latency_and_record_ms_options(salesforce_emulator_factory) -> None:
    emulator = salesforce_emulator_factory(latency_ms=50, record_ms=2)
    c = Client(emulator)
    try:
        records = [{"attributes": {"type": "Contact"}, "LastName": str(i)} for i in range(100)]
        started = time.monotonic()
        c.post("/composite/sobjects", json={"records": records})
        assert time.monotonic() - started >= 0.05 + 0.2
    finally:
        c.close()


def test_expire_token_fault(salesforce_emulator_factory) -> None:
    emulator = salesforce_emulator_factory(
        faults=[{"match": {}, "on_calls": [3], "expire_token": True}]
    )
    c = Client(emulator)  # call 1 is the token request
    try:
        assert c.get("/limits").status_code == 200
        assert c.get("/limits").status_code == 401
    finally:
        c.close()


def test_record_error_every_nth_first_attempts(salesforce_emulator_factory) -> None:
    emulator = salesforce_emulator_factory(
        faults=[
            {
                "match": {"path_contains": "/composite/sobjects"},
                "record_error": "UNABLE_TO_LOCK_ROW",
                "every_nth_record": 2,
                "first_attempts": 1,
            }
        ]
    )
    c = Client(emulator)
    try:
        records = [
            {"attributes": {"type": "Contact"}, "External_Id__c": f"C-{i}", "LastName": "D"}
            for i in range(1, 7)
        ]
        url = "/composite/sobjects/Contact/External_Id__c"
        results = c.patch(url, json={"records": records}).json()
        assert [r["success"] for r in results] == [True, False, True, False, True, False]
        assert results[1]["errors"] == [
            {
                "statusCode": "UNABLE_TO_LOCK_ROW",
                "message": "unable to obtain exclusive access to this record",
                "fields": [],
            }
        ]
        retry = [records[i] for i in (1, 3, 5)]
        assert all(r["success"] for r in c.patch(url, json={"records": retry}).json())
        assert len(emulator.records("Contact")) == 6
    finally:
        c.close()


def test_set_faults_at_runtime(salesforce_emulator: Emulator) -> None:
    c = Client(salesforce_emulator)
    try:
        salesforce_emulator.set_faults(
            [{"match": {"method": "GET"}, "on_calls": [1], "status": 503}]
        )
        assert c.get("/limits").status_code == 503
        assert c.get("/limits").status_code == 200
    finally:
        c.close()


@pytest.mark.parametrize(
    ("plan", "needle"),
    [
        ({"match": {}}, "exactly one effect"),
        ({"match": {}, "status": 418}, "status must be one of"),
        ({"match": {}, "status": 503, "drop_connection": True}, "exactly one effect"),
        ({"match": {}, "on_calls": [0], "status": 503}, "on_calls"),
        ({"match": {"verb": "GET"}, "status": 503}, '"match"'),
        ({"match": {}, "record_error": "NOPE"}, "record_error must be one of"),
        (
            {"match": {}, "record_error": "UNABLE_TO_LOCK_ROW", "every_nth_record": 0},
            "every_nth_record",
        ),
        ({"match": {}, "status": 503, "typo": 1}, "unknown keys"),
    ],
)
def test_fault_plan_validation(plan, needle) -> None:
    with pytest.raises(FaultPlanError, match=needle):
        load_fault_plan([plan])


def test_fault_plan_file(tmp_path) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps([{"match": {}, "latency_ms": 5}]))
    assert len(load_fault_plan(path).rules) == 1
    path.write_text("{}")
    with pytest.raises(FaultPlanError, match="list of rules"):
        load_fault_plan(path)


def test_concurrent_clients(salesforce_emulator: Emulator) -> None:
    import concurrent.futures

    def work(n: int) -> int:
        c = Client(salesforce_emulator)
        try:
            records = [
                {"attributes": {"type": "Contact"}, "External_Id__c": f"T{n}-{i}", "LastName": "x"}
                for i in range(50)
            ]
            for _ in range(3):
                c.patch("/composite/sobjects/Contact/External_Id__c", json={"records": records})
            return c.get("/query", params={"q": "SELECT COUNT() FROM Contact"}).status_code
        finally:
            c.close()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(work, range(8))) == {200}
    assert len(salesforce_emulator.records("Contact")) == 400
    assert salesforce_emulator.api_usage == 8 * 4
