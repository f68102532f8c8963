"""Access tokens: what the token endpoint issues and what the APIs accept."""
from __future__ import annotations

import datetime
import hashlib
import uuid
from dataclasses import dataclass
from typing import Optional

from . import jose
from .pki import KeyPair

GRAPH = "graph"
DEFENDER = "defender"
ENDPOINT = "endpoint"  # the Defender for Endpoint API (WindowsDefenderATP): its own audience, the Defender API's host

# Resource (token audience) -> API, for every cloud of docs/microsoft-apis.md §7; the sandbox serves them all on one host.
RESOURCES = {
    "https://graph.microsoft.com": GRAPH,
    "https://graph.microsoft.us": GRAPH,
    "https://dod-graph.microsoft.us": GRAPH,
    "https://api.security.microsoft.com": DEFENDER,
    "https://api-gcc.security.microsoft.us": DEFENDER,
    "https://api-gov.security.microsoft.us": DEFENDER,
    "https://api.securitycenter.microsoft.com": ENDPOINT,
    "https://api-gcc.securitycenter.microsoft.us": ENDPOINT,
    "https://api-gov.securitycenter.microsoft.us": ENDPOINT,
    # the WindowsDefenderATP app's identifier URI, which Microsoft's user-context examples ask for
    "https://securitycenter.onmicrosoft.com/windowsatpservice": ENDPOINT,
}

DEFAULT_USER_RESOURCE = "https://graph.microsoft.com"
OPENID_SCOPES = ("openid", "profile", "offline_access", "email")

# Why a bearer token was refused; each API words these its own way.
MISSING, MALFORMED, BAD_SIGNATURE, EXPIRED, WRONG_AUDIENCE, UNKNOWN_TENANT = (
    "missing", "malformed", "signature", "expired", "audience", "tenant")

_SERVICE_PRINCIPAL_NAMESPACE = uuid.UUID("5b0f6f0e-8f3c-4d51-9d0a-3c6a1c2f7e10")


class ScopeError(ValueError):
    """The scope of a user flow is not acceptable: ``code`` is the AADSTS number."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class UserScope:
    """What a user flow asks for: one resource, explicit permissions (none: ``.default``) and OpenID scopes."""

    resource: str
    permissions: tuple
    openid: frozenset

    def requested(self) -> str:
        """This scope spelled as a request would."""
        names = [f"{self.resource}/{name}" for name in self.permissions] or [f"{self.resource}/.default"]
        return " ".join(names + sorted(self.openid))

    def words(self, granted: list) -> str:
        """The ``scope`` of the answer: the granted permissions as full names, ``.default`` and the OpenID scopes."""
        names = [f"{self.resource}/{name}" for name in granted] + [f"{self.resource}/.default"]
        return " ".join(names + sorted(self.openid - {"offline_access"}) + sorted(self.openid & {"offline_access"}))


class TokenRejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def resource_for_scope(scope: str) -> Optional[str]:
    """``https://graph.microsoft.com/.default`` -> ``https://graph.microsoft.com``; None if not a known resource."""
    if not scope.endswith("/.default"):
        return None
    resource = scope[: -len("/.default")].rstrip("/").lower()
    return resource if resource in RESOURCES else None


def parse_user_scope(scope: str) -> UserScope:
    """The resource and permissions a user flow asks for: ``<resource>/.default`` or ``<resource>/<permission>``
    items of one resource (bare permission names are Graph's), plus the OpenID scopes. Raises ScopeError.
    """
    words = scope.split()
    reserved = frozenset(word for word in words if word in OPENID_SCOPES)
    resources, permissions = set(), []
    for word in words:
        if word in OPENID_SCOPES:
            continue
        resource, permission = word.rsplit("/", 1) if "/" in word else (DEFAULT_USER_RESOURCE, word)
        resource = resource.rstrip("/").lower()
        if resource not in RESOURCES or not permission:
            raise ScopeError(70011, f"The provided value for the input parameter 'scope' is not valid. The scope "
                                    f"{scope} is not valid.")
        resources.add(resource)
        if permission != ".default":
            permissions.append(permission)
    if len(resources) > 1:
        raise ScopeError(28000, "Provided value for the input parameter scope is not valid because it contains more "
                                f"than one resource. Scope {scope} is not valid.")
    return UserScope(resources.pop() if resources else DEFAULT_USER_RESOURCE, tuple(permissions), reserved)


def pairwise_subject(user_id: str, client_id: str) -> str:
    """``sub`` of user tokens: stable per user and app, different for each app."""
    return jose.b64url_encode(hashlib.sha256(f"{user_id}/{client_id}".encode("ascii")).digest())


def service_principal_id(client_id: str, tenant_id: str) -> str:
    """The app's object id in a tenant: stable, and different in each tenant as in Entra ID."""
    return str(uuid.uuid5(_SERVICE_PRINCIPAL_NAMESPACE, f"{client_id}/{tenant_id}"))


