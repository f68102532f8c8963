"""Entra ID (v2 endpoints): OpenID discovery, signing keys, the device code endpoint and the token endpoint with
its grants: client credentials, password, device code and refresh token."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from . import errors
from .clientauth import ClientAuthenticator
from .devicecode import GRANT_TYPE as DEVICE_CODE_GRANT, DeviceCodes
from .errors import entra_failure
from .federation import Federation
from .httpd import Request, Response, Route
from .refresh import RefreshTokenGrant, RefreshTokens
from .tokens import resource_for_scope
from .users import PasswordGrant, UserRealm
from .usertokens import NO_STORE, UserTokens

TOKEN_ROUTE = "/{tenant}/oauth2/v2.0/token"
MULTI_TENANT_SEGMENTS = ("common", "organizations")

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.IGNORECASE)


@dataclass(frozen=True)
class Grant:
    """A grant type: its required form fields, how the client authenticates, and what answers it."""

    fields: tuple
    authenticate: Callable  # (request, form, app, segment, directory) -> credential type
    handle: Callable  # (request, form, app, directory, credential type) -> Response


class Identity:
    """The login endpoints. Tenants are named by GUID or domain; ``common``/``organizations`` mean the app's home."""

    def __init__(self, scenario, tokens, pki, clock, consents):
        """``consents``: the ``ConsentRevocations`` that say whether an app still has a service principal."""
        self._scenario = scenario
        self._consents = consents
        self._tokens = tokens
        self._clock = clock
        self.federation = Federation(pki.workload_issuer, clock)
        self.refresh_tokens = RefreshTokens(scenario.refresh_token_lifetime, clock)
        user_tokens = self._user_tokens = UserTokens(tokens, self.refresh_tokens, clock)
        self.device_codes = DeviceCodes(scenario, user_tokens, clock)
        self._user_realm = UserRealm(scenario)
        clients = ClientAuthenticator(pki, self.federation, clock)
        self._grants = {
            "client_credentials": Grant(("client_id", "scope"), clients.confidential, self._client_credentials),
            "password": Grant(("client_id", "scope", "username", "password"), clients.any_client,
                              PasswordGrant(user_tokens)),
            DEVICE_CODE_GRANT: Grant(("client_id", "device_code"), clients.any_client, self.device_codes),
            "refresh_token": Grant(("client_id", "refresh_token"), clients.any_client,
                                   RefreshTokenGrant(self.refresh_tokens, user_tokens, clock)),
        }

    def routes(self) -> list:
        return [
            Route("GET", "/{tenant}/v2.0/.well-known/openid-configuration", self.discovery, errors.IDENTITY),
            Route("GET", "/{tenant}/discovery/v2.0/keys", self.keys, errors.IDENTITY),
            Route("POST", TOKEN_ROUTE, self.token, errors.IDENTITY),
            Route("POST", "/{tenant}/oauth2/v2.0/devicecode", self.device_code, errors.IDENTITY),
            *self._user_realm.routes(), *self.device_codes.routes(), *self.federation.routes(),
        ]

    def admin_routes(self) -> list:
        return [*self.device_codes.admin_routes(), *self.refresh_tokens.admin_routes(),
                *self.federation.admin_routes()]

    def counting_key(self, request: Request, params: dict) -> tuple:
        """(client id, tenant id, grant type, credential) of a token request, as counters key it (raw values if
        unknown); the credential is the form field the client proved itself with, or ``none``."""
        form = request.form()
        credential = next((field for field in ("client_secret", "client_assertion") if form.get(field)), "none")
        return form.get("client_id", ""), self._tenant_for_counting(form, params["tenant"]), form.get("grant_type", ""), credential

    def _tenant_for_counting(self, form: dict, segment: str) -> str:
        if segment.lower() in MULTI_TENANT_SEGMENTS:
            app = self._scenario.app(form.get("client_id", ""))
            return app.home_tenant if app else segment
        tenant = self._scenario.tenant(segment)
        return tenant.id if tenant else segment

    # --- discovery -------------------------------------------------------------------------------------------

    def discovery(self, request: Request, tenant: str) -> Response:
        base = request.base_url
        if tenant.lower() in MULTI_TENANT_SEGMENTS:
            segment, issuer_tenant = tenant.lower(), "{tenantid}"
        else:
            segment = issuer_tenant = self._tenant(request, tenant, "invalid_tenant").id
        config = {
            "token_endpoint": f"{base}/{segment}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{segment}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{segment}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{segment}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{segment}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver",
                                 "at_hash", "c_hash", "email"],
            "kerberos_endpoint": f"{base}/{segment}/kerberos",
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
        return Response.json(200, config)

    def keys(self, request: Request, tenant: str) -> Response:
        issuer_tenant = "{tenantid}" if tenant.lower() in MULTI_TENANT_SEGMENTS else \
            self._tenant(request, tenant, "invalid_tenant").id
        return Response.json(200, self._tokens.jwks(f"{request.base_url}/{issuer_tenant}/v2.0"))

    # --- token and device code endpoints ---------------------------------------------------------------------

    def token(self, request: Request, tenant: str) -> Response:
        """Every grant; the checks run in Entra ID's order, so the first problem is the one reported."""
        form = request.form()
        directory = None if tenant.lower() in MULTI_TENANT_SEGMENTS else self._tenant(request, tenant, "invalid_request")
        grant = self._grant(request, form)
        app, directory = self._client(request, form["client_id"], tenant, directory)
        credential_type = grant.authenticate(request, form, app, tenant, directory)
        return grant.handle(request, form, app, directory, credential_type)

    def device_code(self, request: Request, tenant: str) -> Response:
        """Starts a device code flow (see devicecode.py)."""
        form = request.form()
        directory = None if tenant.lower() in MULTI_TENANT_SEGMENTS else self._tenant(request, tenant, "invalid_request")
        _require(request, form, ("client_id", "scope"))
        app, directory = self._client(request, form["client_id"], tenant, directory)
        return self.device_codes.initiate(request, app, directory, self._user_tokens.scope(request, form["scope"]))

    def _grant(self, request: Request, form: dict) -> Grant:
        _require(request, form, ("grant_type",))
        grant = self._grants.get(form["grant_type"])
        if grant is None:
            raise entra_failure(request, 400, "unsupported_grant_type", 70003,
                                f"The app requested an unsupported grant type '{form['grant_type']}'.")
        _require(request, form, grant.fields)
        return grant

    def _client_credentials(self, request: Request, form: dict, app, directory, credential_type: str) -> Response:
        resource = resource_for_scope(form["scope"].strip())
        if resource is None:
            raise entra_failure(request, 400, "invalid_scope", 70011,
                                "The provided request must include a 'scope' input parameter. The provided value for "
                                f"the input parameter 'scope' is not valid. The scope {form['scope']} is not valid.")
        token = self._tokens.issue(app, directory.id, resource, self._clock(), credential_type)
        lifetime = self._tokens.lifetime
        body = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
        return Response.json(200, body, NO_STORE)

    def _client(self, request: Request, client_id: str, segment: str, directory):
        """The app and the tenant it signs in to (its home for ``common``); AADSTS700016 if it has no service
        principal there (never consented, or revoked)."""
        app = self._scenario.app(client_id)
        if directory is None and app is not None:
            directory = self._scenario.tenant(app.home_tenant)
        if app is None or directory is None or not self._consents.present(app, directory.id):
            raise entra_failure(request, 400, "unauthorized_client", 700016,
                                f"Application with identifier '{client_id}' was not found in the directory "
                                f"'{directory.name if directory else segment}'. This can happen if the application "
                                "has not been installed by the administrator of the tenant or consented to by any "
                                "user in the tenant. You may have sent your authentication request to the wrong "
                                "tenant.")
        return app, directory

    def _tenant(self, request: Request, segment: str, error: str):
        if not (_GUID.fullmatch(segment) or _DOMAIN.fullmatch(segment)):
            raise entra_failure(request, 400, "invalid_request", 900023,
                                f"Specified tenant identifier '{segment}' is neither a valid DNS name, nor a valid "
                                "external domain.")
        tenant = self._scenario.tenant(segment)
        if tenant is None:
            raise entra_failure(request, 400, error, 90002,
                                f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and "
                                "are signing into the correct cloud. Check with your subscription administrator, this "
                                "may happen if there are no active subscriptions for the tenant.")
        return tenant


def _require(request: Request, form: dict, names: tuple) -> None:
    for name in names:
        if not form.get(name):
            raise entra_failure(request, 400, "invalid_request", 900144,
                                f"The request body must contain the following parameter: '{name}'.")
