"""The operations table (target_salesforce_out.operations): every fact of every operation.

One row per operation states what the rest of the target reads from the table; a change to a
fact fails here first, naming the operation.
"""

from __future__ import annotations

from typing import Any

import pytest

from target_salesforce_out.config_checks import cross_setting_problems
from target_salesforce_out.describe import ObjectInfo
from target_salesforce_out.operations import Operation
from target_salesforce_out.reporting import Count
from target_salesforce_out.settings import CONFIG_SCHEMA

# operation: (bulk name, creates, updates, deletes, sends fields, needs key, default key,
#             finds by key, REST, describe flags that must be true)
FACTS = [
    pytest.param(
        Operation.INSERT,
        ("insert", True, False, False, True, False, None, False, True, {"createable"}),
        id="insert",
    ),
    pytest.param(
        Operation.UPDATE,
        ("update", False, True, False, True, True, "Id", False, True, {"updateable"}),
        id="update",
    ),
    pytest.param(
        Operation.UPSERT,
        ("upsert", True, True, False, True, True, None, True, True, {"createable", "updateable"}),
        id="upsert",
    ),
    pytest.param(
        Operation.DELETE,
        ("delete", False, False, True, False, True, "Id", False, True, {"deletable"}),
        id="delete",
    ),
    pytest.param(
        Operation.HARD_DELETE,
        ("hardDelete", False, False, True, False, True, "Id", False, False, {"deletable"}),
        id="hard_delete",
    ),
]


def _object(**flags: bool) -> ObjectInfo:
    return ObjectInfo(
        name="Thing__c",
        label="Thing",
        label_plural="Things",
        key_prefix="a00",
        createable=flags.get("createable", False),
        updateable=flags.get("updateable", False),
        deletable=flags.get("deletable", False),
        queryable=True,
        fields={},
        relationships={},
    )


@pytest.mark.parametrize(("op", "facts"), FACTS)
def test_facts_of_each_operation(op: Operation, facts: tuple[Any, ...]) -> None:
    bulk, creates, updates, deletes, sends, needs_key, default_key, by_key, rest, _ = facts
    assert op.bulk_name == bulk
    assert (op.creates, op.updates, op.deletes) == (creates, updates, deletes)
    assert op.sends_fields is sends
    assert op.needs_required_fields is creates
    assert (op.needs_key, op.default_key, op.finds_by_key) == (needs_key, default_key, by_key)
    assert op.rest is rest


@pytest.mark.parametrize(("op", "facts"), FACTS)
def test_describe_flags_that_allow_each_operation(op: Operation, facts: tuple[Any, ...]) -> None:
    needed = facts[-1]
    everything = {"createable": True, "updateable": True, "deletable": True}
    assert op.allowed_on(_object(**everything))
    for flag in everything:
        assert op.allowed_on(_object(**{**everything, flag: False})) is (flag not in needed)


@pytest.mark.parametrize(
    ("op", "created", "counted"),
    [
        pytest.param(Operation.INSERT, True, Count.CREATED, id="insert"),
        pytest.param(Operation.INSERT, False, Count.CREATED, id="insert-result-silent"),
        pytest.param(Operation.UPDATE, False, Count.UPDATED, id="update"),
        pytest.param(Operation.UPSERT, True, Count.CREATED, id="upsert-created"),
        pytest.param(Operation.UPSERT, False, Count.UPDATED, id="upsert-updated"),
        pytest.param(Operation.DELETE, False, Count.DELETED, id="delete"),
        pytest.param(Operation.HARD_DELETE, False, Count.DELETED, id="hard_delete"),
    ],
)
def test_counter_of_a_written_record(op: Operation, created: bool, counted: Count) -> None:
    assert op.outcome(created=created) is counted


@pytest.mark.parametrize(
    ("op", "exists", "counted"),
    [
        pytest.param(Operation.INSERT, False, Count.WOULD_CREATE, id="insert-new"),
        pytest.param(Operation.INSERT, True, Count.WOULD_CREATE, id="insert-existing"),
        pytest.param(Operation.UPDATE, True, Count.WOULD_UPDATE, id="update-existing"),
        pytest.param(Operation.UPDATE, False, None, id="update-missing-not-found"),
        pytest.param(Operation.UPSERT, True, Count.WOULD_UPDATE, id="upsert-existing"),
        pytest.param(Operation.UPSERT, False, Count.WOULD_CREATE, id="upsert-new"),
        pytest.param(Operation.DELETE, True, Count.WOULD_DELETE, id="delete-existing"),
        pytest.param(Operation.DELETE, False, None, id="delete-missing-not-found"),
        pytest.param(Operation.HARD_DELETE, True, Count.WOULD_DELETE, id="hard-delete-existing"),
        pytest.param(Operation.HARD_DELETE, False, None, id="hard-delete-missing"),
    ],
)
def test_dry_run_counter(op: Operation, exists: bool, counted: Count | None) -> None:
    assert op.dry_run_count(exists=exists) is counted


@pytest.mark.parametrize(
    ("op", "key", "created"),
    [
        pytest.param(Operation.UPSERT, "Id", True, id="upsert-by-id"),
        pytest.param(Operation.UPSERT, "External_Id__c", False, id="upsert-by-external-id"),
        pytest.param(Operation.INSERT, "Id", False, id="insert"),
        pytest.param(Operation.UPDATE, "Id", False, id="update"),
        pytest.param(Operation.DELETE, "Id", False, id="delete"),
    ],
)
def test_a_record_without_its_key_is_created_only_by_upsert_by_id(
    op: Operation, key: str, created: bool
) -> None:
    assert op.creates_without(key) is created


def test_the_setting_accepts_exactly_the_operations() -> None:
    stream = CONFIG_SCHEMA["properties"]["defaults"]["properties"]["operation"]
    assert set(stream["enum"]) == {op.value for op in Operation}
    # The report and the dead-letter file show the setting's own text.
    assert [str(op) for op in Operation] == [op.value for op in Operation]
    assert Operation("hard_delete") is Operation.HARD_DELETE


@pytest.mark.parametrize("op", [pytest.param(op, id=op.value) for op in Operation])
def test_settings_refuse_over_rest_exactly_the_operations_rest_cannot_do(op: Operation) -> None:
    config = {"defaults": {"operation": op.value, "api": "rest"}}
    refused = any("needs api bulk" in p for p in cross_setting_problems(config))
    assert refused is not op.rest
