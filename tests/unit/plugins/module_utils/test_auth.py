# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import time

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils import _auth
from ansible_collections.secops.m365_defender.plugins.module_utils._auth import (
    Authenticator,
    ClientCertificateFlow,
    ClientSecretFlow,
    Token,
    auth_result,
    decode_claims,
    select_flow,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import AuthenticationError, InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient, MsalHttpAdapter
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, LOGIN, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    b64url,
    cert_der,
    FakeEntra,
    cert_pem,
    jwt_part,
    key_pem,
    make_certificate,
    make_jwt,
    make_response,
    rsa_key,
)

try:
    from unittest import mock
except ImportError:  # pragma: no cover
    import mock

CLAIMS = {
    "aud": "https://graph.microsoft.com", "iss": "https://sts.windows.net/t/", "tid": "t", "appid": CLIENT,
    "azp": CLIENT, "oid": "o", "roles": ["SecurityIncident.Read.All"], "scp": "Incident.Read", "iat": 1, "nbf": 1,
    "exp": 2, "ver": "1.0", "upn": "u@contoso.example",
}
NOISE = {"uti": "unique-token-id", "rh": "refresh-handle", "sub": "subject", "name": "Someone", "ipaddr": "10.0.0.1",
         "xms_tcdt": 1, "aio": "opaque", "idtyp": "app"}


# ----- claims and tokens


def test_decode_claims_keeps_only_non_secret_claims():
    claims = dict(CLAIMS, **NOISE)
    assert decode_claims(make_jwt(claims)) == CLAIMS


def test_decode_claims_of_a_real_msal_like_token_without_padding():
    token = make_jwt({"aud": "a" * 7, "roles": []})
    assert "=" not in token
    assert decode_claims(token) == {"aud": "aaaaaaa", "roles": []}


@pytest.mark.parametrize("token", [
    "",
    "not-a-jwt",
    "a.!!!!.c",
    "a.%s.c" % b64url("not json"),
    "a.%s.c" % b64url(b"\xff\xfe\xfd"),
    "a.%s.c" % b64url("[1, 2]"),
    "a.%s.c" % b64url("{}"),
])
def test_decode_claims_survives_garbage(token):
    assert decode_claims(token) == {}


@pytest.mark.parametrize("payload", ["5", '"audience"'])
def test_decode_claims_survives_scalar_payloads(payload):
    assert decode_claims("a.%s.c" % b64url(payload)) == {}


def test_token_usable_until_five_minutes_before_expiry():
    token = Token(make_jwt({"exp": 1000}), 10000, "auth")
    assert token.usable(now=10000 - 301) is True
    assert token.usable(now=10000 - 300) is False
    assert token.usable(now=20000) is False
    assert Token("x", time.time() + 3600, "cache").usable() is True
    assert token.claims == {"exp": 1000} and token.source == "auth" and token.expires_on == 10000


def test_auth_result_holds_everything_another_module_needs():
    endpoints = resolve_endpoints(api="defender", cloud="gcc_high", login_url=LOGIN)
    token = Token("the-token", 1764151200, "identity_provider")
    assert auth_result(token, endpoints, TENANT, CLIENT) == {
        "access_token": "the-token",
        "token_type": "Bearer",
        "expires_on": 1764151200,
        "expires_at": "2025-11-26T10:00:00Z",
        "api": "defender",
        "cloud": "gcc_high",
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "login_url": LOGIN,
        "api_url": "https://api-gov.security.microsoft.us/api",
        "resource": "https://api-gov.security.microsoft.us",
        "scope": "https://api-gov.security.microsoft.us/.default",
    }


# ----- choosing a flow


@pytest.mark.parametrize("options, flow", [
    ({"client_id": CLIENT, "client_certificate_path": "/c.pem"}, ClientCertificateFlow),
    ({"client_id": CLIENT, "client_certificate_path": "/c.pem", "client_secret": "", "auth_flow": "auto"},
     ClientCertificateFlow),
    ({"client_id": CLIENT, "client_secret": "s"}, ClientSecretFlow),
    ({"client_id": CLIENT, "client_secret": "s", "auth_flow": None}, ClientSecretFlow),
    ({"client_id": CLIENT, "client_secret": "s", "client_certificate_path": "/c.pem", "auth_flow": "client_secret"},
     ClientSecretFlow),
    ({"client_id": CLIENT, "client_certificate_path": "/c.pem", "auth_flow": "client_certificate"}, ClientCertificateFlow),
])
def test_select_flow(options, flow):
    selected = select_flow(options)
    assert type(selected) is flow  # pylint: disable=unidiomatic-typecheck
    assert selected.options is options


