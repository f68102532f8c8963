# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Local bad input that used to end in a traceback or in a request (issue 11): certificates, federated token files,
the token cache file, the device code answer, times, triage rules and the options every plugin shares."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

import msal
import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._auth import Authenticator, check_certificate
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import AuthenticationError, InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import parse_time_option
from ansible_collections.secops.m365_defender.plugins.module_utils._module import AUTH_ARGUMENT_SPEC, text_type_errors
from ansible_collections.secops.m365_defender.plugins.module_utils._token_cache import TokenCacheFile
from ansible_collections.secops.m365_defender.plugins.module_utils._triage import RuleError, check_read_options, parse_rules
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, LOGIN, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    FakeEntra,
    cert_pem,
    key_pem,
    make_certificate,
    rsa_key,
)

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)


def sign_in(transport, **given):
    """A sign-in against a fake Entra ID; returns the fake, whose token_requests show what reached it."""
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    options = dict({"tenant_id": TENANT, "client_id": CLIENT}, **given)
    Authenticator(options, resolve_endpoints(login_url=LOGIN), HttpClient(sleep=lambda seconds: None),
                  display=lambda message: None).token()
    return entra


# ----- certificates: opened and checked before any request


def pem_file(tmp_path, text):
    path = tmp_path / "app.pem"
    path.write_text(text)
    return str(path)


def damaged(block):
    """A PEM block whose body is no longer the DER it was."""
    lines = block.strip().splitlines()
    return "\n".join([lines[0], lines[1][:10] + "AAAA" + lines[1][14:]] + lines[2:]) + "\n"


@pytest.fixture(scope="module")
def pair():
    key = rsa_key()
    return key, make_certificate(key)


@pytest.mark.parametrize("case, words", [
    ("damaged key", ["private key", "is damaged"]),
    ("damaged certificate", ["certificate", "is damaged"]),
    ("wrong password", ["cannot be decrypted", "client_certificate_password"]),
    ("expired", ["expired on", "upload"]),
    ("not yet valid", ["valid only from", "clock"]),
    ("key of another pair", ["does not belong to its certificate"]),
])
def test_a_certificate_that_cannot_sign_in_fails_before_any_request(transport, tmp_path, pair, case, words):
    key, cert = pair
    password = None
    if case == "damaged key":
        text = damaged(key_pem(key)) + cert_pem(cert)
    elif case == "damaged certificate":
        text = key_pem(key) + damaged(cert_pem(cert))
    elif case == "wrong password":
        text, password = key_pem(key, password="right") + cert_pem(cert), "wrong"
    elif case == "expired":
        text = key_pem(key) + cert_pem(make_certificate(key, valid_days=(-60, -1)))
    elif case == "not yet valid":
        text = key_pem(key) + cert_pem(make_certificate(key, valid_days=(2, 60)))
    else:
        text = key_pem(rsa_key("another")) + cert_pem(cert)
    path = pem_file(tmp_path, text)
    with pytest.raises(InputError) as raised:
        sign_in(transport, client_certificate_path=path, client_certificate_password=password)
    for word in words:
        assert word in raised.value.message
    assert path in raised.value.message
    assert transport.seen == [], "not even the discovery request"


def test_an_encrypted_key_with_the_right_password_signs_in(transport, tmp_path, pair):
    key, cert = pair
    path = pem_file(tmp_path, key_pem(key, password="right") + cert_pem(cert))
    entra = sign_in(transport, client_certificate_path=path, client_certificate_password="right")
    assert entra.token_requests[0].form["client_assertion_type"].endswith("jwt-bearer")


def test_an_expired_certificate_in_a_pfx_fails_before_any_request(transport, tmp_path):
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    key = rsa_key()
    data = pkcs12.serialize_key_and_certificates(b"app", key, make_certificate(key, valid_days=(-60, -1)), None,
                                                 BestAvailableEncryption(b"pfx"))
    path = tmp_path / "app.pfx"
    path.write_bytes(data)
    with pytest.raises(InputError) as raised:
        sign_in(transport, client_certificate_path=str(path), client_certificate_password="pfx")
    assert "expired on" in raised.value.message
    assert transport.seen == []


