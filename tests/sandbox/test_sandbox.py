"""End-to-end tests of the sandbox through real HTTPS, with MSAL and requests as real clients.

    python -m pytest tests/sandbox -q
"""
from __future__ import annotations

import base64
import datetime
import json
import os
import re
import sys
import time
import uuid

import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# control.py and sandboxtest.py live next to this file; the fixtures are in conftest.py
# pylint: disable=wrong-import-position
import control  # noqa: E402
from sandboxtest import (CONTOSO, DEFENDER, FABRIKAM, GRAPH, NORTHWIND, TIMESTAMP, add_fault,  # noqa: E402
                         app_info, bearer, canonical, claims_of, confidential_app, moment, secret)


# --- helpers -----------------------------------------------------------------------------------------------------

def token_request(sandbox, http, tenant, **form):
    return http.post(f"{sandbox['base_url']}/{tenant}/oauth2/v2.0/token", data=form)


def signed_assertion(key_path, cert_path, claims, header=None):
    """A client assertion made by hand, for the cases MSAL never produces."""
    with open(key_path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    with open(cert_path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    thumbprint = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()
    parts = [{"alg": "RS256", "typ": "JWT", "x5t": thumbprint, **(header or {})}, claims]
    encoded = [base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode() for part in parts]
    signature = key.sign(".".join(encoded).encode(), padding.PKCS1v15(), hashes.SHA256())
    return ".".join(encoded + [base64.urlsafe_b64encode(signature).rstrip(b"=").decode()])


# --- start-up contract ---------------------------------------------------------------------------------------------

def test_sandbox_json_describes_the_scenario(sandbox):
    assert sandbox["base_url"].startswith("https://127.0.0.1:")
    assert sandbox["admin_url"] == f"{sandbox['base_url']}/_sandbox"
    assert {(t["name"], t["incident_count"]) for t in sandbox["tenants"]} == {
        ("Contoso", 237), ("Fabrikam", 12), ("Northwind", 5)}
    reader = app_info(sandbox, "soc-reader")
    assert [s["expired"] for s in reader["secrets"]] == [False, True]
    assert reader["certificate"] is None
    responder = app_info(sandbox, "soc-responder")
    assert responder["sign_in_audience"] == "AzureADMultipleOrgs"
    assert set(responder["permissions"]) == {CONTOSO, FABRIKAM}
    assert app_info(sandbox, "soc-bare")["permissions"] == {FABRIKAM: {"graph": [], "defender": [], "endpoint": []}}


def test_certificate_files_match_the_thumbprint(sandbox):
    certificate = app_info(sandbox, "soc-responder")["certificate"]
    assert os.path.basename(certificate["path"]) == "soc-responder-cert.pem"
    with open(certificate["path"], encoding="ascii") as handle:
        combined = handle.read()
    assert "BEGIN PRIVATE KEY" in combined and "BEGIN CERTIFICATE" in combined
    with open(certificate["cert_path"], "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    assert cert.fingerprint(hashes.SHA1()).hex().upper() == certificate["thumbprint"]
    assert oct(os.stat(certificate["key_path"]).st_mode & 0o777) == "0o600"


# --- identity ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tenant", [CONTOSO, "contoso.example", "CONTOSO.EXAMPLE"])
def test_discovery_names_the_tenant_guid(sandbox, http, tenant):
    config = http.get(f"{sandbox['base_url']}/{tenant}/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == f"{sandbox['base_url']}/{CONTOSO}/oauth2/v2.0/token"
    assert config["issuer"] == f"{sandbox['base_url']}/{CONTOSO}/v2.0"
    assert config["device_authorization_endpoint"].endswith("/oauth2/v2.0/devicecode")
    assert config["tenant_region_scope"]


@pytest.mark.parametrize("tenant, status, error, code", [
    ("unknown.example", 400, "invalid_tenant", 90002),
    ("00000000-0000-0000-0000-000000000000", 400, "invalid_tenant", 90002),
    ("not a tenant!", 400, "invalid_request", 900023),
])
def test_discovery_of_a_bad_tenant(sandbox, http, tenant, status, error, code):
    response = http.get(f"{sandbox['base_url']}/{tenant}/v2.0/.well-known/openid-configuration")
    assert (response.status_code, response.json()["error"], response.json()["error_codes"]) == (status, error, [code])


def test_tokens_are_signed_with_the_published_key(sandbox, http, tokens):
    token = tokens("soc-reader")
    keys = http.get(f"{sandbox['base_url']}/{CONTOSO}/discovery/v2.0/keys").json()["keys"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    key = next(k for k in keys if k["kid"] == header["kid"])
    assert header["x5t"] == key["x5t"] and header["alg"] == "RS256"
    public_key = rsa.RSAPublicNumbers(_b64_int(key["e"]), _b64_int(key["n"])).public_key()
    signing_input, signature = token.rsplit(".", 1)
    public_key.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), signing_input.encode(),
                      padding.PKCS1v15(), hashes.SHA256())


def _b64_int(text):
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def test_client_secret_token_with_msal(sandbox, http):
    reader = app_info(sandbox, "soc-reader")
    client = confidential_app(sandbox, http, "soc-reader", secret(sandbox, "soc-reader"), "contoso.example")
    result = client.acquire_token_for_client([GRAPH])
    assert (result["token_type"], result["expires_in"]) == ("Bearer", 3599)
    assert result["token_source"] == "identity_provider"
    claims = claims_of(result["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["iss"] == f"https://sts.windows.net/{CONTOSO}/"
    assert (claims["tid"], claims["appid"], claims["azp"], claims["ver"]) == (
        CONTOSO, reader["client_id"], reader["client_id"], "1.0")
    assert claims["roles"] == ["SecurityIncident.Read.All", "SecurityAlert.Read.All"]
    assert claims["exp"] - claims["iat"] == 3599 and claims["nbf"] == claims["iat"]
    assert client.acquire_token_for_client([GRAPH])["token_source"] == "cache"


def test_defender_token_carries_defender_roles(tokens):
    claims = claims_of(tokens("soc-responder", DEFENDER, FABRIKAM))
    assert claims["aud"] == "https://api.security.microsoft.com"
    assert claims["tid"] == FABRIKAM
    assert claims["roles"] == ["Incident.ReadWrite.All", "AdvancedHunting.Read.All"]


def test_app_without_permissions_gets_a_token_without_roles(tokens):
    assert "roles" not in claims_of(tokens("soc-bare", GRAPH, FABRIKAM))


@pytest.mark.parametrize("form", ["thumbprint", "public_certificate"])
def test_certificate_credential_with_msal_in_a_customer_tenant(sandbox, http, form):
    certificate = app_info(sandbox, "soc-responder")["certificate"]
    with open(certificate["key_path"], encoding="ascii") as handle:
        credential = {"private_key": handle.read()}
    if form == "thumbprint":  # RS256 + x5t
        credential["thumbprint"] = certificate["thumbprint"]
    else:  # PS256 + x5t#S256 + x5c
        with open(certificate["cert_path"], encoding="ascii") as handle:
            credential["public_certificate"] = handle.read()
    result = confidential_app(sandbox, http, "soc-responder", credential, "fabrikam.example") \
        .acquire_token_for_client([GRAPH])
    assert "access_token" in result, result
    claims = claims_of(result["access_token"])
    assert (claims["tid"], claims["appidacr"]) == (FABRIKAM, "2")


@pytest.mark.parametrize("name, credential, tenant, scope, code", [
    ("soc-reader", "Wrong~Secret", CONTOSO, GRAPH, 7000215),
    ("soc-reader", "806fe44b-77dc-4ecf-a8f4-99788f9e2bf0", CONTOSO, GRAPH, 7000215),  # the secret's id
    ("soc-reader", "expired", CONTOSO, GRAPH, 7000222),
    ("soc-responder", "valid", NORTHWIND, GRAPH, 700016),  # multi-tenant app, no consent there
    ("soc-reader", "valid", FABRIKAM, GRAPH, 700016),  # single-tenant app elsewhere
    ("soc-reader", "valid", CONTOSO, "https://graph.microsoft.com/User.Read", 70011),
    ("soc-reader", "valid", CONTOSO, "https://management.azure.com/.default", 70011),
])
def test_token_errors_through_msal(sandbox, http, name, credential, tenant, scope, code):
    if credential in ("valid", "expired"):
        credential = secret(sandbox, name, expired=credential == "expired")
    result = confidential_app(sandbox, http, name, credential, tenant).acquire_token_for_client([scope])
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}: ")


def test_expired_secret_error_names_key_and_app(sandbox, http):
    reader = app_info(sandbox, "soc-reader")
    response = token_request(sandbox, http, CONTOSO, grant_type="client_credentials", client_id=reader["client_id"],
                             scope=GRAPH, client_secret=secret(sandbox, "soc-reader", expired=True))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    description = response.json()["error_description"]
    assert reader["client_id"] in description and reader["secrets"][1]["id"] in description


def test_unknown_app_error_wording(sandbox, http):
    client_id = app_info(sandbox, "soc-responder")["client_id"]
    response = token_request(sandbox, http, NORTHWIND, grant_type="client_credentials", client_id=client_id,
                             scope=GRAPH, client_secret=secret(sandbox, "soc-responder"))
    body = response.json()
    assert (response.status_code, body["error"]) == (400, "unauthorized_client")
    assert f"Application with identifier '{client_id}' was not found in the directory 'Northwind'" in \
        body["error_description"]
    assert "consented to by any user in the tenant" in body["error_description"]


def test_entra_error_shape(sandbox, http):
    correlation = str(uuid.uuid4())
    response = http.post(f"{sandbox['base_url']}/unknown.example/oauth2/v2.0/token",
                         data={"grant_type": "client_credentials"}, headers={"client-request-id": correlation})
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"]) == (400, "invalid_request", [90002])
    assert set(body) == {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id",
                         "error_uri"}
    assert body["correlation_id"] == correlation == response.headers["client-request-id"]
    assert re.fullmatch(r"AADSTS90002: Tenant 'unknown\.example' not found\..*\r\nTrace ID: [0-9a-f-]{36}\r\n"
                        r"Correlation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ",
                        body["error_description"], re.DOTALL)
    assert body["error_uri"] == "https://login.microsoftonline.com/error?code=90002"


@pytest.mark.parametrize("tenant, form, status, error, code", [
    ("bad_tenant", {"grant_type": "client_credentials"}, 400, "invalid_request", 900023),
    (CONTOSO, {"client_id": "x"}, 400, "invalid_request", 900144),
    (CONTOSO, {"grant_type": "client_credentials", "client_id": "7a7c51c4-8af8-4870-a572-d3134b6be02d"},
     400, "invalid_request", 900144),
    (CONTOSO, {"grant_type": "authorization_code", "client_id": "x", "scope": GRAPH}, 400, "unsupported_grant_type", 70003),
    (CONTOSO, {"grant_type": "client_credentials", "client_id": "7a7c51c4-8af8-4870-a572-d3134b6be02d",
               "scope": GRAPH}, 401, "invalid_client", 7000218),
])
def test_malformed_token_requests(sandbox, http, tenant, form, status, error, code):
    response = token_request(sandbox, http, tenant, **form)
    assert (response.status_code, response.json()["error"], response.json()["error_codes"]) == (status, error, [code])


def test_client_assertion_checks(sandbox, http):
    responder = app_info(sandbox, "soc-responder")
    certificate = responder["certificate"]
    client_id = responder["client_id"]
    now = int(time.time())
    endpoint = f"{sandbox['base_url']}/{FABRIKAM}/oauth2/v2.0/token"
    good = {"aud": endpoint, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()), "nbf": now,
            "exp": now + 600}
    cases = [
        (good, None, 200, None),
        ({**good, "aud": f"{sandbox['base_url']}/fabrikam.example/oauth2/v2.0/token"}, None, 200, None),
        ({**good, "aud": f"{sandbox['base_url']}/{CONTOSO}/oauth2/v2.0/token"}, None, 401, 700023),
        ({**good, "exp": now - 60}, None, 401, 700024),
        ({**good, "iss": str(uuid.uuid4())}, None, 401, 700021),
        (good, {"x5t": "AAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 401, 700027),
    ]
    for claims, header, status, code in cases:
        assertion = signed_assertion(certificate["key_path"], certificate["cert_path"], claims, header)
        response = token_request(sandbox, http, FABRIKAM, grant_type="client_credentials", client_id=client_id,
                                 scope=DEFENDER, client_assertion=assertion,
                                 client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        assert response.status_code == status, (claims, response.text)
        if code:
            assert response.json()["error_codes"] == [code]


def test_assertion_signed_by_another_key_fails_signature_validation(sandbox, http, tmp_path):
    certificate = app_info(sandbox, "soc-responder")["certificate"]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    credential = {"private_key": other_key, "thumbprint": certificate["thumbprint"]}
    result = confidential_app(sandbox, http, "soc-responder", credential).acquire_token_for_client([GRAPH])
    assert result["error"] == "invalid_client" and result["error_codes"] == [700027]
    assert "Client assertion failed signature validation." in result["error_description"]


# --- Graph incidents -----------------------------------------------------------------------------------------------

def test_graph_pages_follow_the_opaque_next_link(sandbox, http, tokens):
    url = f"{sandbox['base_url']}/v1.0/security/incidents"
    pages = []
    while url:
        body = http.get(url, headers=bearer(tokens("soc-reader"))).json()
        assert body["@odata.context"] == f"{sandbox['base_url']}/v1.0/$metadata#security/incidents"
        pages.append(body["value"])
        url = body.get("@odata.nextLink")
        assert url is None or url.startswith(f"{sandbox['base_url']}/v1.0/security/incidents?$skiptoken=")
    assert [len(page) for page in pages] == [50, 50, 50, 50, 37]
    ids = [incident["id"] for page in pages for incident in page]
    assert ids == [incident["id"] for incident in canonical(sandbox, http)]
    created = [moment(incident["createdDateTime"]) for page in pages for incident in page]
    assert created == sorted(created, reverse=True)
    assert "alerts" not in pages[0][0]


def test_graph_top_skip_and_count(sandbox, http, tokens):
    url = f"{sandbox['base_url']}/v1.0/security/incidents?$top=10&$skip=230&$count=true"
    body = http.get(url, headers=bearer(tokens("soc-reader"))).json()
    assert body["@odata.count"] == 237 and len(body["value"]) == 7 and "@odata.nextLink" not in body
    response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents?$top=51", headers=bearer(tokens("soc-reader")))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    assert response.json()["error"]["message"] == ("The limit of '50' for Top query has been exceeded. The value "
                                                   "from the incoming request is '51'.")


def _iso(hours_ago):
    """A filter literal ``hours_ago`` hours back from now."""
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=hours_ago)
    return since.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


GRAPH_FILTERS = [
    ("status eq 'active'", lambda i: i["status"] == "active"),
    ("severity in ('high', 'medium') and status ne 'resolved'",
     lambda i: i["severity"] in ("high", "medium") and i["status"] != "resolved"),
    ("severity ge 'medium'", lambda i: i["severity"] in ("medium", "high")),
    ("(assignedTo eq null or assignedTo eq 'analyst@contoso.example') and classification eq 'unknown'",
     lambda i: i["assignedTo"] in (None, "analyst@contoso.example") and i["classification"] == "unknown"),
    ("classification eq 'truePositive' or determination eq 'notMalicious'",
     lambda i: i["classification"] == "truePositive" or i["determination"] == "notMalicious"),
]


@pytest.mark.parametrize("expression, expected", GRAPH_FILTERS)
def test_graph_filters(sandbox, http, tokens, expression, expected):
    response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents",
                        params={"$filter": expression, "$count": "true"}, headers=bearer(tokens("soc-reader")))
    assert response.status_code == 200, response.text
    wanted = [incident["id"] for incident in canonical(sandbox, http) if expected(incident)]
    assert 0 < len(wanted) < 237
    assert response.json()["@odata.count"] == len(wanted)
    assert [incident["id"] for incident in response.json()["value"]] == wanted[:50]


def test_graph_relative_time_filters_match_a_known_subset(sandbox, http, tokens):
    for name, hours in (("createdDateTime", 24), ("lastUpdateDateTime", 24), ("lastUpdateDateTime", 24 * 7)):
        since = _iso(hours)
        response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents",
                            params={"$filter": f"{name} ge {since}", "$count": "true", "$top": "1"},
                            headers=bearer(tokens("soc-reader")))
        wanted = [incident for incident in canonical(sandbox, http) if moment(incident[name]) >= moment(since)]
        assert 0 < len(wanted) < 237
        assert response.json()["@odata.count"] == len(wanted)


@pytest.mark.parametrize("expression, fragment", [
    ("severity eq 'High'", "not a valid enumeration type constant"),
    ("displayName eq 'x'", "Filtering on the property 'displayName' is not supported"),
    ("foo eq 'x'", "Could not find a property named 'foo'"),
    ("createdDateTime ge '2024-05-01T00:00:00Z'", "incompatible types"),
    ("contains(assignedTo, 'x')", "function 'contains' is not supported"),
    ("status eq 'active' and", "expression ends"),
    ("status eq active", "expected a literal value"),
])
def test_graph_filter_errors(sandbox, http, tokens, expression, fragment):
    response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents", params={"$filter": expression},
                        headers=bearer(tokens("soc-reader")))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadRequest" and error["message"].startswith("Invalid filter clause: ")
    assert fragment in error["message"]


def test_graph_expand_alerts_and_single_incident(sandbox, http, tokens):
    url = f"{sandbox['base_url']}/v1.0/security/incidents"
    incident = http.get(url, params={"$expand": "alerts", "$top": "5"},
                        headers=bearer(tokens("soc-reader"))).json()["value"][0]
    single = http.get(f"{url}/{incident['id']}?$expand=alerts", headers=bearer(tokens("soc-reader"))).json()
    assert single.pop("@odata.context").endswith("/v1.0/$metadata#security/incidents/$entity")
    assert single == incident
    assert 1 <= len(incident["alerts"]) <= 4
    alert = incident["alerts"][0]
    assert alert["incidentId"] == incident["id"] and TIMESTAMP.match(alert["createdDateTime"])
    assert all(item["@odata.type"].startswith("#microsoft.graph.security.") for item in alert["evidence"])
    missing = http.get(f"{url}/999999999", headers=bearer(tokens("soc-reader")))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NotFound")


def test_contoso_data_covers_every_status_and_severity(sandbox, http):
    incidents = canonical(sandbox, http)
    assert {i["status"] for i in incidents} == {"active", "inProgress", "resolved", "redirected"}
    assert {i["severity"] for i in incidents} == {"unknown", "informational", "low", "medium", "high"}
    ids = {i["id"] for i in incidents}
    assert all(i["redirectIncidentId"] in ids for i in incidents if i["status"] == "redirected")
    assert all(moment(i["lastUpdateDateTime"]) > moment(i["createdDateTime"]) for i in incidents)
    assert any(i["assignedTo"] is None for i in incidents) and any(i["comments"] for i in incidents)
    evidence_types = {e["@odata.type"] for i in incidents for a in i["alerts"] for e in a["evidence"]}
    assert {"#microsoft.graph.security.deviceEvidence", "#microsoft.graph.security.processEvidence",
            "#microsoft.graph.security.analyzedMessageEvidence"} <= evidence_types


# --- Defender incidents ---------------------------------------------------------------------------------------------

def test_defender_pages_with_skip(sandbox, http, tokens):
    pages, skip = [], 0
    while True:
        body = http.get(f"{sandbox['base_url']}/api/incidents", params={"$top": "100", "$skip": str(skip)},
                        headers=bearer(tokens("soc-reader", DEFENDER))).json()
        assert "@odata.nextLink" not in body
        assert body["@odata.context"] == f"{sandbox['base_url']}/api/$metadata#Incidents"
        pages.append(body["value"])
        skip += 100
        if len(body["value"]) < 100:
            break
    assert [len(page) for page in pages] == [100, 100, 37]
    ids = [incident["incidentId"] for page in pages for incident in page]
    assert ids == [int(i["id"]) for i in canonical(sandbox, http)]  # most recent first, no gaps or repeats


def test_defender_incident_shape(sandbox, http, tokens):
    body = http.get(f"{sandbox['base_url']}/api/incidents", headers=bearer(tokens("soc-reader", DEFENDER))).json()
    assert len(body["value"]) == 100
    statuses = {i["status"] for i in body["value"]}
    assert statuses <= {"Active", "InProgress", "Resolved", "Redirected"}
    incident = next(i for i in body["value"] if i["alerts"][0]["entities"])
    single = http.get(f"{sandbox['base_url']}/api/incidents/{incident['incidentId']}",
                      headers=bearer(tokens("soc-reader", DEFENDER))).json()
    assert single.pop("@odata.context").endswith("/api/$metadata#Incidents/$entity")
    assert single == incident and isinstance(incident["incidentId"], int)
    assert TIMESTAMP.match(incident["createdTime"]) and TIMESTAMP.match(incident["lastUpdateTime"])
    assert all(len(entity) == 31 for alert in incident["alerts"] for entity in alert["entities"])
    missing = http.get(f"{sandbox['base_url']}/api/incidents/1", headers=bearer(tokens("soc-reader", DEFENDER)))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "ResourceNotFound")