@pytest.mark.parametrize("auth_flow", [None, "auto"])
@pytest.mark.parametrize("given", [
    ("client_certificate_path", "client_secret"),
    ("client_secret", "federated_token_file"),
    ("client_secret", "password"),
    ("client_certificate_path", "client_secret", "federated_token_file"),
])
def test_auto_refuses_two_credentials_instead_of_ignoring_one(auth_flow, given):
    options = dict(dict.fromkeys(given, "x"), client_id=CLIENT, username="user@contoso.example", auth_flow=auth_flow)
    with pytest.raises(InputError) as raised:
        select_flow(options)
    message = raised.value.message
    assert " and ".join(given) in message and "auth_flow" in message


@pytest.mark.parametrize("options", [
    {},
    {"auth_flow": "auto"},
    {"client_id": CLIENT},
    {"client_secret": "s"},
    {"client_certificate_path": "/c.pem"},
    {"client_id": CLIENT, "client_secret": ""},
])
def test_select_flow_without_usable_credentials(options):
    assert select_flow(options) is None


@pytest.mark.parametrize("options, missing", [
    ({"auth_flow": "client_secret", "client_id": CLIENT}, ["client_secret"]),
    ({"auth_flow": "client_secret", "client_certificate_path": "/c.pem"}, ["client_id", "client_secret"]),
    ({"auth_flow": "client_certificate", "client_id": CLIENT, "client_secret": "s"}, ["client_certificate_path"]),
    ({"auth_flow": "client_certificate"}, ["client_id", "client_certificate_path"]),
])
def test_named_flow_with_missing_options(options, missing):
    with pytest.raises(InputError) as raised:
        select_flow(options)
    message = raised.value.message
    assert "'%s'" % options["auth_flow"] in message
    for name in missing:
        assert name in message
    for name in ("client_id", "client_secret", "client_certificate_path"):
        if name not in missing:
            assert name not in message.split("needs", 1)[-1]


def test_client_secret_flow_credential():
    assert ClientSecretFlow({"client_id": CLIENT, "client_secret": "s3cr3t"}).client_credential() == "s3cr3t"


# ----- certificates


@pytest.fixture(scope="module")
def certificate():
    key = rsa_key()
    return key, make_certificate(key)


def write(tmp_path, text, name="app.pem"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def same_key(pem, key):
    """Whether an unencrypted PEM private key is `key` (MSAL is given it in PKCS#8, whatever the file held)."""
    from cryptography.hazmat.primitives import serialization

    loaded = serialization.load_pem_private_key(pem.encode("ascii"), None)
    return loaded.private_numbers() == key.private_numbers()


def sha1_thumbprint(certificate_object):
    return hashlib.sha1(cert_der(certificate_object)).hexdigest().upper()


@pytest.mark.parametrize("order", ["key-first", "cert-first", "traditional-key"])
def test_certificate_credential(tmp_path, certificate, order):
    key, cert = certificate
    key_text = key_pem(key, traditional=(order == "traditional-key"))
    text = cert_pem(cert) + key_text if order == "cert-first" else key_text + "\n" + cert_pem(cert)
    flow = ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": write(tmp_path, text)})
    credential = flow.client_credential()
    assert set(credential) == {"private_key", "thumbprint"}
    assert same_key(credential["private_key"], key)
    thumbprint = credential["thumbprint"]
    assert thumbprint == sha1_thumbprint(cert)
    assert len(thumbprint) == 40 and thumbprint == thumbprint.upper()


def test_certificate_credential_with_a_chain_uses_the_apps_certificate(tmp_path, certificate):
    key, cert = certificate
    ca_key = rsa_key("issuing-ca")
    leaf = make_certificate(key, common_name="app", issuer_key=ca_key, issuer_name="Issuing CA")
    chain = make_certificate(ca_key, common_name="Issuing CA")
    path = write(tmp_path, key_pem(key) + cert_pem(leaf) + cert_pem(chain))
    credential = ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": path}).client_credential()
    assert credential["thumbprint"] == sha1_thumbprint(leaf)


def test_encrypted_key_needs_the_password(tmp_path, certificate):
    key, cert = certificate
    for traditional in (False, True):
        path = write(tmp_path, key_pem(key, password="pa55", traditional=traditional) + cert_pem(cert))
        with pytest.raises(InputError) as raised:
            ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": path}).client_credential()
        assert "encrypted" in raised.value.message and "client_certificate_password" in raised.value.message
        credential = ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": path,
                                            "client_certificate_password": "pa55"}).client_credential()
        # Decrypted here, so that a wrong password fails before any request; MSAL gets the key in memory only.
        assert "passphrase" not in credential and same_key(credential["private_key"], key)
        assert credential["thumbprint"] == sha1_thumbprint(cert)


