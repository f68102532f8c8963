# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

import pytest
import requests

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient
from ansible_collections.secops.m365_defender.plugins.module_utils._module import (
    AUTH_ARGUMENT_SPEC,
    INSECURE_WARNING,
    TOKEN_ALWAYS_SIGNS_IN,
    Connection,
    DefenderModule,
)
from ansible_collections.secops.m365_defender.plugins.modules import incident_info, token
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, GRAPH, LOGIN, TENANT_ID
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    FakeEntra,
    IncidentApi,
    Router,
    make_jwt,
    make_response,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module, set_module_args


def params(**given):
    """Module params as AnsibleModule hands them over: every option present, unset ones None."""
    values = dict((name, spec.get("default")) for name, spec in AUTH_ARGUMENT_SPEC.items())
    values.update(given)
    return values


def held(**changes):
    auth = {
        "access_token": "held.access.token", "token_type": "Bearer", "expires_on": int(time.time()) + 3600,
        "expires_at": "ignored", "api": "defender", "cloud": "gcc", "tenant_id": TENANT_ID, "client_id": CLIENT,
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
    assert (connection.api, connection.cloud, connection.tenant_id, connection.client_id) == (
        "defender", "gcc", TENANT_ID, CLIENT)
    assert connection.endpoints.api_url == "https://defender.sandbox.test/api"
    assert connection.endpoints.login_url == "https://login.sandbox.test"
    assert connection.endpoints.scope == "https://api-gcc.security.microsoft.us/.default"
    token = connection.held_token
    assert (token.access_token, token.expires_on, token.source) == ("held.access.token", auth["expires_on"], "auth")
    assert connection.options["tenant_id"] == TENANT_ID and connection.options["client_id"] == CLIENT


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


@pytest.mark.parametrize("tenant", [TENANT_ID, TENANT_ID.upper(), "contoso.onmicrosoft.com", "sub.contoso.co.uk",
                                    "xn--bcher-kva.example"])
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
        Connection(params(tenant_id=TENANT_ID, client_id=client_id))
    assert "'client_id' must be the app's Application (client) ID" in raised.value.message
    assert "'%s'" % client_id in raised.value.message


def test_http_override_is_rejected_before_anything_else():
    with pytest.raises(InputError) as raised:
        Connection(params(tenant_id=TENANT_ID, graph_url="http://graph.sandbox.test"))
    assert "'graph_url'" in raised.value.message


# ----- the `http` result key and the throttling warning


@pytest.fixture
def session():
    """The Session of a DefenderModule."""
    with set_module_args({"tenant_id": TENANT_ID}):
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


# ----- every token and credential is hidden from the task's output; server text is redacted


# Not shaped like a JWT, so that only its registration as a no_log value can hide it.
OPAQUE_TOKEN = "opaque-access-token-0123456789"


def run_for_real(main, args, capsys):
    """main() with AnsibleModule's own exit_json/fail_json: the text it prints, after Ansible's no_log masking."""
    with set_module_args(args):
        with pytest.raises(SystemExit):
            main()
    return capsys.readouterr().out


def reading(**extra):
    values = {"tenant_id": "contoso.example", "client_id": CLIENT, "client_secret": "Very.Secret~Value-123",
              "login_url": LOGIN, "graph_url": GRAPH, "retries": 0, "limit": 1}
    values.update(extra)
    return values


def echoing_graph(message, whole_header=True):
    """Entra ID gives OPAQUE_TOKEN; Graph answers 502 with a body that repeats `message` % the Authorization header
    (or only the token in it)."""
    entra = FakeEntra(LOGIN, "contoso.example", access_token=OPAQUE_TOKEN)

    def route(seen):
        if seen.host == "login.sandbox.test":
            return entra(seen)
        echoed = seen.headers["Authorization"] if whole_header else seen.headers["Authorization"].split(" ", 1)[1]
        return make_response(502, {"error": {"code": "BadGateway", "message": message % echoed}})

    return route


def test_a_token_the_module_obtained_is_hidden_when_an_error_body_echoes_it(transport, capsys):
    transport.handler = echoing_graph("the upstream refused the request with %s")
    output = run_for_real(incident_info.main, reading(), capsys)
    result = json.loads(output)
    assert result["failed"] is True and "HTTP 502" in result["msg"]
    assert "Bearer <redacted>" in result["msg"]
    # Without the header's scheme in front, only the token's registration as a no_log value hides it.
    transport.handler = echoing_graph("the upstream refused the token %s", whole_header=False)
    output = run_for_real(incident_info.main, reading(), capsys)
    assert "the upstream refused the token ********" in output
    assert OPAQUE_TOKEN not in output
    assert "Very.Secret~Value-123" not in output


def test_a_token_in_a_warning_is_hidden(transport, capsys):
    """incident_info warns with the error of a page that failed (allow_partial): it may repeat the token."""
    entra = FakeEntra(LOGIN, "contoso.example", access_token=OPAQUE_TOKEN)
    pages = [make_response(200, {"value": [{"id": "1", "status": "active"}],
                                 "@odata.nextLink": GRAPH + "/v1.0/security/incidents?$skip=1"})]

    def route(seen):
        if seen.host == "login.sandbox.test":
            return entra(seen)
        if pages:
            return pages.pop(0)
        return make_response(500, {"error": {"code": "Oops", "message": "token was " + OPAQUE_TOKEN}})

    transport.handler = route
    output = run_for_real(incident_info.main, reading(limit=None, allow_partial=True), capsys)
    assert '"complete": false' in output and "token was ********" in output
    assert OPAQUE_TOKEN not in output
    # ansible-core 2.19+ passes warnings on outside the printed result: look at what the module warned.
    pages.append(make_response(200, {"value": [{"id": "1", "status": "active"}],
                                     "@odata.nextLink": GRAPH + "/v1.0/security/incidents?$skip=1"}))
    outcome, result = run_module(incident_info.main, reading(limit=None, allow_partial=True))
    assert outcome == "exit"
    assert len(result["warnings"]) == 1 and "paging failed" in result["warnings"][0]
    assert OPAQUE_TOKEN not in result["warnings"][0] and "token was ********" in result["warnings"][0]


def test_the_token_module_returns_its_token_but_hides_the_rest(transport, capsys):
    entra = transport.handler = FakeEntra(LOGIN, "contoso.example", access_token=OPAQUE_TOKEN)
    output = run_for_real(token.main, {"tenant_id": "contoso.example", "client_id": CLIENT,
                                       "client_secret": "Very.Secret~Value-123", "login_url": LOGIN}, capsys)
    result = json.loads(output)
    assert result["auth"]["access_token"] == OPAQUE_TOKEN, "the token it returns on purpose is not masked"
    assert "Very.Secret~Value-123" not in output
    assert len(entra.token_requests) == 1


def test_an_unexpected_error_is_redacted(transport, monkeypatch):
    jwt = make_jwt({"aud": "x"})

    def explode(module):
        raise ValueError("the library said Authorization: Bearer %s and %s" % (jwt, jwt))

    monkeypatch.setattr(incident_info, "run", explode)
    outcome, result = run_module(incident_info.main, reading())
    assert outcome == "fail" and result["msg"].startswith("Unexpected ValueError")
    assert jwt not in json.dumps(result)


def test_secrets_from_environment_variables_are_no_log_values(monkeypatch):
    """The password of a certificate, a client secret and a user's password given through the environment."""
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "secret-from-the-environment")
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", "certificate-password-from-the-environment")
    monkeypatch.setenv("AZURE_PASSWORD", "password-from-the-environment")
    with set_module_args({"tenant_id": TENANT_ID}):
        module = DefenderModule(argument_spec={})
    assert {"secret-from-the-environment", "certificate-password-from-the-environment",
            "password-from-the-environment"} <= module.no_log_values