def test_defender_view_uses_defender_enums(sandbox, http, tokens):
    graph = {i["id"]: i for i in canonical(sandbox, http)}
    body = http.get(f"{sandbox['base_url']}/api/incidents", headers=bearer(tokens("soc-reader", DEFENDER))).json()
    severity = {"unknown": "UnSpecified", "informational": "Informational", "low": "Low", "medium": "Medium",
                "high": "High"}
    for incident in body["value"]:
        twin = graph[str(incident["incidentId"])]
        assert incident["severity"] == severity[twin["severity"]]
        assert incident["status"].lower() == twin["status"].lower()
        assert incident["lastUpdateTime"] == twin["lastUpdateDateTime"]


@pytest.mark.parametrize("expression, expected", [
    ("status eq 'Active'", lambda i: i["status"] == "active"),
    ("status in ('InProgress', 'Redirected')", lambda i: i["status"] in ("inProgress", "redirected")),
    ("assignedTo eq 'analyst@contoso.example' and status ne 'Resolved'",
     lambda i: i["assignedTo"] == "analyst@contoso.example" and i["status"] != "resolved"),
])
def test_defender_filters(sandbox, http, tokens, expression, expected):
    response = http.get(f"{sandbox['base_url']}/api/incidents", params={"$filter": expression},
                        headers=bearer(tokens("soc-reader", DEFENDER)))
    assert response.status_code == 200, response.text
    wanted = sorted(int(i["id"]) for i in canonical(sandbox, http) if expected(i))
    assert 0 < len(wanted) <= 100
    assert sorted(i["incidentId"] for i in response.json()["value"]) == wanted


