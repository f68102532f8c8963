# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import (
    ApiError,
    AuthenticationError,
    InputError,
    M365DefenderError,
    TransportError,
    admin_consent_url,
    api_error,
    authentication_error,
    redact,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import make_jwt

# Microsoft's real login host and a tenant of its own: the hints show the consent URL a user gets.
TENANT = "fabrikam.example"
LOGIN = "https://login.microsoftonline.com"
CONSENT = "https://login.microsoftonline.com/fabrikam.example/adminconsent?client_id=" + CLIENT

# Every AADSTS code that has a hint, with words the hint must contain to tell the user what to do.
HINTED = {
    7000215: ["Value", "Secret ID", CLIENT],
    7000222: ["expired", CLIENT],
    700016: [CLIENT, TENANT, "consent", CONSENT, "multi-tenant", "single-tenant"],
    90002: [TENANT, "not found", "cloud"],
    900023: [TENANT, "GUID"],
    90038: [TENANT, "national cloud", "'cloud'"],
    700027: ["certificate", CLIENT, "clock"],
    50012: ["certificate", CLIENT],
    700024: ["clock"],
    70011: ["scope", "'api'", "'cloud'"],
    500011: ["service principal", TENANT],
    65001: ["Consent", CLIENT, TENANT, CONSENT],
    50196: ["'auth'", "'token_cache_path'"],
}


def entra_body(code, error="invalid_client", text="Something went wrong."):
    return {
        "error": error,
        "error_description": "AADSTS%d: %s\r\nTrace ID: 0000-trace\r\nCorrelation ID: 1111-corr\r\nTimestamp: 2026-11-26 10:00:00Z"
                             % (code, text),
        "error_codes": [code],
        "timestamp": "2026-11-26 10:00:00Z",
        "trace_id": "0000-trace",
        "correlation_id": "1111-corr",
        "error_uri": "https://login.microsoftonline.com/error?code=%d" % code,
    }


def test_base_error_text_and_details():
    error = M365DefenderError("It broke.", hint="Do this.", keep="x", drop=None)
    assert str(error) == "It broke. Do this."
    assert error.details == {"keep": "x"}
    assert str(InputError("Only a message.")) == "Only a message."


def test_admin_consent_url_is_the_documented_v1_form():
    assert admin_consent_url(LOGIN, TENANT, CLIENT) == CONSENT
    assert admin_consent_url("https://login.microsoftonline.us", "t.example", "a b") == \
        "https://login.microsoftonline.us/t.example/adminconsent?client_id=a+b"


@pytest.mark.parametrize("code", sorted(HINTED))
def test_every_hinted_aadsts_code_from_a_dict_body(code):
    error = authentication_error(entra_body(code), TENANT, CLIENT, LOGIN)
    assert isinstance(error, AuthenticationError)
    assert TENANT in error.message and LOGIN in error.message
    assert "AADSTS%d: Something went wrong." % code in error.message
    assert "Trace ID" not in error.message, "only the first line of the description belongs in the message"
    assert error.hint, "AADSTS%d should come with a hint" % code
    for words in HINTED[code]:
        assert words in error.hint
    assert error.hint in str(error)
    assert error.details["aadsts_code"] == code
    assert error.details["error"] == "invalid_client"
    assert error.details["tenant_id"] == TENANT
    assert error.details["client_id"] == CLIENT
    if code in (700016, 65001):
        assert error.details["admin_consent_url"] == CONSENT
    else:
        assert "admin_consent_url" not in error.details


@pytest.mark.parametrize("code", sorted(HINTED))
def test_every_hinted_aadsts_code_from_text(code):
    text = "AADSTS%d: Something went wrong.\nTrace ID: 0000" % code
    error = authentication_error(text, TENANT, CLIENT, LOGIN)
    assert error.details["aadsts_code"] == code
    assert error.hint and all(words in error.hint for words in HINTED[code])
    assert error.message.endswith("AADSTS%d: Something went wrong." % code)
    assert "error" not in error.details


@pytest.mark.parametrize("code", [90002, 700016, 7000215])
def test_msal_oidc_discovery_text_with_embedded_json(code):
    body = entra_body(code, error="invalid_tenant", text="Tenant '%s' not found {or so}." % TENANT)
    text = ("OIDC Discovery failed on %s/%s/v2.0/.well-known/openid-configuration. HTTP status: 400, Error: %s"
            % (LOGIN, TENANT, json.dumps(body)))
    error = authentication_error(text, TENANT, CLIENT, LOGIN)
    assert error.details["aadsts_code"] == code
    assert error.details["error"] == "invalid_tenant"
    assert "Tenant '%s' not found {or so}." % TENANT in error.message
    assert all(words in error.hint for words in HINTED[code])


