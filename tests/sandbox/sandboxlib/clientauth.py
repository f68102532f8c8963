"""How an app proves who it is at the token endpoint: client secret, certificate assertion, federated assertion."""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from . import timefmt
from .errors import entra_failure
from .httpd import Request
from .jose import JoseError, Jws, b64url_decode

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SECRET, CERTIFICATE, PUBLIC = "secret", "certificate", "none"
CLOCK_SKEW = 300  # seconds an assertion's nbf may lie in the future

_KEYS_HELP = ("Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for "
              "app Id '{}'.")


class ClientAuthenticator:
    """Checks the client credential of a token request; the first problem found is the one reported."""

    def __init__(self, pki, federation, clock):
        self._pki = pki
        self._federation = federation
        self._clock = clock

    def confidential(self, request: Request, form: dict, app, segment: str, directory) -> str:
        """Checks the secret or the client assertion; returns ``secret`` or ``certificate``."""
        if form.get("client_secret"):
            self._check_secret(request, app, form["client_secret"])
            return SECRET
        if form.get("client_assertion"):
            self._check_assertion(request, form, app, segment, directory)
            return CERTIFICATE
        raise entra_failure(request, 401, "invalid_client", 7000218,
                            "The request body must contain the following parameter: 'client_assertion' or "
                            "'client_secret'.")

    def any_client(self, request: Request, form: dict, app, segment: str, directory) -> str:
        """For user flows: a public client sends no credential (``none``), a confidential one must."""
        if not app.public_client:
            return self.confidential(request, form, app, segment, directory)
        if form.get("client_secret") or form.get("client_assertion"):
            raise entra_failure(request, 401, "invalid_client", 700025,
                                "Client is public so neither 'client_assertion' nor 'client_secret' should be "
                                "presented.")
        return PUBLIC

    def _check_secret(self, request: Request, app, value: str) -> None:
        secret = next((s for s in app.secrets if hmac.compare_digest(s.value.encode(), value.encode())), None)
        if secret is None:
            raise entra_failure(request, 401, "invalid_client", 7000215,
                                "Invalid client secret provided. Ensure the secret being sent in the request is the "
                                f"client secret value, not the client secret ID, for a secret added to app "
                                f"'{app.client_id}'.")
        if secret.expired(self._clock()):
            raise entra_failure(request, 401, "invalid_client", 7000222,
                                f"The provided client secret keys for app '{app.client_id}' are expired (key id "
                                f"'{secret.id}', expired {timefmt.seconds(secret.expires)}). Visit the Azure portal "
                                "to create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
                                "certificate credentials for added security: https://aka.ms/certCreds.")

    def _check_assertion(self, request: Request, form: dict, app, segment: str, directory) -> None:
        """A certificate assertion names its key by thumbprint (``x5t``/``x5t#S256``); one without is federated."""
        if form.get("client_assertion_type") != JWT_BEARER:
            raise entra_failure(request, 400, "invalid_request", 900144,
                                f"The request body must contain the following parameter: 'client_assertion_type' "
                                f"with the value '{JWT_BEARER}'.")
        try:
            jws = Jws(form["client_assertion"])
        except JoseError as exc:
            raise entra_failure(request, 401, "invalid_client", 50027,
                                f"JWT token is invalid or malformed. {exc}") from None
        if "x5t" in jws.header or "x5t#S256" in jws.header:
            self._check_assertion_key(request, jws, app)
            self._check_assertion_claims(request, jws.claims, app, segment, directory)
        else:
            self._federation.check_assertion(request, jws, app)
        check_assertion_time(request, jws.claims, self._clock())

    def _check_assertion_key(self, request: Request, jws: Jws, app) -> None:
        """The header's ``x5t`` (RS256) or ``x5t#S256`` (PS256) must name the registered certificate."""
        certificate = self._pki.app_certificates.get(app.name)
        sha256 = "x5t#S256" in jws.header
        presented = _thumbprint_bytes(jws.header.get("x5t#S256" if sha256 else "x5t"))
        expected = certificate.pair.fingerprint(sha256) if certificate else None
        if expected is None or not hmac.compare_digest(presented, expected):
            raise entra_failure(request, 401, "invalid_client", 700027,
                                "The certificate with identifier used to sign the client assertion is not registered "
                                f"on application. [Reason - The key was not found., Thumbprint of key used by client: "
                                f"'{presented.hex().upper()}', {_KEYS_HELP.format(app.client_id)}]")
        if not jws.verify(certificate.pair.cert.public_key()):
            raise entra_failure(request, 401, "invalid_client", 700027,
                                "Client assertion failed signature validation. [Reason - Key was found, but use of "
                                f"the key to verify the signature failed., Thumbprint of key used by client: "
                                f"'{presented.hex().upper()}', {_KEYS_HELP.format(app.client_id)}]")

    @staticmethod
    def _check_assertion_claims(request: Request, claims: dict, app, segment: str, directory) -> None:
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            raise entra_failure(request, 401, "invalid_client", 700021,
                                "Client assertion application identifier doesn't match 'client_id' parameter. Review "
                                "the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/"
                                "active-directory-certificate-credentials .")
        if not _is_token_endpoint(request, claims.get("aud"), segment, directory):
            raise entra_failure(request, 401, "invalid_client", 700023,
                                "Client assertion audience claim does not match Realm issuer. Review the documentation "
                                "at https://docs.microsoft.com/azure/active-directory/develop/active-directory-"
                                "certificate-credentials .")


def check_assertion_time(request: Request, claims: dict, now) -> None:
    """AADSTS700024 unless ``nbf`` (minus the allowed skew) <= now < ``exp``."""
    moment = now.timestamp()
    expires, not_before = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(expires, (int, float)) or not isinstance(not_before, (int, float)) \
            or not not_before - CLOCK_SKEW <= moment < expires:
        raise entra_failure(request, 401, "invalid_client", 700024,
                            f"Client assertion is not within its valid time range. Current time: "
                            f"{timefmt.seconds(now)}, assertion valid from {timefmt.from_epoch(not_before)}, expiry "
                            f"time of assertion {timefmt.from_epoch(expires)}.")


def _is_token_endpoint(request: Request, audience, segment: str, directory) -> bool:
    """The audience must be this token endpoint, with the tenant spelled by GUID, domain or as requested."""
    if not isinstance(audience, str):
        return False
    parts = urlsplit(audience)
    tenants = {segment.lower(), directory.id, *directory.domains}
    paths = {f"/{tenant}/oauth2/v2.0/token" for tenant in tenants}
    return parts.scheme == "https" and parts.netloc == urlsplit(request.base_url).netloc \
        and parts.path.lower() in paths


def _thumbprint_bytes(value) -> bytes:
    """The digest in an ``x5t``/``x5t#S256`` header (base64url, with or without padding; MSAL pads)."""
    try:
        return b64url_decode(value) if isinstance(value, str) else b""
    except ValueError:
        return b""
