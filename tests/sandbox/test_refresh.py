"""Refresh tokens: MSAL's acquire_token_silent redeems them once the access token has less than five minutes
left (here always: tokens live 200 s), for either API; expired and unknown refresh tokens."""
from __future__ import annotations

import warnings

from sandboxtest import CONTOSO, DEFENDER, GRAPH, claims_of, counters, public_app, user_info

SCENARIO_CHANGES = {"token_lifetime": 200}
ANALYST = "analyst@contoso.example"
CLI = "4748dbf6-ed12-45ed-abb9-936753fa00bc"


def signed_in_app(sandbox, realm_http):
    app = public_app(sandbox, realm_http)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(ANALYST, user_info(sandbox, ANALYST)["password"], scopes=[GRAPH])
    assert result["expires_in"] == 200
    return app, result


def refresh_request(sandbox, http, refresh_token, client_id=CLI):
    return http.post(f"{sandbox['base_url']}/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token,
        "scope": f"{GRAPH} openid profile offline_access"})


def test_silent_refresh_rotates_the_refresh_token(sandbox, http, realm_http):
    app, first = signed_in_app(sandbox, realm_http)
    before = counters(sandbox, http)["token_requests_by_grant"].get("refresh_token", 0)
    account = app.get_accounts()[0]
    second = app.acquire_token_silent([GRAPH], account=account)
    assert second["token_source"] == "identity_provider" and second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert claims_of(second["access_token"])["upn"] == ANALYST
    assert counters(sandbox, http)["token_requests_by_grant"]["refresh_token"] == before + 1
    old = refresh_request(sandbox, http, first["refresh_token"])  # rotation leaves the old one valid, as Entra ID does
    assert old.status_code == 200 and old.json()["refresh_token"]


def test_one_sign_in_serves_both_apis(sandbox, http, realm_http):
    app = signed_in_app(sandbox, realm_http)[0]
    defender = app.acquire_token_silent([DEFENDER], account=app.get_accounts()[0])
    claims = claims_of(defender["access_token"])
    assert (claims["aud"], claims["scp"]) == ("https://api.security.microsoft.com", "Incident.ReadWrite AdvancedHunting.Read")
    response = http.get(f"{sandbox['base_url']}/api/incidents", params={"$top": 1},
                        headers={"Authorization": f"Bearer {defender['access_token']}"})
    assert response.status_code == 200


def test_expired_refresh_tokens(sandbox, http, realm_http):
    app, first = signed_in_app(sandbox, realm_http)
    expired = http.post(f"{sandbox['admin_url']}/refresh-tokens/expire", json={"user": ANALYST}).json()["expired"]
    assert expired >= 1
    response = refresh_request(sandbox, http, first["refresh_token"])
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"]) == (400, "invalid_grant", [70008])
    result = app.acquire_token_silent_with_error([GRAPH], account=app.get_accounts()[0])
    assert result["error_codes"] == [70008]


def test_unknown_and_foreign_refresh_tokens(sandbox, http, realm_http):
    first = signed_in_app(sandbox, realm_http)[1]
    unknown = refresh_request(sandbox, http, "0.Anot-a-refresh-token")
    assert (unknown.status_code, unknown.json()["error"], unknown.json()["error_codes"]) == (400, "invalid_grant",
                                                                                             [9002313])
    reader = "7a7c51c4-8af8-4870-a572-d3134b6be02d"
    foreign = http.post(f"{sandbox['base_url']}/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": "refresh_token", "client_id": reader, "refresh_token": first["refresh_token"],
        "client_secret": "9rp7Q~fDmf.ewU9_R.3M7z-TroIOhVvVXtF7x2Ug", "scope": GRAPH})
    assert foreign.json()["error_codes"] == [9002313]
    missing = http.post(f"{sandbox['base_url']}/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": "refresh_token", "client_id": CLI})
    assert missing.json()["error_codes"] == [900144]


def test_refresh_without_scope_keeps_the_first_one(sandbox, http, realm_http):
    first = signed_in_app(sandbox, realm_http)[1]
    response = http.post(f"{sandbox['base_url']}/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": "refresh_token", "client_id": CLI, "refresh_token": first["refresh_token"]})
    assert claims_of(response.json()["access_token"])["aud"] == "https://graph.microsoft.com"