def test_error_codes_win_over_the_text():
    body = entra_body(7000215)
    body["error_codes"] = [7000222]
    assert authentication_error(body, TENANT, CLIENT, LOGIN).details["aadsts_code"] == 7000222


def test_code_from_the_description_when_error_codes_are_missing():
    body = entra_body(90038)
    del body["error_codes"]
    error = authentication_error(body, TENANT, CLIENT, LOGIN)
    assert error.details["aadsts_code"] == 90038
    assert "national cloud" in error.hint


def test_unknown_code_has_no_hint_but_keeps_the_code():
    error = authentication_error(entra_body(50058, error="invalid_grant"), TENANT, CLIENT, LOGIN)
    assert error.details["aadsts_code"] == 50058
    assert error.hint is None
    assert str(error) == error.message


@pytest.mark.parametrize("body, first_line", [
    ({"error": "invalid_request"}, "invalid_request"),
    ("Connection reset by peer\nmore", "Connection reset by peer"),
    ("", "unknown error"),
    ("   \n ", "unknown error"),
    ("half a {json", "half a {json"),
])
def test_bodies_without_a_code(body, first_line):
    error = authentication_error(body, TENANT, CLIENT, LOGIN)
    assert error.message == "Sign-in to tenant %s at %s failed: %s" % (TENANT, LOGIN, first_line)
    assert "aadsts_code" not in error.details
    assert error.hint is None


def test_dict_without_description_or_error_is_shown_as_json():
    error = authentication_error({"unexpected": "shape"}, TENANT, CLIENT, LOGIN)
    assert '{"unexpected": "shape"}' in error.message


# ----- API errors


def test_graph_error_shape():
    body = {"error": {"code": "Forbidden",
                      "message": "Missing application roles. API required roles: SecurityIncident.Read.All.",
                      "innerError": {"date": "2026-11-26T10:00:00", "request-id": "req-123", "client-request-id": "c-1"}}}
    error = api_error("GET", "https://graph.microsoft.com/v1.0/security/incidents", 403, body, tenant=TENANT)
    assert isinstance(error, ApiError)
    assert error.status == 403
    assert error.message == ("GET https://graph.microsoft.com/v1.0/security/incidents answered HTTP 403 (Forbidden): "
                             "Missing application roles. API required roles: SecurityIncident.Read.All.")
    assert "permission" in error.hint and "consent" in error.hint
    assert error.details == {"status": 403, "error_code": "Forbidden", "request_id": "req-123", "tenant_id": TENANT}


def test_defender_error_shape_uses_target_as_request_id():
    body = {"error": {"code": "429", "message": "API calls quota exceeded! maximum allowed 45 per 00:01:00",
                      "target": "5b1e7c1e-0000-4000-8000-000000000001"}}
    error = api_error("POST", "https://api.security.microsoft.com/api/advancedhunting/run", 429, body)
    assert "(429): API calls quota exceeded!" in error.message
    assert error.details["error_code"] == "429"
    assert error.details["request_id"] == "5b1e7c1e-0000-4000-8000-000000000001"
    assert "throttling" in error.hint
    assert "tenant_id" not in error.details


def test_request_id_header_wins_over_the_body():
    body = {"error": {"code": "NotFound", "message": "Incident 7 not found", "target": "from-body"}}
    error = api_error("GET", "https://x.test/api/incidents/7", 404, body, request_id="from-header")
    assert error.details["request_id"] == "from-header"
    assert "check the id" in error.hint


@pytest.mark.parametrize("body, text", [
    ("<html><body>Bad Gateway</body></html>", "<html><body>Bad Gateway</body></html>"),
    ("", "no body"),
    ({"unexpected": 1}, '{"unexpected": 1}'),
    ({"error": "a string, not an object"}, '{"error": "a string, not an object"}'),
    ([1, 2], "[1, 2]"),
])
def test_bodies_without_the_error_object(body, text):
    error = api_error("GET", "https://x.test/v1.0/y", 502, body)
    assert error.message == "GET https://x.test/v1.0/y answered HTTP 502: %s" % text
    assert "error_code" not in error.details
    assert error.hint is None