def test_defender_time_filter(sandbox, http, tokens):
    since = _iso(24)
    response = http.get(f"{sandbox['base_url']}/api/incidents", params={"$filter": f"lastUpdateTime ge {since}"},
                        headers=bearer(tokens("soc-reader", DEFENDER)))
    wanted = [i for i in canonical(sandbox, http) if moment(i["lastUpdateDateTime"]) >= moment(since)]
    assert len(response.json()["value"]) == len(wanted) > 0


@pytest.mark.parametrize("params, code, fragment", [
    ({"$filter": "severity eq 'High'"}, "ODataError", "Could not find a property named 'severity' on type 'Incident'"),
    ({"$filter": "status eq 'active'"}, "ODataError", "not a valid enumeration type constant"),
    ({"$top": "101"}, "InvalidInput", "between 0 and 100"),
    ({"$orderby": "createdTime"}, "InvalidInput", "not supported"),
])
def test_defender_query_errors(sandbox, http, tokens, params, code, fragment):
    response = http.get(f"{sandbox['base_url']}/api/incidents", params=params,
                        headers=bearer(tokens("soc-reader", DEFENDER)))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and fragment in error["message"] and error["target"]


def test_tenants_see_only_their_incidents(sandbox, http, tokens):
    body = http.get(f"{sandbox['base_url']}/v1.0/security/incidents?$count=true",
                    headers=bearer(tokens("soc-responder", GRAPH, FABRIKAM))).json()
    assert body["@odata.count"] == 12 and all(i["tenantId"] == FABRIKAM for i in body["value"])
    contoso_id = canonical(sandbox, http)[0]["id"]
    response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents/{contoso_id}",
                        headers=bearer(tokens("soc-responder", GRAPH, FABRIKAM)))
    assert response.status_code == 404