# ----- warnings: validate_certs=false, and warnings gathered before a failure


def test_validate_certs_false_warns_once_per_task(transport):
    transport.handler = Router(**{"login.sandbox.test": FakeEntra(LOGIN, "contoso.example"),
                                  "graph.sandbox.test": IncidentApi("graph", [], GRAPH + "/v1.0")})
    outcome, result = run_module(incident_info.main, reading(validate_certs=False))
    assert outcome == "exit"
    assert [warning for warning in result["warnings"] if "validate_certs" in warning] == [INSECURE_WARNING]
    assert all(seen.verify is False for seen in transport.seen)
    outcome, result = run_module(incident_info.main, reading())
    assert "warnings" not in result


def test_validate_certs_false_warns_on_failure_too(transport):
    transport.handler = Router(**{"login.sandbox.test": FakeEntra(LOGIN, "contoso.example", token_answer=make_response(
        401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.",
              "error_codes": [7000215]}))})
    outcome, result = run_module(incident_info.main, reading(validate_certs=False))
    assert outcome == "fail" and "AADSTS7000215" in result["msg"]
    assert result["warnings"] == [INSECURE_WARNING]


def test_a_corrupt_cache_is_warned_about_when_the_sign_in_then_fails(transport, tmp_path):
    cache = tmp_path / "cache.json"
    cache.write_text("{not json")
    os.chmod(str(cache), 0o600)
    transport.handler = FakeEntra(LOGIN, "contoso.example", token_answer=make_response(
        401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.",
              "error_codes": [7000215]}))
    outcome, result = run_module(incident_info.main, reading(token_cache_path=str(cache)))
    assert outcome == "fail"
    assert len(result["warnings"]) == 1 and "could not be read as a token cache" in result["warnings"][0]


