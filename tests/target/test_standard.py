"""singer-sdk's standard target tests against the emulator, each with a validate() of what landed.

Every standard test runs the target in-process (singer-sdk's runner) against a fresh emulator
whose org gains the objects of tests/data/standard_tests_metadata.json. Each test stream is
configured under ``streams`` the way a user would map it: an ``id`` key becomes the external id
``Source_Id__c``, nested objects land as JSON text in long text areas, arrays of picklist values
in multi-select picklists. The suite runs with ``on_record_error: continue``, so an invalid record
must show up in the dead-letter file while the rest of the stream loads.

Where the target deliberately differs from singer-sdk's default behaviour, the test is
overridden and says so: a record without its key property is dead-lettered (the target's policy
for every bad record) instead of raising ``MissingKeyPropertiesError``.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from helpers import DEMO_CREDENTIALS, SECRET_KEYS, assert_no_secrets
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import (
    TargetArrayData,
    TargetCamelcaseComplexSchema,
    TargetCamelcaseTest,
    TargetCliPrintsTest,
    TargetDuplicateRecords,
    TargetEncodedStringData,
    TargetInvalidSchemaTest,
    TargetNoPrimaryKeys,
    TargetOptionalAttributes,
    TargetPrimaryKeyUpdates,
    TargetRecordBeforeSchemaTest,
    TargetRecordMissingKeyProperty,
    TargetRecordMissingOptionalFields,
    TargetRecordMissingRequiredProperty,
    TargetSchemaNoProperties,
    TargetSchemaUpdates,
    TargetSpecialCharsInAttributes,
)

from target_salesforce_out.target import TargetSalesforceOut

METADATA = Path(__file__).resolve().parents[1] / "data" / "standard_tests_metadata.json"
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


def _upsert(sobject: str, key: str = "id", **mapping: str) -> dict[str, Any]:
    """A stream upserted by ``Source_Id__c``, filled from the ``key`` property."""
    return {
        "sobject": sobject,
        "external_id_field": "Source_Id__c",
        "field_mapping": {key: "Source_Id__c", **mapping},
    }


# The singer-sdk test streams, mapped as a user would map them.
STREAMS: dict[str, dict[str, Any]] = {
    "test_array_data": _upsert("Array_Data__c"),
    "TestCamelcase": _upsert("Client_App__c", key="Id"),
    # Rows copied from another org: its audit fields are read-only here, so they go to
    # Source_* custom fields; everything else resolves by name plus __c, except
    # _attribute_startswith_underscore, which only the second SCHEMA has (a mapping for a
    # property a later SCHEMA brings is accepted).
    "ForecastingTypeToCategory": _upsert(
        "Forecasting_Type_Category__c",
        key="Id",
        IsDeleted="Source_Is_Deleted__c",
        CreatedDate="Source_Created_Date__c",
        CreatedById="Source_Created_By_Id__c",
        LastModifiedDate="Source_Last_Modified_Date__c",
        LastModifiedById="Source_Last_Modified_By_Id__c",
        SystemModstamp="Source_System_Modstamp__c",
        _attribute_startswith_underscore="Attribute_Startswith_Underscore__c",
    ),
    "test_duplicate_records": _upsert("Test_Metric__c"),
    "test_strings": _upsert("Encoded_String__c"),
    "test_strings_in_objects": _upsert("Encoded_String_Object__c"),
    "test_strings_in_arrays": _upsert("Encoded_String_Array__c"),
    "test_no_pk": {
        "sobject": "Test_Metric__c",
        "operation": "insert",
        "field_mapping": {"id": "Source_Id__c"},
    },
    "test_optional_attributes": _upsert("Optional_Attribute__c"),
    "record_missing_fields": _upsert("Optional_Attribute__c"),
    "example_stream": _upsert("Example_Person__c"),
    "test_record_before_schema": _upsert("Test_Metric__c"),
    "test_record_missing_key_property": _upsert("Test_Metric__c"),
    "test_record_missing_required_property": _upsert("Test_Metric__c"),
    "test_object_schema_with_properties": {
        "sobject": "Object_Store_Snapshot__c",
        "operation": "insert",
    },
    "test_object_schema_no_properties": {
        "sobject": "Object_Store_Snapshot__c",
        "operation": "insert",
    },
    "test_schema_updates": _upsert("Schema_Update__c"),
    "test:SpecialChars!in?attributes": _upsert("Agent_Event__c", key="_id", d="Details__c"),
}


def standard_config(base_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "domain": base_url,
        **DEMO_CREDENTIALS,
        "streams": STREAMS,
        "on_record_error": "continue",
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "report_path": str(tmp_path / "report.json"),
    }


class ClosingRunner(TargetTestRunner):
    """singer-sdk's runner, keeping each target it creates so its run can be finished.

    A run that reaches the end of its input finishes itself (``Runtime.finish``: report, thread
    pool, HTTP session, dead-letter file); one that fails earlier is finished here. Finishing is
    idempotent, so this also returns the report of a run that finished itself.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.targets: list[TargetSalesforceOut] = []
        self._finished: dict[int, dict[str, Any]] = {}

    def create(self, kwargs: dict | None = None) -> TargetSalesforceOut:
        target = super().create(kwargs)
        self.targets.append(target)
        return target

    def finish(self, target: TargetSalesforceOut) -> dict[str, Any]:
        """The run report of ``target`` (finishing its run once)."""
        if id(target) not in self._finished:
            self._finished[id(target)] = target.runtime.finish("succeeded")
        return self._finished[id(target)]

    def finish_all(self) -> None:
        for target in self.targets:
            self.finish(target)


