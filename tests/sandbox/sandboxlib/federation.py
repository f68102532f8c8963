"""Workload identity federation: the sandbox as the external issuer (a Kubernetes-like OIDC issuer) and the check
of federated client assertions against an app's federated credentials."""
from __future__ import annotations

import uuid

from . import errors, jose
from .errors import admin_failure, entra_failure
from .httpd import Request, Response, Route
from .scenario import TOKEN_EXCHANGE_AUDIENCE

ISSUER_PATH = "/workload-issuer"
DEFAULT_LIFETIME = 600


class Federation:
    """Mints assertions with its own key (admin API), publishes that key, and accepts assertions it signed."""

    def __init__(self, key_pair, clock):
        self._pair = key_pair
        self._clock = clock

    def routes(self) -> list:
        return [
            Route("GET", f"{ISSUER_PATH}/.well-known/openid-configuration", self.discovery, errors.IDENTITY),
            Route("GET", f"{ISSUER_PATH}/openid/v1/jwks", self.keys, errors.IDENTITY),
        ]

    def admin_routes(self) -> list:
        return [Route("POST", "/_sandbox/federated-token", self.mint, errors.ADMIN)]

    def discovery(self, request: Request) -> Response:
        issuer = request.base_url + ISSUER_PATH
        return Response.json(200, {"issuer": issuer, "jwks_uri": f"{issuer}/openid/v1/jwks",
                                   "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                                   "id_token_signing_alg_values_supported": ["RS256"]})

    def keys(self, request: Request) -> Response:
        key = {**jose.rsa_jwk(self._pair.key.public_key()), "use": "sig", "alg": "RS256", "kid": self._pair.x5t}
        return Response.json(200, {"keys": [key]})

    def mint(self, request: Request) -> Response:
        """``{"subject", "audience"?, "lifetime"?, "issuer"?}`` -> a signed assertion (``lifetime`` <= 0: expired)."""
        spec = _spec(request)
        issued = int(self._clock().timestamp())
        expires = issued + spec["lifetime"]
        claims = {"iss": spec["issuer"], "sub": spec["subject"], "aud": [spec["audience"]], "iat": min(issued, expires),
                  "nbf": min(issued, expires), "exp": expires, "jti": str(uuid.uuid4())}
        token = jose.sign(claims, self._pair.key, {"kid": self._pair.x5t})
        return Response.json(200, {"token": token, "issuer": spec["issuer"], "subject": spec["subject"],
                                   "audience": spec["audience"], "expires_on": expires})

    def check_assertion(self, request: Request, jws: jose.Jws, app) -> None:
        """The assertion must match a federated credential of the app and carry this issuer's signature."""
        claims = jws.claims
        audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
        matched = any(credential.issuer_for(request.base_url) == claims.get("iss")
                      and credential.subject == claims.get("sub") and set(credential.audiences) & set(audiences)
                      for credential in app.federated_credentials)
        if not matched:
            raise entra_failure(request, 400, "invalid_client", 70021,
                                "No matching federated identity record found for presented assertion. Assertion "
                                f"Issuer: '{claims.get('iss')}'. Assertion Subject: '{claims.get('sub')}'. Assertion "
                                f"Audience: '{','.join(str(audience) for audience in audiences)}'. "
                                "https://learn.microsoft.com/entra/workload-id/workload-identity-federation")
        signed_here = jws.header.get("kid") == self._pair.x5t and jws.algorithm == "RS256"
        if not signed_here or not jws.verify(self._pair.key.public_key()):
            raise entra_failure(request, 401, "invalid_client", 700027,
                                "Client assertion failed signature validation. [Reason - The key used to sign the "
                                f"assertion was not found in the issuer's signing keys, issuer '{claims.get('iss')}'.]")


def _spec(request: Request) -> dict:
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("subject"), str) or not body["subject"]:
        raise admin_failure(400, 'send {"subject": "...", "audience"?: "...", "lifetime"?: seconds, "issuer"?: "..."}')
    lifetime = body.get("lifetime", DEFAULT_LIFETIME)
    if not isinstance(lifetime, int) or isinstance(lifetime, bool):
        raise admin_failure(400, "lifetime must be an integer number of seconds (<= 0 makes an expired assertion)")
    audience, issuer = body.get("audience", TOKEN_EXCHANGE_AUDIENCE), body.get("issuer", request.base_url + ISSUER_PATH)
    if not isinstance(audience, str) or not isinstance(issuer, str):
        raise admin_failure(400, "audience and issuer must be strings")
    return {"subject": body["subject"], "audience": audience, "lifetime": lifetime, "issuer": issuer}
