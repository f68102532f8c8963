# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sign-in flows besides the client secret: PFX certificates, federated tokens, managed identity, and the user
flows (password, device code) with their token cache, mostly through the real MSAL against fake endpoints."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os
import sys
import time
import warnings

import pytest
import requests

from ansible_collections.secops.m365_defender.plugins.module_utils import _auth
from ansible_collections.secops.m365_defender.plugins.module_utils._auth import (
    FLOW_NAMES,
    MSAL_ERRORS,
    Authenticator,
    ClientCertificateFlow,
    ClientSecretFlow,
    DeviceCodeFlow,
    FederatedTokenFlow,
    ManagedIdentityFlow,
    PasswordFlow,
    SignInContext,
    select_flow,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import (
    AuthenticationError,
    InputError,
    M365DefenderError,
    TransportError,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, MANAGED_CLIENT, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    DEVICE_CODE_GRANT,
    FAKE_USER,
    IMDS_TOKEN_URL,
    FakeEntra,
    FakeImds,
    Router,
    cert_der,
    entra_error,
    jwt_part,
    make_certificate,
    make_jwt,
    make_response,
    rsa_key,
)

try:
    from unittest import mock
except ImportError:  # pragma: no cover
    import mock

# A port of its own: MSAL asks for the user realm on port 443 whatever the login URL says; the collection must
# send it to this port (test_password_flow_user_realm_goes_to_the_login_urls_port).
LOGIN = "https://login.sandbox.test:8443"
USER = FAKE_USER["upn"]
PASSWORD = FAKE_USER["password"]


def endpoints(api="graph", login_url=LOGIN):
    return resolve_endpoints(api=api, login_url=login_url)


def http(**kwargs):
    kwargs.setdefault("sleep", lambda seconds: None)
    return HttpClient(**kwargs)


def options(**given):
    values = {"tenant_id": TENANT, "client_id": CLIENT}
    values.update(given)
    return values


def grants(entra):
    return [seen.form.get("grant_type") for seen in entra.token_requests]


# ----- choosing a flow: the auto order and what each named flow needs


# One credential each (two are refused, see test_auth.py); a username alone is not a credential.
@pytest.mark.parametrize("given, flow", [
    (dict(client_certificate_path="/c.pem", username=USER), ClientCertificateFlow),
    (dict(client_secret="s", username=USER), ClientSecretFlow),
    (dict(federated_token_file="/f", username=USER), FederatedTokenFlow),
    (dict(username=USER, password="p"), PasswordFlow),
    (dict(managed_identity_client_id=MANAGED_CLIENT, username=USER), ManagedIdentityFlow),
])
def test_auto_takes_the_first_flow_whose_options_are_all_given(given, flow):
    selected = select_flow(dict(given, client_id=CLIENT, auth_flow="auto"))
    assert type(selected) is flow  # pylint: disable=unidiomatic-typecheck


@pytest.mark.parametrize("given", [
    {"client_id": CLIENT, "username": USER},
    {"client_id": CLIENT, "password": "p"},
    {"username": USER, "password": "p"},
    {"federated_token_file": "/f"},
    {"client_id": CLIENT, "device_code_timeout": 300},
])
def test_auto_finds_nothing_for_incomplete_or_interactive_options(given):
    assert select_flow(given) is None


def test_device_code_and_system_assigned_identity_are_never_chosen_automatically():
    assert DeviceCodeFlow.applies_to({"client_id": CLIENT}) is False
    assert ManagedIdentityFlow.applies_to({}) is False
    assert type(select_flow({"client_id": CLIENT, "auth_flow": "device_code"})) is DeviceCodeFlow  # pylint: disable=unidiomatic-typecheck
    assert type(select_flow({"auth_flow": "managed_identity"})) is ManagedIdentityFlow  # pylint: disable=unidiomatic-typecheck


@pytest.mark.parametrize("given, missing", [
    ({"auth_flow": "password", "client_id": CLIENT, "username": USER}, ["password"]),
    ({"auth_flow": "password", "password": "p"}, ["client_id", "username"]),
    ({"auth_flow": "federated_token", "client_id": CLIENT}, ["federated_token_file"]),
    ({"auth_flow": "device_code"}, ["client_id"]),
])
def test_named_user_and_federated_flows_name_what_they_miss(given, missing):
    with pytest.raises(InputError) as raised:
        select_flow(given)
    needs = raised.value.message.split("needs", 1)[1]
    assert "'%s'" % given["auth_flow"] in raised.value.message
    assert sorted(name for name in ("client_id", "username", "password", "federated_token_file") if name in needs) == sorted(missing)


def test_every_flow_can_be_named():
    assert FLOW_NAMES[0] == "auto"
    assert set(FLOW_NAMES[1:]) == {"client_certificate", "client_secret", "federated_token", "password", "managed_identity",
                                   "device_code"}


def test_user_flows_run_in_user_context():
    assert PasswordFlow.context == DeviceCodeFlow.context == "user"
    assert ClientSecretFlow.context == ManagedIdentityFlow.context == FederatedTokenFlow.context == "application"


# ----- PFX certificates


@pytest.fixture(scope="module")
def certificate():
    key = rsa_key()
    return key, make_certificate(key, common_name="pfx-app")


def pfx(key, cert, password=None, with_key=True, with_cert=True):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    encryption = (serialization.BestAvailableEncryption(password.encode("utf-8")) if password
                  else serialization.NoEncryption())
    return pkcs12.serialize_key_and_certificates(b"app", key if with_key else None, cert if with_cert else None,
                                                 None, encryption)


def write_bytes(tmp_path, data, name="app.pfx"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def sha1_hex(certificate_object):
    return hashlib.sha1(cert_der(certificate_object)).hexdigest().upper()


@pytest.mark.parametrize("password", [None, "pfx-pa55"])
def test_pfx_credential_is_the_key_in_clear_pem_with_the_certificates_thumbprint(tmp_path, certificate, password):
    from cryptography.hazmat.primitives import serialization

    key, cert = certificate
    path = write_bytes(tmp_path, pfx(key, cert, password))
    credential = ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": path,
                                        "client_certificate_password": password}).client_credential()
    assert set(credential) == {"private_key", "thumbprint"}, "the key is decrypted in memory: MSAL needs no passphrase"
    assert credential["thumbprint"] == sha1_hex(cert)
    loaded = serialization.load_pem_private_key(credential["private_key"].encode("ascii"), password=None)
    assert loaded.private_numbers() == key.private_numbers()


