"""Graph directory reads for the app-registration check: applications, service principals, app role assignments."""
from __future__ import annotations

import pytest

from sandboxtest import CONTOSO, FABRIKAM, app_info, bearer, claims_of

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
DEFENDER_APP_ID = "8ee8fdad-f234-4243-8f3b-15c294843740"
RESPONDER = "61be00bb-993c-413b-b642-7b204fca020c"
READER = "7a7c51c4-8af8-4870-a572-d3134b6be02d"


def get(sandbox, http, token, path, **params):
    return http.get(f"{sandbox['base_url']}/v1.0/{path}", params=params, headers=bearer(token))


def only(sandbox, http, token, path, app_id):
    response = get(sandbox, http, token, path, **{"$filter": f"appId eq '{app_id}'"})
    assert response.status_code == 200, response.text
    [item] = response.json()["value"]
    return item


def role_names(sandbox, http, token, resource_app_id):
    """appRoleId -> permission name, from the resource API's service principal."""
    principal = only(sandbox, http, token, "servicePrincipals", resource_app_id)
    return {role["id"]: role["value"] for role in principal["appRoles"]}


def test_own_registration(sandbox, http, tokens):
    token = tokens("soc-responder")
    response = get(sandbox, http, token, "applications", **{"$filter": f"appId eq '{RESPONDER}'"})
    assert response.json()["@odata.context"] == f"{sandbox['base_url']}/v1.0/$metadata#applications"
    [application] = response.json()["value"]
    info = app_info(sandbox, "soc-responder")
    assert (application["appId"], application["displayName"], application["signInAudience"]) == (
        RESPONDER, "soc-responder", "AzureADMultipleOrgs")
    [password] = application["passwordCredentials"]
    assert password["keyId"] == info["secrets"][0]["id"] and password["endDateTime"] == info["secrets"][0]["expires"]
    assert password["hint"] == info["secrets"][0]["value"][:3] and password["secretText"] is None
    [key] = application["keyCredentials"]
    assert (key["customKeyIdentifier"], key["type"], key["usage"]) == (
        info["certificate"]["thumbprint"], "AsymmetricX509Cert", "Verify")
    assert key["endDateTime"] == info["certificate"]["expires"]
    graph_roles = role_names(sandbox, http, token, GRAPH_APP_ID)
    required = {access["resourceAppId"]: access["resourceAccess"] for access in application["requiredResourceAccess"]}
    assert sorted(graph_roles[item["id"]] for item in required[GRAPH_APP_ID]) == sorted(
        info["permissions"][CONTOSO]["graph"])
    assert {item["type"] for item in required[DEFENDER_APP_ID]} == {"Role"}


def test_registrations_are_seen_in_their_home_tenant_only(sandbox, http, tokens):
    token = tokens("soc-responder")
    reader = only(sandbox, http, token, "applications", READER)  # also registered in Contoso
    assert reader["passwordCredentials"][1]["endDateTime"] == "2024-01-01T00:00:00Z" and reader["keyCredentials"] == []
    bare = get(sandbox, http, token, "applications", **{"$filter": "appId eq '1ab9d2e8-bb8a-465f-922e-a2fac1fe2ec9'"})
    assert bare.json()["value"] == []  # soc-bare's home is Fabrikam


def test_service_principal_and_its_app_role_assignments(sandbox, http, tokens):
    token = tokens("soc-responder")
    principal = only(sandbox, http, token, "servicePrincipals", RESPONDER)
    assert principal["id"] == claims_of(token)["oid"]
    assert (principal["appOwnerOrganizationId"], principal["servicePrincipalType"]) == (CONTOSO, "Application")
    same = get(sandbox, http, token, f"servicePrincipals(appId='{RESPONDER}')").json()
    assert same["id"] == principal["id"] and same["@odata.context"].endswith("#servicePrincipals/$entity")
    assert get(sandbox, http, token, f"servicePrincipals/{principal['id']}").json()["appId"] == RESPONDER
    assignments = get(sandbox, http, token, f"servicePrincipals/{principal['id']}/appRoleAssignments").json()["value"]
    graph = only(sandbox, http, token, "servicePrincipals", GRAPH_APP_ID)
    names = {role["id"]: role["value"] for role in graph["appRoles"]}
    on_graph = [item for item in assignments if item["resourceId"] == graph["id"]]
    assert sorted(names[item["appRoleId"]] for item in on_graph) == sorted(
        app_info(sandbox, "soc-responder")["permissions"][CONTOSO]["graph"])
    assert all(names[item["appRoleId"]] == item["value"] for item in on_graph)
    assert {item["resourceDisplayName"] for item in assignments} == {"Microsoft Graph", "Microsoft Threat Protection",
                                                                     "WindowsDefenderATP"}


def test_consented_tenants_have_a_service_principal(sandbox, http, tokens):
    token = tokens("soc-responder")
    reader = only(sandbox, http, token, "servicePrincipals", READER)
    assignments = get(sandbox, http, token, f"servicePrincipals/{reader['id']}/appRoleAssignments").json()["value"]
    assert sorted(item["value"] for item in assignments) == ["Incident.Read.All", "Machine.Read.All",
                                                             "SecurityAlert.Read.All", "SecurityIncident.Read.All",
                                                             "Ti.Read.All"]
    missing = get(sandbox, http, token, "servicePrincipals(appId='1ab9d2e8-bb8a-465f-922e-a2fac1fe2ec9')")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_managed_identities_are_service_principals(sandbox, http, tokens):
    token = tokens("soc-responder")
    identity = only(sandbox, http, token, "servicePrincipals", "0afd78b2-ce70-4ee9-9c06-fcd86e9dc2ac")
    assert (identity["servicePrincipalType"], identity["id"]) == ("ManagedIdentity", "8f9c40fc-2e91-49e6-bd63-156d428cf6ab")
    assignments = get(sandbox, http, token, f"servicePrincipals/{identity['id']}/appRoleAssignments").json()["value"]
    assert len(assignments) == 8  # Graph 3, Defender 2, Defender for Endpoint 3


@pytest.mark.parametrize("name, tenant", [("soc-reader", CONTOSO), ("soc-responder", FABRIKAM)])
def test_directory_reads_need_application_read_all(sandbox, http, tokens, name, tenant):
    token = tokens(name, tenant=tenant)
    for path in ("applications", "servicePrincipals"):
        response = get(sandbox, http, token, path, **{"$filter": f"appId eq '{RESPONDER}'"})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "Authorization_RequestDenied"
        assert response.json()["error"]["message"] == "Insufficient privileges to complete the operation."


def test_query_options(sandbox, http, tokens):
    token = tokens("soc-responder")
    params = {"$filter": f"appId eq '{RESPONDER}'", "$select": "id,appId,keyCredentials"}
    selected = get(sandbox, http, token, "applications", **params).json()["value"]
    assert set(selected[0]) == {"id", "appId", "keyCredentials"}
    assert len(get(sandbox, http, token, "servicePrincipals", **{"$top": "2"}).json()["value"]) == 2
    for params in ({"$filter": "displayName eq 'x'"}, {"$select": "nope"}, {"$orderby": "displayName"}, {"$top": "x"}):
        response = get(sandbox, http, token, "applications", **params)
        assert response.status_code == 400, params


def test_directory_reads_need_a_graph_token(sandbox, http, tokens):
    response = get(sandbox, http, tokens("soc-responder", "https://api.security.microsoft.com/.default"), "applications")
    assert response.status_code == 401 and response.json()["error"]["code"] == "InvalidAuthenticationToken"
