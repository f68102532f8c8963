"""Users: the user realm look-up, the password grant (ROPC) through MSAL with every account-state error, delegated
(``scp``) tokens and their permission checks on both APIs."""
from __future__ import annotations

import base64
import json
import warnings

import msal
import pytest

from sandboxtest import (CONTOSO, DEFENDER, FABRIKAM, GRAPH, app_info, bearer, claims_of, counters,
                         delegated_claims, forge_token, public_app, secret, user_info)

ANALYST = "analyst@contoso.example"
CLI = "4748dbf6-ed12-45ed-abb9-936753fa00bc"


def sign_in(sandbox, http, upn, password=None, scopes=(GRAPH,), app=None):
    """ROPC through MSAL (its DeprecationWarning for public clients silenced)."""
    app = app or public_app(sandbox, http)
    password = user_info(sandbox, upn)["password"] if password is None else password
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return app.acquire_token_by_username_password(upn, password, scopes=list(scopes))


def token_request(sandbox, http, tenant=CONTOSO, **form):
    return http.post(f"{sandbox['base_url']}/{tenant}/oauth2/v2.0/token", data=form)


def password_form(upn=ANALYST, password="Contoso!Analyst1", client_id=CLI, scope=f"{GRAPH} openid profile offline_access"):
    return {"grant_type": "password", "client_id": client_id, "username": upn, "password": password, "scope": scope}


# --- sandbox.json -----------------------------------------------------------------------------------------------

def test_sandbox_json_lists_users_and_the_public_client(sandbox):
    contoso = next(tenant for tenant in sandbox["tenants"] if tenant["id"] == CONTOSO)
    states = {user["upn"]: user["state"] for user in contoso["users"]}
    assert states == {ANALYST: "enabled", "locked@contoso.example": "locked",
                      "disabled@contoso.example": "disabled", "mfa@contoso.example": "mfa_required",
                      "expired@contoso.example": "password_expired", "newhire@contoso.example": "enabled"}
    assert user_info(sandbox, ANALYST)["password"] == "Contoso!Analyst1"
    cli = app_info(sandbox, "soc-analyst-cli")
    assert cli["client_id"] == CLI and cli["public_client"] is True and cli["secrets"] == []
    assert cli["delegated_permissions"] == {CONTOSO: {
        "graph": ["SecurityIncident.ReadWrite.All", "SecurityAlert.ReadWrite.All", "ThreatHunting.Read.All"],
        "defender": ["Incident.ReadWrite", "AdvancedHunting.Read"], "endpoint": ["Machine.Read", "Machine.Isolate"],
        "users_without_consent": ["newhire@contoso.example"]}}
    assert app_info(sandbox, "soc-reader")["public_client"] is False


# --- user realm -----------------------------------------------------------------------------------------------------