@pytest.mark.parametrize("given, hint", [(None, "set client_certificate_password"),
                                         ("wrong", "check client_certificate_password")])
def test_pfx_with_a_missing_or_wrong_password(tmp_path, certificate, given, hint):
    key, cert = certificate
    path = write_bytes(tmp_path, pfx(key, cert, "right-one"))
    with pytest.raises(InputError) as raised:
        ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": path,
                               "client_certificate_password": given}).client_credential()
    assert path in raised.value.message
    assert hint in raised.value.message
    assert "right-one" not in str(raised.value)


@pytest.mark.parametrize("part", ["key", "certificate"])
def test_pfx_without_the_key_or_the_certificate(tmp_path, certificate, part):
    key, cert = certificate
    path = write_bytes(tmp_path, pfx(key, cert, with_key=(part != "key"), with_cert=(part != "certificate")))
    with pytest.raises(InputError) as raised:
        ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": path}).client_credential()
    assert raised.value.message == "The PFX file '%s' must hold both the private key and the certificate." % path


def test_pfx_needs_the_cryptography_library(tmp_path, certificate):
    key, cert = certificate
    path = write_bytes(tmp_path, pfx(key, cert))
    with mock.patch.dict(sys.modules, {"cryptography.hazmat.primitives": None}):
        with pytest.raises(M365DefenderError) as raised:
            ClientCertificateFlow({"client_id": CLIENT, "client_certificate_path": path}).client_credential()
    assert "cryptography" in raised.value.message


