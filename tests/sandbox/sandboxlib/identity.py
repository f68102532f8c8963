"""Entra ID (v2 endpoints): OpenID discovery, signing keys and the token endpoint's client credentials grant."""
from __future__ import annotations

import datetime
import hmac
import re
from typing import Optional
from urllib.parse import urlsplit

from . import errors, timefmt
from .httpd import ApiError, Request, Response, Route
from .jose import Jws, JoseError, b64url_decode
from .tokens import resource_for_scope

TOKEN_ROUTE = "/{tenant}/oauth2/v2.0/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MULTI_TENANT_SEGMENTS = ("common", "organizations")

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.IGNORECASE)
_KEYS_HELP = ("Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for "
              "app Id '{}'.")


class Identity:
    """The login endpoints. Tenants are named by GUID or domain; ``common``/``organizations`` mean the app's home."""

    def __init__(self, scenario, tokens, pki, clock):
        self._scenario = scenario
        self._tokens = tokens
        self._pki = pki
        self._clock = clock

    def routes(self) -> list:
        return [
            Route("GET", "/{tenant}/v2.0/.well-known/openid-configuration", self.discovery, errors.IDENTITY),
            Route("GET", "/{tenant}/discovery/v2.0/keys", self.keys, errors.IDENTITY),
            Route("POST", TOKEN_ROUTE, self.token, errors.IDENTITY),
        ]

    def tenant_id_for_counting(self, request: Request, segment: str) -> str:
        """The tenant a token request is for, as counters key it (the raw segment if it names no tenant)."""
        if segment.lower() in MULTI_TENANT_SEGMENTS:
            app = self._scenario.app(request.form().get("client_id", ""))
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

    # --- token endpoint --------------------------------------------------------------------------------------

    def token(self, request: Request, tenant: str) -> Response:
        """Client credentials grant; the checks run in Entra ID's order, so the first problem is the one reported."""
        form = request.form()
        directory = None if tenant.lower() in MULTI_TENANT_SEGMENTS else self._tenant(request, tenant, "invalid_request")
        _check_grant(request, form)
        app, directory = self._client(request, form["client_id"], tenant, directory)
        credential_type = self._authenticate_client(request, form, app, tenant, directory)
        resource = resource_for_scope(form["scope"].strip())
        if resource is None:
            raise _fail(request, 400, "invalid_scope", 70011,
                        "The provided request must include a 'scope' input parameter. The provided value for the "
                        f"input parameter 'scope' is not valid. The scope {form['scope']} is not valid.")
        token = self._tokens.issue(app, directory.id, resource, self._clock(), credential_type)
        lifetime = self._tokens.lifetime
        body = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
        return Response.json(200, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    def _client(self, request: Request, client_id: str, segment: str, directory):
        """The app and the tenant it signs in to (its home for ``common``); AADSTS700016 if it has none there."""
        app = self._scenario.app(client_id)
        if directory is None and app is not None:
            directory = self._scenario.tenant(app.home_tenant)
        if app is None or directory is None or not app.known_in(directory.id):
            raise _fail(request, 400, "unauthorized_client", 700016,
                        f"Application with identifier '{client_id}' was not found in the directory "
                        f"'{directory.name if directory else segment}'. This can happen if the application has not "
                        "been installed by the administrator of the tenant or consented to by any user in the "
                        "tenant. You may have sent your authentication request to the wrong tenant.")
        return app, directory

    def _tenant(self, request: Request, segment: str, error: str):
        if not (_GUID.fullmatch(segment) or _DOMAIN.fullmatch(segment)):
            raise _fail(request, 400, "invalid_request", 900023,
                        f"Specified tenant identifier '{segment}' is neither a valid DNS name, nor a valid "
                        "external domain.")
        tenant = self._scenario.tenant(segment)
        if tenant is None:
            raise _fail(request, 400, error, 90002,
                        f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are "
                        "signing into the correct cloud. Check with your subscription administrator, this may "
                        "happen if there are no active subscriptions for the tenant.")
        return tenant

    def _authenticate_client(self, request: Request, form: dict, app, segment: str, directory) -> str:
        """Checks the secret or the client assertion; returns ``secret`` or ``certificate``."""
        if form.get("client_secret"):
            self._check_secret(request, app, form["client_secret"])
            return "secret"
        if form.get("client_assertion"):
            self._check_assertion(request, form, app, segment, directory)
            return "certificate"
        raise _fail(request, 401, "invalid_client", 7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")

    def _check_secret(self, request: Request, app, value: str) -> None:
        secret = next((s for s in app.secrets if hmac.compare_digest(s.value.encode(), value.encode())), None)
        if secret is None:
            raise _fail(request, 401, "invalid_client", 7000215,
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                        f"secret value, not the client secret ID, for a secret added to app '{app.client_id}'.")
        if secret.expired(self._clock()):
            raise _fail(request, 401, "invalid_client", 7000222,
                        f"The provided client secret keys for app '{app.client_id}' are expired (key id "
                        f"'{secret.id}', expired {timefmt.seconds(secret.expires)}). Visit the Azure portal to "
                        "create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
                        "certificate credentials for added security: https://aka.ms/certCreds.")

    def _check_assertion(self, request: Request, form: dict, app, segment: str, directory) -> None:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise _fail(request, 400, "invalid_request", 900144,
                        f"The request body must contain the following parameter: 'client_assertion_type' with the "
                        f"value '{JWT_BEARER}'.")
        try:
            jws = Jws(form["client_assertion"])
        except JoseError as exc:
            raise _fail(request, 401, "invalid_client", 50027, f"JWT token is invalid or malformed. {exc}") from None
        self._check_assertion_key(request, jws, app)
        self._check_assertion_claims(request, jws.claims, app, segment, directory)

    def _check_assertion_key(self, request: Request, jws: Jws, app) -> None:
        """The header's ``x5t`` (RS256) or ``x5t#S256`` (PS256) must name the registered certificate."""
        certificate = self._pki.app_certificates.get(app.name)
        sha256 = "x5t#S256" in jws.header
        presented = _thumbprint_bytes(jws.header.get("x5t#S256" if sha256 else "x5t"))
        expected = certificate.pair.fingerprint(sha256) if certificate else None
        if expected is None or not hmac.compare_digest(presented, expected):
            raise _fail(request, 401, "invalid_client", 700027,
                        "The certificate with identifier used to sign the client assertion is not registered on "
                        f"application. [Reason - The key was not found., Thumbprint of key used by client: "
                        f"'{presented.hex().upper()}', {_KEYS_HELP.format(app.client_id)}]")
        if not jws.verify(certificate.pair.cert.public_key()):
            raise _fail(request, 401, "invalid_client", 700027,
                        "Client assertion failed signature validation. [Reason - Key was found, but use of the key "
                        f"to verify the signature failed., Thumbprint of key used by client: "
                        f"'{presented.hex().upper()}', {_KEYS_HELP.format(app.client_id)}]")

    def _check_assertion_claims(self, request: Request, claims: dict, app, segment: str, directory) -> None:
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            raise _fail(request, 401, "invalid_client", 700021,
                        "Client assertion application identifier doesn't match 'client_id' parameter. Review the "
                        "documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/"
                        "active-directory-certificate-credentials .")
        if not self._is_token_endpoint(request, claims.get("aud"), segment, directory):
            raise _fail(request, 401, "invalid_client", 700023,
                        "Client assertion audience claim does not match Realm issuer. Review the documentation at "
                        "https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-"
                        "credentials .")
        now = self._clock().timestamp()
        expires, not_before = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(expires, (int, float)) or not isinstance(not_before, (int, float)) \
                or not not_before - 300 <= now < expires:
            raise _fail(request, 401, "invalid_client", 700024,
                        f"Client assertion is not within its valid time range. Current time: "
                        f"{timefmt.seconds(self._clock())}, assertion valid from {_epoch(not_before)}, expiry time "
                        f"of assertion {_epoch(expires)}.")

    @staticmethod
    def _is_token_endpoint(request: Request, audience, segment: str, directory) -> bool:
        """The audience must be this token endpoint, with the tenant spelled by GUID, domain or as requested."""
        if not isinstance(audience, str):
            return False
        parts = urlsplit(audience)
        tenants = {segment.lower(), directory.id, *directory.domains}
        paths = {f"/{tenant}/oauth2/v2.0/token" for tenant in tenants}
        return parts.scheme == "https" and parts.netloc == urlsplit(request.base_url).netloc \
            and parts.path.lower() in paths


def _check_grant(request: Request, form: dict) -> None:
    for name in ("grant_type", "client_id", "scope"):
        if not form.get(name):
            raise _fail(request, 400, "invalid_request", 900144,
                        f"The request body must contain the following parameter: '{name}'.")
        if name == "grant_type" and form[name] != "client_credentials":
            raise _fail(request, 400, "unsupported_grant_type", 70003,
                        f"The app requested an unsupported grant type '{form[name]}'.")


def _fail(request: Request, status: int, error: str, code: int, message: str) -> ApiError:
    return ApiError(errors.entra_error(request, status, error, code, message))


def _thumbprint_bytes(value) -> bytes:
    """The digest in an ``x5t``/``x5t#S256`` header (base64url, with or without padding; MSAL pads)."""
    try:
        return b64url_decode(value) if isinstance(value, str) else b""
    except ValueError:
        return b""


def _epoch(value) -> Optional[str]:
    if not isinstance(value, (int, float)):
        return None
    return timefmt.seconds(datetime.datetime.fromtimestamp(value, datetime.timezone.utc))