class EmulatorChecks:
    """What every validate() can look at: the emulator, the run's outputs, the input file."""

    resource: Any
    runner: ClosingRunner
    singer_filepath: Any

    @property
    def emulator(self) -> Any:
        return self.resource

    def stored(self, sobject: str, key: str = "Source_Id__c") -> dict[str, dict[str, Any]]:
        """Records of ``sobject`` by their key field."""
        return {r[key]: r for r in self.emulator.records(sobject)}

    def writes(self) -> list[dict[str, Any]]:
        """Calls that could change data (OAuth logins excluded)."""
        return [
            r
            for r in self.emulator.requests
            if r["method"] in WRITE_METHODS and "/oauth2/" not in r["path"]
        ]

    def dead_letters(self) -> list[dict[str, Any]]:
        path = Path(self.runner.config["dead_letter_path"])
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def report(self) -> dict[str, Any]:
        """The run report of the target that processed the input."""
        return self.runner.finish(self.runner.targets[-1])

    def stream_report(self, stream: str) -> dict[str, int]:
        stats = self.report()["streams"][stream]
        return {k: stats[k] for k in ("received", "created", "updated", "failed")}

    def input_records(self, stream: str) -> list[dict[str, Any]]:
        """The RECORD messages of ``stream`` in this test's singer file."""
        messages = [json.loads(line) for line in self.singer_filepath.read_text().splitlines()]
        return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]

    def assert_clean_outputs(self) -> None:
        """No secret reached the run's stdout/stderr; no record was dead-lettered."""
        outputs = [self.runner.stdout or "", self.runner.stderr or ""]
        assert_no_secrets(self.runner.config, {}, outputs)
        assert self.dead_letters() == []


class ArrayData(EmulatorChecks, TargetArrayData):
    def validate(self) -> None:
        self.assert_clean_outputs()
        stored = self.stored("Array_Data__c")
        assert {k: r["Fruits__c"] for k, r in stored.items()} == {
            "1": "apple;orange;pear",
            "2": "banana;apple",
            "3": "pear",
            "4": "orange;banana;apple;pear",
        }
        assert self.stream_report("test_array_data") == {
            "received": 4,
            "created": 4,
            "updated": 0,
            "failed": 0,
        }
        assert self.runner.state_messages == [{"test_array_data": 4}]