def test_the_certificate_check_uses_the_certificates_own_dates(pair):
    key, cert = pair
    check_certificate("app.pem", key, cert)
    later = datetime.datetime.now(tz=datetime.timezone.utc) + datetime.timedelta(days=31)
    with pytest.raises(InputError):
        check_certificate("app.pem", key, cert, now=later)


# ----- federated token file: read once before any request


@pytest.mark.parametrize("content", [None, "", " \n"])
def test_an_empty_or_missing_federated_token_file_fails_before_any_request(transport, tmp_path, content):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError) as raised:
        sign_in(transport, federated_token_file=str(path))
    assert str(path) in raised.value.message
    assert transport.seen == [], "not even the discovery request"


# ----- the token cache file


def test_a_directory_as_token_cache_is_refused_and_left_alone(transport, tmp_path):
    folder = tmp_path / "cache-dir"
    folder.mkdir(mode=0o755)
    with pytest.raises(InputError) as raised:
        sign_in(transport, client_secret="s", token_cache_path=str(folder))
    assert str(folder) in raised.value.message and "not a regular file" in raised.value.message
    assert (folder.stat().st_mode & 0o777) == 0o755, "the folder's mode is not touched"
    assert transport.seen == []


def test_a_token_cache_in_a_folder_that_cannot_be_written_is_refused(transport):
    # /proc refuses new files even to root, which a chmod-ed folder would not.
    with pytest.raises(InputError) as raised:
        sign_in(transport, client_secret="s", token_cache_path="/proc/m365d-token-cache.json")
    assert "/proc/m365d-token-cache.json" in raised.value.message
    assert transport.seen == []


@pytest.mark.parametrize("content", [
    {"AccessToken": {"key": 1}},
    {"AccessToken": {"key": {"client_id": CLIENT, "expires_on": "soon"}}},
    {"RefreshToken": {"key": {"cached_at": None}}},
])
def test_json_of_the_wrong_shape_is_replaced_with_a_warning(tmp_path, content):
    cache = tmp_path / "cache.json"
    cache.write_text(json.dumps(content))
    cache.chmod(0o600)
    with TokenCacheFile(str(cache), msal.SerializableTokenCache) as cache_file:
        assert cache_file.cache.has_state_changed, "it will be overwritten"
    assert any("could not be read as a token cache" in warning for warning in cache_file.warnings)


# ----- the device code answer, which MSAL reads without checking it


def test_a_device_code_answer_with_a_null_interval_fails_cleanly(transport, clock):
    transport.handler = FakeEntra(LOGIN, TENANT, device_fields={"interval": None})
    options = {"tenant_id": TENANT, "client_id": CLIENT, "auth_flow": "device_code"}
    with pytest.raises(AuthenticationError) as raised:
        Authenticator(options, resolve_endpoints(login_url=LOGIN), HttpClient(sleep=lambda seconds: None),
                      display=lambda message: None).token()
    assert "device code answer" in raised.value.message and LOGIN in raised.value.message


@pytest.mark.parametrize("interval", [0, -3])
def test_a_device_code_interval_below_one_second_does_not_poll_without_pause(transport, clock, interval):
    entra = transport.handler = FakeEntra(LOGIN, TENANT, pending_polls=3, device_fields={"interval": interval})
    options = {"tenant_id": TENANT, "client_id": CLIENT, "auth_flow": "device_code"}
    Authenticator(options, resolve_endpoints(login_url=LOGIN), HttpClient(sleep=lambda seconds: None),
                  display=lambda message: None).token()
    assert len(entra.token_requests) == 4
    assert sum(clock.slept) >= 3, "at least a second between polls"


