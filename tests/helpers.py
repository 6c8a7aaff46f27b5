"""Shared test helpers: run the target's console script against an emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGET = Path(sys.executable).with_name("target-salesforce-out")

DEMO_CREDENTIALS = {
    "client_id": "emulator-client",
    "client_secret": "emulator-secret",
    "refresh_token": "emulator-refresh-token",
}


SECRET_KEYS = (
    "client_id",
    "client_secret",
    "refresh_token",
    "private_key",
    "password",
    "security_token",
    "access_token",
)


def secret_values(config: dict[str, Any], env: dict[str, str]) -> list[str]:
    """Every secret a run was given, private keys as their base64 lines."""
    values = [str(config[k]) for k in SECRET_KEYS if config.get(k)]
    values += [
        v for k, v in env.items() if k.removeprefix("TARGET_SALESFORCE_OUT_").lower() in SECRET_KEYS
    ]
    found: list[str] = []
    for value in values:
        if "-----BEGIN" in value:
            found += [line for line in value.splitlines() if line and not line.startswith("-----")]
        else:
            found.append(value)
    return found


def assert_no_secrets(config: dict[str, Any], env: dict[str, str], outputs: list[str]) -> None:
    """Fail if any secret value reached stdout, stderr, the report or the dead-letter file."""
    for secret in secret_values(config, env):
        for text in outputs:
            assert secret not in text, "a secret value reached the target's output"


@dataclass
class Run:
    """What one run of the target left behind."""

    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None
    dead_letters: list[dict[str, Any]]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def schema(stream: str, properties: dict[str, Any], key: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": key or [],
    }


def record(stream: str, rec: dict[str, Any]) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": rec}


def state(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "STATE", "value": value}


def base_config(base_url: str, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "domain": base_url,
        **DEMO_CREDENTIALS,
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "report_path": str(tmp_path / "report.json"),
    }
    config.update(overrides)
    return config


def run_target(
    config: dict[str, Any] | None,
    messages: list[dict[str, Any]] | str,
    tmp_path: Path,
    *,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> Run:
    """Pipe ``messages`` into the target's console script and collect its outputs."""
    for name in ("report.json", "dead.jsonl"):
        (tmp_path / name).unlink(missing_ok=True)
    argv = [str(TARGET)]
    if config is not None:
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        argv += ["--config", str(config_path)]
    argv += args or []
    text = (
        messages if isinstance(messages, str) else "".join(json.dumps(m) + "\n" for m in messages)
    )
    proc = subprocess.run(
        argv, input=text.encode(), capture_output=True, timeout=timeout, env=env, check=False
    )
    report_path = tmp_path / "report.json"
    dead_path = tmp_path / "dead.jsonl"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    outputs = [proc.stdout.decode(), proc.stderr.decode()]
    outputs += [p.read_text() for p in (report_path, tmp_path / "dead.jsonl") if p.exists()]
    assert_no_secrets(config or {}, env or {}, outputs)
    dead = (
        # JSONL lines end at "\n" only; str.splitlines would also cut at U+2028 and the like,
        # which JSON strings may hold unescaped.
        [json.loads(line) for line in dead_path.read_text().split("\n") if line]
        if dead_path.exists()
        else []
    )
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode(), report, dead)


CONTACT_PROPS = {
    "contact_ref": {"type": "string"},
    "first_name": {"type": ["string", "null"]},
    "last_name": {"type": ["string", "null"]},
    "email": {"type": ["string", "null"]},
}

CONTACT_STREAM = {
    "sobject": "Contact",
    "external_id_field": "External_Id__c",
    "field_mapping": {"contact_ref": "External_Id__c"},
}


def contacts(n: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [
        record(
            "contacts",
            {
                "contact_ref": f"C-{i}",
                "first_name": f"First{i}",
                "last_name": f"Last{i}",
                "email": f"c{i}@example.com",
                **extra,
            },
        )
        for i in range(start, start + n)
    ]


# Invoice__c (a custom object of the emulator's built-in metadata) with a property per field type.
INVOICE_FIELDS = {
    "number": "Invoice_Number__c",
    "legacy": "Legacy_Number__c",
    "notes": "Notes__c",
    "status": "Status__c",
    "tags": "Tags__c",
    "amount": "Amount__c",
    "quantity": "Quantity__c",
    "lines": "Line_Count__c",
    "tax": "Tax_Rate__c",
    "invoice_date": "Invoice_Date__c",
    "paid_at": "Paid_At__c",
    "is_paid": "Is_Paid__c",
    "email": "Customer_Email__c",
}
INVOICE_PROPS = {
    "number": {"type": "string"},
    "legacy": {"type": ["string", "null"]},
    "notes": {"type": ["string", "null"]},
    "status": {"type": ["string", "null"]},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    "amount": {"type": ["number", "null"]},
    "quantity": {"type": ["number", "null"]},
    "lines": {"type": ["integer", "null"]},
    "tax": {"type": ["number", "null"]},
    "invoice_date": {"type": ["string", "null"], "format": "date"},
    "paid_at": {"type": ["string", "null"], "format": "date-time"},
    "is_paid": {"type": ["boolean", "null"]},
    "email": {"type": ["string", "null"]},
}


def describe_field(name: str, type_: str = "string", **kw: Any) -> Any:
    """A FieldInfo as describe would give it: a plain createable, updateable, nillable field."""
    from target_salesforce_out.describe import FieldInfo

    base: dict[str, Any] = dict(
        name=name,
        label=kw.pop("label", name),
        type=type_,
        createable=True,
        updateable=True,
        nillable=True,
        defaulted_on_create=False,
        external_id=False,
        id_lookup=False,
        unique=False,
        length=0,
        precision=0,
        scale=0,
        digits=0,
        reference_to=(),
        relationship_name=None,
        picklist_values=frozenset(),
        restricted_picklist=False,
        calculated=False,
        custom=name.endswith("__c"),
    )
    base.update(kw)
    return FieldInfo(**base)
