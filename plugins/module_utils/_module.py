# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The base of every API module: the shared options, a lazily built client, typed errors to fail_json."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.secops.m365_defender.plugins.module_utils._api import ApiClient
from ansible_collections.secops.m365_defender.plugins.module_utils._auth import (
    FLOW_NAMES,
    HAS_MSAL,
    MSAL_IMPORT_ERROR,
    Authenticator,
    ManagedIdentityFlow,
    Token,
    auth_result,
    select_flow,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import (
    API_CHOICES,
    CLOUD_CHOICES,
    resolve_endpoints,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError, M365DefenderError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    HttpClient,
)

GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


def _env(*names):
    return (env_fallback, list(names))


# The keys of the `auth` dictionary that secops.m365_defender.token returns.
AUTH_RESULT_OPTIONS = dict(
    access_token=dict(type="str", required=True, no_log=True),
    token_type=dict(type="str", default="Bearer"),
    expires_on=dict(type="int", required=True),
    expires_at=dict(type="str"),
    api=dict(type="str", required=True, choices=list(API_CHOICES)),
    cloud=dict(type="str", required=True, choices=list(CLOUD_CHOICES)),
    tenant_id=dict(type="str", required=True),
    client_id=dict(type="str"),
    login_url=dict(type="str"),
    api_url=dict(type="str"),
    resource=dict(type="str"),
    scope=dict(type="str"),
)

AUTH_ARGUMENT_SPEC = dict(
    api=dict(type="str", choices=list(API_CHOICES), fallback=_env("M365D_API")),
    cloud=dict(type="str", choices=list(CLOUD_CHOICES), fallback=_env("M365D_CLOUD")),
    tenant_id=dict(type="str", fallback=_env("AZURE_TENANT_ID", "AZURE_TENANT")),
    client_id=dict(type="str", fallback=_env("AZURE_CLIENT_ID")),
    client_secret=dict(type="str", no_log=True, fallback=_env("AZURE_CLIENT_SECRET", "AZURE_SECRET")),
    client_certificate_path=dict(type="path", fallback=_env("AZURE_CLIENT_CERTIFICATE_PATH")),
    client_certificate_password=dict(type="str", no_log=True, fallback=_env("AZURE_CLIENT_CERTIFICATE_PASSWORD")),
    federated_token_file=dict(type="path", fallback=_env("AZURE_FEDERATED_TOKEN_FILE")),
    managed_identity_client_id=dict(type="str"),
    username=dict(type="str", fallback=_env("AZURE_USERNAME")),
    password=dict(type="str", no_log=True, fallback=_env("AZURE_PASSWORD")),
    auth_flow=dict(type="str", default="auto", choices=list(FLOW_NAMES), fallback=_env("M365D_AUTH_FLOW")),
    device_code_timeout=dict(type="int", default=300),
    token_cache_path=dict(type="path", fallback=_env("M365D_TOKEN_CACHE")),
    auth=dict(type="dict", options=AUTH_RESULT_OPTIONS),
    login_url=dict(type="str", fallback=_env("M365D_LOGIN_URL")),
    graph_url=dict(type="str", fallback=_env("M365D_GRAPH_URL")),
    defender_url=dict(type="str", fallback=_env("M365D_DEFENDER_URL")),
    validate_certs=dict(type="bool", default=True, fallback=_env("M365D_VALIDATE_CERTS")),
    ca_path=dict(type="path", fallback=_env("M365D_CA_PATH")),
    timeout=dict(type="int", default=30),
    retries=dict(type="int", default=3),
)


def check_tenant(tenant):
    if not tenant:
        raise InputError("Option 'tenant_id' is required (or the AZURE_TENANT_ID environment variable): the "
                         "directory (tenant) ID or a verified domain of the tenant to sign in to.")
    if not (GUID.match(tenant) or DOMAIN.match(tenant)):
        raise InputError("Option 'tenant_id' must be a GUID or a verified domain such as contoso.com, got '%s'."
                         % tenant)


def check_client_id(client_id):
    if client_id and not GUID.match(client_id):
        raise InputError("Option 'client_id' must be the app's Application (client) ID, a GUID; got '%s'."
                         % client_id)


class Connection(object):
    """The settings of one connection, from the options and, where they are silent, from `auth`."""

    def __init__(self, params):
        held = params.get("auth") or {}
        self.api = params.get("api") or held.get("api") or "graph"
        self.cloud = params.get("cloud") or held.get("cloud") or "global"
        self.tenant_id = params.get("tenant_id") or held.get("tenant_id")
        self.client_id = params.get("client_id") or held.get("client_id")
        fits = bool(held) and held.get("api") == self.api and held.get("cloud") == self.cloud and (
            held.get("tenant_id", "").lower() == (self.tenant_id or "").lower())
        api_override = params.get("%s_url" % self.api) or (held.get("api_url") if fits else None)
        self.endpoints = resolve_endpoints(
            self.api, self.cloud,
            login_url=params.get("login_url") or (held.get("login_url") if fits else None),
            graph_url=api_override if self.api == "graph" else None,
            defender_url=api_override if self.api == "defender" else None,
        )
        self.held_token = Token(held["access_token"], held["expires_on"], "auth") if fits else None
        if not isinstance(select_flow(params), ManagedIdentityFlow):
            # A managed identity signs in to the tenant it belongs to.
            check_tenant(self.tenant_id)
        check_client_id(self.client_id)
        self.options = dict(params, tenant_id=self.tenant_id, client_id=self.client_id)


class Session(object):
    """The objects one task builds from the shared options, each on first use.

    Modules hold one through DefenderModule; action plugins that sign in on the controller use it directly.
    """

    def __init__(self, params, display=None):
        self.params = params
        self.display = display
        self._connection = self._http = self._authenticator = self._client = None

    @property
    def connection(self):
        if self._connection is None:
            self._connection = Connection(self.params)
        return self._connection

    @property
    def http(self):
        if self._http is None:
            if not HAS_REQUESTS:
                raise M365DefenderError(missing_required_lib("requests"))
            params = self.params
            if params["timeout"] <= 0 or params["retries"] < 0:
                raise InputError("Option 'timeout' must be above 0 seconds and 'retries' 0 or more.")
            self._http = HttpClient(params["validate_certs"], params["ca_path"], params["timeout"],
                                    params["retries"])
        return self._http

    @property
    def authenticator(self):
        if self._authenticator is None:
            connection = self.connection
            self._authenticator = Authenticator(connection.options, connection.endpoints, self.http,
                                                held=connection.held_token, display=self.display)
        return self._authenticator

    def sign_in(self):
        """A new token from the identity provider or the token cache, even when `auth` holds a usable one."""
        connection = self.connection
        self._authenticator = Authenticator(connection.options, connection.endpoints, self.http,
                                            display=self.display)
        return self._authenticator.token()

    @property
    def client(self):
        if self._client is None:
            self._client = ApiClient(self.connection.endpoints, self.http, self.authenticator,
                                     self.connection.tenant_id)
        return self._client

    def close(self):
        if self._http is not None:
            self._http.close()

    def report(self, result):
        """The result with what the HTTP layer did, and the warnings for the user."""
        warnings = list(self._authenticator.warnings if self._authenticator else [])
        if self._http is None:
            return result, warnings
        stats = self._http.stats
        if stats.throttled:
            warnings.append("The API throttled %d request(s) with HTTP 429; the task waited %.1f s in all." % (
                stats.throttled, stats.wait_seconds))
        result["http"] = stats.as_dict()
        return result, warnings


def token_result(session, token):
    """What secops.m365_defender.token returns for a token."""
    connection = session.connection
    return {
        "changed": False,
        "auth": auth_result(token, connection.endpoints, connection.tenant_id or token.claims.get("tid"),
                            connection.client_id),
        "claims": token.claims,
        "token_source": token.source,
    }


class DefenderModule(AnsibleModule):
    """AnsibleModule with the shared connection options and a Session built from them."""

    def __init__(self, argument_spec=None, **kwargs):
        spec = dict(AUTH_ARGUMENT_SPEC)
        spec.update(argument_spec or {})
        super(DefenderModule, self).__init__(argument_spec=spec, **kwargs)
        self.session = Session(self.params)
        # Sessions a module opens besides its own (another API, another token); closed with it.
        self.extra_sessions = []

    @property
    def connection(self):
        return self.session.connection

    @property
    def client(self):
        return self.session.client

    def sign_in(self):
        return self.session.sign_in()

    def run(self, action):
        """Call action(self) -> result dict and exit with it; typed errors become a clean failure."""
        if not HAS_REQUESTS:
            self.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
        if not HAS_MSAL:
            self.fail_json(msg=missing_required_lib("msal"), exception=MSAL_IMPORT_ERROR)
        try:
            result = action(self)
        except M365DefenderError as exc:
            self.fail_json(msg=str(exc), **exc.details)
        except Exception as exc:  # pylint: disable=broad-except
            self.fail_json(msg="Unexpected %s: %s" % (type(exc).__name__, exc), exception=traceback.format_exc())
        finally:
            for session in [self.session] + self.extra_sessions:
                session.close()
        result, warnings = self.session.report(result)
        for warning in warnings:
            self.warn(warning)
        self.exit_json(**result)