class CamelcaseTest(EmulatorChecks, TargetCamelcaseTest):
    def validate(self) -> None:
        self.assert_clean_outputs()
        # clientName resolves to ClientName__c (property + __c, case-insensitive).
        stored = self.stored("Client_App__c")
        assert {k: r["ClientName__c"] for k, r in stored.items()} == {
            "1": "Gitter Windows Desktop App",
            "2": "Gitter iOS App",
        }
        assert self.stream_report("TestCamelcase")["created"] == 2


class CamelcaseComplexSchema(EmulatorChecks, TargetCamelcaseComplexSchema):
    def validate(self) -> None:
        # Two SCHEMA messages and no RECORD: both schemas must map completely (unmapped
        # properties are an error by default), after a describe and before any write.
        self.assert_clean_outputs()
        paths = [r["path"] for r in self.emulator.requests]
        assert any(p.endswith("/sobjects/Forecasting_Type_Category__c/describe") for p in paths)
        assert self.writes() == []
        assert self.emulator.records("Forecasting_Type_Category__c") == []


class CliPrints(EmulatorChecks, TargetCliPrintsTest):
    def validate(self) -> None:
        out = io.StringIO()
        with redirect_stdout(out):
            self.target.print_about(output_format="json")
        about = json.loads(out.getvalue())
        assert about["name"] == "target-salesforce-out"
        assert {"about", "stream-maps", "schema-flattening"} <= set(about["capabilities"])
        properties = about["settings"]["properties"]
        for key in SECRET_KEYS:
            assert properties[key].get("secret") is True, key
        assert {"domain", "streams", "defaults", "dry_run", "on_record_error"} <= set(properties)
        # Building a target and printing its description contacts nobody.
        assert self.emulator.requests == []


class DuplicateRecords(EmulatorChecks, TargetDuplicateRecords):
    def validate(self) -> None:
        self.assert_clean_outputs()
        # The last record for each key wins; no key is stored twice.
        stored = self.stored("Test_Metric__c")
        assert {k: r["Metric__c"] for k, r in stored.items()} == {"1": 100, "2": 20}
        assert self.stream_report("test_duplicate_records") == {
            "received": 5,
            "created": 2,
            "updated": 3,
            "failed": 0,
        }
        assert self.runner.state_messages == [{"test_duplicate_records": 2}]


class EncodedStringData(EmulatorChecks, TargetEncodedStringData):
    def validate(self) -> None:
        self.assert_clean_outputs()
        # Every string arrives unchanged: non-Latin scripts, quotes, backslashes, newlines,
        # escaped and real control characters.
        strings = self.stored("Encoded_String__c")
        expected = {str(r["id"]): r["info"] for r in self.input_records("test_strings")}
        assert {k: r["Info__c"] for k, r in strings.items()} == expected
        # Objects and arrays of strings are stored as JSON text.
        objects = self.stored("Encoded_String_Object__c")
        expected = {str(r["id"]): r["info"] for r in self.input_records("test_strings_in_objects")}
        assert {k: json.loads(r["Info__c"]) for k, r in objects.items()} == expected
        arrays = self.stored("Encoded_String_Array__c")
        expected = {
            str(r["id"]): r["strings"] for r in self.input_records("test_strings_in_arrays")
        }
        assert {k: json.loads(r["Strings__c"]) for k, r in arrays.items()} == expected
        assert "简单的字串" in strings["3"]["Info__c"]
        assert self.runner.state_messages == [
            {"test_strings": 11, "test_strings_in_objects": 11, "test_strings_in_arrays": 6}
        ]


class InvalidSchema(EmulatorChecks, TargetInvalidSchemaTest):
    def test(self) -> None:
        with pytest.raises(Exception) as caught:  # singer-sdk raises a generic Exception here
            self.runner.sync_all()
        self.error = caught.value

    def validate(self) -> None:
        # A SCHEMA without properties is refused by singer-sdk before the target sees it:
        # nothing is contacted, nothing written.
        assert "properties" in str(self.error)
        assert self.emulator.requests == []


