"""The emulator's route table: each documented endpoint resolves to its handler; unknown paths 404."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import requests
from emu_client import Client

from target_salesforce_out.emulator import Emulator, routes
from target_salesforce_out.emulator.responses import (
    bulk,
    collections,
    common,
    composite,
    inspection,
    oauth,
    query,
    rest,
    sobjects,
)

V = "/services/data/v62.0"
ACCOUNT_ID = "001Em0000000001AAA"
JOB_ID = "750Em0000000001AAA"
NOT_FOUND_BODY = b'[{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}]'


def _target(handler: Callable[..., Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The function a route calls and the keyword arguments bound to it."""
    if isinstance(handler, partial):
        return handler.func, dict(handler.keywords)
    return handler, {}


@pytest.mark.parametrize(
    ("method", "path", "handler", "area"),
    [
        # OAuth, identity and versions (Salesforce Help, OAuth flow pages; REST API "Versions")
        pytest.param("POST", "/services/oauth2/token", oauth.token, "root", id="token"),
        pytest.param("POST", "/services/oauth2/revoke", oauth.revoke, "root", id="revoke-post"),
        pytest.param("GET", "/services/oauth2/revoke", oauth.revoke, "root", id="revoke-get"),
        pytest.param("GET", f"/id/00D/{ACCOUNT_ID}", oauth.identity, "root", id="identity"),
        pytest.param("GET", "/services/data/", rest.versions, "root", id="versions"),
        pytest.param("GET", "/services/data", rest.versions, "root", id="versions-no-slash"),
        # REST API basics
        pytest.param("GET", V, rest.resources, "api", id="resources"),
        pytest.param("GET", f"{V}/", rest.resources, "api", id="resources-slash"),
        pytest.param("GET", f"{V}/limits", rest.limits, "api", id="limits"),
        pytest.param("GET", f"{V}/limits/recordCount", rest.record_count, "api", id="counts"),
        # Describe and single records
        pytest.param("GET", f"{V}/sobjects", sobjects.describe_global, "api", id="describe-global"),
        pytest.param("GET", f"{V}/sobjects/Account", sobjects.basic_info, "api", id="basic-info"),
        pytest.param("POST", f"{V}/sobjects/Account", sobjects.create, "api", id="create"),
        pytest.param("POST", f"{V}/sobjects/Account/", sobjects.create, "api", id="create-slash"),
        pytest.param(
            "GET", f"{V}/sobjects/Account/describe", sobjects.describe, "api", id="describe"
        ),
        pytest.param(
            "GET", f"{V}/sobjects/Account/{ACCOUNT_ID}", sobjects.retrieve, "api", id="retrieve"
        ),
        pytest.param(
            "GET",
            f"{V}/sobjects/Account/{ACCOUNT_ID[:15]}",
            sobjects.retrieve,
            "api",
            id="retrieve-15",
        ),
        pytest.param(
            "PATCH", f"{V}/sobjects/Account/{ACCOUNT_ID}", sobjects.update, "api", id="update"
        ),
        pytest.param(
            "DELETE", f"{V}/sobjects/Account/{ACCOUNT_ID}", sobjects.delete, "api", id="delete"
        ),
        pytest.param(
            "GET",
            f"{V}/sobjects/Account/External_Id__c/A-1",
            sobjects.retrieve_by_external_id,
            "api",
            id="retrieve-by-external-id",
        ),
        pytest.param(
            "PATCH",
            f"{V}/sobjects/Account/External_Id__c/A-1",
            sobjects.upsert,
            "api",
            id="upsert",
        ),
        pytest.param(
            "DELETE",
            f"{V}/sobjects/Account/External_Id__c/A-1",
            sobjects.delete_by_external_id,
            "api",
            id="delete-by-external-id",
        ),
        pytest.param(
            "POST", f"{V}/sobjects/Account/Id", sobjects.by_field, "api", id="create-by-id-path"
        ),
        # Composite and sObject Collections
        pytest.param("POST", f"{V}/composite", composite.composite, "api", id="composite"),
        pytest.param(
            "POST", f"{V}/composite/sobjects", collections.create, "api", id="collections-create"
        ),
        pytest.param(
            "PATCH", f"{V}/composite/sobjects", collections.update, "api", id="collections-update"
        ),
        pytest.param(
            "DELETE",
            f"{V}/composite/sobjects",
            collections.delete,
            "api",
            id="collections-delete",
        ),
        pytest.param(
            "GET",
            f"{V}/composite/sobjects/Account",
            collections.retrieve,
            "api",
            id="collections-retrieve",
        ),
        pytest.param(
            "POST",
            f"{V}/composite/sobjects/Account",
            collections.retrieve,
            "api",
            id="collections-retrieve-post",
        ),
        pytest.param(
            "PATCH",
            f"{V}/composite/sobjects/Account/External_Id__c",
            collections.upsert,
            "api",
            id="collections-upsert",
        ),
        # SOQL
        pytest.param("GET", f"{V}/query", query.query, "api", id="query"),
        pytest.param("GET", f"{V}/queryAll", query.query_all, "api", id="query-all"),
        pytest.param("GET", f"{V}/query/01gEm-2000", query.next_page, "api", id="next-page"),
        # Bulk API 2.0 ingest
        pytest.param("POST", f"{V}/jobs/ingest", bulk.create_job, "api", id="bulk-create"),
        pytest.param("GET", f"{V}/jobs/ingest", bulk.list_jobs, "api", id="bulk-list"),
        pytest.param("GET", f"{V}/jobs/ingest/{JOB_ID}", bulk.job_info, "api", id="bulk-info"),
        pytest.param(
            "PATCH", f"{V}/jobs/ingest/{JOB_ID}", bulk.change_state, "api", id="bulk-close"
        ),
        pytest.param(
            "DELETE", f"{V}/jobs/ingest/{JOB_ID}", bulk.delete_job, "api", id="bulk-delete"
        ),
        pytest.param(
            "PUT", f"{V}/jobs/ingest/{JOB_ID}/batches", bulk.upload, "api", id="bulk-upload"
        ),
        pytest.param(
            "GET",
            f"{V}/jobs/ingest/{JOB_ID}/successfulResults/",
            bulk.results,
            "api",
            id="bulk-successful-results",
        ),
        pytest.param(
            "GET",
            f"{V}/jobs/ingest/{JOB_ID}/failedResults",
            bulk.results,
            "api",
            id="bulk-failed-results",
        ),
        pytest.param(
            "GET",
            f"{V}/jobs/ingest/{JOB_ID}/unprocessedrecords",
            bulk.results,
            "api",
            id="bulk-unprocessed-records",
        ),
        # Inspection
        pytest.param(
            "GET", "/__emulator/records/Account", inspection.records, "inspection", id="records"
        ),
        pytest.param(
            "GET", "/__emulator/requests", inspection.requests, "inspection", id="request-log"
        ),
        pytest.param("POST", "/__emulator/reset", inspection.reset, "inspection", id="reset"),
    ],
)
def test_documented_endpoint_resolves_to_its_handler(
    method: str, path: str, handler: Callable[..., Any], area: str
) -> None:
    resolved = routes.resolve(method, path)
    assert _target(resolved.handler)[0] is handler
    assert resolved.area.value == area


