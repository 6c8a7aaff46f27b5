"""The emulator's lock model: a save locks its parent; a parent held elsewhere fails the row.

Held parents come from ``RowLocks.hold`` (another transaction, deterministic), from another
batch of the same job (batches are processed side by side, a lower batch first), or from a
second job processed while the first holds its parents: the first job's single step holds them
for ``record_ms`` x 100 rows (3 s), and the second job is closed as soon as the first is seen
holding them.
"""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from emu_client import Client

from target_salesforce_out.emulator import Emulator, ids

V = "62.0"
LOCK_TEXT = "unable to obtain exclusive access to this record or 1 records: {}"
SCRIPT = Path(sys.executable).with_name("salesforce-emulator")


class Sf(Client):
    """A session with Bulk helpers: run a job to its end and read its results."""

    def __init__(self, emulator: Any) -> None:
        super().__init__(emulator, V)
        self.jobs = f"{self.data}/jobs/ingest"

    def open_job(self, csv_text: str, operation: str = "insert") -> str:
        spec = {"object": "Contact", "operation": operation, "lineEnding": "LF"}
        job_id = str(self.post(self.jobs, json=spec).json()["id"])
        upload = self.request(
            "PUT",
            f"{self.jobs}/{job_id}/batches",
            data=csv_text.encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert upload.status_code == 201, upload.text
        return job_id

    def close_job(self, job_id: str) -> None:
        closed = self.patch(f"{self.jobs}/{job_id}", json={"state": "UploadComplete"})
        assert closed.status_code == 200, closed.text

    def finish(self, job_id: str) -> list[dict[str, str]]:
        """Wait for the job to end; its failed rows (``sf__Error`` and the echoed cells)."""
        while True:
            info = self.get(f"{self.jobs}/{job_id}").json()
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                break
            time.sleep(0.05)
        assert info["state"] == "JobComplete", info
        text = self.get(f"{self.jobs}/{job_id}/failedResults").text
        return list(csv.DictReader(io.StringIO(text)))

    def run_job(self, csv_text: str) -> list[dict[str, str]]:
        job_id = self.open_job(csv_text)
        self.close_job(job_id)
        return self.finish(job_id)


def accounts(sf: Sf, n: int) -> list[str]:
    return [sf.create("Account", Name=f"Acct {i}", External_Id__c=f"A-{i}") for i in range(n)]


def contacts_csv(parents: list[str], rows: int, column: str = "AccountId", start: int = 0) -> str:
    """``rows`` contacts whose parents take turns (row i has parent i mod len(parents))."""
    lines = [f"LastName,{column}"]
    lines += [f"C{start + i},{parents[i % len(parents)]}" for i in range(rows)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def locked(salesforce_emulator_factory: Any) -> Emulator:
    emulator: Emulator = salesforce_emulator_factory(lock_model=True)
    return emulator


@pytest.mark.parametrize(
    ("column", "by_external_id"),
    [
        pytest.param("AccountId", False, id="reference-field-by-id"),
        pytest.param("Account.External_Id__c", True, id="relationship-by-external-id"),
    ],
)
def test_bulk_row_fails_on_a_held_parent(
    locked: Emulator, column: str, by_external_id: bool
) -> None:
    sf = Sf(locked)
    held, free = accounts(sf, 2)
    parents = ["A-0", "A-1"] if by_external_id else [held, free]
    with locked.app.backend.locks.hold([held]):
        failed = sf.run_job(contacts_csv(parents, 10, column))
    assert len(failed) == 5
    assert {row["LastName"] for row in failed} == {f"C{i}" for i in range(0, 10, 2)}
    error = f"UNABLE_TO_LOCK_ROW:{LOCK_TEXT.format(held)}:--"
    assert {row["sf__Error"] for row in failed} == {error}
    saved = {c["LastName"]: c["AccountId"] for c in locked.records("Contact")}
    assert saved == {f"C{i}": free for i in range(1, 10, 2)}


def test_collections_record_fails_on_a_held_parent(locked: Emulator) -> None:
    sf = Sf(locked)
    held, free = accounts(sf, 2)
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Contact"}, "LastName": "Held", "AccountId": held},
            {"attributes": {"type": "Contact"}, "LastName": "Free", "AccountId": free},
        ],
    }
    with locked.app.backend.locks.hold([held]):
        results = sf.post("/composite/sobjects", json=body).json()
    assert results[0] == {
        "success": False,
        "errors": [
            {"statusCode": "UNABLE_TO_LOCK_ROW", "message": LOCK_TEXT.format(held), "fields": []}
        ],
    }
    assert results[1]["success"] is True
    # The call's own locks end with it.
    assert locked.app.backend.locks.held() == 0


