# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Session (what a task builds from the options, on first use), token_result, and the module's extra sessions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils import _http, _module
from ansible_collections.secops.m365_defender.plugins.module_utils._api import ApiClient
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._module import (
    AUTH_ARGUMENT_SPEC,
    Connection,
    DefenderModule,
    Session,
    token_result,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import (
    CLIENT,
    LOGIN,
    MANAGED_CLIENT,
    TENANT,
    TENANT_ID,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    FakeEntra,
    FakeImds,
    Router,
    make_jwt,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module


def params(**given):
    """Options as the modules get them: every option present, unset ones None."""
    values = dict((name, spec.get("default")) for name, spec in AUTH_ARGUMENT_SPEC.items())
    values.update(given)
    return values


def held(**changes):
    auth = {"access_token": make_jwt({"aud": "https://graph.microsoft.com", "n": "held"}), "token_type": "Bearer",
            "expires_on": int(time.time()) + 3600, "api": "graph", "cloud": "global", "tenant_id": TENANT,
            "client_id": CLIENT, "login_url": LOGIN}
    auth.update(changes)
    return auth


@pytest.fixture
def imds(transport, monkeypatch):
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeImds(access_token=make_jwt({"aud": "https://graph.microsoft.com", "tid": TENANT_ID,
                                           "appid": MANAGED_CLIENT, "roles": ["SecurityIncident.Read.All"]}))
    transport.handler = Router(**{"169.254.169.254": fake})
    return fake


# ----- a managed identity needs no tenant


@pytest.mark.parametrize("given", [
    {"auth_flow": "managed_identity"},
    {"managed_identity_client_id": MANAGED_CLIENT},
    {"auth_flow": "managed_identity", "managed_identity_client_id": MANAGED_CLIENT},
])
def test_managed_identity_needs_no_tenant(given):
    connection = Connection(params(**given))
    assert connection.tenant_id is None
    assert connection.endpoints.api_url == "https://graph.microsoft.com/v1.0"


def test_other_flows_still_need_a_tenant():
    for given in ({"client_id": CLIENT, "client_secret": "s"}, {"client_id": CLIENT, "auth_flow": "device_code"},
                  {"client_id": CLIENT, "username": "u@contoso.example", "password": "p"}):
        with pytest.raises(InputError) as raised:
            Connection(params(**given))
        assert "'tenant_id' is required" in raised.value.message


def test_managed_identity_token_result_takes_the_tenant_from_the_token(imds):
    session = Session(params(auth_flow="managed_identity", api="graph"))
    result = token_result(session, session.sign_in())
    assert result["auth"]["tenant_id"] == TENANT_ID
    assert result["auth"]["access_token"] == imds.access_token
    assert result["claims"]["appid"] == MANAGED_CLIENT
    assert result["token_source"] == "identity_provider"
    assert result["changed"] is False
    assert imds.requests[0].query["resource"] == "https://graph.microsoft.com"


def test_managed_identity_token_result_works_as_auth_for_the_next_task(imds):
    session = Session(params(auth_flow="managed_identity"))
    auth = token_result(session, session.sign_in())["auth"]
    following = Session(params(auth=auth))
    assert following.authenticator.token().access_token == imds.access_token
    assert len(imds.requests) == 1


# ----- built on first use


def test_nothing_is_built_or_checked_before_first_use(transport):
    session = Session(params(tenant_id="not a tenant", timeout=0))
    assert session.report({"changed": False}) == ({"changed": False}, [])
    session.close()
    with pytest.raises(InputError):
        session.connection  # pylint: disable=pointless-statement
    assert transport.seen == []


@pytest.mark.parametrize("given, option", [
    ({"timeout": 0}, "timeout"), ({"timeout": -5}, "timeout"), ({"timeout": 10 ** 12}, "timeout"),
    ({"retries": -1}, "retries"), ({"retries": 21}, "retries"),
    ({"device_code_timeout": -1}, "device_code_timeout"), ({"device_code_timeout": 0}, "device_code_timeout"),
])
def test_integer_options_are_checked_before_any_request(transport, given, option):
    session = Session(params(tenant_id=TENANT, client_id=CLIENT, client_secret="s", **given))
    with pytest.raises(InputError) as raised:
        session.client.call("GET", "/security/incidents")
    assert raised.value.message.startswith("Option '%s' must be from " % option)
    assert "got %d" % list(given.values())[0] in raised.value.message
    assert transport.seen == []


def test_parts_are_built_once(transport):
    session = Session(params(tenant_id=TENANT, client_id=CLIENT, client_secret="s", timeout=7, retries=2))
    assert session.connection is session.connection
    assert session.http is session.http
    assert (session.http.timeout, session.http.retries) == (7, 2)
    assert session.authenticator is session.authenticator
    assert isinstance(session.client, ApiClient) and session.client is session.client
    assert session.client.authenticator is session.authenticator
    assert transport.seen == [], "building signs nothing in"


def test_authenticator_uses_the_held_token_and_sign_in_does_not(transport):
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    auth = held()
    session = Session(params(auth=auth, client_secret="s"))
    assert session.authenticator.token().access_token == auth["access_token"]
    assert entra.token_requests == []
    token = session.sign_in()
    assert token.access_token == entra.access_token != auth["access_token"]
    assert session.authenticator.token() is token, "the client built afterwards uses the new sign-in"
    assert len(entra.token_requests) == 1


def test_display_reaches_the_authenticator():
    shown = []
    session = Session(params(tenant_id=TENANT, client_id=CLIENT), display=shown.append)
    assert session.authenticator.display == shown.append


# ----- report


def test_report_carries_the_sign_in_warnings(transport):
    transport.handler = FakeEntra(LOGIN, TENANT)
    session = Session(params(tenant_id=TENANT, client_id=CLIENT, username="analyst@contoso.example",
                             password="Correct-Horse-1", login_url=LOGIN))
    session.sign_in()
    result, warnings = session.report({"changed": False})
    assert len(warnings) == 1 and "ROPC" in warnings[0]
    assert result["http"]["requests"] == 3
    session.close()


def test_report_with_sign_in_and_throttling_warnings(transport):
    transport.handler = FakeEntra(LOGIN, TENANT)
    session = Session(params(tenant_id=TENANT, client_id=CLIENT, username="analyst@contoso.example",
                             password="Correct-Horse-1", login_url=LOGIN))
    session.sign_in()
    session.http.stats.throttled, session.http.stats.wait_seconds = 1, 2.0
    warnings = session.report({})[1]
    assert len(warnings) == 2
    assert "ROPC" in warnings[0] and "throttled 1 request(s)" in warnings[1]


# ----- DefenderModule closes its extra sessions


class ClosingRecorder(object):
    def __init__(self, monkeypatch):
        self.closed = []
        real_close = _http.HttpClient.close
        recorder = self

        def close(client):
            recorder.closed.append(client)
            real_close(client)

        monkeypatch.setattr(_http.HttpClient, "close", close)


@pytest.mark.parametrize("fails", [False, True])
def test_extra_sessions_are_closed_with_the_module(monkeypatch, fails):
    recorder = ClosingRecorder(monkeypatch)
    opened = []

    def action(module):
        extra = Session(dict(module.params, api="defender"))
        module.extra_sessions.append(extra)
        opened.extend([module.session.http, extra.http])
        if fails:
            raise InputError("stop here")
        return {"changed": False}

    def main():
        DefenderModule(argument_spec={}).run(action)

    outcome, result = run_module(main, {"tenant_id": TENANT})
    assert outcome == ("fail" if fails else "exit"), result
    assert len(opened) == 2 and opened[0] is not opened[1]
    assert recorder.closed == opened


@pytest.mark.parametrize("library", ["msal", "requests"])
def test_module_fails_cleanly_without_a_library(monkeypatch, library):
    monkeypatch.setattr(_module, "HAS_%s" % library.upper(), False)
    called = []

    def main():
        DefenderModule(argument_spec={}).run(called.append)

    outcome, result = run_module(main, {"tenant_id": TENANT})
    assert outcome == "fail"
    assert library in result["msg"]
    assert called == []