# --- API authentication and authorization -----------------------------------------------------------------------------

def test_graph_401_shape_and_request_ids(sandbox, http):
    response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents", headers={"client-request-id": "abc-123"})
    assert response.status_code == 401 and "WWW-Authenticate" in response.headers
    error = response.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert error["innerError"]["client-request-id"] == "abc-123" == response.headers["client-request-id"]
    assert error["innerError"]["request-id"] == response.headers["request-id"]


@pytest.mark.parametrize("path, scope, code", [
    ("/v1.0/security/incidents", DEFENDER, "InvalidAuthenticationToken"),
    ("/api/incidents", GRAPH, "Unauthorized"),
])
def test_token_for_the_other_api_is_refused(sandbox, http, tokens, path, scope, code):
    response = http.get(f"{sandbox['base_url']}{path}", headers=bearer(tokens("soc-reader", scope)))
    assert (response.status_code, response.json()["error"]["code"]) == (401, code)


def test_tampered_token_is_refused(sandbox, http, tokens):
    header, payload, signature = tokens("soc-reader").split(".")
    claims = claims_of(f"{header}.{payload}.{signature}")
    claims["roles"] = ["SecurityIncident.ReadWrite.All"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents",
                        headers=bearer(f"{header}.{forged}.{signature}"))
    assert response.status_code == 401