def test_a_device_code_answer_without_a_message_still_shows_the_code(transport, clock):
    transport.handler = FakeEntra(LOGIN, TENANT, device_fields={"message": None})
    shown = []
    options = {"tenant_id": TENANT, "client_id": CLIENT, "auth_flow": "device_code"}
    Authenticator(options, resolve_endpoints(login_url=LOGIN), HttpClient(sleep=lambda seconds: None),
                  display=shown.append).token()
    assert shown == ["To sign in, open %s/devicelogin and enter the code FAKE1001." % LOGIN]


# ----- times and triage rules


@pytest.mark.parametrize("value", ["999999999w", "99999999999d", "0001-01-01", "0001-01-01T00:00:00+01:00",
                                   "1969-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00"])
def test_times_out_of_range_fail_naming_the_option(value):
    with pytest.raises(InputError) as raised:
        parse_time_option("created_after", value, NOW)
    assert "Option 'created_after' got '%s', which is out of range" % value in raised.value.message


@pytest.mark.parametrize("value", ["1970-01-01T00:00:00Z", "2000w", "9999-12-31T23:59:59Z"])
def test_times_at_the_edges_of_the_range_are_accepted(value):
    assert parse_time_option("created_after", value, NOW) is not None


@pytest.mark.parametrize("key", ["idle_for", "older_than", "newer_than"])
def test_a_triage_age_out_of_range_names_the_rule_and_key(key):
    with pytest.raises(RuleError) as raised:
        parse_rules([{"name": "Stale", "match": {key: "999999999w"}, "set": {"tags": ["stale"]}}], NOW)
    assert "Rule 1 ('Stale')" in raised.value.message and "match.%s" % key in raised.value.message
    assert "out of range" in raised.value.message


@pytest.mark.parametrize("status, created_after, words", [
    (["bogus"], None, ["'status'", "bogus", "allows"]),
    ("bogus", None, ["'status'", "bogus"]),
    ({"active": True}, None, ["'status'", "list"]),
    (None, "yesterday", ["'created_after'", "yesterday", "ISO-8601"]),
    (None, "999999999w", ["'created_after'", "out of range"]),
])
def test_the_triage_roles_read_options_are_checked_without_a_request(status, created_after, words):
    with pytest.raises(InputError) as raised:
        check_read_options(status, created_after, NOW)
    for word in words:
        assert word in raised.value.message


def test_good_triage_read_options_pass():
    check_read_options(["active", "in_progress"], "7d", NOW)
    check_read_options([], None, NOW)


# ----- options of type str that would arrive as Python text


@pytest.mark.parametrize("args, message", [
    ({"tenant_id": {"id": 1}}, "Option 'tenant_id' must be a string, got a dictionary ({'id': 1})."),
    ({"login_url": ["https://a"]}, "Option 'login_url' must be a string, got a list (['https://a'])."),
    ({"ca_path": True}, "Option 'ca_path' must be a string, got a boolean (True)."),
    ({"auth": {"access_token": "x", "expires_on": 1, "api": "graph", "cloud": "global", "tenant_id": [TENANT]}},
     "Option 'auth.tenant_id' must be a string, got a list (['%s'])." % TENANT),
])
def test_text_type_errors(args, message):
    assert text_type_errors(AUTH_ARGUMENT_SPEC, args) == [message]


@pytest.mark.parametrize("args", [{"tenant_id": TENANT, "client_id": CLIENT}, {"timeout": 30}, {"client_secret": 1234},
                                  {"tenant_id": datetime.date(2026, 1, 1)}])
def test_text_type_errors_accept_strings_whole_numbers_and_dates(args):
    assert text_type_errors(AUTH_ARGUMENT_SPEC, args) == []


def test_no_log_values_are_not_repeated():
    errors = text_type_errors(AUTH_ARGUMENT_SPEC, {"client_secret": ["hunter2"], "password": {"p": "hunter3"}})
    assert len(errors) == 2 and "hunter" not in " ".join(errors)
