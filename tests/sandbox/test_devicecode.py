"""The device code flow through MSAL, with approval, refusal and expiry through the admin API."""
from __future__ import annotations

import re
import threading
import time

import pytest

from sandboxtest import CONTOSO, FABRIKAM, GRAPH, app_info, claims_of, counters, public_app

ANALYST = "analyst@contoso.example"
CLI = "4748dbf6-ed12-45ed-abb9-936753fa00bc"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def admin(sandbox, http, user_code, action, **body):
    return http.post(f"{sandbox['admin_url']}/device-codes/{user_code}/{action}", json=body)


def poll_once(app, flow):
    return app.acquire_token_by_device_flow(flow, exit_condition=lambda flow: True)


def test_initiate_device_flow(sandbox, http):
    flow = public_app(sandbox, http).initiate_device_flow(scopes=[GRAPH])
    uri = f"{sandbox['base_url']}/devicelogin"
    assert re.fullmatch(r"[A-Z2-9]{9}", flow["user_code"]) and len(flow["device_code"]) > 40
    assert (flow["verification_uri"], flow["expires_in"], flow["interval"]) == (uri, 900, 1)
    assert flow["message"] == (f"To sign in, use a web browser to open the page {uri} and enter the code "
                               f"{flow['user_code']} to authenticate.")
    pending = http.get(f"{sandbox['admin_url']}/device-codes").json()["device_codes"]
    listed = next(code for code in pending if code["user_code"] == flow["user_code"])
    assert (listed["client_id"], listed["tenant_id"], listed["state"], listed["app"]) == (
        CLI, CONTOSO, "pending", "soc-analyst-cli")


def test_polling_before_approval_is_pending(sandbox, http):
    app = public_app(sandbox, http)
    result = poll_once(app, app.initiate_device_flow(scopes=[GRAPH]))
    assert (result["error"], result["error_codes"]) == ("authorization_pending", [70016])


def test_approval_while_msal_polls(sandbox, http):
    before = counters(sandbox, http)["token_requests_by_grant"].get(DEVICE_CODE_GRANT, 0)
    app = public_app(sandbox, http)
    flow = app.initiate_device_flow(scopes=[GRAPH])
    approval = threading.Timer(0.3, admin, (sandbox, http, flow["user_code"], "approve"), {"user": ANALYST})
    approval.start()
    started = time.monotonic()
    result = app.acquire_token_by_device_flow(flow)
    approval.join()
    assert time.monotonic() - started < 5
    assert result["token_source"] == "identity_provider" and result["refresh_token"] and result["id_token"]
    claims = claims_of(result["access_token"])
    assert (claims["upn"], claims["scp"]) == (
        ANALYST, "SecurityIncident.ReadWrite.All SecurityAlert.ReadWrite.All ThreatHunting.Read.All")
    assert app.get_accounts()[0]["username"] == ANALYST
    assert counters(sandbox, http)["token_requests_by_grant"][DEVICE_CODE_GRANT] >= before + 2  # pending, then ok
    codes = http.get(f"{sandbox['admin_url']}/device-codes", params={"all": "true"}).json()["device_codes"]
    assert next(code for code in codes if code["user_code"] == flow["user_code"])["state"] == "redeemed"
    again = http.post(f"{sandbox['base_url']}/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": DEVICE_CODE_GRANT, "client_id": CLI, "device_code": flow["device_code"]})
    assert again.json()["error_codes"] == [54005]


@pytest.mark.parametrize("action, error, code", [
    ("decline", "authorization_declined", 65004),
    ("expire", "expired_token", 70019),
])
def test_declined_and_expired_codes(sandbox, http, action, error, code):
    app = public_app(sandbox, http)
    flow = app.initiate_device_flow(scopes=[GRAPH])
    assert admin(sandbox, http, flow["user_code"], action).json()["state"] == ("declined" if action == "decline"
                                                                               else "expired")
    result = app.acquire_token_by_device_flow(flow)  # not retriable: MSAL stops at once
    assert (result["error"], result["error_codes"]) == (error, [code])
    pending = http.get(f"{sandbox['admin_url']}/device-codes").json()["device_codes"]
    assert flow["user_code"] not in {item["user_code"] for item in pending}


