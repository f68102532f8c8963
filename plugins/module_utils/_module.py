# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The base of every API module: the shared options, a lazily built client, typed errors to fail_json."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import os
import re
import ssl
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible.module_utils.common.parameters import remove_values

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
    URL_OPTIONS,
    resolve_endpoints,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError, M365DefenderError, redact
from ansible_collections.secops.m365_defender.plugins.module_utils._http import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    HttpClient,
)

# \Z, not $: "$" also matches before a final line break, which would let an id with a trailing newline through.
GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
DOMAIN = re.compile(r"^(?=.{1,253}\Z)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\Z")

# The shared integer options: (name, lowest, highest, unit). The upper bounds keep values within what the
# standard library can wait for; an hour is far above anything these waits need.
INTEGER_RANGES = (
    ("timeout", 1, 3600, "seconds"),
    ("retries", 0, 20, "retries"),
    ("device_code_timeout", 1, 3600, "seconds"),
)


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
    # No choices: an empty value (an unset credential field in AWX) means none; _clouds checks the others.
    region=dict(type="str", fallback=_env("M365D_REGION")),
    validate_certs=dict(type="bool", default=True, fallback=_env("M365D_VALIDATE_CERTS")),
    ca_path=dict(type="path", fallback=_env("M365D_CA_PATH")),
    timeout=dict(type="int", default=30),
    retries=dict(type="int", default=3),
)


def check_trimmed(option, value):
    """Refuse an id with spaces or a line break around it (often pasted or read from a file): it would be sent as is."""
    if isinstance(value, str) and value != value.strip():
        raise InputError("Option '%s' has spaces or a line break around it (%r): remove them." % (option, value))


def check_tenant(tenant):
    if not tenant:
        raise InputError("Option 'tenant_id' is required (or the AZURE_TENANT_ID environment variable): the "
                         "directory (tenant) ID or a verified domain of the tenant to sign in to.")
    check_trimmed("tenant_id", tenant)
    if not (GUID.match(tenant) or DOMAIN.match(tenant)):
        raise InputError("Option 'tenant_id' must be a GUID or a verified domain such as contoso.com, got '%s'."
                         % tenant)


def check_client_id(client_id, option="client_id"):
    check_trimmed(option, client_id)
    if client_id and not GUID.match(client_id):
        raise InputError("Option '%s' must be the app's Application (client) ID, a GUID; got '%s'."
                         % (option, client_id))


def check_range(option, value, lowest, highest, unit):
    if value is not None and not lowest <= value <= highest:
        raise InputError("Option '%s' must be from %d to %d %s, got %d." % (option, lowest, highest, unit, value))


def check_ca_path(params):
    """A CA bundle that is missing or holds no certificate fails here, not as a TLS error of the first request."""
    path = params.get("ca_path")
    if not path or not params.get("validate_certs", True) or os.path.isdir(path):
        return
    if not os.path.isfile(path):
        raise InputError("Option 'ca_path' names '%s', which does not exist: give a PEM file of CA certificates "
                         "(or a folder of hashed ones)." % path)
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise InputError("Option 'ca_path' names '%s', which holds no usable PEM CA certificate: %s." % (path, exc))


def check_options(params):
    """The shared options that can be checked without any request, beyond what the argument spec checks."""
    for option, lowest, highest, unit in INTEGER_RANGES:
        check_range(option, params.get(option), lowest, highest, unit)
    check_client_id(params.get("managed_identity_client_id"), "managed_identity_client_id")
    check_ca_path(params)


def _kind(value):
    for kind, name in ((bool, "a boolean"), (dict, "a dictionary"), ((list, tuple, set), "a list"),
                       (float, "a number with a fraction")):
        if isinstance(value, kind):
            return name
    return "empty (null)" if value is None else "a %s" % type(value).__name__


def _is_text_like(value):
    """What Ansible turns into the same text the user wrote: strings, whole numbers, YAML dates."""
    return isinstance(value, (str, datetime.date)) or (isinstance(value, int) and not isinstance(value, bool))


def text_type_errors(argument_spec, params, prefix=""):
    """Values that Ansible would turn into their Python repr for options of type str or path (a dict, a list,
    a boolean or a float would arrive as "{'a': 1}", "True", ...), one message each."""
    errors = []
    for name, spec in argument_spec.items():
        value = params.get(name)
        kind, where = spec.get("type", "str"), prefix + name

        def shown(item, spec=spec):
            return "" if spec.get("no_log") or item is None else " (%s)" % repr(item)[:80]

        if value is None:
            continue
        if kind in ("str", "path") and not _is_text_like(value):
            errors.append("Option '%s' must be a string, got %s%s." % (where, _kind(value), shown(value)))
        elif kind == "list" and spec.get("elements") in ("str", "path") and isinstance(value, (list, tuple)):
            errors.extend("Option '%s' must be a list of strings; item %d is %s%s." % (
                where, index, _kind(item), shown(item)) for index, item in enumerate(value, 1) if not _is_text_like(item))
        elif kind == "dict" and spec.get("options") and isinstance(value, dict):
            errors.extend(text_type_errors(spec["options"], value, where + "."))
    return errors


