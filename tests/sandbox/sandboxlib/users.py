"""Users signing in with their password: the user realm look-up MSAL makes first, and the password grant (ROPC)
with the account-state errors of Entra ID."""
from __future__ import annotations

import hmac

from . import errors
from .errors import entra_failure
from .httpd import Request, Response, Route

_STATE_ERRORS = {
    "locked": (50053, "The account is locked, you've tried to sign in too many times with an incorrect user ID or "
                      "password.", {}),
    "disabled": (50057, "The user account is disabled.", {}),
    "password_expired": (50055, "The password is expired.", {"suberror": "user_password_expired"}),
    "mfa_required": (50076, "Due to a configuration change made by your administrator, or because you moved to a "
                            "new location, you must use multi-factor authentication to access '{resource}'.",
                     {"suberror": "basic_action"}),
}


class UserRealm:
    """``GET /common/userrealm/{username}``: every scenario domain is a managed (cloud-only) one."""

    def __init__(self, scenario):
        self._scenario = scenario

    def routes(self) -> list:
        return [Route("GET", "/common/userrealm/{username}", self.user_realm, errors.IDENTITY)]

    def user_realm(self, request: Request, username: str) -> Response:
        domain = username.rpartition("@")[2].lower()
        tenant = self._scenario.tenant(domain) if domain else None
        if tenant is None:
            return Response.json(200, {"ver": "1.0", "account_type": "Unknown",
                                       "cloud_instance_name": "microsoftonline.com"})
        return Response.json(200, {"ver": "1.0", "account_type": "Managed", "domain_name": domain,
                                   "cloud_instance_name": "microsoftonline.com",
                                   "cloud_audience_urn": "urn:federation:MicrosoftOnline"})


class PasswordGrant:
    """``grant_type=password``: the user must exist in the tenant, know the password and be able to sign in."""

    def __init__(self, user_tokens):
        self._user_tokens = user_tokens

    def __call__(self, request: Request, form: dict, app, directory, credential_type: str) -> Response:
        scope = self._user_tokens.scope(request, form["scope"])
        user = find_user(request, directory, form["username"])
        check_password(request, user, form["password"])
        check_state(request, user, scope.resource)
        return self._user_tokens.grant(request, app, user, scope, credential_type)


def find_user(request: Request, directory, username: str):
    user = directory.user(username)
    if user is None:
        raise entra_failure(request, 400, "invalid_grant", 50034,
                            f"The user account {username} does not exist in the {directory.id} directory. To sign "
                            "into this application, the account must be added to the directory.")
    return user


def check_password(request: Request, user, password: str) -> None:
    """A locked account is refused whatever the password; otherwise the password must match (AADSTS50126)."""
    if user.state == "locked":
        raise state_error(request, user, "")
    if not hmac.compare_digest(user.password.encode("utf-8"), password.encode("utf-8")):
        raise entra_failure(request, 400, "invalid_grant", 50126,
                            "Error validating credentials due to invalid username or password.")


def check_state(request: Request, user, resource: str) -> None:
    """Disabled, password expired or MFA required: a password alone cannot sign the user in."""
    if user.state in _STATE_ERRORS:
        raise state_error(request, user, resource)


def state_error(request: Request, user, resource: str):
    code, message, extra = _STATE_ERRORS[user.state]
    return entra_failure(request, 400, "invalid_grant", code, message.format(resource=resource), extra)
