# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import URL_OPTIONS, resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError

# docs/microsoft-apis.md §7, written out by hand: (cloud, api) -> (login, API base URL, resource, scope).
EXPECTED = {
    ("global", "graph"): ("https://login.microsoftonline.com", "https://graph.microsoft.com/v1.0",
                          "https://graph.microsoft.com", "https://graph.microsoft.com/.default"),
    ("global", "defender"): ("https://login.microsoftonline.com", "https://api.security.microsoft.com/api",
                             "https://api.security.microsoft.com", "https://api.security.microsoft.com/.default"),
    ("gcc", "graph"): ("https://login.microsoftonline.com", "https://graph.microsoft.com/v1.0",
                       "https://graph.microsoft.com", "https://graph.microsoft.com/.default"),
    ("gcc", "defender"): ("https://login.microsoftonline.com", "https://api-gcc.security.microsoft.us/api",
                          "https://api-gcc.security.microsoft.us", "https://api-gcc.security.microsoft.us/.default"),
    ("gcc_high", "graph"): ("https://login.microsoftonline.us", "https://graph.microsoft.us/v1.0",
                            "https://graph.microsoft.us", "https://graph.microsoft.us/.default"),
    ("gcc_high", "defender"): ("https://login.microsoftonline.us", "https://api-gov.security.microsoft.us/api",
                               "https://api-gov.security.microsoft.us", "https://api-gov.security.microsoft.us/.default"),
    ("dod", "graph"): ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us/v1.0",
                       "https://dod-graph.microsoft.us", "https://dod-graph.microsoft.us/.default"),
    ("dod", "defender"): ("https://login.microsoftonline.us", "https://api-gov.security.microsoft.us/api",
                          "https://api-gov.security.microsoft.us", "https://api-gov.security.microsoft.us/.default"),
    # The Defender for Endpoint API: in the global cloud on the Defender XDR API's host, with its own audience.
    ("global", "endpoint"): ("https://login.microsoftonline.com", "https://api.security.microsoft.com/api",
                             "https://api.securitycenter.microsoft.com",
                             "https://api.securitycenter.microsoft.com/.default"),
    ("gcc", "endpoint"): ("https://login.microsoftonline.com", "https://api-gcc.securitycenter.microsoft.us/api",
                          "https://api-gcc.securitycenter.microsoft.us",
                          "https://api-gcc.securitycenter.microsoft.us/.default"),
    ("gcc_high", "endpoint"): ("https://login.microsoftonline.us", "https://api-gov.securitycenter.microsoft.us/api",
                               "https://api-gov.securitycenter.microsoft.us",
                               "https://api-gov.securitycenter.microsoft.us/.default"),
    ("dod", "endpoint"): ("https://login.microsoftonline.us", "https://api-gov.securitycenter.microsoft.us/api",
                          "https://api-gov.securitycenter.microsoft.us",
                          "https://api-gov.securitycenter.microsoft.us/.default"),
}


@pytest.mark.parametrize("cloud, api", sorted(EXPECTED))
def test_every_cloud_and_api_matches_the_documented_hosts(cloud, api):
    endpoints = resolve_endpoints(api=api, cloud=cloud)
    login, api_url, resource, scope = EXPECTED[(cloud, api)]
    assert endpoints.api == api
    assert endpoints.cloud == cloud
    assert endpoints.login_url == login
    assert endpoints.api_url == api_url
    assert endpoints.resource == resource
    assert endpoints.scope == scope
    assert endpoints.instance_discovery is True


def test_defaults_are_graph_in_the_global_cloud():
    endpoints = resolve_endpoints()
    assert (endpoints.api, endpoints.cloud, endpoints.api_url) == ("graph", "global", "https://graph.microsoft.com/v1.0")


@pytest.mark.parametrize("cloud, api", sorted(EXPECTED))
def test_overrides_replace_hosts_but_never_the_scope(cloud, api):
    overrides = {"graph_url": "https://graph.sandbox.test:8443", "defender_url": "https://defender.sandbox.test:8443"}
    endpoints = resolve_endpoints(api=api, cloud=cloud, login_url="https://login.sandbox.test:8443", **overrides)
    login, api_url, resource, scope = EXPECTED[(cloud, api)]
    assert endpoints.login_url == "https://login.sandbox.test:8443"
    assert endpoints.api_url == overrides[URL_OPTIONS[api]] + ("/v1.0" if api == "graph" else "/api")
    assert endpoints.resource == resource
    assert endpoints.scope == scope
    assert endpoints.instance_discovery is False


