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
import ssl
import time
import traceback

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import (
    AuthenticationError,
    InputError,
    M365DefenderError,
    authentication_error,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._http import MsalHttpAdapter

try:
    import msal
    HAS_MSAL = True
    MSAL_IMPORT_ERROR = None
except ImportError:
    HAS_MSAL = False
    MSAL_IMPORT_ERROR = traceback.format_exc()

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


class SignInFlow(object):
    """One way to sign in. Subclasses name the options they need and build MSAL's credential."""

    name = None
    required = ()
    context = "application"

    def __init__(self, options):
        self.options = options

    @classmethod
    def applies_to(cls, options):
        return all(options.get(name) for name in cls.required)

    def check(self):
        missing = [name for name in self.required if not self.options.get(name)]
        if missing:
            raise InputError("auth_flow '%s' needs option(s) %s." % (self.name, ", ".join(missing)))

    def client_credential(self):
        raise NotImplementedError


class ClientSecretFlow(SignInFlow):
    """Application context with a client secret."""

    name = "client_secret"
    required = ("client_id", "client_secret")

    def client_credential(self):
        return self.options["client_secret"]


class ClientCertificateFlow(SignInFlow):
    """Application context with a certificate: a PEM file holding the private key and the certificate."""

    name = "client_certificate"
    required = ("client_id", "client_certificate_path")

    def client_credential(self):
        path = self.options["client_certificate_path"]
        try:
            with open(path, "r") as handle:
                text = handle.read()
        except (IOError, OSError, UnicodeError) as exc:
            raise InputError("Cannot read client_certificate_path '%s': %s." % (path, exc))
        blocks = [(match.group(1), match.group(0)) for match in PEM_BLOCK.finditer(text)]
        key = next((block for label, block in blocks if label.endswith("PRIVATE KEY")), None)
        # The app's own certificate comes first; any that follow are its issuers.
        certificate = next((block for label, block in blocks if label == "CERTIFICATE"), None)
        if not key or not certificate:
            raise InputError(
                "client_certificate_path '%s' must be a PEM file holding both the private key and the "
                "certificate; found %s." % (path, ", ".join(sorted(set(label for label, block in blocks))) or "no PEM block"))
        if "ENCRYPTED" in key and not self.options.get("client_certificate_password"):
            raise InputError("The private key in '%s' is encrypted: set client_certificate_password." % path)
        credential = {"private_key": key, "thumbprint": certificate_thumbprint(certificate)}
        if self.options.get("client_certificate_password"):
            credential["passphrase"] = self.options["client_certificate_password"]
        return credential


def certificate_thumbprint(certificate_pem):
    """The SHA-1 thumbprint (hex) that Entra ID shows for a certificate and expects in `x5t`."""
    return hashlib.sha1(ssl.PEM_cert_to_DER_cert(certificate_pem)).hexdigest().upper()


FLOWS = (ClientCertificateFlow, ClientSecretFlow)
FLOW_NAMES = ("auto",) + tuple(flow.name for flow in FLOWS)


def select_flow(options):
    """The sign-in flow named by auth_flow, or the first whose options are all given."""
    wanted = options.get("auth_flow") or "auto"
    if wanted != "auto":
        flow = next(flow for flow in FLOWS if flow.name == wanted)(options)
        flow.check()
        return flow
    for flow in FLOWS:
        if flow.applies_to(options):
            return flow(options)
    return None


def no_credentials_error():
    return InputError(
        "No credentials to sign in with: give client_id with client_secret or client_certificate_path "
        "(or the AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH environment "
        "variables), or pass 'auth' from secops.m365_defender.token.")


def _with_context(exc):
    """The exception's text, or that of an exception it replaced when only that one names an AADSTS code."""
    cause = getattr(exc, "__context__", None)
    if "AADSTS" not in str(exc) and cause is not None and "AADSTS" in str(cause):
        return str(cause)
    return str(exc)


class Authenticator(object):
    """Gives the access token for one API in one tenant, signing in at most once per instance."""

    def __init__(self, options, endpoints, http, held=None):
        self.options = options
        self.endpoints = endpoints
        self.http = http
        self.held = held
        self._token = None

    def token(self):
        if self._token is None or not self._token.usable():
            self._token = self._held_token() or self._sign_in()
        return self._token

    def renew(self):
        """Sign in again after the API refused the token; False when there are no credentials to do it."""
        if select_flow(self.options) is None:
            return False
        self.held = None
        self._token = self._sign_in()
        return True

    def _held_token(self):
        """The token passed in as `auth`, when it fits this API and tenant and is not about to expire."""
        if self.held is None or not self.held.usable():
            return None
        return self.held

    def _sign_in(self):
        flow = select_flow(self.options)
        if flow is None:
            if self.held is not None:
                raise InputError(
                    "The token in 'auth' expires at %s and no credentials were given to renew it." % (
                        iso_utc(self.held.expires_on)))
            raise no_credentials_error()
        if not HAS_MSAL:
            raise M365DefenderError("The msal Python library is needed to sign in.")
        result = self._acquire(flow)
        if "access_token" not in result:
            raise self._error(result)
        source = result.get("token_source", "identity_provider")
        return Token(result["access_token"], time.time() + int(result.get("expires_in", 0)), source)

    def _acquire(self, flow):
        tenant = self.options["tenant_id"]
        try:
            app = msal.ConfidentialClientApplication(
                self.options["client_id"],
                client_credential=flow.client_credential(),
                authority="%s/%s" % (self.endpoints.login_url, tenant),
                http_client=MsalHttpAdapter(self.http),
                instance_discovery=self.endpoints.instance_discovery,
            )
            return app.acquire_token_for_client(scopes=[self.endpoints.scope])
        except M365DefenderError:
            raise
        except ValueError as exc:
            # MSAL raises ValueError for keys it cannot load, and when OIDC discovery is refused (an
            # unknown tenant): then the response text is in the ValueError it replaced.
            raise self._error(_with_context(exc))
        except msal.exceptions.MsalServiceError as exc:
            raise self._error(str(exc))

    def _error(self, body):
        if isinstance(body, str) and "AADSTS" not in body:
            return AuthenticationError(
                "Sign-in to tenant %s at %s failed: %s" % (
                    self.options["tenant_id"], self.endpoints.login_url, body.splitlines()[0][:300]),
                tenant_id=self.options["tenant_id"], client_id=self.options["client_id"])
        return authentication_error(
            body, self.options["tenant_id"], self.options["client_id"], self.endpoints.login_url)


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