def test_missing_roles_are_403_in_each_api_shape(sandbox, http, tokens):
    graph = http.get(f"{sandbox['base_url']}/v1.0/security/incidents", headers=bearer(tokens("soc-bare", GRAPH, FABRIKAM)))
    assert graph.status_code == 403
    assert graph.json()["error"]["message"] == ("Missing application roles. API required roles: "
                                                "SecurityIncident.Read.All,SecurityIncident.ReadWrite.All, "
                                                "application roles: .")
    defender = http.get(f"{sandbox['base_url']}/api/incidents", headers=bearer(tokens("soc-bare", DEFENDER, FABRIKAM)))
    assert defender.status_code == 403
    assert defender.json()["error"] == {
        "code": "Forbidden", "target": defender.headers["request-id"],
        "message": "The application does not have any of the required application permissions "
                   "(Incident.ReadWrite.All, Incident.Read.All) to access the resource."}


# --- faults and counters ---------------------------------------------------------------------------------------------

def test_throttling_fault_uses_each_api_shape(sandbox, http, tokens):
    add_fault(sandbox, http, path=r"^/v1\.0/security/incidents$", status=429, retry_after=7, count=2)
    add_fault(sandbox, http, method="GET", path=r"^/api/incidents", status=429)
    url = f"{sandbox['base_url']}/v1.0/security/incidents?$top=1"
    for dummy in range(2):
        response = http.get(url, headers=bearer(tokens("soc-reader")))
        assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
        assert response.json()["error"]["code"] == "TooManyRequests"
    assert http.get(url, headers=bearer(tokens("soc-reader"))).status_code == 200
    defender = http.get(f"{sandbox['base_url']}/api/incidents", headers=bearer(tokens("soc-reader", DEFENDER)))
    assert defender.status_code == 429 and defender.json()["error"]["code"] == "429"
    assert "Retry-After" not in defender.headers