def test_approval_by_an_mfa_user_works(sandbox, http):
    """The browser sign-in the approval stands for can satisfy MFA, unlike the password grant."""
    app = public_app(sandbox, http)
    flow = app.initiate_device_flow(scopes=[GRAPH])
    assert admin(sandbox, http, flow["user_code"], "approve", user="mfa@contoso.example").status_code == 200
    assert claims_of(poll_once(app, flow)["access_token"])["upn"] == "mfa@contoso.example"


def test_approval_without_consent_fails_at_redemption(sandbox, http):
    app = public_app(sandbox, http)
    flow = app.initiate_device_flow(scopes=[GRAPH])
    admin(sandbox, http, flow["user_code"], "approve", user="newhire@contoso.example").raise_for_status()
    result = poll_once(app, flow)
    assert (result["error"], result["error_codes"]) == ("invalid_grant", [65001])


@pytest.mark.parametrize("user, status", [
    ("locked@contoso.example", 409), ("disabled@contoso.example", 409), ("nobody@contoso.example", 400),
    ("someone@fabrikam.example", 400),
])
def test_approvals_the_admin_api_refuses(sandbox, http, user, status):
    flow = public_app(sandbox, http).initiate_device_flow(scopes=[GRAPH])
    response = admin(sandbox, http, flow["user_code"], "approve", user=user)
    assert response.status_code == status and response.json()["error"]["code"] == "SandboxAdmin"


def test_admin_api_needs_a_pending_code(sandbox, http):
    assert admin(sandbox, http, "NOSUCHCOD", "approve", user=ANALYST).status_code == 404
    flow = public_app(sandbox, http).initiate_device_flow(scopes=[GRAPH])
    assert admin(sandbox, http, flow["user_code"], "decline").status_code == 200
    assert admin(sandbox, http, flow["user_code"], "approve", user=ANALYST).status_code == 409
    assert admin(sandbox, http, flow["user_code"], "approve").status_code == 400  # no user


def test_device_code_endpoint_errors(sandbox, http):
    bad_scope = public_app(sandbox, http).initiate_device_flow(scopes=["https://management.azure.com/.default"])
    assert "user_code" not in bad_scope and bad_scope["error_codes"] == [70011]
    wrong_tenant = public_app(sandbox, http, tenant=FABRIKAM).initiate_device_flow(scopes=[GRAPH])
    assert "user_code" not in wrong_tenant and wrong_tenant["error_codes"] == [700016]
    unknown = http.post(f"{sandbox['base_url']}/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": DEVICE_CODE_GRANT, "client_id": CLI, "device_code": "no-such-code"})
    assert (unknown.status_code, unknown.json()["error"], unknown.json()["error_codes"]) == (400, "invalid_grant",
                                                                                             [70000])


def test_confidential_client_polls_with_its_secret(sandbox, http):
    """soc-reader is confidential: polling without a secret is AADSTS7000218."""
    base = sandbox["base_url"]
    reader = app_info(sandbox, "soc-reader")["client_id"]
    flow = http.post(f"{base}/{CONTOSO}/oauth2/v2.0/devicecode", data={"client_id": reader, "scope": GRAPH}).json()
    response = http.post(f"{base}/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": DEVICE_CODE_GRANT, "client_id": reader, "device_code": flow["device_code"]})
    assert (response.status_code, response.json()["error_codes"]) == (401, [7000218])


def test_device_login_page(sandbox, http):
    response = http.get(f"{sandbox['base_url']}/devicelogin")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert "/_sandbox/device-codes" in response.text
