"""Bulk API 2.0 ingest job calls: create, upload, close, poll, results, abort.

Every call goes through :class:`~target_salesforce_out.client.SalesforceClient`, so retries,
re-authentication and API accounting are the same as for REST. A job costs a handful of calls
whatever its size: create, upload, close, a few polls with backoff, three result downloads.
Section names in parentheses are those of the Bulk API 2.0 Developer Guide.

Lost answers. The upload (PUT) and the close (PATCH) are not sent again blindly when their
answer is lost (a dropped connection, a 5xx other than 503): either may have been applied. The
job's state says what happened (Bulk API 2.0 Developer Guide, Get Job Info):

* a job past ``Open`` is polled like any other (a lost close took effect; a job aborted in the
  org is reported as such by the polling);
* an ``Open`` job after a lost close is closed again (it cannot have been closed);
* an ``Open`` job after a lost upload may or may not hold the data, and what closing a job
  without data does is not documented by Salesforce (the emulator's choice: it fails). The
  file is uploaded again: Salesforce takes one upload per job (Upload Job Data) and refuses a
  second one (its answer, ``BULK_API_ERROR`` "Found multipe contents for job", is not
  documented by Salesforce; the emulator's choice follows what orgs answer), so the second PUT
  either stores the only copy or proves that the first one arrived. Either way the job then
  holds the file exactly once, and is closed.

After :data:`LOST_ANSWER_ROUNDS` more lost answers the job is never closed (the sink aborts it;
an Open job is never processed, so none of its records is written) and
:class:`AnswersLostError` ends the run.
A result download whose body is cut off is fetched whole again (the client retries it).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, cast

from target_salesforce_out.client import SalesforceClient
from target_salesforce_out.errors import (
    AnswersLostError,
    BulkJobAbortedError,
    BulkJobTimeoutError,
    OutcomeUnknownError,
    SalesforceApiError,
    SalesforceOutError,
)
from target_salesforce_out.operations import Operation

LOGGER = logging.getLogger("target_salesforce_out.bulk")
TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
RESULT_KINDS = ("successfulResults", "failedResults", "unprocessedrecords")
_UPLOAD_BLOCK = 1024 * 1024
# After a lost answer: how many times the job's state is read and the call sent again.
LOST_ANSWER_ROUNDS = 3
# Result cells may be as long as a field allows (131,072 characters); the csv default is that.
csv.field_size_limit(max(csv.field_size_limit(), 4 * 1024 * 1024))


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
    client: SalesforceClient,
    sobject: str,
    operation: Operation,
    external_id: str | None,
    assignment_rule_id: str | None = None,
) -> dict[str, Any]:
    """``POST /jobs/ingest``: a comma-delimited, LF-terminated CSV job (Create a Job).

    ``assignment_rule_id`` is the job's ``assignmentRuleId``: the rule run for a Case or a Lead.
    """
    spec: dict[str, Any] = {
        "object": sobject,
        "operation": operation.bulk_name,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    if external_id is not None:
        spec["externalIdFieldName"] = external_id
    if assignment_rule_id is not None:
        spec["assignmentRuleId"] = assignment_rule_id
    body = json.dumps(spec).encode()
    # Safe to send again: a lost answer may have created a job, but an empty Open job that
    # nothing uploads to or closes never writes a record (Salesforce removes it after 7 days).
    response = client.request("POST", "/jobs/ingest", body=body)
    return cast("dict[str, Any]", response.json())


def _put(client: SalesforceClient, job_id: str, path: Path) -> None:
    data = ReplayableUpload(path)
    try:
        # client.request hands the body to requests unchanged; requests streams file objects.
        client.request(
            "PUT",
            f"/jobs/ingest/{job_id}/batches",
            body=data,
            content_type="text/csv",
            idempotent=False,
        )
    finally:
        data.close()


def _second_upload_refused(exc: SalesforceApiError) -> bool:
    """Salesforce's refusal of a second upload to one job (wording not documented by Salesforce).

    Orgs spell it "multipe"; the correct spelling is accepted too.
    """
    text = exc.error_message.lower()
    return exc.error_code == "BULK_API_ERROR" and (
        "multipe contents" in text or "multiple contents" in text
    )


def upload(client: SalesforceClient, job_id: str, path: Path) -> str:
    """``PUT .../batches`` once, streaming the CSV file from disk (Upload Job Data).

    A lost answer is settled from the job's state (see the module docstring).

    Returns:
        ``Open`` when the job holds the file and is to be closed; another state when the job
        has already moved on (it is then polled, not closed).

    Raises:
        AnswersLostError: every attempt went unanswered.
    """
    send = partial(_put, client, job_id, path)
    return _settle(client, job_id, "upload", send, _second_upload_refused) or "Open"


def close(client: SalesforceClient, job_id: str) -> None:
    """``PATCH`` the job to ``UploadComplete``; a lost answer is settled from its state.

    Raises:
        AnswersLostError: every attempt went unanswered.
    """
    send = partial(set_state, client, job_id, "UploadComplete", idempotent=False)
    _settle(client, job_id, "close", send, lambda _: False)


def _settle(
    client: SalesforceClient,
    job_id: str,
    what: str,
    send: Callable[[], object],
    proves_applied: Callable[[SalesforceApiError], bool],
) -> str | None:
    """Call ``send``; after a lost answer, read the job's state and send again while Open.

    Returns:
        None when ``send`` took effect on the Open job: answered, or refused in a way that
        ``proves_applied`` the lost attempt (a second upload); else the state the job moved
        on to.
    """
    try:
        send()
        return None
    except OutcomeUnknownError:
        pass
    for _ in range(LOST_ANSWER_ROUNDS):
        state = job_state(client, job_id)
        LOGGER.warning("Bulk job %s: the answer to its %s was lost; it is %s", job_id, what, state)
        if state != "Open":
            return state
        try:
            send()
            return None
        except OutcomeUnknownError:
            continue
        except SalesforceApiError as exc:
            if proves_applied(exc):
                return None
            state = job_state(client, job_id)
            if state == "Open":
                raise
            return state
    raise AnswersLostError(
        f"Bulk job {job_id}: its {what} went unanswered {LOST_ANSWER_ROUNDS + 1} times while "
        "the job was Open; the job was not closed, so none of its records was written"
    )


def set_state(
    client: SalesforceClient, job_id: str, state: str, *, idempotent: bool = True
) -> dict[str, Any]:
    """``PATCH /jobs/ingest/{id}`` to ``UploadComplete`` or ``Aborted`` (Close or Abort a Job)."""
    body = json.dumps({"state": state}).encode()
    response = client.request("PATCH", f"/jobs/ingest/{job_id}", body=body, idempotent=idempotent)
    return cast("dict[str, Any]", response.json())


def job_info(client: SalesforceClient, job_id: str) -> dict[str, Any]:
    """``GET /jobs/ingest/{id}`` (Get Job Info)."""
    return cast("dict[str, Any]", client.get_json(f"/jobs/ingest/{job_id}"))


def job_state(client: SalesforceClient, job_id: str) -> str:
    """The job's ``state``: Open, UploadComplete, InProgress, JobComplete, Failed, Aborted."""
    return str(job_info(client, job_id).get("state"))


