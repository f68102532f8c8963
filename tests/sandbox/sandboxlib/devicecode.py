"""The device code flow: codes handed out by the devicecode endpoint, approved, declined or expired through the
admin API (the sandbox's stand-in for the user's browser), and redeemed by polling the token endpoint."""
from __future__ import annotations

import datetime
import html
import secrets
import threading
from dataclasses import dataclass
from typing import Optional

from . import errors, timefmt
from .errors import admin_failure, entra_failure
from .httpd import Request, Response, Route
from .users import state_error

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
PENDING, APPROVED, DECLINED, EXPIRED, REDEEMED = "pending", "approved", "declined", "expired", "redeemed"
_USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_BLOCKED_STATES = ("locked", "disabled")  # a browser sign-in can satisfy MFA or change an expired password


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    app_name: str
    tenant_id: str
    scope: object  # tokens.UserScope
    expires: datetime.datetime
    state: str = PENDING
    user: Optional[object] = None

    def state_at(self, now: datetime.datetime) -> str:
        return EXPIRED if self.state == PENDING and now >= self.expires else self.state

    def describe(self, now: datetime.datetime) -> dict:
        return {"user_code": self.user_code, "client_id": self.client_id, "app": self.app_name,
                "tenant_id": self.tenant_id, "scope": self.scope.requested(), "state": self.state_at(now),
                "user": self.user.upn if self.user else None, "expires": timefmt.seconds(self.expires)}


class DeviceCodes:
    """Thread-safe store of device codes, their admin routes and the device code grant."""

    def __init__(self, scenario, user_tokens, clock):
        self._scenario = scenario
        self._settings = scenario.device_code
        self._user_tokens = user_tokens
        self._clock = clock
        self._lock = threading.Lock()
        self._by_device_code = {}
        self._by_user_code = {}

    def routes(self) -> list:
        return [Route("GET", "/devicelogin", self.device_login, errors.IDENTITY)]

    def admin_routes(self) -> list:
        return [
            Route("GET", "/_sandbox/device-codes", self.list_codes, errors.ADMIN),
            Route("POST", "/_sandbox/device-codes/{user_code}/approve", self.approve, errors.ADMIN),
            Route("POST", "/_sandbox/device-codes/{user_code}/decline", self.decline, errors.ADMIN),
            Route("POST", "/_sandbox/device-codes/{user_code}/expire", self.expire, errors.ADMIN),
        ]

    # --- the devicecode endpoint (called by identity.py once the tenant, client and scope are checked) ---------

    def initiate(self, request: Request, app, directory, scope) -> Response:
        code = DeviceCode(secrets.token_urlsafe(48), self._new_user_code(), app.client_id, app.name, directory.id,
                          scope, self._clock() + datetime.timedelta(seconds=self._settings["expires_in"]))
        with self._lock:
            self._by_device_code[code.device_code] = code
            self._by_user_code[code.user_code] = code
        uri = f"{request.base_url}/devicelogin"
        return Response.json(200, {
            "user_code": code.user_code, "device_code": code.device_code, "verification_uri": uri,
            "expires_in": self._settings["expires_in"], "interval": self._settings["interval"],
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code {code.user_code} "
                       "to authenticate."})

    def _new_user_code(self) -> str:
        with self._lock:
            while True:
                code = "".join(secrets.SystemRandom().choices(_USER_CODE_ALPHABET, k=9))
                if code not in self._by_user_code:
                    return code

    # --- the device code grant ---------------------------------------------------------------------------------

    def __call__(self, request: Request, form: dict, app, directory, credential_type: str) -> Response:
        """Polling: pending, declined, expired, or (once) the token set of the approving user."""
        with self._lock:
            code = self._by_device_code.get(form["device_code"])
            state = code.state_at(self._clock()) if code else None
            if state == APPROVED:
                code.state = REDEEMED
        if code is None or code.client_id != app.client_id or code.tenant_id != directory.id:
            raise entra_failure(request, 400, "invalid_grant", 70000,
                                "The provided value for the input parameter 'device_code' is not valid.")
        if state == APPROVED:
            return self._user_tokens.grant(request, app, code.user, code.scope, credential_type)
        raise _poll_failure(request, state)

    # --- admin --------------------------------------------------------------------------------------------------

    def list_codes(self, request: Request) -> Response:
        """The pending codes (``?all=true``: every code), oldest first."""
        now = self._clock()
        everything = (request.param("all") or "").lower() == "true"
        with self._lock:
            codes = [code.describe(now) for code in self._by_user_code.values()]
        return Response.json(200, {"device_codes": [code for code in codes if everything or code["state"] == PENDING]})

    def approve(self, request: Request, user_code: str) -> Response:
        """``{"user": "<upn>"}`` signs that user in (in the code's tenant) and approves the code."""
        try:
            body = request.json()
        except ValueError:
            body = None
        upn = body.get("user") if isinstance(body, dict) else None
        if not isinstance(upn, str):
            raise admin_failure(400, 'send {"user": "<upn>"}')
        code = self._pending(user_code)
        user = self._scenario.tenant(code.tenant_id).user(upn)
        if user is None:
            raise admin_failure(400, f"no user {upn!r} in tenant {code.tenant_id}")
        if user.state in _BLOCKED_STATES:
            failure = state_error(request, user, code.scope.resource)
            raise admin_failure(409, f"{upn} cannot sign in: {failure.response.status} "
                                     f"{failure.response.body.decode('utf-8')}")
        return self._settle(code, APPROVED, user)

    def decline(self, request: Request, user_code: str) -> Response:
        return self._settle(self._pending(user_code), DECLINED)

    def expire(self, request: Request, user_code: str) -> Response:
        return self._settle(self._pending(user_code), EXPIRED)

    def _pending(self, user_code: str) -> DeviceCode:
        with self._lock:
            code = self._by_user_code.get(user_code.upper())
        if code is None:
            raise admin_failure(404, f"no device code with user code {user_code!r}")
        state = code.state_at(self._clock())
        if state != PENDING:
            raise admin_failure(409, f"device code {code.user_code} is {state}, not pending")
        return code

    def _settle(self, code: DeviceCode, state: str, user=None) -> Response:
        with self._lock:
            code.state, code.user = state, user
        return Response.json(200, code.describe(self._clock()))

    def device_login(self, request: Request) -> Response:
        """A stand-in for the sign-in page: it says how a test approves a code."""
        admin = html.escape(f"{request.base_url}/_sandbox/device-codes")
        page = (f"<!doctype html><title>Sandbox device login</title><h1>Sandbox device login</h1><p>The sandbox has "
                f"no sign-in page. List the pending codes with <code>GET {admin}</code> and approve one with "
                f"<code>POST {admin}/&lt;user_code&gt;/approve</code> and the body "
                f"<code>{{\"user\": \"analyst@contoso.example\"}}</code>.</p>")
        return Response(200, page.encode("utf-8"), content_type="text/html; charset=utf-8")


def _poll_failure(request: Request, state: str):
    if state == PENDING:
        return entra_failure(request, 400, "authorization_pending", 70016,
                             "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
    if state == DECLINED:
        return entra_failure(request, 400, "authorization_declined", 65004,
                             "User declined to consent to access the app.")
    if state == EXPIRED:
        return entra_failure(request, 400, "expired_token", 70019, "Verification code expired.")
    return entra_failure(request, 400, "invalid_grant", 54005,
                         "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use "
                         "an existing refresh token.")