class TokenService:
    """Signs v1.0 access tokens like Entra ID's and verifies them for the APIs."""

    def __init__(self, signing: KeyPair, lifetime: int, tenant_exists, revoked=None):
        """``revoked(client id, tenant id)``: True when the app's consent in the tenant was revoked."""
        self._signing = signing
        self.lifetime = lifetime
        self._tenant_exists = tenant_exists
        self._revoked = revoked

    @property
    def key_id(self) -> str:
        return self._signing.x5t

    def issue(self, app, tenant_id: str, resource: str, now: datetime.datetime, credential_type: str) -> str:
        """An app-only token; ``credential_type`` is ``secret`` or ``certificate`` (claim ``appidacr`` 1 or 2)."""
        object_id = service_principal_id(app.client_id, tenant_id)
        claims = {**self._base_claims(resource, tenant_id, now), "appid": app.client_id, "azp": app.client_id,
                  "appidacr": "2" if credential_type == "certificate" else "1", "idtyp": "app",
                  "oid": object_id, "sub": object_id}
        return self._sign(claims, app.roles(tenant_id, RESOURCES[resource]))

    def issue_managed(self, identity, resource: str, now: datetime.datetime) -> str:
        """An app-only token for a managed identity (``xms_mirid`` names its Azure resource)."""
        claims = {**self._base_claims(resource, identity.tenant_id, now), "appid": identity.client_id,
                  "azp": identity.client_id, "appidacr": "2", "idtyp": "app", "oid": identity.object_id,
                  "sub": identity.object_id, "xms_mirid": identity.resource_id}
        return self._sign(claims, identity.roles(RESOURCES[resource]))

    def issue_user(self, app, user, resource: str, scopes: list, now: datetime.datetime, credential_type: str) -> str:
        """A delegated token: ``scp`` (space-separated), the user's ``oid``/``upn``/``name``, never ``roles``."""
        claims = {**self._base_claims(resource, user.tenant_id, now), "acr": "1", "amr": ["pwd"],
                  "app_displayname": app.name, "appid": app.client_id,
                  "appidacr": {"secret": "1", "certificate": "2"}.get(credential_type, "0"), "idtyp": "user",
                  "name": user.display_name, "oid": user.id, "scp": " ".join(scopes),
                  "sub": pairwise_subject(user.id, app.client_id), "unique_name": user.upn, "upn": user.upn}
        return self._sign(claims, [])

    def issue_id_token(self, app, user, issuer: str, now: datetime.datetime) -> str:
        """An OpenID Connect ID token (v2.0) for the app about the user."""
        issued = int(now.timestamp())
        claims = {"aud": app.client_id, "iss": issuer, "iat": issued, "nbf": issued, "exp": issued + self.lifetime,
                  "name": user.display_name, "oid": user.id, "preferred_username": user.upn,
                  "sub": pairwise_subject(user.id, app.client_id), "tid": user.tenant_id,
                  "uti": jose.b64url_encode(uuid.uuid4().bytes), "ver": "2.0"}
        return jose.sign(claims, self._signing.key, {"kid": self.key_id})

    def _base_claims(self, resource: str, tenant_id: str, now: datetime.datetime) -> dict:
        issued = int(now.timestamp())
        issuer = f"https://sts.windows.net/{tenant_id}/"
        return {"aud": resource, "iss": issuer, "iat": issued, "nbf": issued, "exp": issued + self.lifetime,
                "aio": jose.b64url_encode(uuid.uuid4().bytes), "idp": issuer, "tid": tenant_id,
                "uti": jose.b64url_encode(uuid.uuid4().bytes), "ver": "1.0"}

    def _sign(self, claims: dict, roles: list) -> str:
        if roles:
            claims["roles"] = roles
        return jose.sign(claims, self._signing.key, {"x5t": self.key_id, "kid": self.key_id})

    def verify(self, authorization: Optional[str], api: str, now: datetime.datetime) -> dict:
        """Returns the claims of a valid bearer token for ``api``; raises TokenRejected otherwise."""
        scheme, token = (authorization or "").partition(" ")[::2]
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRejected(MISSING)
        try:
            jws = jose.Jws(token.strip())
        except jose.JoseError:
            raise TokenRejected(MALFORMED) from None
        if jws.algorithm != "RS256" or jws.header.get("kid") != self.key_id or not jws.verify(self.public_key):
            raise TokenRejected(BAD_SIGNATURE)
        claims = jws.claims
        moment = now.timestamp()
        if not _number(claims.get("nbf")) <= moment < _number(claims.get("exp")):
            raise TokenRejected(EXPIRED)
        if RESOURCES.get(str(claims.get("aud", "")).rstrip("/").lower()) != api:
            raise TokenRejected(WRONG_AUDIENCE)
        if not self._tenant_exists(str(claims.get("tid", ""))):
            raise TokenRejected(UNKNOWN_TENANT)
        # an app whose service principal is gone: its tokens are dead, refused as an expired one is
        if self._revoked is not None and self._revoked(str(claims.get("appid", "")), str(claims.get("tid", ""))):
            raise TokenRejected(EXPIRED)
        return claims

    @property
    def public_key(self):
        return self._signing.key.public_key()

    def jwks(self, issuer: str) -> dict:
        key = {**jose.rsa_jwk(self.public_key), "use": "sig", "kid": self.key_id, "x5t": self.key_id,
               "x5c": [self._signing.x5c], "issuer": issuer}
        return {"keys": [key]}


def _number(value) -> float:
    return value if isinstance(value, (int, float)) else float("nan")