@pytest.mark.parametrize("password", [None, "pfx-pa55"])
def test_real_msal_signs_in_with_a_pfx(transport, tmp_path, certificate, password):
    key, cert = certificate
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    path = write_bytes(tmp_path, pfx(key, cert, password))
    token = Authenticator(options(client_certificate_path=path, client_certificate_password=password), endpoints(),
                          http()).token()
    assert token.access_token == entra.access_token
    form = entra.token_requests[0].form
    assert "client_secret" not in form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    header = jwt_part(form["client_assertion"], 0)
    assert header["x5t"] == base64.urlsafe_b64encode(hashlib.sha1(cert_der(cert)).digest()).decode("ascii")
    claims = jwt_part(form["client_assertion"], 1)
    assert claims["iss"] == claims["sub"] == CLIENT
    # The assertion is signed with the PFX's key: its signature verifies with the certificate's public key.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signed, signature = form["client_assertion"].rsplit(".", 1)
    cert.public_key().verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), signed.encode("ascii"),
                             padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("password", [None, "pfx-pa55"])
def test_the_certificates_key_and_the_assertion_are_remembered(transport, tmp_path, certificate, password):
    key, cert = certificate
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    path = write_bytes(tmp_path, pfx(key, cert, password))
    remembered = set()
    Authenticator(options(client_certificate_path=path, client_certificate_password=password), endpoints(), http(),
                  remember=remembered.add).token()
    assert entra.token_requests[0].form["client_assertion"] in remembered
    assert entra.access_token in remembered
    assert any("PRIVATE KEY" in value for value in remembered), "the key, as MSAL is given it"


def test_a_client_secret_is_remembered(transport):
    transport.handler = FakeEntra(LOGIN, TENANT)
    remembered = set()
    Authenticator(options(client_secret="the-client-secret-value"), endpoints(), http(), remember=remembered.add).token()
    assert "the-client-secret-value" in remembered


# ----- federated tokens