def wait_for_terminal(
    client: SalesforceClient,
    job_id: str,
    *,
    stop: threading.Event,
    first_delay: float,
    max_delay: float,
    timeout: float,
    on_state: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Poll job info with doubling delays until the job is terminal; return the last info.

    ``on_state`` hears each state read (the progress lines show it).

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
        if on_state is not None:
            on_state(str(info.get("state")))
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
    """Rows of one results CSV: ``successfulResults``, ``failedResults``, ``unprocessedrecords``.

    (Bulk API 2.0 Developer Guide, Get Job Successful/Failed/Unprocessed Record Results.)

    ``kind`` is one of :data:`RESULT_KINDS`. The answer is streamed to a temporary file
    first, so memory does not grow with the job; a body cut off midway is downloaded whole
    again before any row is read, so no row is seen twice.
    """
    with tempfile.TemporaryFile(dir=directory) as spool:
        client.request("GET", f"/jobs/ingest/{job_id}/{kind}/", accept="text/csv", into=spool)
        spool.seek(0)
        yield from csv.reader(io.TextIOWrapper(spool, encoding="utf-8", newline=""))


def result_rows(
    client: SalesforceClient, job_id: str, kind: str, directory: Path
) -> Iterator[dict[str, str]]:
    """A results CSV's rows by lower-cased column name (``sf__id``, ``sf__error``, ``id``).

    For the small jobs the target runs besides a stream's own (deletes, a second pass), which
    read results by column name; see :func:`download_rows`.
    """
    rows = download_rows(client, job_id, kind, directory)
    header = [name.lower() for name in next(rows, [])]
    for row in rows:
        yield dict(zip(header, row, strict=False))


def abort_quietly(client: SalesforceClient, job_id: str) -> bool:
    """Abort a job, logging instead of raising when it cannot be (e.g. already terminal)."""
    try:
        set_state(client, job_id, "Aborted")
    except SalesforceOutError as exc:
        LOGGER.warning("could not abort Bulk job %s: %s", job_id, exc)
        return False
    LOGGER.warning("aborted Bulk job %s", job_id)
    return True
