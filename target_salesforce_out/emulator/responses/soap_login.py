"""The SOAP API ``login()`` call: username and password (plus security token) to a session.

SOAP API Developer Guide, "login()" and "LoginResult": ``POST /services/Soap/u/{version}`` with a
``login`` element (``username``, ``password``) in the partner namespace answers a
``loginResponse`` whose ``result`` carries ``serverUrl`` (the partner endpoint on the instance,
ending in the org id), ``sessionId`` (used as a bearer token by REST and Bulk API 2.0 calls),
``userId`` and ``userInfo``. A failed login is a SOAP fault ``INVALID_LOGIN`` (SOAP API Developer
Guide, "ExceptionCode") with HTTP 500, as every SOAP fault. simple-salesforce logs in this way when
given a username, password and security token. Like OAuth, it is not counted as an API call.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape

from .. import ids
from ..oauth import OAuthError
from ..wire import Request, Response

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
_XML = {"Content-Type": "text/xml;charset=UTF-8"}
# The fault text real orgs send for a wrong username, password or token; the guide names the
# code but not the text, so the wording is not documented by Salesforce (the emulator's choice).
INVALID_LOGIN = "Invalid username, password, security token; or user locked out."
SESSION_SECONDS = 7200


def login(req: Request) -> Response:
    """``POST /services/Soap/u/{version}`` with a ``login`` body."""
    fields = _login_fields(req.body)
    if fields is None:
        # A body that is not a login envelope. Code and text not documented by Salesforce for
        # this case (the emulator's choice).
        return _fault("soapenv:Client", "INVALID_OPERATION", "Only login() is supported here")
    username, password = fields
    tokens = req.backend.tokens
    try:
        user_id = tokens.check_password(username, password)
    except OAuthError:
        return _fault("sf:INVALID_LOGIN", "INVALID_LOGIN", INVALID_LOGIN, login_fault=True)
    session = tokens.issue(user_id)
    org = req.backend.org
    found = org.get(user_id)
    user = found[1] if found is not None else {}
    base, version, org_id = req.backend.base_url, req.params["version"], org.org_id
    info = {
        "accessibilityMode": "false",
        "currencySymbol": "$",
        "orgAttachmentFileSizeLimit": "5242880",
        "orgDefaultCurrencyIsoCode": "USD",
        "orgDisallowHtmlAttachments": "false",
        "orgHasPersonAccounts": "true" if org.schema.person_accounts else "false",
        "organizationId": org_id,
        "organizationMultiCurrency": "false",
        "organizationName": "Salesforce Emulator",
        "profileId": ids.fixed_id("00e", 1),
        "roleId": None,
        "sessionSecondsValid": str(SESSION_SECONDS),
        "userDefaultCurrencyIsoCode": None,
        "userEmail": user.get("Email"),
        "userFullName": user.get("Name"),
        "userId": user_id,
        "userLanguage": "en_US",
        "userLocale": "en_US",
        "userName": user.get("Username"),
        "userTimeZone": "America/Los_Angeles",
        "userType": "Standard",
        "userUiSkin": "Theme3",
    }
    result = {
        "metadataServerUrl": f"{base}/services/Soap/m/{version}/{org_id}",
        "passwordExpired": "false",
        "sandbox": "false",
        "serverUrl": f"{base}/services/Soap/u/{version}/{org_id}",
        "sessionId": session,
        "userId": user_id,
    }
    body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in result.items())
    body += "<userInfo>" + "".join(_element(k, v) for k, v in info.items()) + "</userInfo>"
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns="{PARTNER}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><loginResponse><result>{body}</result></loginResponse>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    return Response(200, dict(_XML), envelope.encode())


def _element(name: str, value: str | None) -> str:
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    return f"<{name}>{escape(str(value))}</{name}>"


def _login_fields(body: bytes) -> tuple[str, str] | None:
    """``(username, password)`` from a login envelope, or None when it is not one."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        return None  # no document type declarations, hence no entity expansion
    try:
        # Trusted enough: DTDs are refused above, and expat expands no external entities.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError:
        return None
    call = next((e for e in root.iter() if e.tag == f"{{{PARTNER}}}login"), None)
    if call is None:
        return None
    username = call.find(f"{{{PARTNER}}}username")
    password = call.find(f"{{{PARTNER}}}password")
    if username is None or password is None:
        return None
    return (username.text or "").strip(), password.text or ""


def _fault(code: str, exception_code: str, message: str, *, login_fault: bool = False) -> Response:
    """A SOAP fault (HTTP 500); login faults carry ``sf:LoginFault`` details."""
    detail = ""
    if login_fault:
        detail = (
            '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
            f"<sf:exceptionCode>{exception_code}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
            "</sf:LoginFault></detail>"
        )
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><soapenv:Fault><faultcode>{code}</faultcode>"
        f"<faultstring>{exception_code}: {escape(message)}</faultstring>{detail}"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(500, dict(_XML), envelope.encode())
