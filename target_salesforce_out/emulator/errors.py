"""Per-record error and save-result types shared by the store, the REST layer and Bulk jobs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RecordError:
    """One per-record error, rendered as ``{"statusCode", "message", "fields"}``.

    REST API Developer Guide, "Create Records Using sObject Collections" (the per-record results);
    the codes are the StatusCode values of the SOAP API Developer Guide, "Core Data Types Used in
    API Calls".

    Attributes:
        status_code: Salesforce StatusCode, e.g. ``REQUIRED_FIELD_MISSING``.
        message: Human-readable text, verbatim as Salesforce words it.
        fields: Field API names the error is about (may be empty).
        duplicate_result: For ``DUPLICATES_DETECTED``, the ``duplicateResult`` object (SOAP
            API Developer Guide, "DuplicateResult"), rendered beside the other keys.
    """

    status_code: str
    message: str
    fields: list[str] = field(default_factory=list)
    duplicate_result: dict[str, object] | None = None

    def as_status(self) -> dict[str, object]:
        """Render for per-record results (sObject Collections), with ``statusCode``."""
        body: dict[str, object] = {
            "statusCode": self.status_code,
            "message": self.message,
            "fields": self.fields,
        }
        if self.duplicate_result is not None:
            body["duplicateResult"] = self.duplicate_result
        return body

    def as_rest(self) -> dict[str, object]:
        """Render for REST error arrays, with ``errorCode`` (``fields`` only when non-empty)."""
        body: dict[str, object] = {"message": self.message, "errorCode": self.status_code}
        if self.fields:
            body["fields"] = self.fields
        if self.duplicate_result is not None:
            body["duplicateResult"] = self.duplicate_result
        return body


@dataclass
class SaveResult:
    """Outcome of saving one record.

    Attributes:
        id: The 18-character id (None for failed creates).
        success: Whether the record was saved.
        errors: Errors when it was not.
        created: For upserts, True when inserted and False when updated; None otherwise.
    """

    id: str | None
    success: bool
    errors: list[RecordError]
    created: bool | None = None


class RecordErrorException(Exception):  # noqa: N818 - name fixed by the emulator interface
    """Raised while validating one record; carries the RecordError to report."""

    def __init__(self, error: RecordError) -> None:
        """Wrap an error.

        Args:
            error: The per-record error.
        """
        super().__init__(f"{error.status_code}: {error.message}")
        self.error = error


def record_error(
    status_code: str, message: str, fields: list[str] | None = None
) -> RecordErrorException:
    """Build a RecordErrorException in one call.

    Args:
        status_code: Salesforce StatusCode.
        message: Error text.
        fields: Field names, if any.

    Returns:
        The exception, ready to raise.
    """
    return RecordErrorException(RecordError(status_code, message, list(fields or [])))