def test_long_text_bodies_are_cut():
    error = api_error("GET", "https://x.test/y", 500, "x" * 5000)
    assert error.message.endswith(": " + "x" * 300)


def test_429_names_retry_after():
    body = {"error": {"code": "TooManyRequests", "message": "Too many requests."}}
    error = api_error("GET", "https://x.test/api/incidents", 429, body, retry_after="120")
    assert error.message.endswith("(TooManyRequests): Too many requests. (Retry-After: 120 s)")
    assert error.details["retry_after"] == "120"
    assert "'retries'" in error.hint


def test_retry_after_is_ignored_for_other_statuses():
    error = api_error("GET", "https://x.test/api/incidents", 503, "busy", retry_after="120")
    assert "Retry-After" not in error.message
    assert "retry_after" not in error.details


# ----- redaction of what servers echo


TOKEN = make_jwt({"aud": "https://graph.microsoft.com", "tid": "t", "roles": ["SecurityIncident.Read.All"]})


@pytest.mark.parametrize("text, expected", [
    ("Authorization: Bearer %s" % TOKEN, "Authorization: Bearer <redacted>"),
    ("authorization=bearer abc.DEF-ghi_~+/== and more", "authorization=bearer <redacted> and more"),
    ("token %s, again %s." % (TOKEN, TOKEN), "token <redacted>, again <redacted>."),
    ("unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. end", "unsigned <redacted>. end"),
    ("cut short: %s" % TOKEN[:TOKEN.index(".") + 12], "cut short: <redacted>"),
    ("an encrypted one %s.a.b" % TOKEN, "an encrypted one <redacted>"),
    ("version eyJ1 and 3.5.1", "version eyJ1 and 3.5.1"),
    ("AADSTS7000215: Invalid client secret provided.", "AADSTS7000215: Invalid client secret provided."),
    ("GET https://graph.microsoft.com/v1.0/security/incidents?$top=50", "GET https://graph.microsoft.com/v1.0/security/incidents?$top=50"),
])
def test_redact_replaces_bearer_credentials_and_jwts(text, expected):
    assert redact(text) == expected


def test_redact_goes_through_lists_and_dicts_and_leaves_other_values():
    value = {"a": ["Bearer xyz123", {"b": TOKEN}], "n": 3, "t": ("x", TOKEN), "none": None, "yes": True}
    assert redact(value) == {"a": ["Bearer <redacted>", {"b": "<redacted>"}], "n": 3, "t": ("x", "<redacted>"),
                             "none": None, "yes": True}


@pytest.mark.parametrize("error_class", [M365DefenderError, InputError, AuthenticationError, TransportError, ApiError])
def test_every_error_redacts_its_message_hint_and_details(error_class):
    exc = error_class("echo: Authorization: Bearer %s" % TOKEN, hint="seen %s" % TOKEN, request_id=TOKEN)
    assert TOKEN not in str(exc) and TOKEN not in repr(exc.args)
    assert exc.message == "echo: Authorization: Bearer <redacted>"
    assert exc.hint == "seen <redacted>"
    assert exc.details["request_id"] == "<redacted>"
    exc.message += " later: %s" % TOKEN
    assert TOKEN not in exc.message, "also when the message is changed afterwards"


def test_api_error_from_a_body_that_echoes_the_authorization_header():
    body = {"error": {"code": "BadGateway", "message": "upstream refused headers {'Authorization': 'Bearer %s'}" % TOKEN}}
    exc = api_error("GET", "https://graph.microsoft.com/v1.0/security/incidents", 502, body)
    assert TOKEN not in str(exc) and TOKEN not in json.dumps(exc.details)
    assert "Bearer <redacted>" in str(exc)


def test_api_error_from_a_text_body_with_a_bare_jwt():
    exc = api_error("GET", "https://graph.microsoft.com/v1.0/security/incidents", 401, "token %s is invalid" % TOKEN)
    assert TOKEN not in str(exc) and "token <redacted> is invalid" in str(exc)


def test_authentication_error_that_echoes_an_assertion():
    body = {"error": "invalid_client", "error_description": "AADSTS700027: assertion %s failed." % TOKEN,
            "error_codes": [700027]}
    exc = authentication_error(body, TENANT, CLIENT, LOGIN)
    assert TOKEN not in str(exc) and "assertion <redacted> failed" in str(exc)
