"""Refresh tokens: opaque, kept in memory, bound to an app and a user (not to a resource), and the grant that
redeems them."""
from __future__ import annotations

import datetime
import secrets
import threading
from dataclasses import dataclass
from typing import Optional

from . import errors
from .errors import admin_failure, entra_failure
from .httpd import Request, Response, Route


@dataclass
class RefreshRecord:
    client_id: str
    user: object
    scope: str  # the scope of the request that issued it: the default scope of a refresh without one
    expires: datetime.datetime


class RefreshTokens:
    """Thread-safe. Redeeming a token answers a new one (rotation); the old one stays valid until it expires."""

    def __init__(self, lifetime: int, clock):
        self._lifetime = datetime.timedelta(seconds=lifetime)
        self._clock = clock
        self._lock = threading.Lock()
        self._records = {}

    def admin_routes(self) -> list:
        return [Route("POST", "/_sandbox/refresh-tokens/expire", self.expire_route, errors.ADMIN)]

    def expire_route(self, request: Request) -> Response:
        """``{"user": "<upn>"}`` (optional): expires that user's refresh tokens, or everyone's."""
        try:
            body = request.json() or {}
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("user", ""), str):
            raise admin_failure(400, 'send {} or {"user": "<upn>"}')
        return Response.json(200, {"expired": self.expire(body.get("user"), self._clock())})

    def issue(self, client_id: str, user, scope: str, now: datetime.datetime) -> str:
        token = "0.A" + secrets.token_urlsafe(96)
        with self._lock:
            self._records[token] = RefreshRecord(client_id, user, scope, now + self._lifetime)
        return token

    def find(self, token: str) -> Optional[RefreshRecord]:
        with self._lock:
            return self._records.get(token)

    def expire(self, upn: Optional[str], now: datetime.datetime) -> int:
        """Makes every refresh token (of the user ``upn``, if given) expired; returns how many."""
        with self._lock:
            records = [record for record in self._records.values()
                       if upn is None or record.user.upn == upn.lower()]
            for record in records:
                record.expires = min(record.expires, now)
            return len(records)


class RefreshTokenGrant:
    """``grant_type=refresh_token``: a new access token for any consented resource, a new refresh token."""

    def __init__(self, refresh_tokens: RefreshTokens, user_tokens, clock):
        self._refresh_tokens = refresh_tokens
        self._user_tokens = user_tokens
        self._clock = clock

    def __call__(self, request: Request, form: dict, app, directory, credential_type: str) -> Response:
        record = self._refresh_tokens.find(form["refresh_token"])
        if record is None or record.client_id != app.client_id or record.user.tenant_id != directory.id:
            raise entra_failure(request, 400, "invalid_grant", 9002313,
                                "Invalid request. Request is malformed or invalid.")
        if record.expires <= self._clock():
            raise entra_failure(request, 400, "invalid_grant", 70008,
                                "The provided authorization code or refresh token has expired due to inactivity. "
                                "Send a new interactive authorization request for this user and resource.",
                                {"suberror": "bad_token"})
        scope = self._user_tokens.scope(request, form.get("scope") or record.scope)
        return self._user_tokens.grant(request, app, record.user, scope, credential_type)