def test_the_other_apis_override_is_ignored():
    endpoints = resolve_endpoints(api="graph", defender_url="https://defender.sandbox.test")
    assert endpoints.api_url == "https://graph.microsoft.com/v1.0"
    endpoints = resolve_endpoints(api="defender", graph_url="https://graph.sandbox.test")
    assert endpoints.api_url == "https://api.security.microsoft.com/api"


@pytest.mark.parametrize("api, given, expected", [
    ("graph", "https://graph.sandbox.test/", "https://graph.sandbox.test/v1.0"),
    ("graph", "https://graph.sandbox.test///", "https://graph.sandbox.test/v1.0"),
    ("graph", "https://graph.sandbox.test/v1.0", "https://graph.sandbox.test/v1.0"),
    ("graph", "https://graph.sandbox.test/v1.0/", "https://graph.sandbox.test/v1.0"),
    ("graph", "https://graph.sandbox.test/beta", "https://graph.sandbox.test/beta"),
    ("graph", "https://proxy.test/graph", "https://proxy.test/graph/v1.0"),
    ("defender", "https://api-eu.security.microsoft.com/", "https://api-eu.security.microsoft.com/api"),
    ("defender", "https://defender.sandbox.test/api", "https://defender.sandbox.test/api"),
    ("defender", "https://defender.sandbox.test/api/", "https://defender.sandbox.test/api"),
])
def test_api_override_trailing_slashes_and_base_path(api, given, expected):
    endpoints = resolve_endpoints(api=api, **{"%s_url" % api: given})
    assert endpoints.api_url == expected


def test_login_override_trailing_slash_is_removed():
    assert resolve_endpoints(login_url="https://login.sandbox.test/").login_url == "https://login.sandbox.test"


@pytest.mark.parametrize("option", ["login_url", "graph_url", "defender_url"])
@pytest.mark.parametrize("url", ["http://sandbox.test:8080", "sandbox.test", "https://", "ftp://sandbox.test"])
def test_non_https_override_is_an_input_error_naming_the_option(option, url):
    api = "defender" if option == "defender_url" else "graph"
    with pytest.raises(InputError) as raised:
        resolve_endpoints(api=api, **{option: url})
    assert "'%s'" % option in raised.value.message
    assert url in raised.value.message
    assert raised.value.hint


@pytest.mark.parametrize("login_url, discovery", [
    ("https://login.microsoftonline.com", True),
    ("https://login.microsoftonline.us/", True),
    ("https://LOGIN.MicrosoftOnline.com", True),
    ("https://login.microsoft.com", True),
    ("https://login.windows.net", True),
    ("https://127.0.0.1:8443", False),
    ("https://login.sandbox.test", False),
    ("https://login.microsoftonline.com.evil.test", False),
])
def test_instance_discovery_only_for_microsoft_login_hosts(login_url, discovery):
    assert resolve_endpoints(login_url=login_url).instance_discovery is discovery


@pytest.mark.parametrize("kwargs, option", [
    ({"api": "mde"}, "api"),
    ({"cloud": "china"}, "cloud"),
])
def test_unknown_api_or_cloud(kwargs, option):
    with pytest.raises(InputError) as raised:
        resolve_endpoints(**kwargs)
    assert "'%s'" % option in raised.value.message
    assert list(kwargs.values())[0] in raised.value.message


@pytest.mark.parametrize("region", ["us", "eu", "uk", "au", "swa", "ina"])
def test_a_region_picks_the_defender_for_endpoint_apis_regional_host(region):
    endpoints = resolve_endpoints(api="endpoint", region=region)
    assert endpoints.api_url == "https://%s.api.security.microsoft.com/api" % region
    assert endpoints.scope == "https://api.securitycenter.microsoft.com/.default", "the audience stays the same"
    assert resolve_endpoints(api="endpoint", region=region, defender_url="https://x.test").api_url == "https://x.test/api"


@pytest.mark.parametrize("cloud, region, words", [
    ("global", "mars", ["'region'", "us, eu, uk, au, swa, ina", "mars"]),
    ("gcc", "us", ["'region'", "global cloud only"]),
])
def test_a_region_that_does_not_exist_is_refused(cloud, region, words):
    with pytest.raises(InputError) as raised:
        resolve_endpoints(api="endpoint", cloud=cloud, region=region)
    for word in words:
        assert word in raised.value.message
