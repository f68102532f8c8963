# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient
from ansible_collections.secops.m365_defender.plugins.module_utils._module import AUTH_ARGUMENT_SPEC, Connection, DefenderModule
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import set_module_args

TENANT = "6d9a1c1e-2f43-4b8e-9a0f-0c1b2d3e4f50"
CLIENT = "11111111-2222-3333-4444-555555555555"


def params(**given):
    """Module params as AnsibleModule hands them over: every option present, unset ones None."""
    values = dict((name, spec.get("default")) for name, spec in AUTH_ARGUMENT_SPEC.items())
    values.update(given)
    return values


def held(**changes):
    auth = {
        "access_token": "held.access.token", "token_type": "Bearer", "expires_on": int(time.time()) + 3600,
        "expires_at": "ignored", "api": "defender", "cloud": "gcc", "tenant_id": TENANT, "client_id": CLIENT,
        "login_url": "https://login.sandbox.test", "api_url": "https://defender.sandbox.test/api",
        "resource": "https://api-gcc.security.microsoft.us", "scope": "https://api-gcc.security.microsoft.us/.default",
    }
    auth.update(changes)
    return auth


def test_settings_from_options():
    connection = Connection(params(tenant_id="contoso.example", client_id=CLIENT, client_secret="s"))
    assert (connection.api, connection.cloud) == ("graph", "global")
    assert (connection.tenant_id, connection.client_id) == ("contoso.example", CLIENT)
    assert connection.endpoints.api_url == "https://graph.microsoft.com/v1.0"
    assert connection.endpoints.login_url == "https://login.microsoftonline.com"
    assert connection.held_token is None
    assert connection.options["client_secret"] == "s"
    assert connection.options["tenant_id"] == "contoso.example"


def test_settings_from_auth():
    auth = held()
    connection = Connection(params(auth=auth))
    assert (connection.api, connection.cloud, connection.tenant_id, connection.client_id) == ("defender", "gcc", TENANT, CLIENT)
    assert connection.endpoints.api_url == "https://defender.sandbox.test/api"
    assert connection.endpoints.login_url == "https://login.sandbox.test"
    assert connection.endpoints.scope == "https://api-gcc.security.microsoft.us/.default"
    token = connection.held_token
    assert (token.access_token, token.expires_on, token.source) == ("held.access.token", auth["expires_on"], "auth")
    assert connection.options["tenant_id"] == TENANT and connection.options["client_id"] == CLIENT


def test_held_token_fits_a_tenant_spelled_in_another_case():
    connection = Connection(params(auth=held(tenant_id="Contoso.Example"), tenant_id="contoso.example"))
    assert connection.held_token is not None


@pytest.mark.parametrize("options", [
    {"api": "graph"},
    {"cloud": "global"},
    {"tenant_id": "fabrikam.example"},
])
def test_held_token_not_used_for_another_api_cloud_or_tenant(options):
    connection = Connection(params(auth=held(), client_id=CLIENT, client_secret="s", **options))
    assert connection.held_token is None
    assert connection.endpoints.login_url != "https://login.sandbox.test", "the auth's URLs belong to its token"
    assert "sandbox" not in connection.endpoints.api_url


def test_options_win_over_auth_urls():
    connection = Connection(params(auth=held(), defender_url="https://api-eu.security.microsoft.com",
                                   login_url="https://login.other.test"))
    assert connection.held_token is not None
    assert connection.endpoints.api_url == "https://api-eu.security.microsoft.com/api"
    assert connection.endpoints.login_url == "https://login.other.test"


@pytest.mark.parametrize("tenant", [TENANT, TENANT.upper(), "contoso.onmicrosoft.com", "sub.contoso.co.uk", "xn--bcher-kva.example"])
def test_valid_tenants(tenant):
    assert Connection(params(tenant_id=tenant)).tenant_id == tenant


def test_tenant_is_required():
    with pytest.raises(InputError) as raised:
        Connection(params(client_id=CLIENT, client_secret="s"))
    assert "'tenant_id' is required" in raised.value.message
    assert "AZURE_TENANT_ID" in raised.value.message


@pytest.mark.parametrize("tenant", ["contoso", "not a tenant", "6d9a1c1e-2f43-4b8e-9a0f", "https://login.microsoftonline.com/x",
                                    "contoso..com", "-contoso.com"])
def test_invalid_tenants(tenant):
    with pytest.raises(InputError) as raised:
        Connection(params(tenant_id=tenant))
    assert "'tenant_id' must be a GUID or a verified domain" in raised.value.message
    assert "'%s'" % tenant in raised.value.message


@pytest.mark.parametrize("client_id", ["my-app", "contoso.example", CLIENT + "0"])
def test_invalid_client_id(client_id):
    with pytest.raises(InputError) as raised:
        Connection(params(tenant_id=TENANT, client_id=client_id))
    assert "'client_id' must be the app's Application (client) ID" in raised.value.message
    assert "'%s'" % client_id in raised.value.message


def test_http_override_is_rejected_before_anything_else():
    with pytest.raises(InputError) as raised:
        Connection(params(tenant_id=TENANT, graph_url="http://graph.sandbox.test"))
    assert "'graph_url'" in raised.value.message


# ----- the `http` result key and the throttling warning


@pytest.fixture
def session():
    """The Session of a DefenderModule."""
    with set_module_args({"tenant_id": TENANT}):
        instance = DefenderModule(argument_spec={})
    yield instance.session
    instance.session.close()


def test_no_http_layer_no_http_report(session):
    assert session.report({"changed": False}) == ({"changed": False}, [])


def test_http_report_without_throttling(session):
    http = session.http
    assert isinstance(http, HttpClient)
    http.stats.requests, http.stats.retries, http.stats.wait_seconds, http.stats.paced_seconds = 3, 1, 0.5, 12.0
    result, warnings = session.report({"changed": True, "x": 1})
    assert result == {"changed": True, "x": 1, "http": {"requests": 3, "retries": 1, "throttled": 0, "wait_seconds": 0.5,
                                                        "paced_seconds": 12.0}}
    assert warnings == [], "a retried 5xx or pacing is no throttling"


def test_throttling_is_reported_and_warned(session):
    stats = session.http.stats
    stats.requests, stats.retries, stats.throttled, stats.wait_seconds = 4, 3, 2, 7.5
    result, warnings = session.report({"changed": False})
    assert result["http"]["throttled"] == 2 and result["http"]["wait_seconds"] == 7.5
    assert len(warnings) == 1
    assert "throttled 2 request(s) with HTTP 429" in warnings[0] and "7.5 s" in warnings[0]
