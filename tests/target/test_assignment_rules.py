"""assignment_rule on Lead and Case streams, over REST and Bulk, against the emulator over HTTP.

The emulator's built-in org has an active rule per object (Lead: "Standard Lead Routing" to
leads@emulator.test; Case: "Standard Case Routing" to support@emulator.test) and an inactive
Lead rule ("Partner Lead Routing" to partners@emulator.test); records nobody assigns are owned
by admin@emulator.test.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from helpers import base_config, record, run_target, schema

LEAD_PROPS = {
    "ref": {"type": "string"},
    "last_name": {"type": "string"},
    "company": {"type": "string"},
}
CASE_PROPS = {"ref": {"type": "string"}, "subject": {"type": "string"}}


def _stream(sobject: str, api: str, rule: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "sobject": sobject,
        "api": api,
        "external_id_field": "External_Id__c",
        "field_mapping": {"ref": "External_Id__c"},
    }
    if rule is not None:
        entry["assignment_rule"] = rule
    return entry


def _leads(n: int = 2) -> list[dict[str, Any]]:
    return [
        schema("leads", LEAD_PROPS, ["ref"]),
        *(
            record("leads", {"ref": f"L-{i}", "last_name": f"Lead{i}", "company": "Acme"})
            for i in range(n)
        ),
    ]


def _user(emulator: Any, username: str) -> str:
    return next(str(u["Id"]) for u in emulator.records("User") if u["Username"] == username)


def _rule(emulator: Any, name: str) -> str:
    return next(str(r["Id"]) for r in emulator.records("AssignmentRule") if r["Name"] == name)


def _job_infos(emulator: Any, run: Any, stream: str) -> list[dict[str, Any]]:
    """Each Bulk job of the run as the emulator holds it (Get Job Info)."""
    token = emulator.access_token()
    infos = []
    for job in run.report["streams"][stream]["bulk_jobs"]:
        job_id = job["id"] if isinstance(job, dict) else job
        response = requests.get(
            f"{emulator.base_url}/services/data/v62.0/jobs/ingest/{job_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        infos.append(response.json())
    return infos


# rule: the setting ("partner" stands for the inactive Partner rule's Id); header: what the
# Collections call must carry (None: no header); owner: the Username that must own the leads.
REST_CASES = [
    pytest.param("default", "TRUE", "leads@emulator.test", id="default"),
    pytest.param("none", "FALSE", "admin@emulator.test", id="none"),
    pytest.param("partner", "partner", "partners@emulator.test", id="rule-id"),
    # No header: Salesforce's REST default (TRUE) runs the active rule.
    pytest.param(None, None, "leads@emulator.test", id="absent"),
]


@pytest.mark.parametrize(("rule", "header", "owner"), REST_CASES)
def test_rest_sends_the_auto_assign_header(
    salesforce_emulator: Any, tmp_path: Any, rule: str | None, header: str | None, owner: str
) -> None:
    partner = _rule(salesforce_emulator, "Partner Lead Routing")
    setting = partner if rule == "partner" else rule
    config = base_config(
        salesforce_emulator.base_url, tmp_path, streams={"leads": _stream("Lead", "rest", setting)}
    )
    run = run_target(config, _leads(), tmp_path)
    assert run.returncode == 0, run.stderr
    owner_id = _user(salesforce_emulator, owner)
    assert [r["OwnerId"] for r in salesforce_emulator.records("Lead")] == [owner_id] * 2
    saves = [r for r in salesforce_emulator.requests if "/composite/sobjects" in r["path"]]
    expected = partner if header == "partner" else header
    assert saves
    assert [r["headers"].get("Sforce-Auto-Assign") for r in saves] == [expected] * len(saves)


def test_rest_update_runs_the_rule_too(salesforce_emulator: Any, tmp_path: Any) -> None:
    """A second run updates the same leads: the header is sent on the update calls as well."""
    streams = {"leads": _stream("Lead", "rest", "none")}
    config = base_config(salesforce_emulator.base_url, tmp_path, streams=streams)
    assert run_target(config, _leads(), tmp_path).returncode == 0
    streams = {"leads": _stream("Lead", "rest", "default")}
    config = base_config(salesforce_emulator.base_url, tmp_path, streams=streams)
    run = run_target(config, _leads(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["leads"]["updated"] == 2
    leads_user = _user(salesforce_emulator, "leads@emulator.test")
    assert [r["OwnerId"] for r in salesforce_emulator.records("Lead")] == [leads_user] * 2


# job_rule: the job's assignmentRuleId ("active"/"partner" stand for those rules' Ids; None:
# the job has none).
BULK_CASES = [
    pytest.param("default", "active", "leads@emulator.test", id="default"),
    pytest.param("none", None, "admin@emulator.test", id="none"),
    pytest.param("partner", "partner", "partners@emulator.test", id="rule-id"),
    pytest.param(None, None, "admin@emulator.test", id="absent"),
]


@pytest.mark.parametrize(("rule", "job_rule", "owner"), BULK_CASES)
def test_bulk_sets_the_jobs_assignment_rule_id(
    salesforce_emulator: Any, tmp_path: Any, rule: str | None, job_rule: str | None, owner: str
) -> None:
    rules = {
        "active": _rule(salesforce_emulator, "Standard Lead Routing"),
        "partner": _rule(salesforce_emulator, "Partner Lead Routing"),
    }
    setting = rules["partner"] if rule == "partner" else rule
    config = base_config(
        salesforce_emulator.base_url, tmp_path, streams={"leads": _stream("Lead", "bulk", setting)}
    )
    run = run_target(config, _leads(), tmp_path)
    assert run.returncode == 0, run.stderr
    owner_id = _user(salesforce_emulator, owner)
    assert [r["OwnerId"] for r in salesforce_emulator.records("Lead")] == [owner_id] * 2
    infos = _job_infos(salesforce_emulator, run, "leads")
    expected = rules[job_rule] if job_rule is not None else None
    assert infos
    assert [i.get("assignmentRuleId") for i in infos] == [expected] * len(infos)
    # Bulk has no header: the option travels in the job only.
    assert all("Sforce-Auto-Assign" not in r["headers"] for r in salesforce_emulator.requests)


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_case_default_assigns_the_active_case_rule(
    salesforce_emulator: Any, tmp_path: Any, api: str
) -> None:
    config = base_config(
        salesforce_emulator.base_url, tmp_path, streams={"cases": _stream("Case", api, "default")}
    )
    messages = [
        schema("cases", CASE_PROPS, ["ref"]),
        record("cases", {"ref": "K-1", "subject": "Hi"}),
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    support = _user(salesforce_emulator, "support@emulator.test")
    assert [r["OwnerId"] for r in salesforce_emulator.records("Case")] == [support]


def test_defaults_apply_to_lead_streams_only(salesforce_emulator: Any, tmp_path: Any) -> None:
    """defaults.assignment_rule reaches the Lead stream; the Account stream ignores it."""
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        defaults={"assignment_rule": "none"},
        streams={
            "leads": _stream("Lead", "rest", None),
            "accounts": _stream("Account", "rest", None),
        },
    )
    messages = [
        *_leads(1),
        schema("accounts", {"ref": {"type": "string"}, "name": {"type": "string"}}, ["ref"]),
        record("accounts", {"ref": "A-1", "name": "Acme"}),
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    admin = _user(salesforce_emulator, "admin@emulator.test")
    assert [r["OwnerId"] for r in salesforce_emulator.records("Lead")] == [admin]
    headers = {
        r["path"].rsplit("/", 2)[-2]: r["headers"].get("Sforce-Auto-Assign")
        for r in salesforce_emulator.requests
        if "/composite/sobjects/" in r["path"]
    }
    assert headers == {"Lead": "FALSE", "Account": None}


# streams: the config's streams; where: text the error must hold.
CONFIG_ERRORS = [
    pytest.param(
        {"accounts": {**_stream("Account", "rest", "default")}},
        "streams.accounts: assignment_rule applies only to Lead and Case, not Account",
        id="account-stream-named",
    ),
    pytest.param(
        {
            "accounts": {
                "external_id_field": "External_Id__c",
                "field_mapping": {"ref": "External_Id__c"},
                "assignment_rule": "none",
            }
        },
        "stream 'accounts': assignment_rule applies only to Lead and Case, not Account",
        id="account-stream-matched-by-name",
    ),
    pytest.param(
        {"leads": _stream("Lead", "rest", "00Q000000000001")},
        "streams.leads: assignment_rule '00Q000000000001' is not default, none or an "
        "AssignmentRule Id (an AssignmentRule Id starts with 01Q)",
        id="id-of-another-object",
    ),
    pytest.param(
        {"leads": _stream("Lead", "bulk", "Standard Lead Routing")},
        "streams.leads: assignment_rule 'Standard Lead Routing' is not default, none or an "
        "AssignmentRule Id (must be 15 or 18 letters and digits)",
        id="rule-name",
    ),
]


@pytest.mark.parametrize(("streams", "expected"), CONFIG_ERRORS)
def test_config_errors(
    salesforce_emulator: Any, tmp_path: Any, streams: dict[str, Any], expected: str
) -> None:
    config = base_config(salesforce_emulator.base_url, tmp_path, streams=streams)
    messages = [
        schema("accounts", {"ref": {"type": "string"}, "name": {"type": "string"}}, ["ref"]),
        record("accounts", {"ref": "A-1", "name": "Acme"}),
        *_leads(1),
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 2, run.stderr
    assert expected in run.stderr
    assert salesforce_emulator.records("Account") == []
    assert salesforce_emulator.records("Lead") == []


def test_bulk_default_without_an_active_rule_is_a_config_error(
    salesforce_emulator_factory: Any, tmp_path: Any
) -> None:
    lead = {
        "keyPrefix": "00Q",
        "label": "Lead",
        "labelPlural": "Leads",
        "assignmentRules": [
            {"name": "Retired Routing", "active": False, "assignTo": "admin@emulator.test"}
        ],
        "fields": {
            "LastName": {"type": "string", "length": 80, "required": True},
            "Company": {"type": "string", "length": 255, "required": True},
            "External_Id__c": {"type": "string", "length": 40, "externalId": True, "unique": True},
        },
    }
    emulator = salesforce_emulator_factory(metadata={"objects": {"Lead": lead}})
    config = base_config(
        emulator.base_url, tmp_path, streams={"leads": _stream("Lead", "bulk", "default")}
    )
    run = run_target(config, _leads(), tmp_path)
    assert run.returncode == 2, run.stderr
    assert "stream 'leads': assignment_rule default, but Lead has no active assignment rule" in (
        run.stderr
    )
    assert not any("/jobs/ingest" in r["path"] for r in emulator.requests)
    assert emulator.records("Lead") == []
