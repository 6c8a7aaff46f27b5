"""What a dry run predicts: creates and updates, missing parents, and the API calls of a real run.

A dry run (``dry_run: true``) goes through the same sinks, batches and API choices as a real
run, with each write replaced by a prediction; it only reads (describe, SOQL queries).

- **Creates and updates.** The records' keys are looked up with SOQL, chunked as the real
  run's lookups are. A key found in the org, or created earlier in the same run, would be
  updated; one found nowhere would be created by an upsert, and is rejected (``NOT_FOUND``) for
  an update or a delete, as Salesforce would reject it.
- **Missing parents.** A value of a relationship path (``Account.External_Id__c``) names a
  parent by its external id. A parent that no stream of the run has sent so far (the real run
  writes parents first) and that the org does not hold would make Salesforce refuse the record
  (``INVALID_FIELD``, "Foreign key external ID ... not found"); such records are rejected and
  counted per parent object, with the first few keys.
- **Hierarchies.** A stream that looks itself up (an Account's ``Parent``) is held and released
  level by level as in a real run (:mod:`target_salesforce_out.sinks.deferred`): a parent later
  in the input is not missing, and the end of the input rejects the same records as a real
  run, ``MISSING_PARENT`` and ``HIERARCHY_CYCLE``; each level is one more batch of calls (one
  partly filled Collections call, or one Bulk job), and the org lookups of parents the run
  has not sent count as lookups.
- **API calls.** Per stream: sObject Collections calls (one per ``batch_size`` records of each
  round, rounds cut where a key repeats, as the real run cuts them), SOQL lookups the real
  run makes itself (update and delete by external id, ``match_fields``), and per Bulk API 2.0
  job its create, upload, close, the three result downloads (Get Job Successful, Failed and
  Unprocessed Record Results) and its status polls. Polls depend on how long Salesforce takes
  to process a job, so they are estimated as one per job, the fewest there can be: a real
  run uses one more call per further poll (the status is read at 0.2 s, then at doubling
  intervals up to 10 s). Row-lock retries and setup calls (login, describe) are not included.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

# Calls of one Bulk API 2.0 ingest job besides its polls: create, upload, close, and the
# successful, failed and unprocessed results.
BULK_CALLS_PER_JOB = 6
# Status polls counted per job: the fewest a job needs (it is done when first read).
POLLS_PER_JOB_ESTIMATE = 1
# Missing parent keys listed per parent object (the count covers them all).
LISTED_MISSING_KEYS = 5


def collections_calls(keys: Iterable[Hashable | None], size: int) -> int:
    """The sObject Collections calls for records with these keys, ``size`` records a call.

    Records go in rounds in which no key appears twice (the n-th write of a key goes in round
    n; records without a key in the first), each round in calls of ``size``.
    """
    seen: Counter[Hashable] = Counter()
    rounds: Counter[int] = Counter()
    for key in keys:
        index = 0
        if key is not None:
            index = seen[key]
            seen[key] += 1
        rounds[index] += 1
    return sum(math.ceil(n / size) for n in rounds.values())


@dataclass
class MissingParents:
    """Parents of one object that records name but neither the run nor the org holds."""

    fields: list[str] = field(default_factory=list)
    count: int = 0
    keys: list[str] = field(default_factory=list)

    def add(self, field_name: str, key: Any) -> None:
        """One more record whose parent ``field_name = key`` is missing."""
        if field_name not in self.fields:
            self.fields.append(field_name)
        self.count += 1
        text = str(key)
        if text not in self.keys and len(self.keys) < LISTED_MISSING_KEYS:
            self.keys.append(text)


@dataclass
class StreamForecast:
    """What one stream's records would do in a real run."""

    collections_calls: int = 0
    lookup_queries: int = 0
    bulk_jobs: int = 0
    missing_parents: dict[str, MissingParents] = field(default_factory=dict)
    # Keys a record of this run would create: a later record with the key updates.
    created: set[Hashable] = field(default_factory=set)

    def exists(self, key: Hashable | None, found: bool) -> bool:
        """Whether a record with ``key`` would exist when it is written."""
        return found or (key is not None and key in self.created)

    def note_created(self, key: Hashable | None) -> None:
        """A record with ``key`` would be created."""
        if key is not None:
            self.created.add(key)

    def missing(self, parent: str, field_name: str, key: Any) -> None:
        """A record names parent ``parent`` (``field_name = key``) that would not exist."""
        self.missing_parents.setdefault(parent, MissingParents()).add(field_name, key)

    def api_calls(self) -> dict[str, Any]:
        """The report's ``predicted_api_calls``."""
        polls = self.bulk_jobs * POLLS_PER_JOB_ESTIMATE
        bulk = self.bulk_jobs * BULK_CALLS_PER_JOB + polls
        return {
            "total": self.collections_calls + self.lookup_queries + bulk,
            "collections": self.collections_calls,
            "lookup_queries": self.lookup_queries,
            "bulk_jobs": self.bulk_jobs,
            "bulk_calls": bulk,
            "bulk_polls_estimated": polls,
        }

    def as_dict(self) -> dict[str, Any]:
        """The stream's dry-run entries in the run report."""
        return {
            "missing_parents": {
                name: {"fields": list(m.fields), "count": m.count, "first_keys": list(m.keys)}
                for name, m in self.missing_parents.items()
            },
            "predicted_api_calls": self.api_calls(),
        }


class RunKeys:
    """Key values the run's records carry, per object and external id (or Id) field.

    A parent named by a record exists for the dry run when a record of this run carries its
    key (the real run writes parents before children) or the org holds it.
    """

    def __init__(self) -> None:
        """No key yet."""
        self._keys: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()

    def note(self, sobject: str, field_name: str, key: str | None) -> None:
        """A record of this run carries ``field_name = key`` on ``sobject``."""
        if key is None:
            return
        with self._lock:
            self._keys.setdefault((sobject.lower(), field_name.lower()), set()).add(key)

    def has(self, sobject: str, field_name: str, key: str) -> bool:
        """Whether a record of this run carries ``field_name = key`` on ``sobject``."""
        with self._lock:
            return key in self._keys.get((sobject.lower(), field_name.lower()), ())