# Shorter values are not hidden from the output: masking them would garble unrelated text.
SHORTEST_SECRET = 8

INSECURE_WARNING = ("validate_certs is false: the TLS certificates of the sign-in and API endpoints are not verified, "
                    "so anyone on the network path can read the credentials and tokens. Use ca_path with the CA that "
                    "signs them instead.")

TOKEN_ALWAYS_SIGNS_IN = ("secops.m365_defender.token always signs in for a new token; the token in 'auth' only lends it "
                         "its settings (API, cloud, tenant, app and endpoints).")


def auth_mismatch(held, connection):
    """Why a token passed as `auth` is not used: each of its tenant, API and cloud that differs from the task's."""
    differences = ["its %s is '%s' but this task's is '%s'" % (name, held.get(name), mine)
                   for name, mine in (("tenant_id", connection.tenant_id), ("api", connection.api),
                                      ("cloud", connection.cloud))
                   if str(held.get(name) or "").lower() != str(mine or "").lower()]
    return "The token in 'auth' is not for this task: %s." % "; ".join(differences)


class Connection(object):
    """The settings of one connection, from the options and, where they are silent, from `auth`."""

    def __init__(self, params):
        check_options(params)
        held = params.get("auth") or {}
        self.api = params.get("api") or held.get("api") or "graph"
        url_option = URL_OPTIONS.get(self.api)
        self.cloud = params.get("cloud") or held.get("cloud") or "global"
        self.tenant_id = params.get("tenant_id") or held.get("tenant_id")
        self.client_id = params.get("client_id") or held.get("client_id")
        fits = bool(held) and held.get("api") == self.api and held.get("cloud") == self.cloud and (
            held.get("tenant_id", "").lower() == (self.tenant_id or "").lower())
        api_override = params.get(url_option) or (held.get("api_url") if fits else None)
        self.endpoints = resolve_endpoints(
            self.api, self.cloud,
            login_url=params.get("login_url") or (held.get("login_url") if fits else None),
            graph_url=api_override if url_option == "graph_url" else None,
            defender_url=api_override if url_option == "defender_url" else None,
            region=params.get("region") if self.api == "endpoint" else None,
        )
        self.held_token = Token(held["access_token"], held["expires_on"], "auth") if fits else None
        self.auth_unused = auth_mismatch(held, self) if held and not fits else None
        if not isinstance(select_flow(params), ManagedIdentityFlow):
            # A managed identity signs in to the tenant it belongs to.
            check_tenant(self.tenant_id)
        check_client_id(self.client_id)
        self.options = dict(params, tenant_id=self.tenant_id, client_id=self.client_id)


class Session(object):
    """The objects one task builds from the shared options, each on first use.

    Modules hold one through DefenderModule; action plugins that sign in on the controller use it directly.
    """

    def __init__(self, params, display=None, check_mode=False, progress=None):
        self.params = params
        self.display = display
        self.check_mode = check_mode
        # progress(message, verbose): what the task is doing while it works, on the controller path only.
        self.progress = progress
        # Every token and credential the session obtains or reads, to be hidden from the task's output, except
        # the token the task returns on purpose (handed out).
        self.secrets = set()
        self.handed_out = set()
        self._connection = self._http = self._authenticator = self._client = None

    def remember(self, value):
        if isinstance(value, str) and len(value) >= SHORTEST_SECRET and value not in self.handed_out:
            self.secrets.add(value)

    def hand_out(self, value):
        """`value` is returned on purpose (the token module's token): do not hide it."""
        self.handed_out.add(value)
        self.secrets.discard(value)

    def _authenticator_for(self, held, auth_unused):
        connection = self.connection
        return Authenticator(connection.options, connection.endpoints, self.http, held=held, display=self.display,
                             remember=self.remember, check_mode=self.check_mode, auth_unused=auth_unused)

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
            self._http = HttpClient(params["validate_certs"], params["ca_path"], params["timeout"],
                                    params["retries"], progress=self.progress)
        return self._http

    @property
    def authenticator(self):
        if self._authenticator is None:
            connection = self.connection
            self._authenticator = self._authenticator_for(connection.held_token, connection.auth_unused)
        return self._authenticator

    def sign_in(self):
        """A new token from the identity provider or the token cache, even when `auth` holds a usable one."""
        connection = self.connection
        self._authenticator = self._authenticator_for(
            None, TOKEN_ALWAYS_SIGNS_IN if connection.held_token else connection.auth_unused)
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

    def warnings(self):
        """The warnings for the user so far: sign-in's, and one for validate_certs=false."""
        warnings = list(self._authenticator.warnings if self._authenticator else [])
        if self.params.get("validate_certs") is False:
            warnings.append(INSECURE_WARNING)
        return warnings

    def report(self, result):
        """The result with what the HTTP layer did, and the warnings for the user."""
        warnings = self.warnings()
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
    session.hand_out(token.access_token)
    return {
        "changed": False,
        "auth": auth_result(token, connection.endpoints, connection.tenant_id or token.claims.get("tid"),
                            connection.client_id),
        "claims": token.claims,
        "token_source": token.source,
    }


