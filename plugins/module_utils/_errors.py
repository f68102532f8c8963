# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Typed errors, parsing of Entra ID (AADSTS) and API error bodies, and hints that say what to do."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.module_utils.six.moves.urllib.parse import urlencode

AADSTS_PATTERN = re.compile(r"AADSTS(\d+)")

# What servers may echo of a request: an Authorization header's credential (RFC 6750 b64token), and anything
# shaped like a JWT (base64url segments, the first a JSON header: access, ID and assertion tokens), also when a
# message was cut after its second segment.
BEARER_PATTERN = re.compile(r"\b(Bearer)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
REDACTED = "<redacted>"


def redact(value):
    """`value` with bearer credentials and JWT-shaped strings replaced; lists and dicts are redacted throughout.

    Applied to every piece of server text the collection repeats (error messages, hints, details, warnings).
    """
    if isinstance(value, str):
        return JWT_PATTERN.sub(REDACTED, BEARER_PATTERN.sub(r"\1 " + REDACTED, value))
    if isinstance(value, dict):
        return dict((key, redact(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item) for item in value)
    return value


class M365DefenderError(Exception):
    """Base of every error this collection raises on purpose; `details` go into the task result.

    Message, hint and details are redacted (see `redact`) whenever they are set, since they may repeat
    what a server answered.
    """

    def __init__(self, message, hint=None, **details):
        super(M365DefenderError, self).__init__(redact(message))
        self.message = message
        self.hint = hint
        self.details = dict((key, value) for key, value in details.items() if value is not None)

    def __setattr__(self, name, value):
        if name in ("message", "hint", "details"):
            value = redact(value)
        super(M365DefenderError, self).__setattr__(name, value)

    def __str__(self):
        if self.hint:
            return "%s %s" % (self.message, self.hint)
        return self.message


class InputError(M365DefenderError):
    """An option's value is wrong; raised before any request is sent."""


class AuthenticationError(M365DefenderError):
    """Signing in failed (an Entra ID error, or a credential that cannot be used)."""


class TransportError(M365DefenderError):
    """The request did not get an HTTP answer: TLS, connection, timeout."""


class ApiError(M365DefenderError):
    """The API answered with an error status or with a body that cannot be used."""

    def __init__(self, message, status=None, hint=None, **details):
        super(ApiError, self).__init__(message, hint=hint, status=status, **details)
        self.status = status


def admin_consent_url(login_url, tenant, client_id):
    """The v1 admin consent URL to send to a tenant's administrator."""
    return "%s/%s/adminconsent?%s" % (login_url, tenant, urlencode({"client_id": client_id}))


def _aadsts_hints(context):
    """What to do about each AADSTS code; `context` carries tenant, client_id and consent_url."""
    return {
        7000215: "The client secret is wrong. Use the secret's Value, not its Secret ID, from "
                 "'Certificates & secrets' of app %(client_id)s." % context,
        7000222: "The client secret of app %(client_id)s has expired. Create a new secret in "
                 "'Certificates & secrets' and update client_secret." % context,
        700016: "App %(client_id)s is unknown in tenant %(tenant)s: check tenant_id and client_id. If the app "
                "is registered in another tenant, it must be multi-tenant ('Accounts in any organizational "
                "directory'; no other tenant can consent to a single-tenant app), and an admin of tenant "
                "%(tenant)s must consent to it with this URL: %(consent_url)s" % context,
        90002: "Tenant %(tenant)s was not found. Check tenant_id (a GUID or a verified domain) and "
               "option 'cloud'." % context,
        900023: "tenant_id %(tenant)s is neither a GUID nor a valid domain name." % context,
        90038: "Tenant %(tenant)s belongs to another national cloud: set option 'cloud'." % context,
        700027: "The client assertion was rejected: upload the certificate's public part to app "
                "%(client_id)s and check the private key and the machine's clock." % context,
        50012: "The client assertion was rejected: check that the certificate registered for app "
               "%(client_id)s matches the private key." % context,
        700024: "The client assertion is not valid at this time: check the machine's clock.",
        70011: "The requested scope is not valid: check options 'api' and 'cloud'.",
        500011: "The API's service principal is missing in tenant %(tenant)s: the tenant may not have "
                "Microsoft Defender XDR, or option 'cloud' is wrong." % context,
        65001: "Consent is missing for app %(client_id)s in tenant %(tenant)s: ask the tenant's admin "
               "to grant it: %(consent_url)s" % context,
        50196: "Entra ID saw too many identical requests: reuse tokens with option 'auth' or "
               "'token_cache_path'.",
        50126: "The username or password is wrong.",
        50034: "The user does not exist in tenant %(tenant)s." % context,
        50053: "The account is locked (too many failed sign-ins); wait or ask an admin to unlock it.",
        50057: "The account is disabled in tenant %(tenant)s." % context,
        50055: "The user's password has expired: change it interactively first.",
        50076: "The user must use MFA, which the password flow cannot do: use auth_flow device_code.",
        50079: "The user must register for MFA first; then use auth_flow device_code.",
        53003: "Conditional Access blocked the sign-in: use auth_flow device_code from a compliant place, or an "
               "application context.",
        70016: "Nobody signed in with the device code before device_code_timeout (or the code's own expiry) ran "
               "out: run the task again and sign in within that time, or raise device_code_timeout.",
        70019: "The device code expired before the user signed in: run the task again and sign in within "
               "device_code_timeout.",
        70021: "No federated credential of app %(client_id)s matches the token in federated_token_file (issuer, "
               "subject, audience)." % context,
        7000218: "The app needs a credential: give client_secret or client_certificate_path, or allow public client "
                 "flows on the app registration for user context.",
    }


def _embedded_json(body):
    """MSAL passes some error bodies on inside an exception's text: take the JSON object out."""
    if isinstance(body, dict) or "{" not in body:
        return body
    try:
        return json.loads(body[body.index("{"):body.rindex("}") + 1])
    except ValueError:
        return body


def authentication_error(body, tenant, client_id, login_url):
    """An AuthenticationError from an Entra ID error body (a dict, or text as MSAL passes it on)."""
    body = _embedded_json(body)
    if isinstance(body, dict):
        description = body.get("error_description") or body.get("error") or json.dumps(body)
        codes = body.get("error_codes") or []
        error = body.get("error")
    else:
        description, codes, error = str(body), [], None
    match = AADSTS_PATTERN.search(description)
    code = int(codes[0]) if codes else (int(match.group(1)) if match else None)
    first_line = description.strip().splitlines()[0] if description.strip() else "unknown error"
    consent_url = admin_consent_url(login_url, tenant, client_id)
    context = {"tenant": tenant, "client_id": client_id, "consent_url": consent_url}
    hint = _aadsts_hints(context).get(code) if code else None
    message = "Sign-in to tenant %s at %s failed: %s" % (tenant, login_url, first_line)
    return AuthenticationError(
        message,
        hint=hint,
        aadsts_code=code,
        error=error,
        tenant_id=tenant,
        client_id=client_id,
        admin_consent_url=consent_url if code in (700016, 65001) else None,
    )


def _error_object(body):
    """(code, message, request id) from the API's `{"error": {...}}` shape, or Nones."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None, None, None
    error = body["error"]
    inner = error.get("innerError") or {}
    request_id = inner.get("request-id") or error.get("target")
    return error.get("code"), error.get("message"), request_id


API_STATUS_HINTS = {
    401: "The access token was refused: it may have expired, or belong to another tenant, cloud or API.",
    403: "The app lacks the permission this call needs (the message names it), or no admin has consented to it "
         "in this tenant; add the application permission and grant admin consent again.",
    404: "Nothing exists at this address: check the id and option 'api'.",
    429: "The API is throttling and asked to wait longer than this task retries: lower the play's forks, "
         "raise 'retries', or run later.",
}


def api_error(method, url, status, body, request_id=None, tenant=None, retry_after=None):
    """An ApiError for an HTTP error answer; `body` is the parsed JSON or the raw text."""
    code, text, body_request_id = _error_object(body)
    if text is None:
        text = (body if isinstance(body, str) else json.dumps(body))[:300] or "no body"
    message = "%s %s answered HTTP %s%s: %s" % (
        method, url, status, " (%s)" % code if code else "", text)
    if status == 429 and retry_after:
        message += " (Retry-After: %s s)" % retry_after
    return ApiError(
        message,
        status=status,
        hint=API_STATUS_HINTS.get(status),
        error_code=code,
        request_id=request_id or body_request_id,
        tenant_id=tenant,
        retry_after=retry_after if status == 429 else None,
    )
