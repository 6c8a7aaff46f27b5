"""The load plan (target_salesforce_out.planner): order, where a cycle is cut, the printed steps."""

from __future__ import annotations

import pytest

from target_salesforce_out.planner import Node, Reference, build_plan


def _ref(column: str, parent: str, *, deferrable: bool = True, custom: bool = False) -> Reference:
    field = column.split(".", 1)[0].replace("__r", "__c")
    return Reference(column, field, parent, "External_Id__c", deferrable, custom)


def _node(stream: str, sobject: str, *refs: Reference, has_key: bool = True) -> Node:
    return Node(stream, sobject, "rest", refs, has_key)


PRIMARY = _ref("Primary_Contact__r.External_Id__c", "Contact", custom=True)
ACCOUNT = _ref("Account.External_Id__c", "Account")


@pytest.mark.parametrize(
    ("nodes", "order", "deferred"),
    [
        pytest.param(
            [_node("contacts", "Contact", ACCOUNT), _node("accounts", "Account")],
            ["accounts", "contacts"],
            {},
            id="parents-first",
        ),
        pytest.param(
            [_node("contacts", "Contact", ACCOUNT), _node("accounts", "Account", PRIMARY)],
            ["accounts", "contacts"],
            {"accounts": ("Primary_Contact__r.External_Id__c",)},
            id="cycle-cut-at-the-custom-lookup",
        ),
        pytest.param(
            [
                _node(
                    "contacts", "Contact", _ref("Account.External_Id__c", "Account", custom=True)
                ),
                _node("accounts", "Account", _ref("Primary_Contact__r.X", "Contact", custom=True)),
            ],
            ["contacts", "accounts"],
            {"contacts": ("Account.External_Id__c",)},
            id="tie-cut-at-the-earlier-stream",
        ),
        pytest.param(
            [
                _node("contacts", "Contact", ACCOUNT),
                _node(
                    "accounts",
                    "Account",
                    _ref("Primary_Contact__r.External_Id__c", "Contact", deferrable=False),
                ),
            ],
            ["contacts", "accounts"],
            {"contacts": ("Account.External_Id__c",)},
            id="a-required-lookup-is-never-cut",
        ),
        pytest.param(
            [
                _node("contacts", "Contact", ACCOUNT),
                _node("accounts", "Account", PRIMARY, has_key=False),
            ],
            ["contacts", "accounts"],
            {"contacts": ("Account.External_Id__c",)},
            id="a-stream-without-a-key-is-never-cut",
        ),
        pytest.param(
            [_node("accounts", "Account", _ref("Parent.External_Id__c", "Account"))],
            ["accounts"],
            {},
            id="a-self-reference-is-no-cycle",
        ),
    ],
)
def test_order_and_cut(
    nodes: list[Node], order: list[str], deferred: dict[str, tuple[str, ...]]
) -> None:
    plan = build_plan(nodes)
    assert [nodes[i].stream for i in plan.order] == order
    assert {nodes[i].stream: cols for i, cols in plan.deferred.items()} == deferred


def test_a_cycle_that_cannot_be_cut_keeps_arrival_order_and_says_so() -> None:
    fixed = _ref("Account.External_Id__c", "Account", deferrable=False)
    nodes = [
        _node("contacts", "Contact", fixed),
        _node("accounts", "Account", _ref("Primary_Contact__r.X", "Contact", deferrable=False)),
    ]
    plan = build_plan(nodes)
    assert [nodes[i].stream for i in plan.order] == ["contacts", "accounts"]
    assert plan.deferred == {}
    assert "contacts -> accounts look each other up" in plan.lines()[-1]


def test_steps_list_both_passes_in_order() -> None:
    nodes = [
        _node("accounts", "Account", PRIMARY, _ref("Parent.External_Id__c", "Account")),
        _node("contacts", "Contact", ACCOUNT),
    ]
    nodes[0] = Node(
        "accounts", "Account", "bulk", nodes[0].references, True, ("Parent.External_Id__c",)
    )
    plan = build_plan(nodes)
    assert plan.steps() == [
        {
            "stream": "accounts",
            "sobject": "Account",
            "api": "bulk",
            "pass": "write",
            "deferred": ["Primary_Contact__r.External_Id__c"],
            "levels_by": ["Parent.External_Id__c"],
            "step": 1,
        },
        {
            "stream": "contacts",
            "sobject": "Contact",
            "api": "rest",
            "pass": "write",
            "deferred": [],
            "step": 2,
        },
        {
            "stream": "accounts",
            "sobject": "Account",
            "api": "bulk",
            "pass": "set_lookups",
            "fields": ["Primary_Contact__r.External_Id__c"],
            "step": 3,
        },
    ]
    assert plan.lines() == [
        "plan 1: accounts -> Account (bulk): write without Primary_Contact__r.External_Id__c "
        "(set in a second pass); level by level on Parent.External_Id__c",
        "plan 2: contacts -> Contact (rest): write",
        "plan 3: accounts -> Account (bulk): second pass sets Primary_Contact__r.External_Id__c",
    ]