def test_server_error_fault_with_custom_body(sandbox, http, tokens):
    add_fault(sandbox, http, path="/incidents", status=503, body={"error": {"code": "Busy", "message": "later"}})
    response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents", headers=bearer(tokens("soc-reader")))
    assert (response.status_code, response.json()) == (503, {"error": {"code": "Busy", "message": "later"}})


@pytest.mark.parametrize("body", [None, {"error": {"code": "BadGateway", "message": "upstream"}}])
def test_a_fault_can_echo_the_authorization_header(sandbox, http, tokens, body):
    fault = {"path": "^/v1.0/security/incidents$", "status": 502, "echo_authorization": True}
    if body:
        fault["body"] = body
    add_fault(sandbox, http, **fault)
    token = tokens("soc-reader")
    response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents", headers=bearer(token))
    assert response.status_code == 502
    message = response.json()["error"]["message"]
    assert message.endswith(f" (request headers: Authorization: Bearer {token})")
    assert message.startswith("upstream" if body else "Bad Gateway")


def test_a_token_endpoint_fault_echoes_no_authorization_header(sandbox, http):
    add_fault(sandbox, http, method="POST", path="/oauth2/v2.0/token$", status=400, echo_authorization=True)
    response = http.post(f"{sandbox['base_url']}/{CONTOSO}/oauth2/v2.0/token", data={"grant_type": "x"})
    assert response.json()["error_description"].endswith("(request headers: Authorization: (none))")