def test_lock_model_is_off_by_default(salesforce_emulator: Emulator) -> None:
    sf = Sf(salesforce_emulator)
    held, free = accounts(sf, 2)
    with salesforce_emulator.app.backend.locks.hold([held]):
        assert sf.run_job(contacts_csv([held, free], 10)) == []


@pytest.mark.parametrize(
    ("sorted_by_parent", "failures"),
    [
        # Both batches hold children of both accounts: the second batch's first chunk finds
        # them locked by the first batch's, which runs beside it.
        pytest.param(False, 100, id="parents-interleaved"),
        # Each account's children in one batch: the batches share no parent.
        pytest.param(True, 0, id="parents-grouped"),
    ],
)
def test_batches_of_one_job_contend_for_shared_parents(
    locked: Emulator, sorted_by_parent: bool, failures: int
) -> None:
    locked.app.bulk.batch_rows = 100
    sf = Sf(locked)
    parents = accounts(sf, 2)
    if sorted_by_parent:
        lines = [f"C{i},{parents[i // 100]}" for i in range(200)]
        data = "LastName,AccountId\n" + "\n".join(lines) + "\n"
    else:
        data = contacts_csv(parents, 200)
    failed = sf.run_job(data)
    assert len(failed) == failures
    assert all(row["sf__Error"].startswith("UNABLE_TO_LOCK_ROW:") for row in failed)
    # The lower batch wins: every failed row is in the second batch.
    assert all(int(row["LastName"][1:]) >= 100 for row in failed)
    assert len(locked.records("Contact")) == 200 - failures


@pytest.mark.parametrize(
    ("shared", "failures"),
    [
        pytest.param(True, 100, id="same-parents"),
        pytest.param(False, 0, id="other-parents"),
    ],
)
def test_jobs_processed_together_contend_for_shared_parents(
    salesforce_emulator_factory: Any, shared: bool, failures: int
) -> None:
    emulator: Emulator = salesforce_emulator_factory(lock_model=True, record_ms=30)
    sf = Sf(emulator)
    parents = accounts(sf, 10)
    first = sf.open_job(contacts_csv(parents[:5], 100))
    second = sf.open_job(contacts_csv(parents[:5] if shared else parents[5:], 100, start=100))
    sf.close_job(first)
    locks = emulator.app.backend.locks
    while locks.held() == 0:  # the first job's step has taken its parents
        time.sleep(0.005)
    sf.close_job(second)
    assert sf.finish(first) == []
    failed = sf.finish(second)
    assert len(failed) == failures
    texts = {f"UNABLE_TO_LOCK_ROW:{LOCK_TEXT.format(ids.normalize(p))}:--" for p in parents[:5]}
    assert {row["sf__Error"] for row in failed} <= texts


def test_cli_lock_model_flag() -> None:
    process = subprocess.Popen(
        [str(SCRIPT), "--port", "0", "--lock-model"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        session = requests.Session()
        token = session.post(
            f"{url}/services/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": "emulator-client",
                "client_secret": "emulator-secret",
                "refresh_token": "emulator-refresh-token",
            },
            timeout=10,
        ).json()["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        data = f"{url}/services/data/v{V}"
        parents = [
            session.post(f"{data}/sobjects/Account", json={"Name": f"A{i}"}, timeout=10).json()[
                "id"
            ]
            for i in range(2)
        ]
        # 10,200 rows: two batches (10,000 and 200) processed side by side; the second's
        # only chunk finds both parents locked by the first's first chunk.
        spec = {"object": "Contact", "operation": "insert", "lineEnding": "LF"}
        job_id = session.post(f"{data}/jobs/ingest", json=spec, timeout=10).json()["id"]
        session.put(
            f"{data}/jobs/ingest/{job_id}/batches",
            data=contacts_csv(parents, 10_200).encode(),
            headers={"Content-Type": "text/csv"},
            timeout=30,
        )
        session.patch(f"{data}/jobs/ingest/{job_id}", json={"state": "UploadComplete"}, timeout=10)
        while True:
            info = session.get(f"{data}/jobs/ingest/{job_id}", timeout=10).json()
            if info["state"] in ("JobComplete", "Failed"):
                break
            time.sleep(0.1)
        assert info["state"] == "JobComplete"
        assert info["numberRecordsFailed"] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