class NoPrimaryKeys(EmulatorChecks, TargetNoPrimaryKeys):
    def validate(self) -> None:
        self.assert_clean_outputs()
        stored = self.stored("Test_Metric__c")
        assert {k: r["Metric__c"] for k, r in stored.items()} == {"1": 11, "2": 22, "3": 33}
        # A stream without keys is inserted: creates only, no upsert by external id.
        writes = self.writes()
        assert writes
        assert all(
            w["method"] == "POST" and w["path"].endswith("/composite/sobjects") for w in writes
        )
        assert self.stream_report("test_no_pk")["created"] == 3
        assert self.runner.state_messages == [{"test_no_pk": 3}]


class OptionalAttributes(EmulatorChecks, TargetOptionalAttributes):
    def validate(self) -> None:
        self.assert_clean_outputs()
        # Record 2 exists before the run (seeded) with Optional__c set: an absent property
        # leaves the field alone; the upsert updates that record instead of adding one.
        stored = self.stored("Optional_Attribute__c")
        assert {k: r["Optional__c"] for k, r in stored.items()} == {
            "1": "This is optional",
            "2": "set before the run",
            "3": "Also optional",
            "4": None,
        }
        assert self.stream_report("test_optional_attributes") == {
            "received": 4,
            "created": 3,
            "updated": 1,
            "failed": 0,
        }
        assert self.runner.state_messages == [{"test_optional_attributes": 4}]


class PrimaryKeyUpdates(EmulatorChecks, TargetPrimaryKeyUpdates):
    def validate(self) -> None:
        self.assert_clean_outputs()
        # A second SCHEMA for the stream (new sink) still loads into the same object.
        stored = self.stored("Example_Person__c")
        assert {k: (r["Name"], r["Email__c"]) for k, r in stored.items()} == {
            "1": ("Alice", "alice@example.com"),
            "2": ("Bob", "bob@example.com"),
        }


class RecordBeforeSchema(EmulatorChecks, TargetRecordBeforeSchemaTest):
    def validate(self) -> None:
        # singer-sdk raised RecordsWithoutSchemaException on the first line: nothing sent.
        assert self.emulator.requests == []
        assert self.emulator.records("Test_Metric__c") == []


class RecordMissingKeyProperty(EmulatorChecks, TargetRecordMissingKeyProperty):
    def test(self) -> None:
        # Deliberate difference from singer-sdk (which raises MissingKeyPropertiesError): a
        # record without its key is rejected like any other bad record, so with
        # on_record_error: continue the run completes and the record is dead-lettered.
        self.runner.sync_all()

    def validate(self) -> None:
        assert self.writes() == []
        assert self.emulator.records("Test_Metric__c") == []
        [dead] = self.dead_letters()
        assert dead["stream"] == "test_record_missing_key_property"
        assert dead["record"] == {"metric": 8214}
        # The key property is the stream's external id: one message for absent, null, "".
        assert dead["errorCode"] == "MISSING_KEY"
        assert "(property 'id' is absent, null or empty)" in dead["message"]
        assert dead["source"] == "target"
        assert self.stream_report("test_record_missing_key_property")["failed"] == 1


class RecordMissingRequiredProperty(EmulatorChecks, TargetRecordMissingRequiredProperty):
    def validate(self) -> None:
        # The record fails its schema ('id' is required): dead-lettered, never sent.
        assert self.writes() == []
        assert self.emulator.records("Test_Metric__c") == []
        [dead] = self.dead_letters()
        assert dead["stream"] == "test_record_missing_required_property"
        assert dead["record"] == {"metric": 3215}
        assert dead["errorCode"] == "INVALID_RECORD"
        assert "'id' is a required property" in dead["message"]
        assert self.stream_report("test_record_missing_required_property")["failed"] == 1