@pytest.mark.parametrize("content, found", [
    ("key", "PRIVATE KEY"),
    ("cert", "CERTIFICATE"),
    ("empty-pem", "no PEM block"),
])
def test_certificate_file_missing_a_part(tmp_path, certificate, content, found):
    key, cert = certificate
    text = {"key": key_pem(key), "cert": cert_pem(cert), "empty-pem": "-----BEGIN nothing here\n"}[content]
    path = write(tmp_path, text)
    with pytest.raises(InputError) as raised:
        ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": path}).client_credential()
    message = raised.value.message
    assert path in message
    assert "private key" in message and "certificate" in message
    assert "found %s." % found in message


def test_a_file_that_is_neither_pem_nor_pfx(tmp_path):
    path = write(tmp_path, "just text\n")
    with pytest.raises(InputError) as raised:
        ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": path}).client_credential()
    assert path in raised.value.message
    assert "neither PEM nor a PFX file" in raised.value.message
    assert "set client_certificate_password" in raised.value.message


def test_certificate_file_unreadable(tmp_path):
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(InputError) as raised:
        ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": missing}).client_credential()
    assert "Cannot read client_certificate_path '%s'" % missing in raised.value.message
    binary = tmp_path / "app.pfx"
    binary.write_bytes(b"\x30\x82\xff\xfe\x00\x01")
    with pytest.raises(InputError):
        ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": str(binary)}).client_credential()


# ----- Authenticator with MSAL mocked


def endpoints(api="graph"):
    return resolve_endpoints(api=api, login_url=LOGIN)


def secret_options(**extra):
    options = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s3cr3t"}
    options.update(extra)
    return options


@pytest.fixture
def msal_app():
    """msal.ConfidentialClientApplication replaced; the test sets what acquire_token_for_client does."""
    with mock.patch.object(_auth.msal, "ConfidentialClientApplication") as application:
        yield application


def test_held_token_is_used_without_signing_in(msal_app, transport):
    held = Token(make_jwt({"aud": "https://graph.microsoft.com"}), time.time() + 3600, "auth")
    authenticator = Authenticator(secret_options(), endpoints(), HttpClient(), held=held)
    assert authenticator.token() is held
    assert authenticator.token() is held
    assert msal_app.call_count == 0
    assert transport.seen == []


def test_expiring_held_token_without_credentials(msal_app):
    expires = int(time.time()) + 120
    held = Token("x.y.z", expires, "auth")
    authenticator = Authenticator({"tenant_id": TENANT, "client_id": CLIENT}, endpoints(), HttpClient(), held=held)
    with pytest.raises(InputError) as raised:
        authenticator.token()
    assert "'auth'" in raised.value.message
    assert _auth.iso_utc(expires) in raised.value.message
    assert "no credentials" in raised.value.message
    assert msal_app.call_count == 0


def test_no_credentials_at_all(msal_app):
    with pytest.raises(InputError) as raised:
        Authenticator({"tenant_id": TENANT}, endpoints(), HttpClient()).token()
    assert "client_secret" in raised.value.message and "AZURE_CLIENT_ID" in raised.value.message
    assert msal_app.call_count == 0


def test_expiring_held_token_with_credentials_signs_in(msal_app):
    access_token = make_jwt({"aud": "https://graph.microsoft.com", "roles": ["SecurityIncident.Read.All"]})
    msal_app.return_value.acquire_token_for_client.return_value = {
        "access_token": access_token, "token_type": "Bearer", "expires_in": 3599}
    held = Token("x.y.z", time.time() + 60, "auth")
    token = Authenticator(secret_options(), endpoints(), HttpClient(), held=held).token()
    assert token is not held
    assert token.access_token == access_token
    assert token.source == "identity_provider"


