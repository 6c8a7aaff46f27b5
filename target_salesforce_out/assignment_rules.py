"""A Lead or Case stream's ``assignment_rule`` setting, as each API takes it.

The setting is ``default`` (the object's active assignment rule), ``none`` or an AssignmentRule
Id. REST calls carry it in the ``Sforce-Auto-Assign`` header (REST API Developer Guide,
"Assignment Rule Header": ``TRUE``, ``FALSE`` or a rule Id). Bulk API 2.0 jobs carry it in the
``assignmentRuleId`` job property (Bulk API 2.0 Developer Guide, "Create a Job"), which has no
"default" value: ``default`` is looked up as the active rule's Id, with one SOQL query per stream.
"""

from __future__ import annotations

from target_salesforce_out.client import SalesforceClient
from target_salesforce_out.errors import ConfigError
from target_salesforce_out.ids import id_problem
from target_salesforce_out.soql import query_all, quote

DEFAULT = "default"
NONE = "none"
# Objects that have assignment rules (Object Reference for the Salesforce Platform,
# "AssignmentRule": SobjectType is Case or Lead).
ASSIGNABLE = frozenset({"Lead", "Case"})
# Key prefix of AssignmentRule Ids.
RULE_PREFIX = "01Q"


def setting_problem(value: str) -> str | None:
    """Why ``value`` cannot be an ``assignment_rule`` setting, or None."""
    if value in (DEFAULT, NONE):
        return None
    problem = id_problem(value)
    if problem is None and not value.startswith(RULE_PREFIX):
        problem = f"an AssignmentRule Id starts with {RULE_PREFIX}"
    if problem is None:
        return None
    return f"assignment_rule {value!r} is not default, none or an AssignmentRule Id ({problem})"


def auto_assign_header(value: str | None) -> dict[str, str]:
    """The ``Sforce-Auto-Assign`` header for REST calls; none when the setting is unset."""
    if value is None:
        return {}
    header = {DEFAULT: "TRUE", NONE: "FALSE"}.get(value, value)
    return {"Sforce-Auto-Assign": header}


def bulk_rule_id(
    client: SalesforceClient, stream: str, sobject: str, value: str | None
) -> str | None:
    """The ``assignmentRuleId`` of the stream's Bulk jobs; None sends none.

    Raises:
        ConfigError: ``default`` and ``sobject`` has no active assignment rule.
    """
    if value is None or value == NONE:
        return None
    if value != DEFAULT:
        return value
    # The only literal goes through quote().
    soql = (
        "SELECT Id FROM AssignmentRule "  # noqa: S608
        f"WHERE SobjectType = {quote(sobject)} AND Active = true"
    )
    rows = sorted(str(r["Id"]) for r in query_all(client, soql))
    if not rows:
        raise ConfigError(
            f"stream {stream!r}: assignment_rule default, but {sobject} has no active "
            "assignment rule; activate one, or set assignment_rule to none or a rule Id"
        )
    return rows[0]


def check_object(stream: str, sobject: str, *, set_by_stream: bool) -> bool:
    """Whether the stream's ``assignment_rule`` applies to ``sobject``.

    A stream's own setting on an object without assignment rules is a mistake; a setting from
    ``defaults`` applies to the Lead and Case streams only.

    Raises:
        ConfigError: the stream's own entry sets it for an object that is not Lead or Case.
    """
    if sobject in ASSIGNABLE:
        return True
    if set_by_stream:
        raise ConfigError(
            f"stream {stream!r}: assignment_rule applies only to Lead and Case, not {sobject}"
        )
    return False