class RecordMissingOptionalFields(EmulatorChecks, TargetRecordMissingOptionalFields):
    def validate(self) -> None:
        self.assert_clean_outputs()
        stored = self.stored("Optional_Attribute__c")
        assert {k: r["Optional__c"] for k, r in stored.items()} == {
            "1": "now you see me",
            "2": "set before the run",
        }
        assert self.stream_report("record_missing_fields") == {
            "received": 2,
            "created": 1,
            "updated": 1,
            "failed": 0,
        }


class SchemaNoProperties(EmulatorChecks, TargetSchemaNoProperties):
    def validate(self) -> None:
        self.assert_clean_outputs()
        # An object property, with or without declared properties, lands as JSON text.
        stored = [
            json.loads(r["Object_Store__c"])
            for r in self.emulator.records("Object_Store_Snapshot__c")
        ]
        assert sorted(stored, key=lambda o: (o["metric"], o["id"])) == [
            {"id": 1, "metric": 1},
            {"id": 2, "metric": 2},
            {"id": 1, "metric": 187},
            {"id": 2, "metric": 203},
        ]


class SchemaUpdates(EmulatorChecks, TargetSchemaUpdates):
    def validate(self) -> None:
        self.assert_clean_outputs()
        stored = self.stored("Schema_Update__c")
        records = self.input_records("test_schema_updates")
        assert sorted(stored) == [str(r["id"]) for r in records]
        for record in records:
            row = stored[str(record["id"])]
            assert row["A1__c"] == record["a1"]
            assert row["A2__c"] == record["a2"]
            # A new record without a3 gets the checkbox default, unchecked.
            assert row["A3__c"] is record.get("a3", False)
            assert (json.loads(row["A4__c"]) if row["A4__c"] else None) == record.get("a4")
            assert row["A5__c"] == (";".join(record["a5"]) if "a5" in record else None)
            assert row["A6__c"] == record.get("a6")
        assert self.runner.state_messages == [{"test_schema_updates": 6}]


class SpecialCharsInAttributes(EmulatorChecks, TargetSpecialCharsInAttributes):
    def validate(self) -> None:
        self.assert_clean_outputs()
        [row] = self.emulator.records("Agent_Event__c")
        assert row["Source_Id__c"] == "a2e98886"
        assert json.loads(row["Details__c"]) == {
            "env": "prod",
            "agent:type": "desktop",
            "agent:os:version": "10.13.1",
        }


SUITE = SingerTestSuite(
    kind="target",
    tests=[
        ArrayData,
        CamelcaseComplexSchema,
        CamelcaseTest,
        CliPrints,
        DuplicateRecords,
        EncodedStringData,
        InvalidSchema,
        NoPrimaryKeys,
        OptionalAttributes,
        PrimaryKeyUpdates,
        RecordBeforeSchema,
        RecordMissingKeyProperty,
        RecordMissingOptionalFields,
        RecordMissingRequiredProperty,
        SchemaNoProperties,
        SchemaUpdates,
        SpecialCharsInAttributes,
    ],
)

StandardTargetTests = get_target_test_class(
    TargetSalesforceOut,
    custom_suites=[SUITE],
    include_target_tests=False,
)


class TestTargetSalesforceOutStandard(StandardTargetTests):
    """The standard suite, one fresh emulator (with the test objects) per test."""

    @pytest.fixture
    def resource(self, salesforce_emulator_factory):
        return salesforce_emulator_factory(metadata=METADATA)

    @pytest.fixture
    def runner(self, resource, tmp_path):
        runner = ClosingRunner(
            TargetSalesforceOut,
            config=standard_config(resource.base_url, tmp_path),
            # TARGET_SALESFORCE_OUT_* variables of the caller must not reach these runs.
            parse_env_config=False,
        )
        yield runner
        runner.finish_all()


def test_the_suite_covers_every_standard_target_test():
    from singer_sdk.testing.suites import target_tests

    covered = {base for cls in SUITE.tests for base in cls.__mro__[1:]}
    assert set(target_tests.tests) <= covered
    assert all("validate" in vars(cls) for cls in SUITE.tests)