def run_action(task, action):
    """action(task) -> (result, warnings), as both execution paths report it.

    A typed error becomes a failure with its details, any other a failure with a redacted message and traceback;
    the task's sessions are closed either way. `task` is a DefenderModule, or its controller-side stand-in.
    """
    try:
        result = action(task)
    except M365DefenderError as exc:
        return dict(exc.details, failed=True, msg=str(exc)), task.session.warnings()
    except Exception as exc:  # pylint: disable=broad-except
        return ({"failed": True, "msg": redact("Unexpected %s: %s" % (type(exc).__name__, exc)),
                 "exception": redact(traceback.format_exc())}, task.session.warnings())
    finally:
        task.close_sessions()
    return task.session.report(result)


class TaskSessions(object):
    """What a module's run() uses besides its options: the task's Session, more Sessions, sign-in.

    Shared by DefenderModule (a module in its own process) and the action plugins that run modules in-process.
    """

    def start_sessions(self, params, check_mode, display=None, progress=None, api=None):
        """`api`: the one API a module works with (the Defender for Endpoint API's modules), whatever `api` says."""
        self._session_kwargs = dict(check_mode=check_mode, display=display, progress=progress)
        self.session = Session(dict(params, api=api) if api else params, **self._session_kwargs)
        # Sessions a module opens besides its own (another API, another token); closed with it.
        self.extra_sessions = []

    def open_session(self, params):
        """One more Session (another API, another token), with this task's check mode; closed with the task."""
        session = Session(params, **self._session_kwargs)
        self.extra_sessions.append(session)
        return session

    @property
    def connection(self):
        return self.session.connection

    @property
    def client(self):
        return self.session.client

    def sign_in(self):
        return self.session.sign_in()

    def close_sessions(self):
        for session in [self.session] + self.extra_sessions:
            session.close()

    def session_secrets(self):
        """Every token and credential the task's sessions obtained or read."""
        secrets = set()
        for session in [getattr(self, "session", None)] + getattr(self, "extra_sessions", []):
            if session is not None:
                secrets.update(session.secrets)
        return secrets


class DefenderModule(TaskSessions, AnsibleModule):
    """AnsibleModule with the shared connection options and a Session built from them."""

    def __init__(self, argument_spec=None, api=None, **kwargs):
        spec = dict(AUTH_ARGUMENT_SPEC)
        spec.update(argument_spec or {})
        self.raw_params = {}
        super(DefenderModule, self).__init__(argument_spec=spec, **kwargs)
        errors = text_type_errors(spec, self.raw_params)
        if errors:
            self.fail_json(msg=" ".join(errors))
        self.start_sessions(self.params, self.check_mode, api=api)

    def _load_params(self):
        """The arguments as given, kept before the argument spec converts them (see text_type_errors)."""
        super(DefenderModule, self)._load_params()
        self.raw_params = copy.deepcopy(self.params)

    def run(self, action):
        """Call action(self) -> result dict and exit with it; typed errors become a clean failure."""
        if not HAS_REQUESTS:
            self.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
        if not HAS_MSAL:
            self.fail_json(msg=missing_required_lib("msal"), exception=MSAL_IMPORT_ERROR)
        result, warnings = run_action(self, action)
        for warning in warnings:
            self.warn(warning)
        self._hide_secrets()
        if result.pop("failed", False):
            self.fail_json(**result)
        self.exit_json(**result)

    def _hide_secrets(self):
        """Register what the sessions obtained or read as no_log values, for the rest of the task."""
        self.no_log_values.update(self.session_secrets())

    def warn(self, warning, *args, **kwargs):
        """Warnings may repeat server text: redacted and with every secret masked (ansible-core 2.19+ does not
        mask warnings itself)."""
        self._hide_secrets()
        super(DefenderModule, self).warn(remove_values(redact(warning), self.no_log_values), *args, **kwargs)