def test_cache_warnings_survive_a_sign_in_that_gets_no_answer(transport, tmp_path):
    cache = tmp_path / "cache.json"
    cache.write_text("{not json")
    os.chmod(str(cache), 0o600)
    transport.handler = requests.exceptions.ConnectionError("Connection refused")
    outcome, result = run_module(incident_info.main, reading(token_cache_path=str(cache)))
    assert outcome == "fail" and "got no complete answer" in result["msg"]
    assert len(result["warnings"]) == 1 and "could not be read as a token cache" in result["warnings"][0]


# ----- check mode


def test_check_mode_creates_no_token_cache(transport, tmp_path):
    transport.handler = Router(**{"login.sandbox.test": FakeEntra(LOGIN, "contoso.example"),
                                  "graph.sandbox.test": IncidentApi("graph", [], GRAPH + "/v1.0")})
    outcome, result = run_module(incident_info.main, dict(reading(token_cache_path=str(tmp_path / "cache.json")),
                                                          _ansible_check_mode=True))
    assert outcome == "exit", result
    assert os.listdir(str(tmp_path)) == []
    outcome, result = run_module(token.main, {"tenant_id": "contoso.example", "client_id": CLIENT, "client_secret": "s",
                                              "login_url": LOGIN, "token_cache_path": str(tmp_path / "cache.json"),
                                              "_ansible_check_mode": True})
    assert outcome == "exit" and result["auth"]["access_token"]
    assert os.listdir(str(tmp_path)) == []


# ----- an `auth` that cannot be used, and no credentials: say why


@pytest.mark.parametrize("task, words", [
    ({"tenant_id": "fabrikam.example"}, ["its tenant_id is '%s' but this task's is 'fabrikam.example'" % TENANT_ID]),
    ({"api": "graph"}, ["its api is 'defender' but this task's is 'graph'"]),
    ({"cloud": "global", "api": "graph"},
     ["its api is 'defender' but this task's is 'graph'", "its cloud is 'gcc' but this task's is 'global'"]),
])
def test_an_auth_for_another_tenant_api_or_cloud_says_so(transport, task, words):
    outcome, result = run_module(incident_info.main, dict(task, auth=held()))
    assert outcome == "fail"
    assert result["msg"].startswith("The token in 'auth' is not for this task: ")
    for word in words:
        assert word in result["msg"]
    assert "No credentials were given to sign in instead" in result["msg"]
    assert "No credentials to sign in with" not in result["msg"]
    assert transport.seen == []


def test_the_token_module_given_only_auth_says_that_it_always_signs_in(transport):
    outcome, result = run_module(token.main, {"auth": held()})
    assert outcome == "fail"
    assert result["msg"].startswith(TOKEN_ALWAYS_SIGNS_IN)
    assert transport.seen == []


def test_without_auth_the_message_asks_for_credentials_or_auth(transport):
    outcome, result = run_module(incident_info.main, {"tenant_id": TENANT_ID})
    assert outcome == "fail" and result["msg"].startswith("No credentials to sign in with")
