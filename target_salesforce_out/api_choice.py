"""Which API a stream loads through: the ``api`` setting, ``auto`` by default.

``auto`` writes a stream through sObject Collections while its pending records (received, not
yet written) stay at or under ``bulk_threshold``, and through a Bulk API 2.0 job once they pass
it (see :mod:`target_salesforce_out.sinks.auto`). Some streams have one API only: a stream
matched by ``match_fields`` stays on REST (a Bulk job finds records only by Id or an external
id: Bulk API 2.0 Developer Guide, "Prepare CSV Files"), and ``hard_delete`` always runs as a
Bulk job (Bulk API 2.0 Developer Guide, Create a Job: only Bulk API has ``hardDelete``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from target_salesforce_out.operations import Operation
from target_salesforce_out.settings import MAX_BULK_THRESHOLD, StreamSettings

SinkKind = Literal["rest", "bulk", "auto"]


def sink_kind(settings: StreamSettings) -> SinkKind:
    """The sink a stream needs: REST, Bulk, or the one that chooses as records arrive."""
    if settings.api == "bulk":
        return "bulk"
    if settings.api == "rest":
        return "rest"
    if not settings.operation.rest:
        return "bulk"
    if settings.match_fields:
        return "rest"
    return "auto"


def api_choice_problems(where: str, own: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    """Problems of ``api`` and ``bulk_threshold`` in one streams entry (defaults applied).

    ``own`` is what the entry itself sets: a ``bulk_threshold`` in ``defaults`` may serve
    the streams that load with ``auto`` while others set ``api`` themselves.
    """
    problems: list[str] = []
    api = entry.get("api") or "auto"
    threshold = entry.get("bulk_threshold")
    if threshold is not None and not 1 <= int(threshold) <= MAX_BULK_THRESHOLD:
        problems.append(
            f"{where}: bulk_threshold {threshold} must be between 1 and {MAX_BULK_THRESHOLD} "
            "(records wait in memory until the stream's API is chosen)"
        )
    if "bulk_threshold" in own and "api" in own and api != "auto":
        problems.append(
            f"{where}: bulk_threshold applies only to api auto, but api is {api}; remove one"
        )
    operation = entry.get("operation")
    if entry.get("match_fields") and operation in set(Operation) and not Operation(operation).rest:
        problems.append(
            f"{where}: operation {operation} runs only as a Bulk job, which finds records by Id "
            "or an external id, not by match_fields; set external_id_field (an external id "
            "field, or Id) instead"
        )
    return problems
