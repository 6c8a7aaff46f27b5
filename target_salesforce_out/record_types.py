"""Resolving a stream's ``record_type`` (or its person account record type) to a RecordType Id.

One SOQL query on RecordType when the stream starts; every record then carries the Id as
``RecordTypeId``.
"""

from __future__ import annotations

import logging

from target_salesforce_out.client import SalesforceClient
from target_salesforce_out.errors import ConfigError
from target_salesforce_out.ids import id_problem, to18
from target_salesforce_out.soql import query_all, quote

LOGGER = logging.getLogger("target_salesforce_out")


def record_type_id(
    client: SalesforceClient,
    stream: str,
    sobject: str,
    wanted: str | None,
    *,
    person: bool,
) -> str | None:
    """The Id of the active record type of ``sobject`` that ``wanted`` names, or None.

    ``wanted`` may be a DeveloperName, a Name or an Id (15 or 18 characters); ``person`` asks
    for a person account record type. Candidates that share one DeveloperName are one record
    type as far as a user can tell (a real org's describe has listed its person account type
    twice that way), so the first by Id is taken; candidates that differ must be told apart
    by a setting.

    Raises:
        ConfigError: no active record type matches, or several different ones do.
    """
    if not wanted and not person:
        return None
    # The only literal goes through quote().
    where = f"WHERE SobjectType = {quote(sobject)} AND IsActive = true"
    soql = "SELECT Id, DeveloperName, Name, IsPersonType FROM RecordType " + where  # noqa: S608
    rows = sorted(query_all(client, soql), key=lambda r: str(r.get("Id")))
    if wanted:
        wanted_id = to18(wanted) if id_problem(wanted) is None else None
        rows = [
            r
            for r in rows
            if wanted in (r.get("DeveloperName"), r.get("Name"))
            or (wanted_id is not None and to18(str(r.get("Id"))) == wanted_id)
        ]
    if person:
        rows = [r for r in rows if r.get("IsPersonType")]
    kind = "person account record type" if person else "record type"
    if not rows:
        named = f" named {wanted!r}" if wanted else ""
        raise ConfigError(f"stream {stream!r}: no active {kind}{named} on {sobject}")
    if len({r.get("DeveloperName") for r in rows}) > 1:
        shown = "; ".join(
            f"Name {r.get('Name')!r}, DeveloperName {r.get('DeveloperName')}, Id {r.get('Id')}"
            for r in rows
        )
        raise ConfigError(
            f"stream {stream!r}: several {kind}s match ({shown}); set record_type "
            "to the DeveloperName or Id of the one to use"
        )
    if len(rows) > 1:
        LOGGER.info(
            "stream %r: %d active %ss share DeveloperName %s; using Id %s",
            stream,
            len(rows),
            kind,
            rows[0].get("DeveloperName"),
            rows[0]["Id"],
        )
    return str(rows[0]["Id"])