def test_the_federated_token_files_contents_are_remembered_as_read(transport, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("first.federated.token\n")
    transport.handler = FakeEntra(LOGIN, TENANT)
    remembered = []
    authenticator = Authenticator(options(federated_token_file=str(token_file)), endpoints(), http(),
                                  remember=remembered.append)
    authenticator.token()
    token_file.write_text("second.federated.token")
    authenticator.renew()
    assert {"first.federated.token", "second.federated.token"} <= set(remembered)


def test_federated_assertion_is_read_from_the_file_at_each_sign_in(transport, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("first.federated.token\n")
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    authenticator = Authenticator(options(federated_token_file=str(token_file)), endpoints(), http())
    authenticator.token()
    token_file.write_text("second.federated.token")  # the platform renewed it
    assert authenticator.renew() is True
    assertions = [seen.form["client_assertion"] for seen in entra.token_requests]
    assert assertions == ["first.federated.token", "second.federated.token"]
    form = entra.token_requests[0].form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert form["grant_type"] == "client_credentials" and form["client_id"] == CLIENT


@pytest.mark.parametrize("content", [None, "", "  \n"])
def test_federated_token_file_missing_or_empty(transport, tmp_path, content):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    with pytest.raises(InputError) as raised:
        Authenticator(options(federated_token_file=str(path)), endpoints(), http()).token()
    assert str(path) in raised.value.message
    assert ("is empty" in raised.value.message) == (content is not None)
    assert entra.token_requests == [], "nothing is sent without an assertion"


# ----- managed identity


@pytest.fixture
def imds(transport, monkeypatch):
    """A VM's instance metadata service; no App Service, Arc or Cloud Shell variables around."""
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT",
                 "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeImds()
    transport.handler = Router(**{"169.254.169.254": fake})
    return fake


@pytest.mark.parametrize("given, client_id", [
    ({"auth_flow": "managed_identity"}, None),
    ({"auth_flow": "managed_identity", "managed_identity_client_id": MANAGED_CLIENT}, MANAGED_CLIENT),
    ({"managed_identity_client_id": MANAGED_CLIENT}, MANAGED_CLIENT),
])
def test_managed_identity_asks_imds_for_the_resource(imds, given, client_id):
    before = time.time()
    token = Authenticator(given, endpoints("defender", login_url=None), http()).token()
    assert token.access_token == imds.access_token and token.source == "identity_provider"
    assert int(before) + 86399 <= token.expires_on <= int(time.time()) + 86399
    request = imds.requests[0]
    assert len(imds.requests) == 1
    assert request.url.split("?")[0] == IMDS_TOKEN_URL
    assert request.query["resource"] == "https://api.security.microsoft.com", "a resource, not a .default scope"
    assert request.query.get("client_id") == client_id
    assert request.headers["Metadata"] == "true"


@pytest.mark.parametrize("given, named", [
    ({"managed_identity_client_id": MANAGED_CLIENT}, "user-assigned managed identity %s" % MANAGED_CLIENT),
    ({"auth_flow": "managed_identity"}, "system-assigned managed identity"),
])
def test_managed_identity_error_names_the_identity(imds, given, named):
    imds.answer = make_response(400, {"error": "invalid_request", "error_description": "Identity not found"})
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(given, endpoints(login_url=None), http()).token()
    assert named in raised.value.message
    assert raised.value.message.endswith("failed: Identity not found")
    assert "None" not in raised.value.message and "tenant" not in raised.value.message, "no tenant was asked for"
    assert raised.value.details.get("client_id") == given.get("managed_identity_client_id")


def test_managed_identity_off_azure_is_a_transport_error(imds):
    imds.answer = requests.exceptions.ConnectionError("[Errno 113] No route to host")
    client = http(retries=1)
    with pytest.raises(TransportError) as raised:
        Authenticator({"auth_flow": "managed_identity"}, endpoints(login_url=None), client).token()
    assert "169.254.169.254" in raised.value.message
    assert len(imds.requests) == 2 and client.stats.retries == 1, "the GET is retried once"


def test_managed_identity_garbled_answer(imds):
    imds.answer = make_response(200, text="<html>proxy login</html>")
    with pytest.raises(AuthenticationError) as raised:
        Authenticator({"auth_flow": "managed_identity"}, endpoints(login_url=None), http()).token()
    assert "system-assigned managed identity failed: " in raised.value.message


def test_msal_errors_become_authentication_errors():
    assert _auth.msal.exceptions.MsalServiceError in MSAL_ERRORS
    with mock.patch.object(_auth.msal, "ManagedIdentityClient") as client:
        client.return_value.acquire_token_for_client.side_effect = _auth.msal.ManagedIdentityError("Unsupported identity")
        with pytest.raises(AuthenticationError) as raised:
            Authenticator({"auth_flow": "managed_identity"}, endpoints(login_url=None), http()).token()
    assert raised.value.message.endswith("failed: Unsupported identity")
    assert "managed identity" in raised.value.message


def test_managed_identity_token_comes_from_the_cache_the_second_time(imds, tmp_path):
    given = {"auth_flow": "managed_identity", "token_cache_path": str(tmp_path / "cache.json")}
    first = Authenticator(given, endpoints(login_url=None), http()).token()
    second = Authenticator(given, endpoints(login_url=None), http()).token()
    assert (first.source, second.source) == ("identity_provider", "cache")
    assert second.access_token == first.access_token
    assert len(imds.requests) == 1


# ----- the password flow (ROPC)


def test_password_flow_signs_in_and_warns(transport):
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    authenticator = Authenticator(options(username=USER, password=PASSWORD), endpoints(), http())
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        token = authenticator.token()
    assert token.access_token == entra.access_token and token.source == "identity_provider"
    assert grants(entra) == ["password"]
    form = entra.token_requests[0].form
    assert (form["username"], form["password"], form["client_id"]) == (USER, PASSWORD, CLIENT)
    assert "https://graph.microsoft.com/.default" in form["scope"].split()
    assert len(authenticator.warnings) == 1
    assert "deprecated" in authenticator.warnings[0] and "MFA" in authenticator.warnings[0]
    assert not [warning for warning in raised if issubclass(warning.category, DeprecationWarning)], \
        "MSAL's DeprecationWarning is replaced by the task warning"


def test_password_flow_user_realm_goes_to_the_login_urls_port(transport):
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    Authenticator(options(username=USER, password=PASSWORD), endpoints(), http()).token()
    realm = [seen for seen in transport.seen if "/common/userrealm/" in seen.path]
    assert [(seen.host, seen.port, seen.path) for seen in realm] == [
        ("login.sandbox.test", 8443, "/common/userrealm/%s" % USER)]
    assert realm[0].query == {"api-version": "1.0"}
    assert entra.events[:3] == [("discovery",), ("userrealm", USER), ("token", "password")]


def test_wrong_password(transport):
    transport.handler = FakeEntra(LOGIN, TENANT)
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(options(username=USER, password="Not-The-Pa55word"), endpoints(), http()).token()
    assert raised.value.details["aadsts_code"] == 50126
    assert raised.value.details["error"] == "invalid_grant"
    assert "Not-The-Pa55word" not in str(raised.value)


def test_password_flow_uses_the_cache_silently_and_then_does_not_warn(transport, tmp_path):
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    given = options(username=USER, password=PASSWORD, token_cache_path=str(tmp_path / "cache.json"))
    first = Authenticator(given, endpoints(), http())
    first.token()
    second = Authenticator(given, endpoints(), http())
    token = second.token()
    assert token.source == "cache" and token.access_token == entra.access_token
    assert grants(entra) == ["password"]
    assert second.warnings == [], "ROPC was not used"


def test_password_flow_does_not_take_another_users_cached_token(transport, tmp_path):
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    cache = str(tmp_path / "cache.json")
    Authenticator(options(username=USER, password=PASSWORD, token_cache_path=cache), endpoints(), http()).token()
    entra.user = {"upn": "other@contoso.example", "password": "Other-Pa55", "oid": "0a1b2c3d-9999-2222-3333-444455556666"}
    token = Authenticator(options(username="other@contoso.example", password="Other-Pa55", token_cache_path=cache),
                          endpoints(), http()).token()
    assert token.source == "identity_provider"
    assert grants(entra) == ["password", "password"]
    assert entra.token_requests[1].form["username"] == "other@contoso.example"


def test_expired_access_token_is_refreshed_silently(transport, tmp_path):
    # Entra's tokens here live 200 s, less than MSAL's five minute margin: the cached one counts as expired.
    entra = transport.handler = FakeEntra(LOGIN, TENANT, expires_in=200)
    given = options(username=USER, password=PASSWORD, token_cache_path=str(tmp_path / "cache.json"))
    Authenticator(given, endpoints(), http()).token()
    second = Authenticator(given, endpoints(), http())
    token = second.token()
    assert grants(entra) == ["password", "refresh_token"]
    assert entra.token_requests[1].form["refresh_token"] == entra.refresh_tokens[0]
    assert token.source == "identity_provider"
    assert second.warnings == []


def test_refused_refresh_token_falls_back_to_the_password(transport, tmp_path):
    entra = transport.handler = FakeEntra(LOGIN, TENANT, expires_in=200)
    given = options(username=USER, password=PASSWORD, token_cache_path=str(tmp_path / "cache.json"))
    Authenticator(given, endpoints(), http()).token()
    del entra.refresh_tokens[:]  # revoked
    second = Authenticator(given, endpoints(), http())
    second.token()
    assert grants(entra) == ["password", "refresh_token", "password"]
    assert len(second.warnings) == 1


# ----- the device code flow


def device_options(**given):
    return options(auth_flow="device_code", **given)


def test_device_code_shows_the_message_before_waiting_and_returns_the_token(transport, clock):
    entra = transport.handler = FakeEntra(LOGIN, TENANT, pending_polls=2)
    shown = []

    def display(message):
        shown.append(message)
        entra.events.append(("display",))

    token = Authenticator(device_options(), endpoints("defender"), http(), display=display).token()
    assert token.access_token == entra.access_token and token.source == "identity_provider"
    assert shown == ["To sign in, use a web browser to open the page %s/devicelogin and enter the code FAKE1001 to "
                     "authenticate." % LOGIN]
    assert entra.events == [("discovery",), ("devicecode",), ("display",)] + [("token", DEVICE_CODE_GRANT)] * 3
    assert "https://api.security.microsoft.com/.default" in entra.device_requests[0].form["scope"].split()
    assert all(seen.form["device_code"] == "device-code-1" for seen in entra.token_requests)
    assert sum(clock.slept) >= 10, "MSAL waits the interval (5 s) between polls"


def test_device_code_without_a_display_and_without_a_cached_sign_in(transport):
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    with pytest.raises(InputError) as raised:
        Authenticator(device_options(), endpoints(), http()).token()
    assert "secops.m365_defender.token" in raised.value.message and "token_cache_path" in raised.value.message
    assert entra.device_requests == [] and entra.token_requests == []


@pytest.mark.parametrize("timeout, expires_in, waited", [(12, 900, 12), (300, 8, 8), (None, 900, 300)])
def test_device_code_gives_up_at_the_timeout_or_the_codes_expiry(transport, clock, timeout, expires_in, waited):
    entra = transport.handler = FakeEntra(LOGIN, TENANT, pending_polls=10 ** 6, device_fields={"expires_in": expires_in})
    start = clock.now
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(device_options(device_code_timeout=timeout), endpoints(), http(), display=lambda message: None).token()
    assert raised.value.details["aadsts_code"] == 70016
    assert "Nobody signed in with the device code before device_code_timeout" in raised.value.hint
    assert waited < clock.now - start <= waited + 1, "polling stops within a second after the deadline"
    assert len(entra.token_requests) <= waited // 5 + 2


@pytest.mark.parametrize("outcome, code", [
    (entra_error(400, "authorization_declined", 65004, "User declined to consent to access the app."), 65004),
    (entra_error(400, "expired_token", 70019, "Verification code expired."), 70019),
])
def test_device_code_declined_or_expired(transport, clock, outcome, code):
    entra = transport.handler = FakeEntra(LOGIN, TENANT, pending_polls=1, device_outcome=outcome)
    shown = []
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(device_options(), endpoints(), http(), display=shown.append).token()
    assert raised.value.details["aadsts_code"] == code
    assert len(shown) == 1 and len(entra.token_requests) == 2


def test_device_code_refused_before_any_code_is_shown(transport):
    entra = transport.handler = FakeEntra(LOGIN, TENANT, device_answer=entra_error(
        400, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or "
                                        "'client_secret'."))
    shown = []
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(device_options(), endpoints(), http(), display=shown.append).token()
    assert raised.value.details["aadsts_code"] == 7000218
    assert shown == [] and entra.token_requests == []


def test_device_code_sign_in_is_reused_from_the_cache_without_a_display(transport, clock, tmp_path):
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    given = device_options(token_cache_path=str(tmp_path / "cache.json"))
    Authenticator(given, endpoints(), http(), display=lambda message: None).token()
    later = Authenticator(given, endpoints(), http())
    token = later.token()
    assert token.source == "cache" and token.access_token == entra.access_token
    assert len(entra.device_requests) == 1 and grants(entra) == [DEVICE_CODE_GRANT]


def test_device_code_cached_sign_in_of_another_user_is_not_used(transport, clock, tmp_path):
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    given = device_options(token_cache_path=str(tmp_path / "cache.json"))
    Authenticator(given, endpoints(), http(), display=lambda message: None).token()
    with pytest.raises(InputError):
        Authenticator(dict(given, username="someone.else@contoso.example"), endpoints(), http()).token()
    assert len(entra.device_requests) == 1


def test_device_code_refreshes_for_another_api_without_a_display(transport, clock, tmp_path):
    graph_token = make_jwt({"aud": "https://graph.microsoft.com", "scp": "SecurityIncident.Read.All"})
    defender_token = make_jwt({"aud": "https://api.security.microsoft.com", "scp": "Incident.Read"})
    entra = transport.handler = FakeEntra(LOGIN, TENANT, tokens_by_resource={
        "https://graph.microsoft.com": graph_token, "https://api.security.microsoft.com": defender_token})
    given = device_options(token_cache_path=str(tmp_path / "cache.json"))
    assert Authenticator(given, endpoints("defender"), http(), display=lambda message: None).token().access_token == defender_token
    token = Authenticator(given, endpoints("graph"), http()).token()
    assert token.access_token == graph_token
    assert grants(entra) == [DEVICE_CODE_GRANT, "refresh_token"]
    assert "https://graph.microsoft.com/.default" in entra.token_requests[1].form["scope"].split()


# ----- SignInContext and Authenticator


def test_sign_in_context_defaults():
    ctx = SignInContext("endpoints", "http")
    assert (ctx.cache, ctx.display) == (None, None)
    assert ctx.warn("ignored") is None


def test_renew_without_credentials_is_refused():
    authenticator = Authenticator({"tenant_id": TENANT}, endpoints(), http())
    assert authenticator.renew() is False


def test_renew_signs_in_again_and_replaces_the_token(transport):
    first, second = make_jwt({"n": 1, "aud": "a"}), make_jwt({"n": 2, "aud": "b"})
    entra = transport.handler = FakeEntra(LOGIN, TENANT, access_token=first, later_tokens=[second])
    authenticator = Authenticator(options(client_secret="s"), endpoints(), http())
    assert authenticator.token().access_token == first
    assert authenticator.renew() is True
    assert authenticator.token().access_token == second
    assert len(entra.token_requests) == 2


def test_renew_after_a_refused_token_does_not_take_it_from_the_cache(transport, tmp_path):
    first, second = make_jwt({"n": 1, "aud": "a"}), make_jwt({"n": 2, "aud": "b"})
    entra = transport.handler = FakeEntra(LOGIN, TENANT, access_token=first, later_tokens=[second])
    authenticator = Authenticator(options(client_secret="s", token_cache_path=str(tmp_path / "cache.json")),
                                  endpoints(), http())
    refused = authenticator.token()
    assert authenticator.renew() is True
    assert authenticator.token().access_token != refused.access_token
    assert len(entra.token_requests) == 2


def test_held_token_is_dropped_by_renew(transport):
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    held = _auth.Token(make_jwt({"aud": "held"}), time.time() + 3600, "auth")
    authenticator = Authenticator(options(client_secret="s"), endpoints(), http(), held=held)
    assert authenticator.token() is held
    assert authenticator.renew() is True
    assert authenticator.held is None
    assert authenticator.token().access_token == entra.access_token


def test_signing_in_needs_msal(transport, monkeypatch):
    monkeypatch.setattr(_auth, "HAS_MSAL", False)
    with pytest.raises(M365DefenderError) as raised:
        Authenticator(options(client_secret="s"), endpoints(), http()).token()
    assert "msal" in raised.value.message
    assert transport.seen == []


def test_cache_folder_must_exist(transport, tmp_path):
    missing = tmp_path / "no" / "cache.json"
    with pytest.raises(InputError) as raised:
        Authenticator(options(client_secret="s", token_cache_path=str(missing)), endpoints(), http()).token()
    assert str(missing) in raised.value.message and "does not exist" in raised.value.message
    assert transport.seen == []
    assert not os.path.exists(str(missing.parent))
