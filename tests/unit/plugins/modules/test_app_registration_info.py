# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os

import pytest
import yaml

from ansible_collections.secops.m365_defender.plugins.module_utils import _http
from ansible_collections.secops.m365_defender.plugins.modules import app_registration_info
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import (
    CLIENT,
    DEFENDER,
    GRAPH,
    LOGIN,
    SECRET,
    TENANT,
    TENANT_ID,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    FAKE_USER,
    FakeDirectory,
    FakeEntra,
    FakeImds,
    Router,
    entra_error,
    make_jwt,
    make_response,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFENDER_SCOPE = "https://api.security.microsoft.com/.default"
CONSENT_URL = "%s/%s/adminconsent?client_id=%s" % (LOGIN, TENANT, CLIENT)
ALL_FEATURES = ["incident_read", "incident_write", "hunting"]


def app_token(aud, **claims):
    values = {"aud": aud, "tid": TENANT_ID, "appid": CLIENT}
    values.update(claims)
    return make_jwt(values)


def graph_token(roles=None, **claims):
    if roles is not None:
        claims["roles"] = roles
    return app_token("https://graph.microsoft.com", **claims)


def defender_token(roles=None, **claims):
    if roles is not None:
        claims["roles"] = roles
    return app_token("https://api.security.microsoft.com", **claims)


def days_from_now(days, hours=1):
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days, hours=hours)
    return end.strftime("%Y-%m-%dT%H:%M:%SZ")


def application(**fields):
    value = {"id": "app-object-id", "appId": CLIENT, "displayName": "SOC automation", "signInAudience": "AzureADMultipleOrgs",
             "passwordCredentials": [{"keyId": "k-secret", "displayName": "ansible", "endDateTime": days_from_now(200)}],
             "keyCredentials": []}
    value.update(fields)
    return value


class Tenant(object):
    """Entra ID and Graph's directory of one tenant, behind the fake transport."""

    def __init__(self, transport, graph=None, defender=None, applications=None, refuse=None, **entra):
        tokens = {"https://graph.microsoft.com": graph or graph_token(["SecurityIncident.Read.All"]),
                  "https://api.security.microsoft.com": defender or defender_token(["Incident.Read.All"])}
        self.entra = FakeEntra(LOGIN, TENANT, tokens_by_resource=tokens, **entra)
        self.directory = FakeDirectory(GRAPH + "/v1.0", applications=[application()] if applications is None else applications,
                                       principals=[{"id": "sp-object-id", "appId": CLIENT}], refuse=refuse)
        transport.handler = Router(**{"login.sandbox.test": self.entra, "graph.sandbox.test": self.directory})

    def scopes(self):
        return [next(scope for scope in seen.form["scope"].split() if scope.endswith("/.default"))
                for seen in self.entra.token_requests]


def args(**extra):
    values = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET, "login_url": LOGIN, "graph_url": GRAPH,
              "defender_url": DEFENDER}
    values.update(extra)
    return values


def documented():
    return yaml.safe_load(app_registration_info.RETURN)


def test_ready_app_on_graph(transport):
    tenant = Tenant(transport, graph=graph_token(["SecurityIncident.ReadWrite.All", "ThreatHunting.Read.All",
                                                  "Application.Read.All"]))
    outcome, result = run_module(app_registration_info.main, args(features=ALL_FEATURES))
    assert outcome == "exit", result
    assert result["ready"] is True and result["changed"] is False
    assert (result["api"], result["context"]) == ("graph", "application")
    assert result["granted_permissions"] == ["Application.Read.All", "SecurityIncident.ReadWrite.All", "ThreatHunting.Read.All"]
    assert result["needed_permissions"] == ["SecurityIncident.ReadWrite.All", "ThreatHunting.Read.All"]
    assert result["missing_permissions"] == []
    assert result["consent"] == {"state": "granted", "admin_consent_url": CONSENT_URL}
    registration = result["registration"]
    assert registration["visible"] is True and registration["multi_tenant"] is True
    assert registration["service_principal_id"] == "sp-object-id"
    assert [credential["key_id"] for credential in registration["credentials"]] == ["k-secret"]
    assert tenant.scopes() == [GRAPH_SCOPE], "on Graph, one sign-in serves both checks"
    token = tenant.entra.tokens_by_resource["https://graph.microsoft.com"]
    assert [seen.headers["Authorization"] for seen in tenant.directory.requests] == ["Bearer " + token] * 2
    assert "warnings" not in result
    assert set(result) - {"changed", "http"} <= set(documented())
    assert SECRET not in json.dumps(result) and token not in json.dumps(result)


