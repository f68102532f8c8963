"""Workload identities: managed identities through the IMDS endpoint (MSAL's ManagedIdentityClient) and workload
identity federation (client assertions issued by the sandbox's workload issuer)."""
from __future__ import annotations

import base64
import json

import msal
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandboxtest import CONTOSO, DEFENDER, FABRIKAM, GRAPH, app_info, bearer, claims_of, confidential_app, counters

SYSTEM_ASSIGNED = "7ab7125f-0bec-4d8a-8647-8dbe178b5b54"
USER_ASSIGNED = "0afd78b2-ce70-4ee9-9c06-fcd86e9dc2ac"
SUBJECT = "system:serviceaccount:soc:ansible"
IMDS = "/metadata/identity/oauth2/token"


@pytest.fixture
def imds(sandbox, monkeypatch):
    """MSAL's VM managed identity source, pointed at the sandbox."""
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", sandbox["base_url"])
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


# --- managed identities ----------------------------------------------------------------------------------------------

def test_sandbox_json_lists_managed_identities(sandbox):
    identities = {item["name"]: item for item in sandbox["managed_identities"]}
    assert identities["sandbox-vm"]["type"] == "system_assigned" and identities["sandbox-vm"]["client_id"] == SYSTEM_ASSIGNED
    assert identities["soc-automation"]["client_id"] == USER_ASSIGNED and identities["soc-automation"]["tenant"] == CONTOSO
    assert identities["soc-automation"]["permissions"]["defender"] == ["Incident.ReadWrite.All", "AdvancedHunting.Read.All"]


def test_system_assigned_identity_with_msal(sandbox, http, imds):
    before = counters(sandbox, http)
    client = msal.ManagedIdentityClient(msal.SystemAssignedManagedIdentity(), http_client=http)
    result = client.acquire_token_for_client(resource="https://graph.microsoft.com")
    assert result["token_source"] == "identity_provider" and result["expires_in"] == 3599
    claims = claims_of(result["access_token"])
    assert (claims["appid"], claims["tid"], claims["aud"], claims["idtyp"]) == (
        SYSTEM_ASSIGNED, CONTOSO, "https://graph.microsoft.com", "app")
    assert claims["roles"] == ["SecurityIncident.Read.All", "SecurityAlert.Read.All"]
    assert claims["oid"] == "8527cc84-9a59-42ae-89da-429ee1f41196"
    response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents", params={"$top": 1},
                        headers=bearer(result["access_token"]))
    assert response.status_code == 200
    after = counters(sandbox, http)
    assert after["token_requests"][SYSTEM_ASSIGNED][CONTOSO] == \
        before["token_requests"].get(SYSTEM_ASSIGNED, {}).get(CONTOSO, 0) + 1
    assert after["token_requests_by_grant"]["managed_identity"] == \
        before["token_requests_by_grant"].get("managed_identity", 0) + 1
    assert client.acquire_token_for_client(resource="https://graph.microsoft.com")["token_source"] == "cache"


def test_user_assigned_identity_with_msal(sandbox, http, imds):
    client = msal.ManagedIdentityClient(msal.UserAssignedManagedIdentity(client_id=USER_ASSIGNED), http_client=http)
    result = client.acquire_token_for_client(resource="https://api.security.microsoft.com")
    claims = claims_of(result["access_token"])
    assert (claims["appid"], claims["roles"]) == (USER_ASSIGNED, ["Incident.ReadWrite.All", "AdvancedHunting.Read.All"])
    incident = http.get(f"{sandbox['base_url']}/api/incidents", params={"$top": 1},
                        headers=bearer(result["access_token"])).json()["value"][0]
    patched = http.patch(f"{sandbox['base_url']}/api/incidents/{incident['incidentId']}", json={"comment": "seen"},
                         headers=bearer(result["access_token"]))
    assert patched.status_code == 200 and patched.json()["comments"][-1]["createdBy"] == "soc-automation"


def test_unknown_identity_with_msal(sandbox, http, imds):
    unknown = "00000000-0000-0000-0000-0000000000aa"
    client = msal.ManagedIdentityClient(msal.UserAssignedManagedIdentity(client_id=unknown), http_client=http)
    result = client.acquire_token_for_client(resource="https://graph.microsoft.com")
    assert result == {"error": "invalid_request", "error_description": "Identity not found"}
    assert counters(sandbox, http)["token_requests"][unknown] == {"": 1}


def test_imds_answer_spells_numbers_as_strings(sandbox, http):
    response = http.get(f"{sandbox['base_url']}{IMDS}", headers={"Metadata": "true"}, params={
        "api-version": "2018-02-01", "resource": "https://api.security.microsoft.com/",
        "object_id": "8f9c40fc-2e91-49e6-bd63-156d428cf6ab"})
    body = response.json()
    assert response.status_code == 200 and body["expires_in"] == "3599" and body["token_type"] == "Bearer"
    assert int(body["expires_on"]) - int(body["not_before"]) == 3599
    assert (body["client_id"], body["resource"]) == (USER_ASSIGNED, "https://api.security.microsoft.com/")
    by_resource_id = http.get(f"{sandbox['base_url']}{IMDS}", headers={"Metadata": "true"}, params={
        "api-version": "2018-02-01", "resource": "https://graph.microsoft.com",
        "msi_res_id": next(item["resource_id"] for item in sandbox["managed_identities"]
                           if item["client_id"] == USER_ASSIGNED)})
    assert by_resource_id.json()["client_id"] == USER_ASSIGNED