def test_a_fault_can_send_headers_such_as_a_redirect(sandbox, http, tokens):
    add_fault(sandbox, http, path="^/v1.0/security/incidents$", status=302,
              headers={"Location": "https://elsewhere.invalid/v1.0/security/incidents"})
    response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents", headers=bearer(tokens("soc-reader")),
                        allow_redirects=False)
    assert (response.status_code, response.headers["Location"]) == (302, "https://elsewhere.invalid/v1.0/security/incidents")


def test_token_endpoint_fault_reaches_msal(sandbox, http):
    add_fault(sandbox, http, method="POST", path="/oauth2/v2.0/token$", status=500)
    client = confidential_app(sandbox, http, "soc-reader", secret(sandbox, "soc-reader"))
    with pytest.raises(msal.exceptions.MsalServiceError):  # MSAL raises on 5xx
        client.acquire_token_for_client([DEFENDER])


@pytest.mark.parametrize("action, exceptions", [
    ("drop", (requests.ConnectionError,)),
    ("truncate", (requests.exceptions.ChunkedEncodingError, requests.ConnectionError)),
])
def test_broken_connection_faults(sandbox, http, tokens, action, exceptions):
    add_fault(sandbox, http, path="^/v1.0/security/incidents$", action=action)
    with pytest.raises(exceptions):
        http.get(f"{sandbox['base_url']}/v1.0/security/incidents", headers=bearer(tokens("soc-reader"))).json()


def test_malformed_body_fault(sandbox, http, tokens):
    add_fault(sandbox, http, path="^/api/incidents$", action="malformed")
    response = http.get(f"{sandbox['base_url']}/api/incidents", headers=bearer(tokens("soc-reader", DEFENDER)))
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_latency_fault_then_normal_answer(sandbox, http, tokens):
    add_fault(sandbox, http, method="GET", path="^/api/incidents/", latency=0.3)
    add_fault(sandbox, http, method="POST", path="^/api/incidents/", status=500)  # other method: never matches
    started = time.monotonic()
    response = http.get(f"{sandbox['base_url']}/api/incidents/1", headers=bearer(tokens("soc-reader", DEFENDER)))
    assert time.monotonic() - started >= 0.3 and response.status_code == 404


def test_invalid_fault_is_refused(sandbox, http):
    for spec in ({"path": "("}, {"path": "x"}, {"path": "x", "action": "explode"}, {"path": "x", "status": 42},
                 {"path": "x", "status": 302, "headers": {"Location": 1}}, {"path": "x", "status": 502, "headers": []},
                 {"path": "x", "action": "drop", "echo_authorization": True},
                 {"path": "x", "status": 502, "echo_authorization": "yes"}):
        assert http.post(f"{sandbox['admin_url']}/faults", json=spec).status_code == 400


