"""OAuth endpoints: the token endpoint, revocation and the identity URL.

Salesforce Help: "OAuth 2.0 Refresh Token Flow", "OAuth 2.0 JWT Bearer Flow for Server-to-Server
Integration", "OAuth 2.0 Client Credentials Flow", "OAuth 2.0 Username-Password Flow", "Revoke
OAuth Tokens" and "Identity URLs". None of these calls counts against the API allocation.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from ..oauth import OAuthError
from ..wire import JSON_TYPE, Request, Response, json_response, not_found, render


def token(req: Request) -> Response:
    """``POST /services/oauth2/token``: every grant type."""
    try:
        body = req.backend.tokens.grant(
            _form(req), req.headers.get("Authorization"), req.backend.base_url
        )
    except OAuthError as exc:
        return Response(400, {"Content-Type": JSON_TYPE}, render(exc.body()))
    return Response(200, {"Content-Type": JSON_TYPE}, render(body))


def revoke(req: Request) -> Response:
    """``GET`` or ``POST /services/oauth2/revoke``: 200 with an empty body once revoked."""
    try:
        req.backend.tokens.revoke(_form(req).get("token"))
    except OAuthError as exc:
        return Response(400, {"Content-Type": JSON_TYPE}, render(exc.body()))
    return Response(200, {}, b"")


def identity(req: Request) -> Response:
    """``GET /id/{orgId}/{userId}`` with the access token: who the token belongs to."""
    backend = req.backend
    auth = req.headers.get("Authorization") or ""
    bearer = auth.partition(" ")[2].strip()
    user_id = backend.tokens.authenticate(bearer, count=False) if bearer else None
    if user_id is None:
        return Response(403, {"Content-Type": "text/plain"}, b"Bad_OAuth_Token")
    found = backend.org.get(user_id)
    if found is None or req.path.rstrip("/").split("/")[-1] != user_id:
        return not_found()
    user = found[1]
    base_url = backend.base_url
    return json_response(
        200,
        {
            "id": f"{base_url}{req.path}",
            "asserted_user": True,
            "user_id": user_id,
            "organization_id": backend.org.org_id,
            "username": user.get("Username"),
            "display_name": user.get("Name"),
            "email": user.get("Email"),
            "active": True,
            "user_type": "STANDARD",
            "urls": {
                "rest": f"{base_url}/services/data/v{{version}}/",
                "sobjects": f"{base_url}/services/data/v{{version}}/sobjects/",
                "query": f"{base_url}/services/data/v{{version}}/query/",
            },
        },
    )


def _form(req: Request) -> dict[str, str]:
    """Query and form-encoded body parameters, the body winning."""
    form = {k: v[0] for k, v in req.query.items()}
    if req.body:
        parsed = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        form.update({k: v[0] for k, v in parsed.items()})
    return form
