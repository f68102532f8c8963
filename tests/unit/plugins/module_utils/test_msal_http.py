# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MsalHttpAdapter: the user realm call sent to the login endpoint's port, and sign-in POSTs retried."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
import requests

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import TransportError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient, MsalHttpAdapter
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import make_response

REALM = "/common/userrealm/analyst@contoso.example?api-version=1.0"


class RecordingHttp(object):
    def __init__(self):
        self.urls = []

    def send(self, method, url, **kwargs):  # pylint: disable=unused-argument
        self.urls.append(url)
        return "response"


@pytest.mark.parametrize("login_url, asked, sent", [
    # MSAL asks port 443 whatever the authority's port: the call goes to the login endpoint's port.
    ("https://login.sandbox.test:8443", "https://login.sandbox.test" + REALM, "https://login.sandbox.test:8443" + REALM),
    ("https://login.sandbox.test:8443", "https://login.sandbox.test:443" + REALM, "https://login.sandbox.test:8443" + REALM),
    ("https://LOGIN.Sandbox.test:8443", "https://login.sandbox.test" + REALM, "https://LOGIN.Sandbox.test:8443" + REALM),
    ("https://127.0.0.1:9443", "https://127.0.0.1" + REALM, "https://127.0.0.1:9443" + REALM),
    # Nothing to change: same port, another host, another path, no login URL known.
    ("https://login.sandbox.test", "https://login.sandbox.test" + REALM, "https://login.sandbox.test" + REALM),
    ("https://login.microsoftonline.com", "https://login.microsoftonline.com" + REALM,
     "https://login.microsoftonline.com" + REALM),
    ("https://login.sandbox.test:8443", "https://other.sandbox.test" + REALM, "https://other.sandbox.test" + REALM),
    ("https://login.sandbox.test:8443", "https://login.sandbox.test/contoso.example/v2.0/.well-known/openid-configuration",
     "https://login.sandbox.test/contoso.example/v2.0/.well-known/openid-configuration"),
    (None, "https://login.sandbox.test" + REALM, "https://login.sandbox.test" + REALM),
])
def test_user_realm_goes_to_the_login_endpoints_port(login_url, asked, sent):
    http = RecordingHttp()
    assert MsalHttpAdapter(http, login_url).get(asked) == "response"
    assert http.urls == [sent]


def test_only_gets_are_rerouted():
    http = RecordingHttp()
    MsalHttpAdapter(http, "https://login.sandbox.test:8443").post("https://login.sandbox.test" + REALM)
    assert http.urls == ["https://login.sandbox.test" + REALM]


def test_rerouted_call_reaches_the_port_with_its_query(transport):
    transport.answer(make_response(404, {"error": "not_found"}))
    adapter = MsalHttpAdapter(HttpClient(sleep=lambda seconds: None), "https://login.sandbox.test:8443")
    assert adapter.get("https://login.sandbox.test" + REALM).status_code == 404
    seen = transport.seen[0]
    assert (seen.host, seen.port, seen.path, seen.query) == (
        "login.sandbox.test", 8443, "/common/userrealm/analyst@contoso.example", {"api-version": "1.0"})


def test_token_post_is_retried_after_a_lost_connection(transport):
    transport.answer(requests.exceptions.ConnectionError("Connection reset by peer"),
                     make_response(200, {"access_token": "a.b.c", "expires_in": 3599}))
    waits = []
    http = HttpClient(retries=2, sleep=waits.append)
    response = MsalHttpAdapter(http, "https://login.sandbox.test").post(
        "https://login.sandbox.test/t/oauth2/v2.0/token", data={"grant_type": "client_credentials"})
    assert response.json()["access_token"] == "a.b.c"
    assert [seen.method for seen in transport.seen] == ["POST", "POST"]
    assert transport.seen[1].form == {"grant_type": "client_credentials"}
    assert len(waits) == 1


def test_token_post_gives_up_after_the_retries(transport):
    transport.answer(*[requests.exceptions.ConnectionError("Connection reset by peer")] * 3)
    with pytest.raises(TransportError) as raised:
        MsalHttpAdapter(HttpClient(retries=2, sleep=lambda seconds: None)).post("https://login.sandbox.test/t/oauth2/v2.0/token")
    assert "Gave up after 3 attempts" in raised.value.message
    assert len(transport.seen) == 3