@pytest.mark.parametrize("headers, params, error, description", [
    ({}, {"api-version": "2018-02-01", "resource": "https://graph.microsoft.com"}, "invalid_request",
     "Required metadata header not specified"),
    ({"Metadata": "true"}, {"api-version": "2018-02-01"}, "invalid_request",
     "Required query variable 'resource' is missing"),
    ({"Metadata": "true"}, {"resource": "https://graph.microsoft.com"}, "invalid_request",
     "Required query variable 'api-version' is missing"),
])
def test_imds_request_errors(sandbox, http, headers, params, error, description):
    response = http.get(f"{sandbox['base_url']}{IMDS}", headers=headers, params=params)
    assert response.status_code == 400 and response.json() == {"error": error, "error_description": description}


def test_imds_unknown_resource(sandbox, http):
    response = http.get(f"{sandbox['base_url']}{IMDS}", headers={"Metadata": "true"},
                        params={"api-version": "2018-02-01", "resource": "https://management.azure.com"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_resource"
    assert response.json()["error_description"].startswith("AADSTS500011: ")


# --- workload identity federation ------------------------------------------------------------------------------------

def mint(sandbox, http, **spec):
    response = http.post(f"{sandbox['admin_url']}/federated-token", json={"subject": SUBJECT, **spec})
    assert response.status_code == 200, response.text
    return response.json()


def federated_app(sandbox, http, assertion, name="soc-responder", tenant=CONTOSO):
    return confidential_app(sandbox, http, name, {"client_assertion": lambda: assertion}, tenant)


def test_sandbox_json_lists_the_federated_credential(sandbox):
    [credential] = app_info(sandbox, "soc-responder")["federated_credentials"]
    assert credential == {"name": "aks-soc-ansible", "issuer": f"{sandbox['base_url']}/workload-issuer",
                          "subject": SUBJECT, "audiences": ["api://AzureADTokenExchange"]}
    assert sandbox["workload_issuer"]["issuer"] == credential["issuer"]


def test_federated_assertion_with_msal(sandbox, http):
    minted = mint(sandbox, http)
    assert minted["issuer"] == f"{sandbox['base_url']}/workload-issuer"
    claims = claims_of(minted["token"])
    assert (claims["sub"], claims["aud"], claims["exp"] - claims["iat"]) == (SUBJECT, ["api://AzureADTokenExchange"], 600)
    for tenant, scope in ((CONTOSO, GRAPH), (FABRIKAM, DEFENDER)):
        result = federated_app(sandbox, http, minted["token"], tenant=tenant).acquire_token_for_client([scope])
        token = claims_of(result["access_token"])
        assert (token["appid"], token["tid"], token["appidacr"]) == ("61be00bb-993c-413b-b642-7b204fca020c", tenant, "2")
        assert token["roles"]


def test_workload_issuer_publishes_its_key(sandbox, http):
    base = f"{sandbox['base_url']}/workload-issuer"
    config = http.get(f"{base}/.well-known/openid-configuration").json()
    assert config["issuer"] == base
    [key] = http.get(config["jwks_uri"]).json()["keys"]
    token = mint(sandbox, http)["token"]
    signing_input, signature = token.rsplit(".", 1)
    numbers = rsa.RSAPublicNumbers(_b64_int(key["e"]), _b64_int(key["n"]))
    numbers.public_key().verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
                                signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())


def _b64_int(text):
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


@pytest.mark.parametrize("spec, app, status, code", [
    ({"subject": "system:serviceaccount:soc:other"}, "soc-responder", 400, 70021),
    ({"audience": "api://something-else"}, "soc-responder", 400, 70021),
    ({"issuer": "https://token.actions.githubusercontent.com"}, "soc-responder", 400, 70021),
    ({}, "soc-reader", 400, 70021),  # no federated credential at all
    ({"lifetime": -60}, "soc-responder", 401, 700024),
])
def test_federated_assertion_errors(sandbox, http, spec, app, status, code):
    result = federated_app(sandbox, http, mint(sandbox, http, **spec)["token"], app).acquire_token_for_client([GRAPH])
    assert (result["error"], result["error_codes"]) == ("invalid_client", [code])
    if code == 70021:
        assert "No matching federated identity record found for presented assertion." in result["error_description"]


def test_assertion_not_signed_by_the_issuer(sandbox, http):
    """The issuer's claims and key id, signed with another key: the signature check fails (AADSTS700027)."""
    genuine = mint(sandbox, http)["token"]
    header, claims = (json.loads(base64.urlsafe_b64decode(part + "==")) for part in genuine.split(".")[:2])
    assert "x5t" not in header  # a federated assertion names no certificate
    signing_input = ".".join(_b64(json.dumps(part).encode()) for part in (header, claims))
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = f"{signing_input}.{_b64(other_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))}"
    result = federated_app(sandbox, http, forged).acquire_token_for_client([GRAPH])
    assert result["error_codes"] == [700027] and "signature validation" in result["error_description"]


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_federated_token_admin_errors(sandbox, http):
    for body in ({}, {"subject": ""}, {"subject": SUBJECT, "lifetime": "long"}, {"subject": SUBJECT, "audience": 1}):
        assert http.post(f"{sandbox['admin_url']}/federated-token", json=body).status_code == 400