def test_sign_in_success(msal_app):
    access_token = make_jwt({"aud": "https://api.security.microsoft.com", "roles": ["Incident.Read.All"], "uti": "x"})
    msal_app.return_value.acquire_token_for_client.return_value = {
        "access_token": access_token, "token_type": "Bearer", "expires_in": "3599", "token_source": "cache"}
    http = HttpClient()
    ends = endpoints("defender")
    authenticator = Authenticator(secret_options(), ends, http)
    before = time.time()
    token = authenticator.token()
    after = time.time()
    assert token.access_token == access_token
    assert int(before) + 3599 <= token.expires_on <= int(after) + 3599
    assert token.source == "cache"
    assert token.claims == {"aud": "https://api.security.microsoft.com", "roles": ["Incident.Read.All"]}
    args, kwargs = msal_app.call_args
    assert args == (CLIENT,)
    assert kwargs["client_credential"] == "s3cr3t"
    assert kwargs["authority"] == LOGIN + "/" + TENANT
    assert kwargs["instance_discovery"] is False
    assert isinstance(kwargs["http_client"], MsalHttpAdapter) and kwargs["http_client"].http is http
    msal_app.return_value.acquire_token_for_client.assert_called_once_with(
        scopes=["https://api.security.microsoft.com/.default"])
    assert authenticator.token() is token
    assert msal_app.call_count == 1, "one sign-in per Authenticator"


def test_microsoft_login_keeps_instance_discovery(msal_app):
    msal_app.return_value.acquire_token_for_client.return_value = {"access_token": "a.b.c", "expires_in": 3599}
    Authenticator(secret_options(), resolve_endpoints(cloud="gcc_high"), HttpClient()).token()
    assert msal_app.call_args[1]["instance_discovery"] is True
    assert msal_app.call_args[1]["authority"] == "https://login.microsoftonline.us/" + TENANT
    msal_app.return_value.acquire_token_for_client.assert_called_once_with(scopes=["https://graph.microsoft.us/.default"])


def test_sign_in_error_dict_becomes_authentication_error_with_hint(msal_app):
    msal_app.return_value.acquire_token_for_client.return_value = {
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
                             "request is the client secret value, not the client secret ID.\r\nTrace ID: t",
        "error_codes": [7000215],
    }
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(secret_options(), endpoints(), HttpClient()).token()
    error = raised.value
    assert error.details["aadsts_code"] == 7000215
    assert "Secret ID" in error.hint
    assert TENANT in error.message and LOGIN in error.message
    assert "s3cr3t" not in str(error) and "s3cr3t" not in json.dumps(error.details)


def test_oidc_discovery_value_error_with_aadsts90002(msal_app):
    body = {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant 'contoso.example' not found.",
            "error_codes": [90002]}
    msal_app.side_effect = ValueError(
        "OIDC Discovery failed on %s/%s/v2.0/.well-known/openid-configuration. HTTP status: 400, Error: %s"
        % (LOGIN, TENANT, json.dumps(body)))
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(secret_options(), endpoints(), HttpClient()).token()
    error = raised.value
    assert error.details["aadsts_code"] == 90002
    assert "Tenant %s was not found" % TENANT in error.hint
    assert "Sign-in to tenant %s at %s failed" % (TENANT, LOGIN) in error.message


def test_oidc_discovery_error_replaced_by_msal_keeps_the_code(msal_app):
    """MSAL re-raises the discovery error as a new ValueError; the original (with the body) is its context."""
    body = {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant 'contoso.example' not found.",
            "error_codes": [90002]}

    def construct(*args, **kwargs):
        try:
            raise ValueError("OIDC Discovery failed on %s. HTTP status: 400, Error: %s" % (LOGIN, json.dumps(body)))
        except ValueError:
            raise ValueError("Unable to get authority configuration for %s/%s." % (LOGIN, TENANT))

    msal_app.side_effect = construct
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(secret_options(), endpoints(), HttpClient()).token()
    assert raised.value.details["aadsts_code"] == 90002
    assert "Tenant %s was not found" % TENANT in raised.value.hint


def test_value_error_without_aadsts(msal_app):
    msal_app.side_effect = ValueError("Could not deserialize key data.\nsecond line")
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(secret_options(), endpoints(), HttpClient()).token()
    assert raised.value.message == "Sign-in to tenant %s at %s failed: Could not deserialize key data." % (TENANT, LOGIN)
    assert raised.value.details == {"tenant_id": TENANT, "client_id": CLIENT}