@pytest.mark.parametrize("roles, features, missing", [
    (["SecurityIncident.Read.All"], ["incident_read", "incident_write"], ["SecurityIncident.ReadWrite.All"]),
    (["SecurityIncident.Read.All"], ALL_FEATURES, ["SecurityIncident.ReadWrite.All", "ThreatHunting.Read.All"]),
    (["ThreatHunting.Read.All"], ["incident_read"], ["SecurityIncident.Read.All"]),
])
def test_missing_permissions_are_data(transport, roles, features, missing):
    Tenant(transport, graph=graph_token(roles))
    outcome, result = run_module(app_registration_info.main, args(features=features))
    assert outcome == "exit", result
    assert result["ready"] is False
    assert result["missing_permissions"] == missing
    assert result["consent"]["state"] == "granted"


def test_token_without_roles_means_no_permission_was_consented(transport):
    Tenant(transport, graph=graph_token())
    outcome, result = run_module(app_registration_info.main, args())
    assert outcome == "exit", result
    assert result["granted_permissions"] == []
    assert result["consent"]["state"] == "no_permissions"
    assert result["ready"] is False and result["missing_permissions"] == ["SecurityIncident.Read.All"]


@pytest.mark.parametrize("code, error", [(700016, "unauthorized_client"), (65001, "invalid_grant")])
def test_missing_consent_is_data_not_a_failure(transport, code, error):
    tenant = Tenant(transport, token_answer=entra_error(400, error, code, "No consent here."))
    outcome, result = run_module(app_registration_info.main, args(api="defender", features=["incident_read", "hunting"]))
    assert outcome == "exit", result
    assert result["ready"] is False and result["context"] == "application"
    assert result["needed_permissions"] == result["missing_permissions"] == ["AdvancedHunting.Read.All", "Incident.Read.All"]
    assert result["granted_permissions"] == []
    assert result["consent"]["state"] == "missing"
    assert result["consent"]["admin_consent_url"] == CONSENT_URL
    assert "AADSTS%d" % code in result["consent"]["error"]
    assert "registration" not in result
    assert tenant.directory.requests == []


def test_missing_consent_in_user_context(transport):
    Tenant(transport, token_answer=entra_error(400, "invalid_grant", 65001, "The user has not consented."))
    outcome, result = run_module(app_registration_info.main, args(
        api="defender", client_secret=None, username=FAKE_USER["upn"], password=FAKE_USER["password"],
        features=["incident_write"]))
    assert outcome == "exit", result
    assert result["context"] == "user"
    assert result["missing_permissions"] == ["Incident.ReadWrite"]


@pytest.mark.parametrize("code, status", [(7000215, 401), (90002, 400), (7000222, 401)])
def test_other_sign_in_errors_fail(transport, code, status):
    tenant = Tenant(transport, token_answer=entra_error(status, "invalid_client", code, "It failed."))
    outcome, result = run_module(app_registration_info.main, args())
    assert outcome == "fail"
    assert result["aadsts_code"] == code
    assert "AADSTS%d" % code in result["msg"]
    assert tenant.directory.requests == []
    assert SECRET not in json.dumps(result)


