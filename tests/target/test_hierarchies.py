"""Self-referencing streams (Account.Parent, Contact.ReportsTo) load level by level.

Each run sends a three-level hierarchy children first: leaves, then their parents, then the
roots, in small batches so that leaves are drained long before their parents arrive. Every
record must land with the Id of its parent, over REST and Bulk; a parent that is neither in the
run nor in the org dead-letters its child (and that child's own children) with MISSING_PARENT.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import Run, base_config, record, run_target, schema, state

from target_salesforce_out.emulator.schema import builtin_metadata
from target_salesforce_out.target import TargetSalesforceOut

# (stream, object, relationship path, name property and field) of the two hierarchies.
HIERARCHIES = {
    "Account": ("accounts", "Parent.External_Id__c", "Name"),
    "Contact": ("contacts", "ReportsTo.External_Id__c", "LastName"),
}
PROPS = {
    "ref": {"type": "string"},
    "name": {"type": "string"},
    "parent": {"type": ["string", "null"]},
}


def _stream(sobject: str, api: str) -> dict[str, Any]:
    _, path, name = HIERARCHIES[sobject]
    return {
        "sobject": sobject,
        "api": api,
        "external_id_field": "External_Id__c",
        "field_mapping": {"ref": "External_Id__c", "name": name, "parent": path},
        # Several drains before the roots arrive: leaves wait while their parents are unknown.
        "batch_size": 3,
    }


def _tree() -> list[tuple[str, str | None]]:
    """(key, parent key): 2 roots, 4 middles, 8 leaves; leaves first, roots last."""
    roots = [(f"R-{i}", None) for i in range(2)]
    middles = [(f"M-{i}", f"R-{i % 2}") for i in range(4)]
    leaves = [(f"L-{i}", f"M-{i % 4}") for i in range(8)]
    return leaves + middles + roots


def _messages(sobject: str, rows: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
    stream = HIERARCHIES[sobject][0]
    return [schema(stream, PROPS, ["ref"])] + [
        record(stream, {"ref": key, "name": f"N {key}", "parent": parent}) for key, parent in rows
    ]


def _run(emulator: Any, tmp_path: Any, sobject: str, api: str, rows: Any) -> Run:
    stream = HIERARCHIES[sobject][0]
    config = base_config(
        emulator.base_url,
        tmp_path,
        streams={stream: _stream(sobject, api)},
        on_record_error="continue",
        max_concurrency=2,
    )
    return run_target(config, _messages(sobject, rows), tmp_path)


def _parents(emulator: Any, sobject: str) -> dict[str, str | None]:
    """Each stored record's key -> its parent's key, read back through the stored Ids."""
    field = "ParentId" if sobject == "Account" else "ReportsToId"
    stored = emulator.records(sobject)
    by_id = {r["Id"]: r["External_Id__c"] for r in stored}
    return {r["External_Id__c"]: by_id.get(r[field]) for r in stored if r["External_Id__c"]}


def _balanced(counts: dict[str, Any]) -> bool:
    other = ("created", "updated", "failed", "not_sent", "outcome_unknown")
    return counts["received"] == sum(counts[c] for c in other)


APIS = [pytest.param("rest", id="rest"), pytest.param("bulk", id="bulk")]
OBJECTS = [pytest.param("Account", id="account-parent"), pytest.param("Contact", id="reports-to")]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("sobject", OBJECTS)
def test_children_sent_first_land_under_their_parents(
    salesforce_emulator: Any, tmp_path: Any, sobject: str, api: str
) -> None:
    rows = _tree()
    run = _run(salesforce_emulator, tmp_path, sobject, api, rows)
    assert run.returncode == 0, run.stderr
    assert _parents(salesforce_emulator, sobject) == dict(rows)
    counts = run.report["streams"][HIERARCHIES[sobject][0]]
    assert (counts["created"], counts["failed"]) == (14, 0)
    step = run.report["plan"][0]
    assert step["levels_by"] == [HIERARCHIES[sobject][1]]
    assert step["missing_parent"] == 0


@pytest.mark.parametrize("api", APIS)
def test_a_parent_in_neither_the_run_nor_the_org_dead_letters_its_children(
    salesforce_emulator: Any, tmp_path: Any, api: str
) -> None:
    rows = [("L-1", "M-1"), ("M-1", "NOPE-1"), ("L-2", "R-1"), ("R-1", None)]
    run = _run(salesforce_emulator, tmp_path, "Account", api, rows)
    assert run.returncode == 0, run.stderr
    assert _parents(salesforce_emulator, "Account") == {"L-2": "R-1", "R-1": None}
    lines = {line["record"]["ref"]: line for line in run.dead_letters}
    assert {k: v["errorCode"] for k, v in lines.items()} == {
        "M-1": "MISSING_PARENT",
        "L-1": "MISSING_PARENT",
    }
    missing = lines["M-1"]["message"]
    assert "stream 'accounts'" in missing
    assert "External_Id__c='M-1'" in missing
    assert "Parent.External_Id__c='NOPE-1'" in missing
    assert "neither in this run nor in the org" in missing
    assert "'M-1'" in lines["L-1"]["message"]
    assert "was in this run but was not written" in lines["L-1"]["message"]
    counts = run.report["streams"]["accounts"]
    assert (counts["created"], counts["failed"]) == (2, 2)
    assert _balanced(counts)
    assert run.report["plan"][0]["missing_parent"] == 2


@pytest.mark.parametrize("api", APIS)
def test_a_parent_in_the_org_only_is_found_by_its_external_id(
    salesforce_emulator_factory: Any, tmp_path: Any, api: str
) -> None:
    account = {
        **builtin_metadata()["objects"]["Account"],
        "rows": [{"Name": "Old parent", "External_Id__c": "ORG-1"}],
    }
    emulator = salesforce_emulator_factory(metadata={"objects": {"Account": account}})
    # L-1's parent comes later in the run; M-1's parent exists in the org only.
    rows = [("L-1", "M-1"), ("L-2", "ORG-1"), ("M-1", "ORG-1")]
    run = _run(emulator, tmp_path, "Account", api, rows)
    assert run.returncode == 0, run.stderr
    assert _parents(emulator, "Account") == {**dict(rows), "ORG-1": None}
    counts = run.report["streams"]["accounts"]
    assert (counts["created"], counts["failed"]) == (3, 0)


@pytest.mark.parametrize("api", APIS)
def test_a_replay_updates_the_same_records(
    salesforce_emulator: Any, tmp_path: Any, api: str
) -> None:
    rows = _tree()
    first = _run(salesforce_emulator, tmp_path, "Account", api, rows)
    second = _run(salesforce_emulator, tmp_path, "Account", api, rows)
    assert first.returncode == second.returncode == 0, second.stderr
    assert len(salesforce_emulator.records("Account")) == len(rows)
    assert _parents(salesforce_emulator, "Account") == dict(rows)
    counts = second.report["streams"]["accounts"]
    assert (counts["created"], counts["updated"], counts["failed"]) == (0, 14, 0)


@pytest.mark.parametrize("api", APIS)
def test_a_loop_of_parents_is_dead_lettered(
    salesforce_emulator: Any, tmp_path: Any, api: str
) -> None:
    rows = [("A-1", "A-2"), ("A-2", "A-1"), ("A-3", "A-3"), ("B-1", None)]
    run = _run(salesforce_emulator, tmp_path, "Account", api, rows)
    assert run.returncode == 0, run.stderr
    codes = {line["record"]["ref"]: line["errorCode"] for line in run.dead_letters}
    assert codes == dict.fromkeys(("A-1", "A-2", "A-3"), "HIERARCHY_CYCLE")
    assert _parents(salesforce_emulator, "Account") == {"B-1": None}
    assert _balanced(run.report["streams"]["accounts"])


@pytest.mark.parametrize("api", APIS)
def test_a_later_version_of_a_held_record_is_written_after_it(
    salesforce_emulator: Any, tmp_path: Any, api: str
) -> None:
    # M-1 waits for R-1; its second version (a root, no parent) must still land last.
    rows = [("M-1", "R-1"), ("M-1", None), ("R-1", None)]
    run = _run(salesforce_emulator, tmp_path, "Account", api, rows)
    assert run.returncode == 0, run.stderr
    assert _parents(salesforce_emulator, "Account") == {"M-1": None, "R-1": None}
    counts = run.report["streams"]["accounts"]
    assert (counts["created"], counts["updated"], counts["failed"]) == (2, 1, 0)


def test_the_plan_is_logged_and_reported(salesforce_emulator: Any, tmp_path: Any) -> None:
    run = _run(salesforce_emulator, tmp_path, "Account", "rest", _tree())
    assert run.returncode == 0, run.stderr
    assert (
        "plan 1: accounts -> Account (rest): write; level by level on Parent.External_Id__c"
        in run.stderr
    )
    (step,) = run.report["plan"]
    assert step["stream"] == "accounts"
    assert step["sobject"] == "Account"
    assert step["pass"] == "write"
    assert step["deferred"] == []
    assert step["held"] > 0
    assert sum(step["levels"]) == step["held"]
    assert step["written"] == 14


def _states(out: str) -> list[Any]:
    """The STATE values the target wrote (singer-sdk writes each value as one JSON line)."""
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_state_waits_until_held_records_are_written(
    salesforce_emulator: Any, tmp_path: Any, capfd: Any
) -> None:
    """A full drain (as every state_interval_seconds) emits no STATE over held records."""
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={"accounts": _stream("Account", "rest")},
    )
    target = TargetSalesforceOut(config=config)
    rows = _tree()
    target._process_schema_message(schema("accounts", PROPS, ["ref"]))
    for n, (key, parent) in enumerate(rows[:-2]):  # all but the roots
        target._process_record_message(
            record("accounts", {"ref": key, "name": f"N {key}", "parent": parent})
        )
        target._process_state_message(state({"position": n}))
    target.drain_all()
    assert _states(capfd.readouterr().out) == []  # the leaves and middles wait for the roots
    for key, parent in rows[-2:]:
        target._process_record_message(
            record("accounts", {"ref": key, "name": f"N {key}", "parent": parent})
        )
    target.process_endofpipe()
    assert _states(capfd.readouterr().out) == [{"position": len(rows) - 3}]
    assert _parents(salesforce_emulator, "Account") == dict(rows)
