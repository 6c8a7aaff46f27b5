"""``sobjects/{Object}/updated`` and ``/deleted`` of the emulator (REST API Developer Guide,
"sObject Get Updated" and "sObject Get Deleted"; SOAP API Developer Guide, "getUpdated()",
"getDeleted()")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from emu_client import Client

from target_salesforce_out.emulator import Emulator


@pytest.fixture
def api(salesforce_emulator: Emulator) -> Client:
    return Client(salesforce_emulator)


def minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def sf_text(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def window(api: Client, kind: str, start: dt.datetime, end: dt.datetime) -> Any:
    response = api.get(f"/sobjects/Account/{kind}/", params={"start": iso(start), "end": iso(end)})
    assert response.status_code == 200, response.text
    return response.json()


def test_updated_lists_records_changed_inside_the_window(api: Client) -> None:
    # A window ending at the current minute's start cannot contain what is saved after it.
    before = minute(dt.datetime.now(dt.UTC))
    created = api.create("Account", Name="Acme")
    earlier = window(api, "updated", before - dt.timedelta(minutes=5), before)
    assert created not in earlier["ids"]
    assert earlier["latestDateCovered"] == sf_text(before)
    later = window(api, "updated", before - dt.timedelta(minutes=5), before + dt.timedelta(days=1))
    assert later["ids"] == [created]
    # With an end in the future, the window covers up to now.
    covered = dt.datetime.strptime(later["latestDateCovered"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert before <= covered <= dt.datetime.now(dt.UTC)


def test_updated_sees_changes_and_not_deletions(api: Client) -> None:
    start = minute(dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=1)
    kept, gone = api.create("Account", Name="Kept"), api.create("Account", Name="Gone")
    assert api.patch(f"/sobjects/Account/{kept}", json={"Name": "Kept 2"}).status_code == 204
    assert api.delete(f"/sobjects/Account/{gone}").status_code == 204
    found = window(api, "updated", start, start + dt.timedelta(days=1))
    assert found["ids"] == [kept]


def test_deleted_lists_deletions_with_their_dates(api: Client) -> None:
    start = minute(dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=1)
    gone = api.create("Account", Name="Gone")
    api.create("Account", Name="Kept")
    assert api.delete(f"/sobjects/Account/{gone}").status_code == 204
    after = dt.datetime.now(dt.UTC)
    body = window(api, "deleted", start, start + dt.timedelta(days=1))
    assert [r["id"] for r in body["deletedRecords"]] == [gone]
    deleted_at = dt.datetime.strptime(
        body["deletedRecords"][0]["deletedDate"], "%Y-%m-%dT%H:%M:%S.%f%z"
    )
    assert start <= deleted_at <= after
    earliest = dt.datetime.strptime(body["earliestDateAvailable"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert earliest == minute(earliest) and earliest <= start
    assert set(body) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
    # Deleting marks the record's SystemModstamp, which queryAll shows.
    rows = api.get(
        "/queryAll", params={"q": f"SELECT SystemModstamp FROM Account WHERE Id = '{gone}'"}
    )
    assert rows.json()["records"][0]["SystemModstamp"] == body["deletedRecords"][0]["deletedDate"]


def test_rolled_back_delete_is_not_in_the_delete_log(api: Client) -> None:
    start = minute(dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=1)
    kept = api.create("Account", Name="Kept")
    missing = "001000000000000AAA"
    response = api.delete(
        "/composite/sobjects", params={"ids": f"{kept},{missing}", "allOrNone": "true"}
    )
    assert response.status_code == 200
    body = window(api, "deleted", start, start + dt.timedelta(days=1))
    assert body["deletedRecords"] == []


def test_seconds_are_truncated(api: Client) -> None:
    end = minute(dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=2)
    body = window(api, "updated", end - dt.timedelta(hours=1), end + dt.timedelta(seconds=42))
    assert body["latestDateCovered"] == sf_text(end)


NOW = dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    ("kind", "params", "status", "code"),
    [
        pytest.param(
            "updated",
            {"start": iso(NOW - dt.timedelta(hours=1)), "end": iso(NOW - dt.timedelta(hours=2))},
            400,
            "INVALID_REPLICATION_DATE",
            id="start-after-end",
        ),
        pytest.param(
            "updated",
            {"start": "2030-01-01T10:00:10Z", "end": "2030-01-01T10:00:50Z"},
            400,
            "INVALID_REPLICATION_DATE",
            id="same-minute-once-truncated",
        ),
        pytest.param(
            "updated",
            {"start": iso(NOW - dt.timedelta(days=31)), "end": iso(NOW)},
            400,
            "INVALID_REPLICATION_DATE",
            id="updated-start-older-than-30-days",
        ),
        pytest.param(
            "deleted",
            {"start": iso(NOW - dt.timedelta(days=16)), "end": iso(NOW)},
            400,
            "INVALID_REPLICATION_DATE",
            id="deleted-start-older-than-15-days",
        ),
        pytest.param(
            "updated",
            {"start": iso(NOW - dt.timedelta(days=1)), "end": iso(NOW + dt.timedelta(days=40))},
            400,
            "INVALID_REPLICATION_DATE",
            id="window-longer-than-30-days",
        ),
        pytest.param("updated", {"end": iso(NOW)}, 400, "MISSING_ARGUMENT", id="missing-start"),
        pytest.param(
            "deleted",
            {"start": "yesterday", "end": iso(NOW)},
            400,
            "INVALID_REPLICATION_DATE",
            id="unreadable-date",
        ),
    ],
)
def test_window_errors(
    api: Client, kind: str, params: dict[str, str], status: int, code: str
) -> None:
    response = api.get(f"/sobjects/Account/{kind}/", params=params)
    assert response.status_code == status, response.text
    assert response.json()[0]["errorCode"] == code


def test_unknown_object_is_not_found(api: Client) -> None:
    now = dt.datetime.now(dt.UTC)
    params = {"start": iso(now - dt.timedelta(hours=1)), "end": iso(now)}
    response = api.get("/sobjects/Nope__c/updated/", params=params)
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"


def test_unencoded_plus_offset_is_read_as_plus(api: Client) -> None:
    # requests encodes "+" as %2B; a hand-built URL may send it raw, which decodes to a space.
    now = minute(dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=1)
    start = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S") + "+00:00"
    end = now.strftime("%Y-%m-%dT%H:%M:%S") + "+00:00"
    response = api.get(f"/sobjects/Account/updated/?start={start}&end={end}")
    assert response.status_code == 200, response.text
    assert response.json()["latestDateCovered"] == sf_text(now)