def test_user_realm_of_a_managed_domain(sandbox, http):
    response = http.get(f"{sandbox['base_url']}/common/userrealm/{ANALYST}", params={"api-version": "1.0"})
    assert response.status_code == 200
    assert response.json() == {"ver": "1.0", "account_type": "Managed", "domain_name": "contoso.example",
                               "cloud_instance_name": "microsoftonline.com",
                               "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
    unknown = http.get(f"{sandbox['base_url']}/common/userrealm/someone@unknown.example").json()
    assert unknown["account_type"] == "Unknown"


# --- password grant ---------------------------------------------------------------------------------------------------

def test_password_grant_with_msal(sandbox, realm_http):
    before = counters(sandbox, realm_http)
    app = public_app(sandbox, realm_http)
    result = sign_in(sandbox, realm_http, ANALYST, app=app)
    assert result["token_source"] == "identity_provider" and result["token_type"] == "Bearer"
    assert result["scope"].split() == ["https://graph.microsoft.com/SecurityIncident.ReadWrite.All",
                                       "https://graph.microsoft.com/SecurityAlert.ReadWrite.All",
                                       "https://graph.microsoft.com/ThreatHunting.Read.All",
                                       "https://graph.microsoft.com/.default", "openid", "profile", "offline_access"]
    assert result["refresh_token"] and result["expires_in"] == 3599
    claims = claims_of(result["access_token"])
    assert claims["scp"] == "SecurityIncident.ReadWrite.All SecurityAlert.ReadWrite.All ThreatHunting.Read.All"
    assert "roles" not in claims
    assert (claims["upn"], claims["name"], claims["oid"]) == (ANALYST, "Avery Analyst", user_info(sandbox, ANALYST)["id"])
    assert (claims["aud"], claims["tid"], claims["appid"], claims["idtyp"]) == (
        "https://graph.microsoft.com", CONTOSO, CLI, "user")
    id_claims = claims_of(result["id_token"])
    assert (id_claims["aud"], id_claims["tid"], id_claims["preferred_username"], id_claims["oid"]) == (
        CLI, CONTOSO, ANALYST, claims["oid"])
    assert id_claims["iss"] == f"{sandbox['base_url']}/{CONTOSO}/v2.0" and id_claims["sub"] == claims["sub"]
    client_info = json.loads(base64.urlsafe_b64decode(result["client_info"] + "=="))
    assert client_info == {"uid": claims["oid"], "utid": CONTOSO}
    [account] = app.get_accounts()
    assert (account["username"], account["home_account_id"]) == (ANALYST, f"{claims['oid']}.{CONTOSO}")
    after = counters(sandbox, realm_http)
    assert after["token_requests"][CLI][CONTOSO] == before["token_requests"].get(CLI, {}).get(CONTOSO, 0) + 1
    assert after["token_requests_by_grant"]["password"] == before["token_requests_by_grant"].get("password", 0) + 1


def test_silent_token_comes_from_msal_cache(sandbox, realm_http):
    app = public_app(sandbox, realm_http)
    first = sign_in(sandbox, realm_http, ANALYST, app=app)
    again = app.acquire_token_silent([GRAPH], account=app.get_accounts()[0])
    assert again["token_source"] == "cache" and again["access_token"] == first["access_token"]


@pytest.mark.parametrize("upn, password, error, code, suberror", [
    (ANALYST, "wrong", "invalid_grant", 50126, None),
    ("nobody@contoso.example", "whatever", "invalid_grant", 50034, None),
    ("locked@contoso.example", None, "invalid_grant", 50053, None),
    ("locked@contoso.example", "wrong", "invalid_grant", 50053, None),
    ("disabled@contoso.example", None, "invalid_grant", 50057, None),
    ("disabled@contoso.example", "wrong", "invalid_grant", 50126, None),
    ("expired@contoso.example", None, "invalid_grant", 50055, "user_password_expired"),
    ("mfa@contoso.example", None, "invalid_grant", 50076, "basic_action"),
    ("newhire@contoso.example", None, "invalid_grant", 65001, "consent_required"),
])
def test_password_grant_errors(sandbox, realm_http, upn, password, error, code, suberror):
    result = sign_in(sandbox, realm_http, upn, password)
    assert (result["error"], result["error_codes"], result.get("suberror")) == (error, [code], suberror)
    assert result["error_description"].startswith(f"AADSTS{code}: ")


def test_newhire_lacks_consent_but_others_have_it(sandbox, realm_http):
    result = sign_in(sandbox, realm_http, "newhire@contoso.example")
    assert "'4748dbf6-ed12-45ed-abb9-936753fa00bc' named 'soc-analyst-cli'" in result["error_description"]


@pytest.mark.parametrize("changes, status, error, code", [
    ({"client_secret": "anything"}, 401, "invalid_client", 700025),  # a public client sends no secret
    ({"client_id": "7a7c51c4-8af8-4870-a572-d3134b6be02d"}, 401, "invalid_client", 7000218),  # confidential, no secret
    ({"scope": f"{GRAPH} {DEFENDER}"}, 400, "invalid_request", 28000),
    ({"scope": "https://management.azure.com/.default openid"}, 400, "invalid_scope", 70011),
    ({"scope": "https://graph.microsoft.com/User.Read.All openid"}, 400, "invalid_grant", 65001),  # not consented
    ({"username": ""}, 400, "invalid_request", 900144),
])
def test_password_grant_request_errors(sandbox, http, changes, status, error, code):
    response = token_request(sandbox, http, **{**password_form(), **changes})
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"]) == (status, error, [code])


def test_password_grant_of_a_confidential_client_with_its_secret(sandbox, http):
    """A confidential client may use ROPC with its secret; soc-reader has no delegated permissions: no consent."""
    form = password_form(client_id="7a7c51c4-8af8-4870-a572-d3134b6be02d")
    response = token_request(sandbox, http, **form, client_secret=secret(sandbox, "soc-reader"))
    assert (response.status_code, response.json()["error_codes"]) == (400, [65001])


def test_password_grant_in_a_tenant_without_the_app(sandbox, http):
    response = token_request(sandbox, http, FABRIKAM, **password_form())
    assert (response.status_code, response.json()["error_codes"]) == (400, [700016])


def test_explicit_scopes_get_every_consented_scope(sandbox, http):
    form = password_form(scope="https://api.security.microsoft.com/Incident.Read openid")
    response = token_request(sandbox, http, **form)
    assert response.status_code == 400  # Incident.Read itself was not consented (Incident.ReadWrite was)
    form = password_form(scope="https://api.security.microsoft.com/Incident.ReadWrite")
    body = token_request(sandbox, http, **form).json()
    assert claims_of(body["access_token"])["scp"] == "Incident.ReadWrite AdvancedHunting.Read"
    assert "refresh_token" not in body and "id_token" not in body  # no offline_access, no openid


# --- delegated tokens at the APIs ----------------------------------------------------------------------------------

def test_delegated_tokens_read_update_and_hunt(sandbox, realm_http):
    app = public_app(sandbox, realm_http)
    graph = sign_in(sandbox, realm_http, ANALYST, app=app)["access_token"]
    defender = app.acquire_token_silent([DEFENDER], account=app.get_accounts()[0])["access_token"]
    assert claims_of(defender)["scp"] == "Incident.ReadWrite AdvancedHunting.Read"
    base = sandbox["base_url"]
    assert realm_http.get(f"{base}/v1.0/security/incidents", headers=bearer(graph)).status_code == 200
    assert realm_http.get(f"{base}/api/incidents", headers=bearer(defender)).status_code == 200
    incident = realm_http.get(f"{base}/api/incidents", params={"$top": 1}, headers=bearer(defender)).json()["value"][0]
    patched = realm_http.patch(f"{base}/api/incidents/{incident['incidentId']}", json={"comment": "looked at it"},
                               headers=bearer(defender))
    assert patched.status_code == 200 and patched.json()["comments"][-1]["createdBy"] == ANALYST
    hunt = realm_http.post(f"{base}/v1.0/security/runHuntingQuery", json={"Query": "AlertInfo | take 1"},
                           headers=bearer(graph))
    assert hunt.status_code == 200
    assert realm_http.post(f"{base}/api/advancedhunting/run", json={"Query": "AlertInfo | take 1"},
                           headers=bearer(defender)).status_code == 200


def test_graph_scope_checks(sandbox, http):
    base = sandbox["base_url"]
    read_write = forge_token(sandbox, delegated_claims(CONTOSO, "https://graph.microsoft.com",
                                                       "SecurityIncident.ReadWrite.All"))
    assert http.get(f"{base}/v1.0/security/incidents", headers=bearer(read_write)).status_code == 200
    reader = forge_token(sandbox, delegated_claims(CONTOSO, "https://graph.microsoft.com", "SecurityIncident.Read.All"))
    assert http.get(f"{base}/v1.0/security/incidents", headers=bearer(reader)).status_code == 200
    refused = http.patch(f"{base}/v1.0/security/incidents/1", json={"status": "active"}, headers=bearer(reader))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Forbidden"
    assert refused.json()["error"]["message"] == (
        "Missing scope permissions on the request. API requires one of 'SecurityIncident.ReadWrite.All'. "
        "Scopes on the request 'SecurityIncident.Read.All'")
    other = forge_token(sandbox, delegated_claims(CONTOSO, "https://graph.microsoft.com", "User.Read",
                                                  roles=["SecurityIncident.Read.All"]))
    response = http.get(f"{base}/v1.0/security/incidents", headers=bearer(other))  # roles do not count for users
    assert response.status_code == 403 and response.json()["error"]["message"] == (
        "Missing scope permissions on the request. API requires one of 'SecurityIncident.Read.All, "
        "SecurityIncident.ReadWrite.All'. Scopes on the request 'User.Read'")


def test_defender_scope_checks(sandbox, http):
    base = sandbox["base_url"]
    reader = forge_token(sandbox, delegated_claims(CONTOSO, "https://api.security.microsoft.com", "Incident.Read"))
    assert http.get(f"{base}/api/incidents", params={"$top": 1}, headers=bearer(reader)).status_code == 200
    refused = http.patch(f"{base}/api/incidents/1", json={"status": "Active"}, headers=bearer(reader))
    assert refused.status_code == 403 and refused.json()["error"]["message"] == (
        "The user does not have any of the required delegated permissions (Incident.ReadWrite) to access the "
        "resource. Scopes on the request: 'Incident.Read'.")
    application_name = forge_token(sandbox, delegated_claims(CONTOSO, "https://api.security.microsoft.com",
                                                             "Incident.Read.All"))
    refused = http.get(f"{base}/api/incidents", headers=bearer(application_name))
    assert refused.status_code == 403 and "(Incident.ReadWrite, Incident.Read)" in refused.json()["error"]["message"]
    hunter = forge_token(sandbox, delegated_claims(CONTOSO, "https://api.security.microsoft.com", "AdvancedHunting.Read"))
    assert http.post(f"{base}/api/advancedhunting/run", json={"Query": "AlertInfo | take 1"},
                     headers=bearer(hunter)).status_code == 200


def test_public_client_has_no_client_credentials(sandbox, http):
    client = msal.ConfidentialClientApplication(CLI, client_credential="no-secret-exists",
                                                authority=f"{sandbox['base_url']}/{CONTOSO}", instance_discovery=False,
                                                http_client=http)
    assert client.acquire_token_for_client([GRAPH])["error_codes"] == [7000215]
