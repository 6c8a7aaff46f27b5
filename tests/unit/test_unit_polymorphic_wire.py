"""The Collections JSON of a polymorphic lookup path: the parent's ``attributes.type`` nested."""

from __future__ import annotations

import json

import pytest

from target_salesforce_out.wire import encode_record


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"Contact:Who.External_Id__c": "C-1"},
            {"Who": {"attributes": {"type": "Contact"}, "External_Id__c": "C-1"}},
            id="polymorphic",
        ),
        pytest.param(
            {"Account.External_Id__c": "A-1"},
            {"Account": {"External_Id__c": "A-1"}},
            id="single-target",
        ),
        pytest.param({"WhoId": None}, {"WhoId": None}, id="null-clears-the-field"),
    ],
)
def test_lookup_paths_nest(fields, expected):
    body = json.loads(encode_record("Task", fields))
    assert body == {"attributes": {"type": "Task"}, **expected}
