# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What Graph's directory shows of an app registration, through a real ApiClient and a fake directory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._api import ApiClient
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient
from ansible_collections.secops.m365_defender.plugins.module_utils._registration import read_registration
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, GRAPH
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import FakeAuthenticator, FakeDirectory, make_response

NOW = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def application(**fields):
    value = {"id": "app-object-id", "appId": CLIENT, "displayName": "SOC automation", "signInAudience": "AzureADMultipleOrgs",
             "passwordCredentials": [], "keyCredentials": []}
    value.update(fields)
    return value


def principal():
    return {"id": "sp-object-id", "appId": CLIENT, "displayName": "SOC automation"}


@pytest.fixture
def client():
    http = HttpClient(retries=1, sleep=lambda seconds: None)
    yield ApiClient(resolve_endpoints(graph_url=GRAPH), http, FakeAuthenticator("graph-token"), "contoso.example")
    http.close()


def serve(transport, **kwargs):
    directory = FakeDirectory(GRAPH + "/v1.0", **kwargs)
    transport.handler = directory
    return directory


def test_visible_registration(transport, client):
    directory = serve(transport, applications=[application()], principals=[principal()])
    registration = read_registration(client, CLIENT, 30, now=NOW)
    assert registration == {"visible": True, "service_principal_id": "sp-object-id", "display_name": "SOC automation",
                            "sign_in_audience": "AzureADMultipleOrgs", "multi_tenant": True, "credentials": []}
    assert [(seen.path, seen.query) for seen in directory.requests] == [
        ("/v1.0/applications", {"$filter": "appId eq '%s'" % CLIENT}),
        ("/v1.0/servicePrincipals", {"$filter": "appId eq '%s'" % CLIENT})]
    assert all(seen.headers["Authorization"] == "Bearer graph-token" for seen in directory.requests)


@pytest.mark.parametrize("audience, multi", [("AzureADMyOrg", False), ("AzureADMultipleOrgs", True),
                                             ("AzureADandPersonalMicrosoftAccount", True), ("PersonalMicrosoftAccount", False),
                                             (None, False)])
def test_multi_tenant_audiences(transport, client, audience, multi):
    serve(transport, applications=[application(signInAudience=audience)], principals=[principal()])
    registration = read_registration(client, CLIENT, 30, now=NOW)
    assert registration["sign_in_audience"] == audience and registration["multi_tenant"] is multi


def test_credentials_with_their_expiry_and_never_their_values(transport, client):
    secrets = [
        {"keyId": "k1", "displayName": "old", "endDateTime": "2026-02-27T12:00:00Z", "secretText": None, "hint": "Hint-A1"},
        {"keyId": "k2", "displayName": "soon", "endDateTime": "2026-03-11T13:00:00.1234567Z", "hint": "Hint-B2"},
        {"keyId": "k3", "displayName": "fine", "endDateTime": "2026-04-01T12:00:00+02:00", "hint": "Hint-C3"},
        {"keyId": "k4", "displayName": None, "endDateTime": None},
    ]
    certificates = [{"keyId": "c1", "displayName": "CN=app", "endDateTime": "2026-03-31T11:59:59Z", "type": "AsymmetricX509Cert",
                     "key": "TUlJQ...base64-certificate", "customKeyIdentifier": "THUMB"}]
    serve(transport, applications=[application(passwordCredentials=secrets, keyCredentials=certificates)],
          principals=[principal()])
    registration = read_registration(client, CLIENT, 30, now=NOW)
    summary = [(item["type"], item["key_id"], item["days_left"], item["expired"], item["expiring_soon"])
               for item in registration["credentials"]]
    assert summary == [
        ("secret", "k1", -2, True, False),
        ("secret", "k2", 10, False, True),
        ("secret", "k3", 30, False, False),
        ("secret", "k4", None, False, False),
        ("certificate", "c1", 29, False, True),
    ]
    first = registration["credentials"][0]
    assert first == {"type": "secret", "key_id": "k1", "display_name": "old", "end_date_time": "2026-02-27T12:00:00Z",
                     "days_left": -2, "expired": True, "expiring_soon": False}
    text = json.dumps(registration)
    for value in ("Hint-A1", "Hint-B2", "Hint-C3", "TUlJQ", "THUMB"):
        assert value not in text


def test_warning_days_decide_what_is_soon(transport, client):
    secrets = [{"keyId": "k", "displayName": "s", "endDateTime": "2026-03-08T12:00:00Z"}]
    serve(transport, applications=[application(passwordCredentials=secrets)], principals=[principal()])
    assert read_registration(client, CLIENT, 7, now=NOW)["credentials"][0]["expiring_soon"] is False
    assert read_registration(client, CLIENT, 8, now=NOW)["credentials"][0]["expiring_soon"] is True


def test_app_of_another_tenant(transport, client):
    serve(transport, applications=[], principals=[principal()])
    registration = read_registration(client, CLIENT, 30, now=NOW)
    assert registration["visible"] is False
    assert registration["service_principal_id"] == "sp-object-id"
    assert "home tenant" in registration["reason"]
    assert "credentials" not in registration


def test_app_unknown_everywhere(transport, client):
    serve(transport)
    registration = read_registration(client, CLIENT, 30, now=NOW)
    assert registration["visible"] is False and registration["service_principal_id"] is None


@pytest.mark.parametrize("status", [401, 403])
def test_directory_refused(transport, client, status):
    serve(transport, refuse=make_response(status, {"error": {
        "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}}))
    registration = read_registration(client, CLIENT, 30, now=NOW)
    assert registration == {"visible": False, "reason": registration["reason"]}
    assert "HTTP %d" % status in registration["reason"] and "Application.Read.All" in registration["reason"]


def test_directory_failing(transport, client):
    directory = serve(transport, refuse=make_response(503, {"error": {"code": "ServiceUnavailable", "message": "Try later."}}))
    registration = read_registration(client, CLIENT, 30, now=NOW)
    assert registration["visible"] is False
    assert registration["reason"].startswith("Graph could not show the app registration: GET ")
    assert "HTTP 503" in registration["reason"] and "Try later." in registration["reason"]
    assert "Application.Read.All" not in registration["reason"]
    assert len(directory.requests) == 2, "retried once"


def test_quote_in_the_client_id_is_escaped(transport, client):
    directory = serve(transport)
    read_registration(client, "it's", 30, now=NOW)
    assert directory.requests[0].query["$filter"] == "appId eq 'it''s'"


def test_now_defaults_to_the_current_time(transport, client):
    end = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    serve(transport, applications=[application(passwordCredentials=[{"keyId": "k", "endDateTime": end}])])
    assert read_registration(client, CLIENT, 30)["credentials"][0]["days_left"] == 3