def test_input_errors_of_the_flow_pass_through(msal_app, tmp_path):
    options = {"tenant_id": TENANT, "client_id": CLIENT, "client_certificate_path": str(tmp_path / "missing.pem")}
    with pytest.raises(InputError):
        Authenticator(options, endpoints(), HttpClient()).token()


# ----- Authenticator with the real MSAL, answered by a fake Entra ID under requests


def test_real_msal_with_a_secret(transport):
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    http = HttpClient(ca_path="/etc/m365d/ca.pem", sleep=lambda seconds: None)
    token = Authenticator(secret_options(), endpoints(), http).token()
    assert token.claims == {"aud": "https://graph.microsoft.com", "tid": "t", "roles": ["R"]}
    assert token.source == "identity_provider"
    form = entra.token_requests[0].form
    assert form["grant_type"] == "client_credentials"
    assert form["client_secret"] == "s3cr3t"
    assert form["scope"] == "https://graph.microsoft.com/.default"
    assert all(seen.verify == "/etc/m365d/ca.pem" for seen in transport.seen)
    assert all(seen.host == "login.sandbox.test" for seen in transport.seen), "no call to Microsoft's hosts"


@pytest.mark.parametrize("password", [None, "pa55"])
def test_real_msal_with_a_certificate(transport, tmp_path, certificate, password):
    key, cert = certificate
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    path = write(tmp_path, key_pem(key, password=password) + cert_pem(cert))
    options = {"tenant_id": TENANT, "client_id": CLIENT, "client_certificate_path": path,
               "client_certificate_password": password}
    Authenticator(options, endpoints(), HttpClient(sleep=lambda seconds: None)).token()
    form = entra.token_requests[0].form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    header = jwt_part(form["client_assertion"], 0)
    assert header["alg"] == "RS256"
    assert header["x5t"] == base64.urlsafe_b64encode(hashlib.sha1(cert_der(cert)).digest()).decode("ascii")
    assert jwt_part(form["client_assertion"], 1)["aud"] == "%s/%s/oauth2/v2.0/token" % (LOGIN, TENANT)


def test_real_msal_aadsts_error(transport):
    body = {"error": "unauthorized_client",
            "error_description": "AADSTS700016: Application with identifier '%s' was not found in the directory "
                                 "'Fabrikam'.\r\nTrace ID: t" % CLIENT,
            "error_codes": [700016]}
    transport.handler = FakeEntra(LOGIN, TENANT, token_answer=make_response(400, body))
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(secret_options(), endpoints(), HttpClient(sleep=lambda seconds: None)).token()
    error = raised.value
    assert error.details["aadsts_code"] == 700016
    assert error.details["admin_consent_url"] == "%s/%s/adminconsent?client_id=%s" % (LOGIN, TENANT, CLIENT)


def test_real_msal_token_endpoint_5xx(transport):
    transport.handler = FakeEntra(LOGIN, TENANT, token_answer=make_response(503, text="Service unavailable"))
    http = HttpClient(retries=1, sleep=lambda seconds: None)
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(secret_options(), endpoints(), http).token()
    assert "Sign-in to tenant %s at %s failed" % (TENANT, LOGIN) in raised.value.message
    assert http.stats.retries == 1


def discovery_refused():
    return make_response(400, {
        "error": "invalid_tenant",
        "error_description": "AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID "
                             "and are signing into the correct cloud.\r\nTrace ID: t" % TENANT,
        "error_codes": [90002]})


def test_real_msal_unknown_tenant_names_the_tenant(transport):
    transport.handler = FakeEntra(LOGIN, TENANT, discovery_answer=discovery_refused())
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(secret_options(), endpoints(), HttpClient(sleep=lambda seconds: None)).token()
    assert "Sign-in to tenant %s at %s failed" % (TENANT, LOGIN) in raised.value.message
    assert len(transport.seen) == 1


def test_real_msal_unknown_tenant_keeps_aadsts90002(transport):
    """MSAL 1.39 replaces the OIDC discovery error by a ValueError without the body; the code must still find it."""
    transport.handler = FakeEntra(LOGIN, TENANT, discovery_answer=discovery_refused())
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(secret_options(), endpoints(), HttpClient(sleep=lambda seconds: None)).token()
    assert raised.value.details.get("aadsts_code") == 90002
    assert "was not found" in (raised.value.hint or "")
