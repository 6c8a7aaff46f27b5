"""Person Account mode: how enabling Person Accounts changes Account and Contact.

Object Reference for the Salesforce Platform, "Account" and "PersonAccount"; the describe
details follow a recorded Person-Account org.
"""

from __future__ import annotations

import dataclasses

from .definitions import FieldDef, Schema

# Contact fields that a person account carries as-is (they already exist on Account or are the
# person's name) instead of as a Person-prefixed copy.
_NOT_COPIED = frozenset(
    {
        "id",
        "isdeleted",
        "accountid",
        "name",
        "firstname",
        "lastname",
        "salutation",
        "phone",
        "description",
        "ownerid",
        "createddate",
        "createdbyid",
        "lastmodifieddate",
        "lastmodifiedbyid",
        "systemmodstamp",
        "ispersonaccount",
    }
)


def _person_copy(source: FieldDef) -> FieldDef:
    if source.custom:
        name = source.name[: -len("__c")] + "__pc"
        relationship = (
            source.relationship_name[: -len("__r")] + "__pr" if source.relationship_name else None
        )
    else:
        name = "Person" + source.name
        relationship = "Person" + source.relationship_name if source.relationship_name else None
    compound = source.compound_field_name
    return dataclasses.replace(
        source,
        name=name,
        relationship_name=relationship,
        child_relationship_name=None,
        compound_field_name=("Person" + compound) if compound else None,
        # Person copies are not upsert keys of Account in the emulator (kept simple on purpose).
        external_id=False,
        unique=False,
        id_lookup=False,
        picklist_values=list(source.picklist_values),
    )


def enable_person_accounts(schema: Schema) -> None:
    """Mutate Account (and Contact) describe as a Person-Account org shows them.

    Args:
        schema: The schema to change in place.
    """
    account = schema.get("Account")
    contact = schema.get("Contact")
    if account is None or contact is None:
        return
    name = account.field("Name")
    if name is not None:
        name.nillable = True
        name.extra_type_info = "switchablepersonname"
    person = [
        FieldDef(
            name="LastName",
            type="string",
            label="Last Name",
            length=80,
            compound_field_name="Name",
            extra_type_info="switchablepersonname",
        ),
        FieldDef(
            name="FirstName",
            type="string",
            label="First Name",
            length=40,
            compound_field_name="Name",
            extra_type_info="switchablepersonname",
        ),
        FieldDef(
            name="Salutation",
            type="picklist",
            label="Salutation",
            length=40,
            compound_field_name="Name",
            extra_type_info="switchablepersonname",
            picklist_values=list(f.picklist_values)
            if (f := contact.field("Salutation")) is not None
            else [],
        ),
        _is_person_account(),
        FieldDef(
            name="PersonContactId",
            type="reference",
            label="Person Contact ID",
            length=18,
            createable=False,
            updateable=False,
            reference_to=["Contact"],
            relationship_name="PersonContact",
        ),
    ]
    person += [_person_copy(f) for f in contact.fields if f.name.lower() not in _NOT_COPIED]
    index = next(i for i, f in enumerate(account.fields) if f.name == "OwnerId")
    account.fields[index:index] = [f for f in person if account.field(f.name) is None]
    account.reindex()
    if contact.field("IsPersonAccount") is None:
        contact.fields.insert(
            len(contact.fields) - 6,
            _is_person_account(),
        )
        contact.reindex()


def _is_person_account() -> FieldDef:
    """``IsPersonAccount``, which both Account and Contact describe in a Person Account org."""
    return FieldDef(
        name="IsPersonAccount",
        type="boolean",
        label="Is Person Account",
        nillable=False,
        createable=False,
        updateable=False,
        defaulted_on_create=True,
        default_value=False,
    )
