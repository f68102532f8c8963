# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Endpoints per national cloud and per API, and the URL overrides that replace them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible.module_utils.six.moves.urllib.parse import urlparse

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError

API_CHOICES = ("graph", "defender", "endpoint")
CLOUD_CHOICES = ("global", "gcc", "gcc_high", "dod")

Cloud = namedtuple("Cloud", ["login", "graph", "defender", "endpoint"])

# Each API's host, which is also the token's resource, except for the Defender for Endpoint API: in the global cloud
# it is served from the Defender XDR API's host, but its tokens are for the resource in ENDPOINT_RESOURCES.
CLOUDS = {
    "global": Cloud("https://login.microsoftonline.com", "https://graph.microsoft.com",
                    "https://api.security.microsoft.com", "https://api.security.microsoft.com"),
    "gcc": Cloud("https://login.microsoftonline.com", "https://graph.microsoft.com",
                 "https://api-gcc.security.microsoft.us", "https://api-gcc.securitycenter.microsoft.us"),
    "gcc_high": Cloud("https://login.microsoftonline.us", "https://graph.microsoft.us",
                      "https://api-gov.security.microsoft.us", "https://api-gov.securitycenter.microsoft.us"),
    "dod": Cloud("https://login.microsoftonline.us", "https://dod-graph.microsoft.us",
                 "https://api-gov.security.microsoft.us", "https://api-gov.securitycenter.microsoft.us"),
}
ENDPOINT_RESOURCES = {
    "global": "https://api.securitycenter.microsoft.com",
    "gcc": "https://api-gcc.securitycenter.microsoft.us",
    "gcc_high": "https://api-gov.securitycenter.microsoft.us",
    "dod": "https://api-gov.securitycenter.microsoft.us",
}
# The Defender for Endpoint API's regional hosts in the global cloud (data stays in the region).
ENDPOINT_REGIONS = ("us", "eu", "uk", "au", "swa", "ina")
# The option that overrides each API's host: the Defender for Endpoint API shares the Defender API's.
URL_OPTIONS = {"graph": "graph_url", "defender": "defender_url", "endpoint": "defender_url"}

# The Defender portal, where an incident's page lives.
PORTALS = {
    "global": "https://security.microsoft.com",
    "gcc": "https://security.microsoft.com",
    "gcc_high": "https://security.microsoft.us",
    "dod": "https://security.microsoft.us",
}

# Hosts where MSAL's instance discovery (a call to login.microsoftonline.com) is meaningful.
MICROSOFT_LOGIN_HOSTS = frozenset(
    ["login.microsoftonline.com", "login.microsoftonline.us", "login.microsoft.com", "login.windows.net"]
)

# Path that the API's base URL carries after the host.
API_BASE_PATH = {"graph": "/v1.0", "defender": "/api", "endpoint": "/api"}

Endpoints = namedtuple("Endpoints", ["api", "cloud", "login_url", "api_url", "resource", "scope", "instance_discovery"])


def _check_https_url(option, url):
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.netloc:
        raise InputError(
            "Option '%s' must be an https:// URL with a host, got '%s'." % (option, url),
            hint="Entra ID and the Defender APIs are only served over HTTPS.",
        )
    return url.rstrip("/")


def _api_url(api, host_url):
    """The API's base URL: the host plus /v1.0 (Graph) or /api (Defender), unless already there."""
    base_path = API_BASE_PATH[api]
    if host_url.endswith(base_path) or (api == "graph" and host_url.endswith("/beta")):
        return host_url
    return host_url + base_path


def _endpoint_host(cloud, region):
    """The Defender for Endpoint API's host: the cloud's, or a region's in the global cloud."""
    if not region:
        return CLOUDS[cloud].endpoint
    if region not in ENDPOINT_REGIONS:
        raise InputError("Option 'region' must be one of %s, got '%s'." % (", ".join(ENDPOINT_REGIONS), region))
    if cloud != "global":
        raise InputError("Option 'region' applies to the global cloud only; the %s cloud has one host." % cloud)
    return "https://%s.api.security.microsoft.com" % region


def resolve_endpoints(api="graph", cloud="global", login_url=None, graph_url=None, defender_url=None, region=None):
    """Endpoints for one API in one cloud; overrides replace hosts but never the token's resource."""
    if api not in API_CHOICES:
        raise InputError("Option 'api' must be one of %s, got '%s'." % (", ".join(API_CHOICES), api))
    if cloud not in CLOUD_CHOICES:
        raise InputError("Option 'cloud' must be one of %s, got '%s'." % (", ".join(CLOUD_CHOICES), cloud))
    hosts = CLOUDS[cloud]
    resource = ENDPOINT_RESOURCES[cloud] if api == "endpoint" else getattr(hosts, api)
    host = _endpoint_host(cloud, region) if api == "endpoint" else resource
    option = URL_OPTIONS[api]
    override = {"graph_url": graph_url, "defender_url": defender_url}[option]
    api_host = _check_https_url(option, override) if override else host
    login = _check_https_url("login_url", login_url) if login_url else hosts.login
    return Endpoints(
        api=api,
        cloud=cloud,
        login_url=login,
        api_url=_api_url(api, api_host),
        resource=resource,
        scope=resource + "/.default",
        instance_discovery=urlparse(login).hostname in MICROSOFT_LOGIN_HOSTS,
    )