def test_counters(sandbox, http):
    admin = sandbox["admin_url"]
    http.post(f"{admin}/counters/reset")
    client = confidential_app(sandbox, http, "soc-responder", secret(sandbox, "soc-responder"), "fabrikam.example")
    token = client.acquire_token_for_client([DEFENDER])["access_token"]
    client.acquire_token_for_client([DEFENDER])  # from MSAL's cache: no request
    certificate = app_info(sandbox, "soc-responder")["certificate"]
    with open(certificate["key_path"], encoding="ascii") as handle:
        credential = {"private_key": handle.read(), "thumbprint": certificate["thumbprint"]}
    assert "access_token" in confidential_app(sandbox, http, "soc-responder", credential).acquire_token_for_client([GRAPH])
    add_fault(sandbox, http, path="^/api/incidents$", status=429)
    for dummy in range(2):
        http.get(f"{sandbox['base_url']}/api/incidents", headers=bearer(token))
    http.get(f"{sandbox['base_url']}/api/incidents/5", headers=bearer(token))
    counters = http.get(f"{admin}/counters").json()
    client_id = app_info(sandbox, "soc-responder")["client_id"]
    assert counters["token_requests"] == {client_id: {FABRIKAM: 1, CONTOSO: 1}} and counters["token_requests_total"] == 2
    assert counters["token_requests_by_credential"] == {"client_secret": 1, "client_assertion": 1}
    assert counters["routes"] == {"GET /{tenant}/v2.0/.well-known/openid-configuration": 2,
                                  "POST /{tenant}/oauth2/v2.0/token": 2, "GET /api/incidents": 2,
                                  "GET /api/incidents/{id}": 1}
    assert (counters["throttled"], counters["faults_served"]) == (1, 1)


def test_regenerate_a_tenant(sandbox, http, tokens):
    admin = f"{sandbox['admin_url']}/tenants/{FABRIKAM}/incidents"
    before = canonical(sandbox, http, FABRIKAM)
    assert http.post(admin, json={"count": 120}).json() == {"tenant_id": FABRIKAM, "count": 120}
    body = http.get(f"{sandbox['base_url']}/v1.0/security/incidents?$count=true",
                    headers=bearer(tokens("soc-responder", GRAPH, FABRIKAM))).json()
    assert body["@odata.count"] == 120 and "@odata.nextLink" in body
    http.post(admin, json={"count": 12})
    assert canonical(sandbox, http, FABRIKAM) == before
    assert http.post(admin, json={"count": -1}).status_code == 400


# --- lifecycle ----------------------------------------------------------------------------------------------------

def test_short_tokens_expire_and_sigterm_stops_cleanly(tmp_path):
    with open(os.path.join(os.path.dirname(control.SERVER), "scenarios", "default.json"), encoding="utf-8") as handle:
        scenario = json.load(handle)
    scenario["token_lifetime"] = 1
    (tmp_path / "short.json").write_text(json.dumps(scenario))
    info = control.start(str(tmp_path / "state"), scenario=str(tmp_path / "short.json"), time_scale=0.01)
    try:
        assert info["time_scale"] == 0.01
        session = requests.Session()
        session.trust_env = False
        session.verify = info["ca_path"]
        client = confidential_app(info, session, "soc-reader", secret(info, "soc-reader"))
        result = client.acquire_token_for_client([GRAPH])
        assert result["expires_in"] == 1
        time.sleep(1.1)
        response = session.get(f"{info['base_url']}/v1.0/security/incidents", headers=bearer(result["access_token"]))
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "Access token has expired or is not yet valid."
    finally:
        status = control.stop(info)
    assert status == 0
    assert not (tmp_path / "state" / "sandbox.json").exists()


def test_a_fault_after_n_requests_breaks_only_the_following_ones(sandbox, http, tokens):
    """`after` lets the first matching requests through: the second page of a listing can be broken."""
    admin = sandbox["admin_url"]
    http.post(admin + "/faults", json={"method": "GET", "path": "^/v1\\.0/security/incidents$", "after": 1,
                                       "count": 1, "status": 401})
    headers = {"Authorization": "Bearer " + tokens("soc-reader")}
    url = sandbox["base_url"] + "/v1.0/security/incidents"
    statuses = [http.get(url, headers=headers, params={"$top": 1}).status_code for attempt in range(3)]
    assert statuses == [200, 401, 200]
    assert http.get(admin + "/faults").json() == {"faults": []}
