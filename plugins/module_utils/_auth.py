# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Credentials to an access token: one small class per sign-in flow, and reuse of a token already held."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import hashlib
import json
import re
import time
import traceback
import warnings

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import (
    AuthenticationError,
    InputError,
    M365DefenderError,
    authentication_error,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._http import MsalHttpAdapter
from ansible_collections.secops.m365_defender.plugins.module_utils._token_cache import TokenCacheFile

try:
    import msal
    HAS_MSAL = True
    MSAL_IMPORT_ERROR = None
    # Errors MSAL raises for answers it cannot use (5xx, a managed identity endpoint's refusal).
    MSAL_ERRORS = (msal.exceptions.MsalServiceError, getattr(msal, "ManagedIdentityError", ValueError))
except ImportError:
    HAS_MSAL = False
    MSAL_IMPORT_ERROR = traceback.format_exc()
    MSAL_ERRORS = ()

# MSAL treats tokens with less than five minutes left as expired; so do we.
EXPIRY_MARGIN = 300

NON_SECRET_CLAIMS = ("aud", "iss", "tid", "appid", "azp", "oid", "upn", "roles", "scp", "iat", "nbf", "exp", "ver")

PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----\s.*?-----END \1-----", re.DOTALL)


def decode_claims(access_token):
    """The token's non-secret claims, read without verifying the signature (the API verifies it)."""
    try:
        payload = access_token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")).decode("utf-8"))
    except (IndexError, ValueError, UnicodeError):
        return {}
    if not isinstance(claims, dict):
        return {}
    return dict((name, claims[name]) for name in NON_SECRET_CLAIMS if name in claims)


def iso_utc(epoch):
    return datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Token(object):
    """An access token with its expiry, where it came from and its claims."""

    def __init__(self, access_token, expires_on, source):
        self.access_token = access_token
        self.expires_on = int(expires_on)
        self.source = source
        self.claims = decode_claims(access_token)

    def usable(self, now=None):
        return self.expires_on - (now if now is not None else time.time()) > EXPIRY_MARGIN


class SignInContext(object):
    """What a flow needs besides its options: endpoints, MSAL's HTTP client, the cache, and a way to talk."""

    def __init__(self, endpoints, http_client, cache=None, display=None, warn=None, remember=None):
        self.endpoints = endpoints
        self.http_client = http_client
        self.cache = cache
        self.display = display
        self.warn = warn or (lambda message: None)
        # Told every credential a flow reads, so that the task hides it from its output.
        self.remember = remember or (lambda value: None)


class SignInFlow(object):
    """One way to sign in. Subclasses name the options they need and get a token through MSAL."""

    name = None
    required = ()
    context = "application"
    automatic = True

    def __init__(self, options):
        self.options = options

    @classmethod
    def applies_to(cls, options):
        return cls.automatic and all(options.get(name) for name in cls.required)

    def check(self):
        missing = [name for name in self.required if not self.options.get(name)]
        if missing:
            raise InputError("auth_flow '%s' needs option(s) %s." % (self.name, ", ".join(missing)))

    def authority(self, ctx):
        return "%s/%s" % (ctx.endpoints.login_url, self.options["tenant_id"])

    def acquire(self, ctx):
        """MSAL's result: a dict with access_token, or with error and error_description."""
        raise NotImplementedError


class ConfidentialFlow(SignInFlow):
    """Application context: the client credentials grant with some kind of client credential."""

    def client_credential(self):
        raise NotImplementedError

    def acquire(self, ctx):
        app = msal.ConfidentialClientApplication(
            self.options["client_id"],
            client_credential=remembered(self.client_credential(), ctx.remember),
            authority=self.authority(ctx),
            http_client=ctx.http_client,
            instance_discovery=ctx.endpoints.instance_discovery,
            token_cache=ctx.cache,
        )
        return app.acquire_token_for_client(scopes=[ctx.endpoints.scope])


def remembered(credential, remember):
    """The client credential, with every secret in it (a secret, a private key and its passphrase, an assertion
    each time it is read) handed to `remember`."""
    if not isinstance(credential, dict):
        remember(credential)
        return credential
    for name in ("private_key", "passphrase"):
        if credential.get(name):
            remember(credential[name])
    assertion = credential.get("client_assertion")
    if not callable(assertion):
        if assertion:
            remember(assertion)
        return credential

    def read_and_remember():
        value = assertion()
        remember(value)
        return value

    return dict(credential, client_assertion=read_and_remember)


class ClientSecretFlow(ConfidentialFlow):
    """Application context with a client secret."""

    name = "client_secret"
    required = ("client_id", "client_secret")

    def client_credential(self):
        return self.options["client_secret"]


class ClientCertificateFlow(ConfidentialFlow):
    """Application context with a certificate: a PEM file with the key and certificate, or a PFX file."""

    name = "client_certificate"
    required = ("client_id", "client_certificate_path")

    def client_credential(self):
        """The key and certificate, opened and checked here, so that a damaged file, a wrong password or an
        expired certificate fails before any request (Entra ID would answer only a vague AADSTS700027)."""
        path = self.options["client_certificate_path"]
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            raise InputError("Cannot read client_certificate_path '%s': %s." % (path, exc))
        if b"-----BEGIN" in data:
            key, certificate = self._from_pem(path, data.decode("utf-8", "replace"))
        else:
            key, certificate = self._from_pfx(path, data)
        check_certificate(path, key, certificate)
        serialization = _crypto().serialization
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode("ascii")
        return {"private_key": key_pem, "thumbprint": certificate_thumbprint(certificate)}

    def _from_pem(self, path, text):
        blocks = [(match.group(1), match.group(0)) for match in PEM_BLOCK.finditer(text)]
        key = next((block for label, block in blocks if label.endswith("PRIVATE KEY")), None)
        # The app's own certificate comes first; any that follow are its issuers.
        certificate = next((block for label, block in blocks if label == "CERTIFICATE"), None)
        if not key or not certificate:
            raise InputError(
                "client_certificate_path '%s' must be a PEM file holding both the private key and the "
                "certificate, or a PFX file; found %s." % (
                    path, ", ".join(sorted(set(label for label, block in blocks))) or "no PEM block"))
        password = self.options.get("client_certificate_password")
        encrypted = "ENCRYPTED" in key
        if encrypted and not password:
            raise InputError("The private key in '%s' is encrypted: set client_certificate_password." % path)
        crypto = _crypto()
        try:
            private_key = crypto.serialization.load_pem_private_key(
                key.encode("ascii", "replace"), password.encode("utf-8") if encrypted else None)
        except (ValueError, TypeError) as exc:
            raise InputError("The private key in client_certificate_path '%s' %s: %s." % (
                path, "cannot be decrypted: check client_certificate_password" if encrypted else "is damaged",
                _first_line(exc)))
        try:
            return private_key, crypto.x509.load_pem_x509_certificate(certificate.encode("ascii", "replace"))
        except ValueError:
            # (the library's own text is a parser's debug output)
            raise InputError("The certificate in client_certificate_path '%s' is damaged: it is not a readable X.509 "
                             "certificate." % path)

    def _from_pfx(self, path, data):
        """The key and certificate of a PKCS#12 (PFX) file."""
        password = self.options.get("client_certificate_password")
        try:
            key, certificate, dummy = _crypto().pkcs12.load_key_and_certificates(
                data, password.encode("utf-8") if password else None)
        except (ValueError, TypeError) as exc:
            hint = "check client_certificate_password" if password else "set client_certificate_password"
            raise InputError("client_certificate_path '%s' is neither PEM nor a PFX file that opens (%s): %s."
                             % (path, hint, exc))
        if key is None or certificate is None:
            raise InputError("The PFX file '%s' must hold both the private key and the certificate." % path)
        return key, certificate


class _Crypto(object):
    """The parts of the cryptography library that reading certificates needs."""

    def __init__(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.serialization import pkcs12
        self.x509, self.hashes, self.serialization, self.pkcs12 = x509, hashes, serialization, pkcs12


def _crypto():
    try:
        return _Crypto()
    except ImportError:
        raise M365DefenderError("Reading a client certificate needs the cryptography Python library.")


def _first_line(exc):
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _validity(certificate):
    """(not before, not after) as aware datetimes, with cryptography's old and new attribute names."""
    if hasattr(certificate, "not_valid_after_utc"):
        return certificate.not_valid_before_utc, certificate.not_valid_after_utc
    utc = datetime.timezone.utc
    return certificate.not_valid_before.replace(tzinfo=utc), certificate.not_valid_after.replace(tzinfo=utc)


def check_certificate(path, key, certificate, now=None):
    """Refuse a certificate that is expired, not yet valid, or does not belong to the private key beside it."""
    not_before, not_after = _validity(certificate)
    now = now or datetime.datetime.now(tz=datetime.timezone.utc)
    if now > not_after:
        raise InputError("The certificate in client_certificate_path '%s' expired on %s: create a new one and upload "
                         "its public part to the app registration." % (path, not_after.strftime("%Y-%m-%dT%H:%M:%SZ")))
    if now < not_before:
        raise InputError("The certificate in client_certificate_path '%s' is valid only from %s: check the "
                         "machine's clock." % (path, not_before.strftime("%Y-%m-%dT%H:%M:%SZ")))
    serialization = _crypto().serialization

    def public(item):
        return item.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    if public(key) != public(certificate):
        raise InputError("The private key in client_certificate_path '%s' does not belong to its certificate: put "
                         "the key and the certificate of one pair in the file." % path)


class FederatedTokenFlow(ConfidentialFlow):
    """Workload identity federation: a token from another identity provider, read from a file, as assertion."""

    name = "federated_token"
    required = ("client_id", "federated_token_file")

    def client_credential(self):
        self._read_assertion()  # an unreadable or empty file fails here, before any request
        return {"client_assertion": self._read_assertion}

    def _read_assertion(self):
        # Read at each sign-in: the platform that writes the file renews it.
        path = self.options["federated_token_file"]
        try:
            with open(path, "r") as handle:
                assertion = handle.read().strip()
        except (IOError, OSError) as exc:
            raise InputError("Cannot read federated_token_file '%s': %s." % (path, exc))
        if not assertion:
            raise InputError("federated_token_file '%s' is empty." % path)
        return assertion


class ManagedIdentityFlow(SignInFlow):
    """The Azure managed identity of the machine running the task, system- or user-assigned."""

    name = "managed_identity"
    required = ("managed_identity_client_id",)

    def check(self):
        """A system-assigned identity needs no option."""

    def acquire(self, ctx):
        client_id = self.options.get("managed_identity_client_id")
        identity = (msal.UserAssignedManagedIdentity(client_id=client_id) if client_id
                    else msal.SystemAssignedManagedIdentity())
        client = msal.ManagedIdentityClient(identity, http_client=ctx.http_client, token_cache=ctx.cache)
        return client.acquire_token_for_client(resource=ctx.endpoints.resource)


class UserFlow(SignInFlow):
    """User context: a public client acting for a user, silently from the token cache when it can."""

    context = "user"

    def acquire(self, ctx):
        app = msal.PublicClientApplication(
            self.options["client_id"],
            authority=self.authority(ctx),
            http_client=ctx.http_client,
            instance_discovery=ctx.endpoints.instance_discovery,
            token_cache=ctx.cache,
        )
        scopes = [ctx.endpoints.scope]
        for account in app.get_accounts(username=self.options.get("username")):
            result = app.acquire_token_silent(scopes, account=account)
            if result and "access_token" in result:
                return result
        return self.interactive(app, scopes, ctx)

    def interactive(self, app, scopes, ctx):
        raise NotImplementedError


class PasswordFlow(UserFlow):
    """The resource owner password grant (ROPC): deprecated by Microsoft, and it cannot satisfy MFA."""

    name = "password"
    required = ("client_id", "username", "password")

    def interactive(self, app, scopes, ctx):
        ctx.warn("auth_flow 'password' (ROPC) is deprecated by Microsoft and fails for users who need MFA; "
                 "prefer device_code with token_cache_path, or an application context.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return app.acquire_token_by_username_password(
                self.options["username"], self.options["password"], scopes=scopes)


class DeviceCodeFlow(UserFlow):
    """The device code flow: the user signs in elsewhere with a code shown while the task waits."""

    name = "device_code"
    required = ("client_id",)
    automatic = False

    def interactive(self, app, scopes, ctx):
        if ctx.display is None:
            raise InputError(
                "No cached sign-in to use for auth_flow 'device_code'. Run secops.m365_defender.token with "
                "auth_flow device_code first (it shows the code and waits), with the same token_cache_path.")
        try:
            flow = app.initiate_device_flow(scopes=scopes)
        except (TypeError, AttributeError, KeyError) as exc:
            # MSAL reads the answer without checking its shape (an interval of null, a list instead of an object).
            raise AuthenticationError("The device code answer of %s cannot be used: %s." % (
                ctx.endpoints.login_url, _first_line(exc)), tenant_id=self.options.get("tenant_id"))
        if "user_code" not in flow:
            return flow
        ctx.display(flow.get("message") or "To sign in, open %s and enter the code %s." % (
            flow.get("verification_uri"), flow["user_code"]))
        # MSAL polls every `interval` seconds: a zero or negative one would poll without pause, a huge one never.
        flow["interval"] = min(max(flow["interval"], 1), 60)
        deadline = time.time() + min(int(self.options.get("device_code_timeout") or 300), max(flow["expires_in"], 1))
        return app.acquire_token_by_device_flow(flow, exit_condition=lambda state: time.time() > deadline)


def certificate_thumbprint(certificate):
    """The SHA-1 thumbprint (hex) that Entra ID shows for a certificate and expects in `x5t`."""
    return hashlib.sha1(certificate.public_bytes(_crypto().serialization.Encoding.DER)).hexdigest().upper()


# The order in which auth_flow 'auto' looks for credentials.
FLOWS = (ClientCertificateFlow, ClientSecretFlow, FederatedTokenFlow, PasswordFlow, ManagedIdentityFlow,
         DeviceCodeFlow)
FLOW_NAMES = ("auto",) + tuple(flow.name for flow in FLOWS)


# Credentials of different flows; auth_flow 'auto' would use one and ignore the others.
CREDENTIAL_OPTIONS = ("client_certificate_path", "client_secret", "federated_token_file", "password",
                      "managed_identity_client_id")


def select_flow(options):
    """The sign-in flow named by auth_flow, or the first whose options are all given."""
    wanted = options.get("auth_flow") or "auto"
    if wanted != "auto":
        flow = next(flow for flow in FLOWS if flow.name == wanted)(options)
        flow.check()
        return flow
    given = [name for name in CREDENTIAL_OPTIONS if options.get(name)]
    if len(given) > 1:
        raise InputError("Options %s were given together (or through their environment variables): give only one "
                         "credential, or choose the one to use with auth_flow." % " and ".join(given))
    for flow in FLOWS:
        if flow.applies_to(options):
            return flow(options)
    return None


def no_credentials_error():
    return InputError(
        "No credentials to sign in with: give client_id with client_secret, client_certificate_path or "
        "federated_token_file, or username and password (or their environment variables AZURE_CLIENT_ID, "
        "AZURE_CLIENT_SECRET, ...), set auth_flow to managed_identity or device_code, or pass 'auth' from "
        "secops.m365_defender.token.")


def unused_auth_error(reason):
    """No credentials, and an `auth` that this task cannot use: say why, rather than ask for an `auth`."""
    return InputError(
        "%s No credentials were given to sign in instead: give credentials (client_id with client_secret, "
        "client_certificate_path or federated_token_file, username and password, or auth_flow managed_identity or "
        "device_code, or their environment variables), or pass the 'auth' of a token for this task's tenant, API "
        "and cloud." % reason)


def forget_access_token(cache, access_token):
    """Remove an access token from MSAL's cache, so that the next sign-in asks the identity provider."""
    for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
        if item.get("secret") == access_token:
            cache.remove_at(item)


def _with_context(exc):
    """The exception's text, or that of an exception it replaced when only that one names an AADSTS code."""
    cause = getattr(exc, "__context__", None)
    if "AADSTS" not in str(exc) and cause is not None and "AADSTS" in str(cause):
        return str(cause)
    return str(exc)


class Authenticator(object):
    """Gives the access token for one API in one tenant, signing in at most once per instance."""

    def __init__(self, options, endpoints, http, held=None, display=None, remember=None, check_mode=False,
                 auth_unused=None):
        """`remember` is given every token and credential of the sign-in, to hide from the task's output;
        `auth_unused` says why an `auth` that was passed is not used, for the error when there is nothing else."""
        self.options = options
        self.endpoints = endpoints
        self.http = http
        self.held = held
        self.display = display
        self.remember = remember or (lambda value: None)
        self.check_mode = check_mode
        self.auth_unused = auth_unused
        self.warnings = []
        self._token = None

    def token(self):
        if self._token is None or not self._token.usable():
            self._token = self._held_token() or self._sign_in()
        return self._token

    def renew(self):
        """Sign in again after the API refused the token; False when there are no credentials to do it."""
        if select_flow(self.options) is None:
            return False
        refused = self._token.access_token if self._token else None
        self.held = None
        self._token = self._sign_in(refused=refused)
        return True

    def _held_token(self):
        """The token passed in as `auth`, when it fits this API and tenant and is not about to expire."""
        if self.held is None or not self.held.usable():
            return None
        return self.held

    def _sign_in(self, refused=None):
        """A token from the flow; `refused`, a token the API refused, is first dropped from the token cache."""
        flow = select_flow(self.options)
        if flow is None:
            if self.held is not None:
                raise InputError(
                    "The token in 'auth' expires at %s and no credentials were given to renew it." % (
                        iso_utc(self.held.expires_on)))
            if self.auth_unused:
                raise unused_auth_error(self.auth_unused)
            raise no_credentials_error()
        if not HAS_MSAL:
            raise M365DefenderError("The msal Python library is needed to sign in.")
        ctx = SignInContext(self.endpoints, MsalHttpAdapter(self.http, self.endpoints.login_url, self.remember),
                            display=self.display, warn=self.warnings.append, remember=self.remember)
        cache_path = self.options.get("token_cache_path")
        if cache_path:
            with TokenCacheFile(cache_path, msal.SerializableTokenCache, self.check_mode, self.remember) as cache_file:
                ctx.cache = cache_file.cache
                try:
                    if refused:
                        forget_access_token(cache_file.cache, refused)
                    result = self._acquire(flow, ctx)
                finally:
                    # Also when signing in fails: the user should hear what was wrong with the cache.
                    self.warnings.extend(cache_file.warnings)
        else:
            result = self._acquire(flow, ctx)
        for name in ("access_token", "refresh_token", "id_token"):
            if result.get(name):
                self.remember(result[name])
        if "access_token" not in result:
            raise self._error(result)
        source = result.get("token_source", "identity_provider")
        return Token(result["access_token"], time.time() + int(result.get("expires_in", 0)), source)

    def _acquire(self, flow, ctx):
        try:
            return flow.acquire(ctx)
        except M365DefenderError:
            raise
        except ValueError as exc:
            # MSAL raises ValueError for keys it cannot load, and when OIDC discovery is refused (an
            # unknown tenant): then the response text is in the ValueError it replaced.
            raise self._error(_with_context(exc))
        except MSAL_ERRORS as exc:
            raise self._error(str(exc))

    def _error(self, body):
        if isinstance(select_flow(self.options), ManagedIdentityFlow):
            return self._managed_identity_error(body)
        tenant = self.options.get("tenant_id")
        client_id = self.options.get("client_id")
        if isinstance(body, str) and "AADSTS" not in body:
            return AuthenticationError(
                "Sign-in to tenant %s at %s failed: %s" % (
                    tenant, self.endpoints.login_url, body.splitlines()[0][:300]),
                tenant_id=tenant, client_id=client_id)
        return authentication_error(body, tenant, client_id, self.endpoints.login_url)

    def _managed_identity_error(self, body):
        identity = self.options.get("managed_identity_client_id")
        if isinstance(body, dict):
            body = body.get("error_description") or body.get("error") or str(body)
        return AuthenticationError(
            "Sign-in with the %s failed: %s" % (
                "user-assigned managed identity %s" % identity if identity else "system-assigned managed identity",
                str(body).splitlines()[0][:300] if str(body).strip() else "no reason given"),
            hint="Check that the machine running the task has this identity, and managed_identity_client_id.",
            client_id=identity)


def auth_result(token, endpoints, tenant_id, client_id):
    """The `auth` dictionary that secops.m365_defender.token returns and every API module accepts."""
    return {
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_on": token.expires_on,
        "expires_at": iso_utc(token.expires_on),
        "api": endpoints.api,
        "cloud": endpoints.cloud,
        "tenant_id": tenant_id,
        "client_id": client_id,
        "login_url": endpoints.login_url,
        "api_url": endpoints.api_url,
        "resource": endpoints.resource,
        "scope": endpoints.scope,
    }
