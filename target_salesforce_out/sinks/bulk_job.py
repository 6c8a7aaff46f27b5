"""Bulk API 2.0 ingest job calls: create, upload, close, poll, results, abort (salesforce-api.md 7).

Every call goes through :class:`~target_salesforce_out.client.SalesforceClient`, so retries,
re-authentication and API accounting are the same as for REST. A job costs a handful of calls
whatever its size: create, upload, close, a few polls with backoff, three result downloads.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from target_salesforce_out.client import SalesforceClient
from target_salesforce_out.errors import SalesforceOutError

LOGGER = logging.getLogger("target_salesforce_out.bulk")
TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
RESULT_KINDS = ("successfulResults", "failedResults", "unprocessedrecords")
_UPLOAD_BLOCK = 1024 * 1024
_DOWNLOAD_BLOCK = 1024 * 1024


class BulkJobError(SalesforceOutError):
    """A job ended without processing all of its rows; carries the job's ``errorMessage``."""

    def __init__(self, job_id: str, state: str, error_message: str, text: str) -> None:
        """Keep the job id, its state and Salesforce's job-level message."""
        self.job_id = job_id
        self.state = state
        self.error_message = error_message
        super().__init__(text)


class BulkJobFailedError(BulkJobError):
    """The job ended ``Failed`` (some rows may have been committed; see the report)."""


class BulkJobAbortedError(BulkJobError):
    """The job was aborted (by this run when it was interrupted, or by someone in the org)."""


class BulkJobTimeoutError(BulkJobError):
    """The job did not reach a terminal state in time; it was aborted."""


class ReplayableUpload:
    """A file body for ``requests`` that starts from its first byte on every attempt.

    ``requests`` streams any object with ``read`` and takes the Content-Length from
    ``len()``; it asks for the length before each send, so rewinding there makes a retried
    PUT send the whole file again instead of an empty body.
    """

    def __init__(self, path: Path) -> None:
        """Open ``path`` for reading."""
        self._file = path.open("rb")
        self._size = path.stat().st_size

    def __len__(self) -> int:
        """The file size; rewinds for the attempt about to be sent."""
        self._file.seek(0)
        return self._size

    def read(self, size: int = -1) -> bytes:
        """The next block of the file."""
        return self._file.read(_UPLOAD_BLOCK if size is None or size < 0 else size)

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def create_job(
    client: SalesforceClient, sobject: str, operation: str, external_id: str | None
) -> dict[str, Any]:
    """``POST /jobs/ingest``: a comma-delimited, LF-terminated CSV job (7.2)."""
    spec: dict[str, Any] = {
        "object": sobject,
        "operation": operation,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    if external_id is not None:
        spec["externalIdFieldName"] = external_id
    body = json.dumps(spec).encode()
    # Safe to send again: a lost answer may have created a job, but an empty Open job that
    # nothing uploads to or closes never writes a record (Salesforce removes it after 7 days).
    response = client.request("POST", "/jobs/ingest", body=body)
    return cast("dict[str, Any]", response.json())


def upload(client: SalesforceClient, job_id: str, path: Path) -> None:
    """``PUT .../batches`` once, streaming the CSV file from disk (7.3)."""
    data = ReplayableUpload(path)
    try:
        # client.request hands the body to requests unchanged; requests streams file objects.
        client.request("PUT", f"/jobs/ingest/{job_id}/batches", body=data, content_type="text/csv")
    finally:
        data.close()


def set_state(client: SalesforceClient, job_id: str, state: str) -> dict[str, Any]:
    """``PATCH /jobs/ingest/{id}`` to ``UploadComplete`` or ``Aborted`` (7.4)."""
    body = json.dumps({"state": state}).encode()
    response = client.request("PATCH", f"/jobs/ingest/{job_id}", body=body)
    return cast("dict[str, Any]", response.json())


def job_info(client: SalesforceClient, job_id: str) -> dict[str, Any]:
    """``GET /jobs/ingest/{id}`` (7.5)."""
    return cast("dict[str, Any]", client.get_json(f"/jobs/ingest/{job_id}"))


def wait_for_terminal(
    client: SalesforceClient,
    job_id: str,
    *,
    stop: threading.Event,
    first_delay: float,
    max_delay: float,
    timeout: float,
) -> dict[str, Any]:
    """Poll job info with doubling delays until the job is terminal; return the last info.

    Raises:
        BulkJobAbortedError: ``stop`` was set (the run is being interrupted).
        BulkJobTimeoutError: ``timeout`` seconds passed (the job is aborted first).
    """
    deadline = time.monotonic() + timeout
    delay = first_delay
    while True:
        if stop.wait(delay):
            raise BulkJobAbortedError(
                job_id, "Aborted", "", f"Bulk job {job_id} aborted: the run was interrupted"
            )
        info = job_info(client, job_id)
        if info.get("state") in TERMINAL_STATES:
            return info
        if time.monotonic() + min(delay * 2, max_delay) > deadline:
            abort_quietly(client, job_id)
            raise BulkJobTimeoutError(
                job_id,
                str(info.get("state")),
                "",
                f"Bulk job {job_id} was still {info.get('state')} after {timeout:g} s; "
                "it was aborted (rows it processed stay committed)",
            )
        delay = min(delay * 2, max_delay)


def download_rows(
    client: SalesforceClient, job_id: str, kind: str, directory: Path
) -> Iterator[list[str]]:
    """Rows of one results CSV (7.7): ``successfulResults``, ``failedResults``, ...

    ``kind`` is one of :data:`RESULT_KINDS`. The answer is streamed to a temporary file
    first, so memory does not grow with the job.
    """
    with tempfile.TemporaryFile(dir=directory) as spool:
        response = client.request(
            "GET", f"/jobs/ingest/{job_id}/{kind}/", accept="text/csv", stream=True
        )
        with response:
            for chunk in response.iter_content(chunk_size=_DOWNLOAD_BLOCK):
                spool.write(chunk)
        spool.seek(0)
        yield from csv.reader(io.TextIOWrapper(spool, encoding="utf-8", newline=""))


def abort_quietly(client: SalesforceClient, job_id: str) -> bool:
    """Abort a job, logging instead of raising when it cannot be (e.g. already terminal)."""
    try:
        set_state(client, job_id, "Aborted")
    except SalesforceOutError as exc:
        LOGGER.warning("could not abort Bulk job %s: %s", job_id, exc)
        return False
    LOGGER.warning("aborted Bulk job %s", job_id)
    return True
