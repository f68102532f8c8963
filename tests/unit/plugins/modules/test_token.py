# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

import pytest
import yaml

from ansible_collections.secops.m365_defender.plugins.modules import token
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import (
    CLIENT,
    LOGIN,
    SECRET,
    TENANT,
    TENANT_ID,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import FakeEntra, make_jwt, make_response
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module

CLAIMS = {"aud": "https://api.security.microsoft.com", "tid": TENANT_ID, "appid": CLIENT,
          "roles": ["Incident.Read.All", "AdvancedHunting.Read.All"], "exp": 1764151200}


def args(**extra):
    values = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET, "login_url": LOGIN}
    values.update(extra)
    return values


def documented(section):
    return yaml.safe_load(token.RETURN)[section]


@pytest.fixture
def entra(transport):
    access_token = make_jwt(dict(CLAIMS, uti="unique-token-id", xms_cc=["CP1"]))
    transport.handler = FakeEntra(LOGIN, TENANT, access_token=access_token)
    return transport.handler


def test_token_returns_auth_with_every_documented_key(entra, transport):
    before = time.time()
    outcome, result = run_module(token.main, args(api="defender"))
    assert outcome == "exit", result
    auth = result["auth"]
    assert sorted(auth) == sorted(documented("auth")["contains"])
    assert auth["access_token"] == entra.access_token
    assert auth["token_type"] == "Bearer"
    assert int(before) + 3599 <= auth["expires_on"] <= int(time.time()) + 3599
    assert auth["expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(auth["expires_on"]))
    assert (auth["api"], auth["cloud"], auth["tenant_id"], auth["client_id"]) == ("defender", "global", TENANT, CLIENT)
    assert auth["login_url"] == LOGIN
    assert auth["api_url"] == "https://api.security.microsoft.com/api"
    assert auth["resource"] == "https://api.security.microsoft.com"
    assert auth["scope"] == "https://api.security.microsoft.com/.default"
    assert result["changed"] is False
    assert result["token_source"] == "identity_provider"
    assert set(result) >= set(yaml.safe_load(token.RETURN))
    assert entra.token_requests[0].form["scope"] == "https://api.security.microsoft.com/.default"
    assert all(seen.host == "login.sandbox.test" for seen in transport.seen)


def test_claims_are_the_non_secret_ones_without_the_token(entra):
    outcome, result = run_module(token.main, args(api="defender"))
    assert outcome == "exit", result
    assert result["claims"] == CLAIMS
    claims_text = json.dumps(result["claims"])
    assert entra.access_token not in claims_text
    for part in entra.access_token.split("."):
        assert part not in claims_text


def test_secret_is_not_in_the_result(entra):
    outcome, result = run_module(token.main, args())
    assert outcome == "exit"
    assert SECRET not in json.dumps(result)


def held_auth(**changes):
    auth = {"access_token": make_jwt({"aud": "https://api.security.microsoft.com"}), "expires_on": int(time.time()) + 3600,
            "api": "defender", "cloud": "global", "tenant_id": TENANT, "client_id": CLIENT, "login_url": LOGIN}
    auth.update(changes)
    return auth


def test_token_always_signs_in_and_takes_its_settings_from_auth(entra, transport):
    held = held_auth()
    outcome, result = run_module(token.main, {"auth": held, "client_secret": SECRET})
    assert outcome == "exit", result
    assert result["token_source"] == "identity_provider"
    assert result["auth"]["access_token"] == entra.access_token != held["access_token"]
    assert (result["auth"]["api"], result["auth"]["tenant_id"], result["auth"]["client_id"]) == ("defender", TENANT, CLIENT)
    assert result["auth"]["login_url"] == LOGIN
    assert len(entra.token_requests) == 1
    assert entra.token_requests[0].form["scope"] == "https://api.security.microsoft.com/.default"
    assert entra.token_requests[0].form["client_id"] == CLIENT


def test_token_with_auth_but_no_credentials_fails(transport):
    outcome, result = run_module(token.main, {"auth": held_auth()})
    assert outcome == "fail"
    assert "No credentials" in result["msg"]
    assert transport.seen == []


@pytest.mark.parametrize("code, error, hint_words", [
    (7000215, "invalid_client", "Secret ID"),
    (700016, "unauthorized_client", "adminconsent?client_id=" + CLIENT),
])
def test_aadsts_error_fails_with_the_code(transport, code, error, hint_words):
    body = {"error": error, "error_description": "AADSTS%d: It failed.\r\nTrace ID: t\r\nCorrelation ID: c" % code,
            "error_codes": [code], "trace_id": "t", "correlation_id": "c"}
    transport.handler = FakeEntra(LOGIN, TENANT, token_answer=make_response(401 if error == "invalid_client" else 400, body))
    outcome, result = run_module(token.main, args())
    assert outcome == "fail"
    assert result["aadsts_code"] == code
    assert result["tenant_id"] == TENANT and result["client_id"] == CLIENT
    assert "Sign-in to tenant %s at %s failed: AADSTS%d: It failed." % (TENANT, LOGIN, code) in result["msg"]
    assert hint_words in result["msg"]
    assert "exception" not in result, "an expected failure has no traceback"
    assert SECRET not in json.dumps(result)


def test_bad_tenant_fails_before_any_request(transport):
    outcome, result = run_module(token.main, args(tenant_id="not a tenant"))
    assert outcome == "fail"
    assert "'tenant_id'" in result["msg"]
    assert transport.seen == []


def test_no_credentials(transport):
    outcome, result = run_module(token.main, {"tenant_id": TENANT})
    assert outcome == "fail"
    assert "No credentials" in result["msg"]
    assert transport.seen == []


def test_options_come_from_the_environment(entra, monkeypatch):
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("M365D_LOGIN_URL", LOGIN)
    monkeypatch.setenv("M365D_API", "defender")
    outcome, result = run_module(token.main, {})
    assert outcome == "exit", result
    assert (result["auth"]["api"], result["auth"]["tenant_id"]) == ("defender", TENANT)
    assert entra.token_requests[0].form["client_secret"] == SECRET
