"""Access tokens: what the token endpoint issues and what the APIs accept."""
from __future__ import annotations

import datetime
import uuid
from typing import Optional

from . import jose
from .pki import KeyPair

GRAPH = "graph"
DEFENDER = "defender"

# Resource (token audience) -> API, for every cloud of the reference; the sandbox serves them all on one host.
RESOURCES = {
    "https://graph.microsoft.com": GRAPH,
    "https://graph.microsoft.us": GRAPH,
    "https://dod-graph.microsoft.us": GRAPH,
    "https://api.security.microsoft.com": DEFENDER,
    "https://api-gcc.security.microsoft.us": DEFENDER,
    "https://api-gov.security.microsoft.us": DEFENDER,
}

# Why a bearer token was refused; each API words these its own way.
MISSING, MALFORMED, BAD_SIGNATURE, EXPIRED, WRONG_AUDIENCE, UNKNOWN_TENANT = (
    "missing", "malformed", "signature", "expired", "audience", "tenant")

_SERVICE_PRINCIPAL_NAMESPACE = uuid.UUID("5b0f6f0e-8f3c-4d51-9d0a-3c6a1c2f7e10")


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


def service_principal_id(client_id: str, tenant_id: str) -> str:
    """The app's object id in a tenant: stable, and different in each tenant as in Entra ID."""
    return str(uuid.uuid5(_SERVICE_PRINCIPAL_NAMESPACE, f"{client_id}/{tenant_id}"))


class TokenService:
    """Signs v1.0 access tokens like Entra ID's and verifies them for the APIs."""

    def __init__(self, signing: KeyPair, lifetime: int, tenant_exists):
        self._signing = signing
        self.lifetime = lifetime
        self._tenant_exists = tenant_exists

    @property
    def key_id(self) -> str:
        return self._signing.x5t

    def issue(self, app, tenant_id: str, resource: str, now: datetime.datetime, credential_type: str) -> str:
        """``credential_type`` is ``secret`` or ``certificate`` (claim ``appidacr`` 1 or 2)."""
        issued = int(now.timestamp())
        issuer = f"https://sts.windows.net/{tenant_id}/"
        object_id = service_principal_id(app.client_id, tenant_id)
        claims = {
            "aud": resource, "iss": issuer, "iat": issued, "nbf": issued, "exp": issued + self.lifetime,
            "aio": jose.b64url_encode(uuid.uuid4().bytes), "appid": app.client_id, "azp": app.client_id,
            "appidacr": "2" if credential_type == "certificate" else "1", "idp": issuer, "idtyp": "app",
            "oid": object_id, "sub": object_id, "tid": tenant_id, "uti": jose.b64url_encode(uuid.uuid4().bytes),
            "ver": "1.0",
        }
        roles = app.roles(tenant_id, RESOURCES[resource])
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
