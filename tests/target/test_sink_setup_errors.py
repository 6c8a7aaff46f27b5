"""A stream whose sink cannot be set up ends the run as a configuration error, cleanly.

Only sinks that were fully created take part in the run's ordering, its end (records without
an outcome are accounted for) and a stop (open Bulk jobs are aborted); a sink that failed half
way through its set-up is not asked to do any of that.
"""

from __future__ import annotations

import pytest
from helpers import CONTACT_PROPS, base_config, record, run_target, schema


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        pytest.param(
            {"api": "bulk", "operation": "update", "match_fields": ["Email"]},
            "match_fields is not supported with api: bulk",
            id="bulk-with-match-fields",
        ),
        pytest.param(
            {"api": "bulk", "operation": "upsert", "external_id_field": "Nope__c"},
            "external_id_field 'Nope__c' is not a field of Contact",
            id="bulk-with-unknown-key",
        ),
    ],
)
def test_a_sink_that_fails_its_setup_ends_with_exit_2_and_no_traceback(
    salesforce_emulator, tmp_path, stream, message
):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={
            "contacts": {
                "sobject": "Contact",
                "field_mapping": {"contact_ref": "External_Id__c"},
                **stream,
            }
        },
    )
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        record("contacts", {"contact_ref": "C-1", "last_name": "Doe", "email": "d@x.org"}),
    ]
    result = run_target(config, messages, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert result.report is not None
    assert result.report["status"] == "failed"
    assert result.stdout.strip() == ""  # no STATE