@pytest.mark.parametrize("status", [401, 403])
def test_directory_refused_still_answers_from_the_token(transport, status):
    tenant = Tenant(transport, graph=graph_token(["SecurityIncident.Read.All"]), refuse=make_response(status, {"error": {
        "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}}))
    outcome, result = run_module(app_registration_info.main, args())
    assert outcome == "exit", result
    assert result["ready"] is True
    assert result["registration"]["visible"] is False
    assert "HTTP %d" % status in result["registration"]["reason"]
    assert "Application.Read.All" in result["registration"]["reason"]
    # A 401 is answered by signing in once more before giving up.
    assert len(tenant.entra.token_requests) == (2 if status == 401 else 1)


def test_directory_failing_still_answers_from_the_token(transport, waits):
    Tenant(transport, refuse=make_response(500, {"error": {"code": "InternalServerError", "message": "Boom."}}))
    outcome, result = run_module(app_registration_info.main, args(retries=2))
    assert outcome == "exit", result
    assert result["registration"]["visible"] is False
    assert result["registration"]["reason"].startswith("Graph could not show the app registration:")
    assert "Boom." in result["registration"]["reason"]
    assert len(waits) == 2


def test_defender_api_reads_the_directory_with_a_second_token_for_graph(transport, monkeypatch):
    closed = []
    real_close = _http.HttpClient.close

    def close(client):
        closed.append(client)
        real_close(client)

    monkeypatch.setattr(_http.HttpClient, "close", close)
    tenant = Tenant(transport, defender=defender_token(["Incident.ReadWrite.All", "AdvancedHunting.Read.All"]),
                    graph=graph_token(["Application.Read.All"]))
    outcome, result = run_module(app_registration_info.main, args(api="defender", features=ALL_FEATURES))
    assert outcome == "exit", result
    assert result["ready"] is True
    assert result["granted_permissions"] == ["AdvancedHunting.Read.All", "Incident.ReadWrite.All"], "from the Defender token"
    assert result["needed_permissions"] == ["AdvancedHunting.Read.All", "Incident.ReadWrite.All"]
    assert result["registration"]["visible"] is True
    assert tenant.scopes() == [DEFENDER_SCOPE, GRAPH_SCOPE]
    graph = tenant.entra.tokens_by_resource["https://graph.microsoft.com"]
    assert all(seen.headers["Authorization"] == "Bearer " + graph for seen in tenant.directory.requests)
    assert len(closed) == 2 and closed[0] is not closed[1], "the module's session and the Graph one are closed"


def test_defender_api_in_user_context_without_graph_consent_still_answers(transport):
    def refuse_graph(seen):
        if GRAPH_SCOPE in seen.form.get("scope", "").split():
            return entra_error(400, "invalid_grant", 65001, "The user or administrator has not consented to use the "
                                                            "application for Microsoft Graph.")
        return None

    tenant = Tenant(transport, defender=defender_token(scp="Incident.Read"), token_answer=refuse_graph)
    outcome, result = run_module(app_registration_info.main, args(
        api="defender", client_secret=None, username=FAKE_USER["upn"], password=FAKE_USER["password"]))
    assert tenant.scopes()[0] == DEFENDER_SCOPE
    assert outcome == "exit", result
    assert result["ready"] is True and result["context"] == "user"
    assert result["registration"]["visible"] is False


def test_user_context_on_defender(transport):
    Tenant(transport, defender=defender_token(scp="Incident.Read AdvancedHunting.Read"),
           graph=graph_token(scp="Application.Read.All"))
    outcome, result = run_module(app_registration_info.main, args(
        api="defender", client_secret=None, username=FAKE_USER["upn"], password=FAKE_USER["password"],
        features=["incident_read", "hunting"]))
    assert outcome == "exit", result
    assert result["context"] == "user"
    assert result["needed_permissions"] == ["AdvancedHunting.Read", "Incident.Read"]
    assert result["ready"] is True
    assert any("ROPC" in warning for warning in result["warnings"])


def test_credentials_expired_or_expiring_are_warned_about(transport):
    secrets = [{"keyId": "k-old", "displayName": "old", "endDateTime": days_from_now(-3)},
               {"keyId": "k-soon", "displayName": "soon", "endDateTime": days_from_now(5)},
               {"keyId": "k-fine", "displayName": "fine", "endDateTime": days_from_now(20)}]
    certificates = [{"keyId": "k-cert", "displayName": None, "endDateTime": days_from_now(12)}]
    Tenant(transport, applications=[application(passwordCredentials=secrets, keyCredentials=certificates)])
    outcome, result = run_module(app_registration_info.main, args(expiry_warning_days=14))
    assert outcome == "exit", result
    warnings = result["warnings"]
    assert len(warnings) == 3
    app = "the app 'SOC automation' (%s), registered in tenant %s," % (CLIENT, TENANT)
    assert warnings[0] == "The secret 'old' (k-old) of %s expired on %s." % (app, secrets[0]["endDateTime"])
    assert warnings[1] == "The secret 'soon' (k-soon) of %s expires in 5 day(s) on %s." % (app, secrets[1]["endDateTime"])
    assert warnings[2] == "The certificate '' (k-cert) of %s expires in 12 day(s) on %s." % (app, certificates[0]["endDateTime"])
    assert [credential["expiring_soon"] for credential in result["registration"]["credentials"]] == [False, True, False, True]


def test_registration_of_another_tenant(transport):
    Tenant(transport, applications=[])
    outcome, result = run_module(app_registration_info.main, args())
    assert outcome == "exit", result
    assert result["registration"]["visible"] is False
    assert result["registration"]["service_principal_id"] == "sp-object-id"
    assert "home tenant" in result["registration"]["reason"]


def test_check_mode_runs_the_same_read_only_check(transport):
    tenant = Tenant(transport)
    outcome, result = run_module(app_registration_info.main, args(_ansible_check_mode=True))
    assert outcome == "exit", result
    assert result["ready"] is True and result["changed"] is False
    assert len(tenant.directory.requests) == 2


def test_unknown_feature_is_refused_before_any_request(transport):
    outcome, result = run_module(app_registration_info.main, args(features=["incident_read", "alerts"]))
    assert outcome == "fail"
    assert "features" in result["msg"] and "alerts" in result["msg"]
    assert transport.seen == []


def test_cache_warnings_reach_the_task(transport, tmp_path):
    Tenant(transport)
    cache = tmp_path / "cache.json"
    cache.write_text("{}")
    os.chmod(str(cache), 0o644)
    outcome, result = run_module(app_registration_info.main, args(token_cache_path=str(cache)))
    assert outcome == "exit", result
    assert any("was readable by others" in warning for warning in result["warnings"])


# ----- a managed identity: no tenant or client id given


@pytest.fixture
def managed_tenant(transport, monkeypatch):
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET"):
        monkeypatch.delenv(name, raising=False)
    imds = FakeImds(access_token=graph_token(["SecurityIncident.Read.All"]))
    directory = FakeDirectory(GRAPH + "/v1.0", applications=[application()])
    transport.handler = Router(**{"169.254.169.254": imds, "graph.sandbox.test": directory})
    return directory


def test_managed_identity_is_looked_up_by_the_app_id_in_its_token(managed_tenant):
    outcome, result = run_module(app_registration_info.main, {"auth_flow": "managed_identity", "graph_url": GRAPH})
    assert outcome == "exit", result
    assert result["ready"] is True
    assert managed_tenant.requests[0].query["$filter"] == "appId eq '%s'" % CLIENT
    assert result["registration"]["visible"] is True


def test_managed_identity_gets_no_consent_url_made_of_none(managed_tenant):
    outcome, result = run_module(app_registration_info.main, {"auth_flow": "managed_identity", "graph_url": GRAPH})
    assert outcome == "exit", result
    url = result["consent"].get("admin_consent_url")
    assert url is None or "None" not in url