@pytest.mark.parametrize(
    ("method", "path", "handler", "keywords"),
    [
        pytest.param("PUT", f"{V}/sobjects", common.method_not_allowed, {}, id="sobjects"),
        pytest.param("PUT", f"{V}/sobjects/Account", sobjects.not_allowed, {}, id="sobject"),
        pytest.param(
            "PUT",
            f"{V}/sobjects/Account/{ACCOUNT_ID}",
            sobjects.not_allowed_on_record,
            {},
            id="record",
        ),
        pytest.param(
            "PUT",
            f"{V}/sobjects/Account/External_Id__c/A-1",
            sobjects.not_allowed_by_external_id,
            {},
            id="record-by-external-id",
        ),
        pytest.param("GET", f"{V}/composite", common.method_not_allowed, {}, id="composite"),
        pytest.param(
            "GET", f"{V}/composite/sobjects", common.method_not_allowed, {}, id="collections"
        ),
        pytest.param("POST", f"{V}/query", common.method_not_allowed, {}, id="query"),
        pytest.param("POST", f"{V}/limits", common.method_not_allowed, {}, id="limits"),
        pytest.param(
            "PUT", f"{V}/jobs/ingest", bulk.not_allowed, {"allowed": "GET,POST"}, id="bulk-jobs"
        ),
        pytest.param(
            "POST",
            f"{V}/jobs/ingest/{JOB_ID}",
            bulk.not_allowed_on_job,
            {"allowed": "GET,PATCH,DELETE"},
            id="bulk-job",
        ),
        pytest.param(
            "GET",
            f"{V}/jobs/ingest/{JOB_ID}/batches",
            bulk.not_allowed_on_job,
            {"allowed": "PUT"},
            id="bulk-upload",
        ),
    ],
)
def test_unsupported_method_resolves_to_a_405_handler(
    method: str, path: str, handler: Callable[..., Any], keywords: dict[str, Any]
) -> None:
    assert _target(routes.resolve(method, path).handler) == (handler, keywords)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        pytest.param(
            f"{V}/sobjects/Acc%6Funt/External_Id__c/A%2F1/",
            {"sobject": "Account", "field": "External_Id__c", "value": "A/1"},
            id="decoded-segments",
        ),
        pytest.param(
            f"{V}/jobs/ingest//{JOB_ID}//batches",
            {"job_id": JOB_ID},
            id="bulk-empty-segments",
        ),
    ],
)
def test_path_parameters_are_decoded_per_segment(path: str, params: dict[str, str]) -> None:
    assert routes.resolve("GET" if "sobjects" in path else "PUT", path).params == params


def test_api_path_carries_its_version() -> None:
    assert routes.resolve("GET", "/services/data/v45.0/limits").version == "45.0"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", f"{V}/nope", id="api"),
        pytest.param("GET", f"{V}/sobjects/Account/a/b/c", id="api-too-deep"),
        pytest.param("GET", f"{V}/jobs", id="api-jobs-without-ingest"),
        pytest.param("GET", "/services/nope", id="root"),
        pytest.param("GET", "/services/oauth2/token", id="token-by-get"),
        pytest.param("GET", "/__emulator/nope", id="inspection"),
    ],
)
def test_unknown_path_answers_salesforce_not_found(
    salesforce_emulator: Emulator, method: str, path: str
) -> None:
    client = Client(salesforce_emulator)
    try:
        response = client.request(method, f"{salesforce_emulator.base_url}{path}")
    finally:
        client.close()
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert response.content == NOT_FOUND_BODY


def test_unknown_api_path_still_needs_a_token(salesforce_emulator: Emulator) -> None:
    response = requests.get(f"{salesforce_emulator.base_url}{V}/nope", timeout=10)
    assert response.status_code == 401
    assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"
