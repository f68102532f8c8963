"""What a user flow (password, device code, refresh token) answers: a delegated access token for the consented
permissions, a refresh token, an ID token and ``client_info``."""
from __future__ import annotations

import json

from .errors import entra_failure
from .httpd import Request, Response
from .jose import b64url_encode
from .tokens import RESOURCES, ScopeError, UserScope, parse_user_scope

NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


class UserTokens:
    def __init__(self, tokens, refresh_tokens, clock):
        self._tokens = tokens
        self._refresh_tokens = refresh_tokens
        self._clock = clock

    @staticmethod
    def scope(request: Request, scope: str) -> UserScope:
        """The parsed scope of a user flow; AADSTS70011 or 28000 when it is not acceptable."""
        try:
            return parse_user_scope(scope)
        except ScopeError as exc:
            error = "invalid_scope" if exc.code == 70011 else "invalid_request"
            raise entra_failure(request, 400, error, exc.code, str(exc)) from None

    def grant(self, request: Request, app, user, scope: UserScope, credential_type: str) -> Response:
        """The token set for ``user`` signed in to ``app`` (AADSTS65001 without the user's consent)."""
        granted = consented_scopes(request, app, user, scope)
        now = self._clock()
        lifetime = self._tokens.lifetime
        body = {"token_type": "Bearer", "scope": scope.words(granted), "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": self._tokens.issue_user(app, user, scope.resource, granted, now, credential_type)}
        if "offline_access" in scope.openid:
            body["refresh_token"] = self._refresh_tokens.issue(app.client_id, user, scope.requested(), now)
        if "openid" in scope.openid:
            body["id_token"] = self._tokens.issue_id_token(app, user, f"{request.base_url}/{user.tenant_id}/v2.0", now)
        body["client_info"] = client_info(user)
        return Response.json(200, body, NO_STORE)


def consented_scopes(request: Request, app, user, scope: UserScope) -> list:
    """The delegated permissions the user consented to for the scope's API, which must include those requested."""
    granted = app.delegated_scopes(user.tenant_id, RESOURCES[scope.resource], user.upn)
    if not granted or not set(scope.permissions) <= set(granted):
        raise entra_failure(request, 400, "invalid_grant", 65001,
                            f"The user or administrator has not consented to use the application with ID "
                            f"'{app.client_id}' named '{app.name}'. Send an interactive authorization request for "
                            "this user and resource.", {"suberror": "consent_required"})
    return granted


def client_info(user) -> str:
    """base64url JSON ``{"uid": <user object id>, "utid": <tenant id>}``: MSAL builds its account from it."""
    return b64url_encode(json.dumps({"uid": user.id, "utid": user.tenant_id}).encode("utf-8"))
