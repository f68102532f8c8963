"""The Defender for Endpoint API: tokens for its audience, machines ($filter, paging, tags), response actions and
their permissions, the action state machine in sandbox time, conflicts, forced outcomes, investigation packages and
rate limits. Expectations come from the admin API (``/_sandbox/tenants/{tenant}/machines``)."""
from __future__ import annotations

import datetime
import io
import time
import warnings
import zipfile
from urllib.parse import parse_qs, urlsplit

import pytest

from sandboxtest import (CONTOSO, DEFENDER, FABRIKAM, GRAPH, app_info, bearer, canonical, claims_of, counters,
                         delegated_claims, forge_token, moment, public_app, user_info)

TIME_SCALE = 0.01  # as the integration tests run it: an action is Pending 0.6 s, InProgress 1.2 s more
ENDPOINT = "https://api.securitycenter.microsoft.com/.default"
ENDPOINT_RESOURCE = "https://api.securitycenter.microsoft.com"
ALL_ROLES = ["Machine.Read.All", "Machine.ReadWrite.All", "Machine.Isolate", "Machine.Scan", "Machine.CollectForensics",
             "Machine.RestrictExecution", "Machine.StopAndQuarantine"]
SHA1 = "3395856ce81f2b7382dee72602f798b642f14140"
# segment, permission, body
ACTIONS = [
    ("isolate", "Machine.Isolate", {"Comment": "c", "IsolationType": "Full"}),
    ("unisolate", "Machine.Isolate", {"Comment": "c"}),
    ("runAntiVirusScan", "Machine.Scan", {"Comment": "c", "ScanType": "Quick"}),
    ("collectInvestigationPackage", "Machine.CollectForensics", {"Comment": "c"}),
    ("restrictCodeExecution", "Machine.RestrictExecution", {"Comment": "c"}),
    ("unrestrictCodeExecution", "Machine.RestrictExecution", {"Comment": "c"}),
    ("StopAndQuarantineFile", "Machine.StopAndQuarantine", {"Comment": "c", "Sha1": SHA1}),
]
TYPES = {"isolate": "Isolate", "unisolate": "Unisolate", "runAntiVirusScan": "RunAntiVirusScan",
         "collectInvestigationPackage": "CollectInvestigationPackage", "restrictCodeExecution": "RestrictCodeExecution",
         "unrestrictCodeExecution": "UnrestrictCodeExecution", "StopAndQuarantineFile": "StopAndQuarantineFile"}


@pytest.fixture(autouse=True)
def clean_state(sandbox, http):
    """Every test starts without actions, tag changes or forced outcomes, and with empty rate-limit windows."""
    for tenant in (CONTOSO, FABRIKAM):
        assert http.post(f"{sandbox['admin_url']}/tenants/{tenant}/machines/reset").status_code == 200
    http.post(f"{sandbox['admin_url']}/limits/reset")
    yield


@pytest.fixture(scope="module")
def responder(tokens):
    return tokens("soc-responder", ENDPOINT)


def api(sandbox, http, token, path, method="GET", **kwargs):
    return http.request(method, f"{sandbox['base_url']}/api/{path}", headers=bearer(token), **kwargs)


def admin_machines(sandbox, http, tenant=CONTOSO):
    return http.get(f"{sandbox['admin_url']}/tenants/{tenant}/machines").json()["value"]


def machine_ids(sandbox, http, tenant=CONTOSO):
    return [item["machine"]["id"] for item in admin_machines(sandbox, http, tenant)]


def admin_state(sandbox, http, machine_id, tenant=CONTOSO):
    return next(item for item in admin_machines(sandbox, http, tenant) if item["machine"]["id"] == machine_id)


def act(sandbox, http, token, machine_id, segment, body):
    return api(sandbox, http, token, f"machines/{machine_id}/{segment}", "POST", json=body)


def status_of(sandbox, http, token, action_id):
    return api(sandbox, http, token, f"machineactions/{action_id}").json()["status"]


def wait_for(sandbox, http, token, action_id, wanted, timeout=6.0):
    """Polls the action until its status is ``wanted``; returns the statuses seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = status_of(sandbox, http, token, action_id)
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == wanted:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"action {action_id} never became {wanted}: {seen}")


def force(sandbox, http, machine_id, outcome, count=1, tenant=CONTOSO):
    return http.post(f"{sandbox['admin_url']}/tenants/{tenant}/machines/{machine_id}/outcomes",
                     json={"outcome": outcome, "count": count})


# --- tokens and audience ---------------------------------------------------------------------------------------

def test_client_credentials_token_for_the_endpoint_api(sandbox, tokens):
    claims = claims_of(tokens("soc-responder", ENDPOINT))
    assert (claims["aud"], claims["tid"]) == (ENDPOINT_RESOURCE, CONTOSO)
    assert claims["roles"] == app_info(sandbox, "soc-responder")["permissions"][CONTOSO]["endpoint"] == ALL_ROLES
    assert claims_of(tokens("soc-reader", ENDPOINT))["roles"] == ["Machine.Read.All"]
    assert "roles" not in claims_of(tokens("soc-bare", ENDPOINT, FABRIKAM))


@pytest.mark.parametrize("resource", ["https://api-gcc.securitycenter.microsoft.us",
                                      "https://api-gov.securitycenter.microsoft.us",
                                      "https://securitycenter.onmicrosoft.com/windowsatpservice"])
def test_other_endpoint_resources_give_endpoint_tokens(sandbox, http, tokens, resource):
    token = tokens("soc-responder", f"{resource}/.default")
    assert claims_of(token)["aud"] == resource and claims_of(token)["roles"] == ALL_ROLES
    assert api(sandbox, http, token, "machines", params={"$top": "1"}).status_code == 200


def test_managed_identity_token_for_the_endpoint_api(sandbox, http):
    response = http.get(f"{sandbox['base_url']}/metadata/identity/oauth2/token", headers={"Metadata": "true"},
                        params={"api-version": "2018-02-01", "resource": ENDPOINT_RESOURCE,
                                "client_id": "0afd78b2-ce70-4ee9-9c06-fcd86e9dc2ac"})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert claims_of(token)["roles"] == ["Machine.Read.All", "Machine.Isolate", "Machine.Scan"]
    assert api(sandbox, http, token, "machines").status_code == 200


def test_delegated_token_through_the_password_grant(sandbox, realm_http):
    app = public_app(sandbox, realm_http)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(
            "analyst@contoso.example", user_info(sandbox, "analyst@contoso.example")["password"], scopes=[ENDPOINT])
    token = result["access_token"]
    assert claims_of(token)["scp"] == "Machine.Read Machine.Isolate"
    machine_id = machine_ids(sandbox, realm_http)[0]
    isolated = act(sandbox, realm_http, token, machine_id, "isolate", {"Comment": "user isolates"})
    assert isolated.status_code == 201 and isolated.json()["requestor"] == "analyst@contoso.example"
    scan = act(sandbox, realm_http, token, machine_id, "runAntiVirusScan", {"Comment": "c", "ScanType": "Quick"})
    assert scan.status_code == 403
    assert "(Machine.Scan)" in scan.json()["error"]["message"]
    assert "Machine.Read Machine.Isolate" in scan.json()["error"]["message"]


@pytest.mark.parametrize("scope", [DEFENDER, GRAPH])
def test_other_audiences_get_401_on_endpoint_routes(sandbox, http, tokens, scope):
    for path in ("machines", "machineactions"):
        response = api(sandbox, http, tokens("soc-responder", scope), path)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "Unauthorized" and ENDPOINT_RESOURCE in error["message"] and error["target"]


def test_endpoint_token_gets_401_on_incidents(sandbox, http, responder):
    response = api(sandbox, http, responder, "incidents")
    assert response.status_code == 401
    assert "https://api.security.microsoft.com" in response.json()["error"]["message"]


def test_no_token_is_401(sandbox, http):
    response = http.get(f"{sandbox['base_url']}/api/machines")
    assert response.status_code == 401 and response.json()["error"]["code"] == "Unauthorized"


# --- machines ----------------------------------------------------------------------------------------------------

def test_machines_are_the_devices_of_the_incidents(sandbox, http, responder):
    body = api(sandbox, http, responder, "machines").json()
    assert body["@odata.context"].endswith("/api/$metadata#Machines") and "@odata.nextLink" not in body
    devices = {device["mdatpDeviceId"] for incident in canonical(sandbox, http, api="defender")
               for alert in incident["alerts"] for device in alert["devices"]}
    assert {machine["id"] for machine in body["value"]} == devices
    assert body["value"] == [item["machine"] for item in admin_machines(sandbox, http)]
    graph_ids = {evidence["mdeDeviceId"] for incident in canonical(sandbox, http) for alert in incident["alerts"]
                 for evidence in alert["evidence"]
                 if evidence["@odata.type"] == "#microsoft.graph.security.deviceEvidence"}
    assert graph_ids == devices


def test_machine_resource_shape_and_variety(sandbox, http, responder):
    machines = api(sandbox, http, responder, "machines").json()["value"]
    keys = {"id", "computerDnsName", "firstSeen", "lastSeen", "osPlatform", "osVersion", "osProcessor", "version",
            "osBuild", "lastIpAddress", "lastExternalIpAddress", "healthStatus", "rbacGroupId", "rbacGroupName",
            "riskScore", "exposureLevel", "isAadJoined", "aadDeviceId", "machineTags", "onboardingStatus",
            "deviceValue", "ipAddresses", "vmMetadata"}
    for machine in machines:
        assert keys <= set(machine)
        assert machine["healthStatus"] in ("Active", "Inactive", "ImpairedCommunication", "NoSensorData",
                                           "NoSensorDataImpairedCommunication", "Unknown")
        assert machine["riskScore"] in ("None", "Informational", "Low", "Medium", "High")
        assert machine["exposureLevel"] in ("None", "Low", "Medium", "High")
        assert machine["deviceValue"] in ("Normal", "Low", "High")
        assert moment(machine["firstSeen"]) < moment(machine["lastSeen"])
        assert isinstance(machine["machineTags"], list) and isinstance(machine["rbacGroupId"], int)
    assert {"Active", "Inactive"} <= {machine["healthStatus"] for machine in machines}
    assert any(machine["machineTags"] for machine in machines) and not all(m["machineTags"] for m in machines)
    assert len({machine["exposureLevel"] for machine in machines}) >= 3
    assert any(machine["vmMetadata"] for machine in machines) and any(m["vmMetadata"] is None for m in machines)


def test_machines_are_deterministic_per_tenant(sandbox, http, tokens, responder):
    assert api(sandbox, http, responder, "machines").json() == api(sandbox, http, responder, "machines").json()
    fabrikam = api(sandbox, http, tokens("soc-responder", ENDPOINT, FABRIKAM), "machines").json()["value"]
    assert fabrikam and not {m["id"] for m in fabrikam} & set(machine_ids(sandbox, http))


def test_get_machine_by_id_and_by_dns_name(sandbox, http, responder):
    machine = admin_machines(sandbox, http)[3]["machine"]
    by_id = api(sandbox, http, responder, f"machines/{machine['id']}").json()
    assert by_id["@odata.context"].endswith("/api/$metadata#Machines/$entity")
    assert {key: value for key, value in by_id.items() if key != "@odata.context"} == machine
    assert api(sandbox, http, responder, f"machines/{machine['computerDnsName'].upper()}").json()["id"] == machine["id"]
    missing = api(sandbox, http, responder, "machines/" + "0" * 40)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"


def _filters(machines):
    sample = machines[5]
    cutoff = sorted(moment(m["lastSeen"]) for m in machines)[len(machines) // 2]
    tag = next(tag for m in machines for tag in m["machineTags"])
    stamp = cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [
        ("healthStatus eq 'Inactive'", lambda m: m["healthStatus"] == "Inactive"),
        ("riskScore eq 'High'", lambda m: m["riskScore"] == "High"),
        ("exposureLevel in ('High', 'Medium')", lambda m: m["exposureLevel"] in ("High", "Medium")),
        ("osPlatform eq 'Windows11'", lambda m: m["osPlatform"] == "Windows11"),
        ("onboardingStatus eq 'Onboarded'", lambda m: m["onboardingStatus"] == "Onboarded"),
        (f"computerDnsName eq '{sample['computerDnsName']}'", lambda m: m["id"] == sample["id"]),
        (f"aadDeviceId eq '{sample['aadDeviceId']}'", lambda m: m["id"] == sample["id"]),
        (f"id eq '{sample['id']}'", lambda m: m["id"] == sample["id"]),
        (f"lastSeen gt {stamp}", lambda m: moment(m["lastSeen"]) > cutoff),
        (f"machineTags/any(tag: tag eq '{tag}')", lambda m: tag in m["machineTags"]),
        (f"startswith(computerDnsName,'{sample['computerDnsName'][:4]}')",
         lambda m: m["computerDnsName"].startswith(sample["computerDnsName"][:4])),
        (f"(startswith(computerDnsName, '{sample['computerDnsName'].split('.')[0]}.'))",
         lambda m: m["id"] == sample["id"]),
        (f"healthStatus eq 'Active' and machineTags/any(t: t eq '{tag}')",
         lambda m: m["healthStatus"] == "Active" and tag in m["machineTags"]),
    ]


def test_machine_filters(sandbox, http, responder):
    machines = [item["machine"] for item in admin_machines(sandbox, http)]
    for text, wanted in _filters(machines):
        response = api(sandbox, http, responder, "machines", params={"$filter": text})
        assert response.status_code == 200, (text, response.text)
        expected = [m["id"] for m in machines if wanted(m)]
        assert [m["id"] for m in response.json()["value"]] == expected, text
        assert expected or text.startswith("riskScore"), text
        assert len(expected) < len(machines) or "Onboarded" in text, text


@pytest.mark.parametrize("params, fragment", [
    ({"$filter": "firstSeen gt 2026-01-01T00:00:00Z"}, "not supported"),
    ({"$filter": "severity eq 'High'"}, "Could not find a property"),
    ({"$filter": "startswith(osPlatform, 'Win') or endswith(computerDnsName, 'x')"}, "'endswith' is not supported"),
    ({"$filter": "startswith(lastSeen, '2026')"}, "needs a string property"),
    ({"$filter": "startswith(computerDnsName, ws)"}, "expected a quoted string"),
    ({"$filter": "machineTags eq 'VIP'"}, "collection"),
    ({"$filter": "machineTags/any(t: t ne 'VIP')"}, "Only"),
    ({"$filter": "healthStatus eq 'active'"}, "not a valid enumeration"),
    ({"$orderby": "lastSeen"}, "not supported"),
    ({"$top": "10001"}, "10000"),
    ({"$top": "-1"}, "non-negative"),
])
def test_bad_machine_queries_are_400(sandbox, http, responder, params, fragment):
    response = api(sandbox, http, responder, "machines", params=params)
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


def test_machine_paging_with_next_link(sandbox, http, responder):
    everything = [item["machine"]["id"] for item in admin_machines(sandbox, http)]
    url, seen, pages = f"{sandbox['base_url']}/api/machines?$top=7&$filter=onboardingStatus eq 'Onboarded'", [], 0
    while url:
        body = http.get(url, headers=bearer(responder)).json()
        seen += [machine["id"] for machine in body["value"]]
        url, pages = body.get("@odata.nextLink"), pages + 1
        if url:
            assert parse_qs(urlsplit(url).query)["$filter"] == ["onboardingStatus eq 'Onboarded'"]
    assert seen == everything and pages == -(-len(everything) // 7)
    last = api(sandbox, http, responder, "machines", params={"$skip": str(len(everything) - 2)}).json()
    assert [m["id"] for m in last["value"]] == everything[-2:] and "@odata.nextLink" not in last


# --- tags --------------------------------------------------------------------------------------------------------

def test_tags_add_and_remove(sandbox, http, responder):
    machine_id = machine_ids(sandbox, http)[2]
    before = counters(sandbox, http)["writes"]
    added = api(sandbox, http, responder, f"machines/{machine_id}/tags", "POST",
                json={"Value": "Contained by SOC", "Action": "Add"})
    assert added.status_code == 200 and "Contained by SOC" in added.json()["machineTags"]
    again = api(sandbox, http, responder, f"machines/{machine_id}/tags", "POST",
                json={"Value": "Contained by SOC", "Action": "Add"})
    assert again.json()["machineTags"].count("Contained by SOC") == 1
    found = api(sandbox, http, responder, "machines",
                params={"$filter": "machineTags/any(tag: tag eq 'Contained by SOC')"}).json()["value"]
    assert [machine["id"] for machine in found] == [machine_id]
    assert admin_state(sandbox, http, machine_id)["machine"]["machineTags"] == added.json()["machineTags"]
    removed = api(sandbox, http, responder, f"machines/{machine_id}/tags", "POST",
                  json={"Value": "Contained by SOC", "Action": "Remove"})
    assert removed.status_code == 200 and "Contained by SOC" not in removed.json()["machineTags"]
    assert counters(sandbox, http)["writes"] == before + 3


@pytest.mark.parametrize("body", [{"Value": "x", "Action": "Toggle"}, {"Value": "", "Action": "Add"},
                                  {"Action": "Add"}, {"Value": "x", "Action": "Add", "Other": 1}, ["x"]])
def test_bad_tag_bodies_are_400(sandbox, http, responder, body):
    machine_id = machine_ids(sandbox, http)[2]
    response = api(sandbox, http, responder, f"machines/{machine_id}/tags", "POST", json=body)
    assert response.status_code == 400, response.text


def test_tags_need_machine_read_write(sandbox, http, tokens):
    machine_id = machine_ids(sandbox, http)[2]
    response = api(sandbox, http, tokens("soc-reader", ENDPOINT), f"machines/{machine_id}/tags", "POST",
                   json={"Value": "x", "Action": "Add"})
    assert response.status_code == 403 and "Machine.ReadWrite.All" in response.json()["error"]["message"]


# --- actions: permissions and bodies -----------------------------------------------------------------------------

@pytest.mark.parametrize("segment, permission, body", ACTIONS)
def test_each_action_answers_201_with_a_machine_action(sandbox, http, responder, segment, permission, body):
    machine = admin_machines(sandbox, http)[0]["machine"]
    before = counters(sandbox, http)
    response = act(sandbox, http, responder, machine["id"], segment, body)
    assert response.status_code == 201, response.text
    action = response.json()
    assert action["@odata.context"].endswith("/api/$metadata#MachineActions/$entity")
    assert (action["type"], action["status"], action["machineId"], action["computerDnsName"]) == (
        TYPES[segment], "Pending", machine["id"], machine["computerDnsName"])
    assert (action["requestor"], action["requestorComment"], action["commands"]) == ("soc-responder", "c", [])
    assert action["creationDateTimeUtc"] == action["lastUpdateDateTimeUtc"]
    assert action["scope"] == {"isolate": "Full", "runAntiVirusScan": "Quick"}.get(segment)
    assert action["relatedFileInfo"] == ({"fileIdentifier": SHA1, "fileIdentifierType": "Sha1"}
                                         if segment == "StopAndQuarantineFile" else None)
    after = counters(sandbox, http)
    assert after["writes"] == before["writes"] + 1
    route = f"POST /api/machines/{{id}}/{segment}"
    assert after["routes"][route] == before["routes"].get(route, 0) + 1


@pytest.mark.parametrize("segment, permission, body", ACTIONS)
def test_each_action_needs_its_role(sandbox, http, tokens, segment, permission, body):
    """soc-reader holds Machine.Read.All only: the common field failure "Machine.Isolate missing"."""
    machine_id = machine_ids(sandbox, http)[0]
    before = counters(sandbox, http)["writes"]
    response = act(sandbox, http, tokens("soc-reader", ENDPOINT), machine_id, segment, body)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "Forbidden" and f"({permission})" in error["message"]
    assert counters(sandbox, http)["writes"] == before
    assert admin_state(sandbox, http, machine_id)["actions"] == []


@pytest.mark.parametrize("segment, body, fragment", [
    ("isolate", {}, "'Comment' is required"),
    ("isolate", {"Comment": "  "}, "'Comment' is required"),
    ("isolate", {"Comment": 5}, "'Comment' is required"),
    ("isolate", {"Comment": "c", "IsolationType": "Partial"}, "Full, Selective, UnManagedDevice"),
    ("isolate", {"Comment": "c", "isolationType": "Full"}, "Unknown properties: isolationType"),
    ("runAntiVirusScan", {"Comment": "c"}, "'ScanType' is required"),
    ("runAntiVirusScan", {"Comment": "c", "ScanType": "Deep"}, "Quick, Full"),
    ("StopAndQuarantineFile", {"Comment": "c"}, "'Sha1' is required"),
    ("StopAndQuarantineFile", {"Comment": "c", "Sha1": "abc"}, "40 hexadecimal"),
    ("StopAndQuarantineFile", {"Comment": "c", "Sha1": "g" * 40}, "40 hexadecimal"),
    ("unisolate", {"Comment": "c", "IsolationType": "Full"}, "Unknown properties"),
    ("collectInvestigationPackage", "not an object", "JSON object"),
])
def test_bad_action_bodies_are_400(sandbox, http, responder, segment, body, fragment):
    machine_id = machine_ids(sandbox, http)[0]
    response = act(sandbox, http, responder, machine_id, segment, body)
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
    assert admin_state(sandbox, http, machine_id)["actions"] == []


def test_action_on_an_unknown_machine_is_404(sandbox, http, responder):
    response = act(sandbox, http, responder, "f" * 40, "isolate", {"Comment": "c"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "ResourceNotFound"


def test_isolation_scopes_and_sha1_case(sandbox, http, responder):
    ids = machine_ids(sandbox, http)
    selective = act(sandbox, http, responder, ids[0], "isolate", {"Comment": "c", "IsolationType": "Selective"})
    unmanaged = act(sandbox, http, responder, ids[1], "isolate", {"Comment": "c", "IsolationType": "UnManagedDevice"})
    default = act(sandbox, http, responder, ids[2], "isolate", {"Comment": "c"})
    full_scan = act(sandbox, http, responder, ids[0], "runAntiVirusScan", {"Comment": "c", "ScanType": "Full"})
    quarantine = act(sandbox, http, responder, ids[0], "StopAndQuarantineFile", {"Comment": "c", "Sha1": SHA1.upper()})
    assert [response.json()["scope"] for response in (selective, unmanaged, default, full_scan)] == [
        "Selective", "UnManagedDevice", "Full", "Full"]
    assert quarantine.json()["relatedFileInfo"]["fileIdentifier"] == SHA1


# --- the state machine ------------------------------------------------------------------------------------------

def test_isolation_goes_pending_in_progress_succeeded_in_sandbox_time(sandbox, http, responder):
    machine_id = machine_ids(sandbox, http)[1]
    started = time.monotonic()
    action = act(sandbox, http, responder, machine_id, "isolate", {"Comment": "contain"}).json()
    assert admin_state(sandbox, http, machine_id)["isolated"] is False
    seen = wait_for(sandbox, http, responder, action["id"], "Succeeded")
    assert seen == ["Pending", "InProgress", "Succeeded"]
    # 60 + 120 sandbox seconds at a time scale of 0.01
    assert time.monotonic() - started >= 1.8 - 0.05
    done = api(sandbox, http, responder, f"machineactions/{action['id']}").json()
    elapsed = moment(done["lastUpdateDateTimeUtc"]) - moment(done["creationDateTimeUtc"])
    assert abs(elapsed.total_seconds() - 1.8) < 0.01
    state = admin_state(sandbox, http, machine_id)
    assert (state["isolated"], state["isolationType"], state["restricted"]) == (True, "Full", False)
    assert [item["status"] for item in state["actions"]] == ["Succeeded"]

    release = act(sandbox, http, responder, machine_id, "unisolate", {"Comment": "released"}).json()
    assert admin_state(sandbox, http, machine_id)["isolated"] is True  # until the unisolation succeeds
    wait_for(sandbox, http, responder, release["id"], "Succeeded")
    assert admin_state(sandbox, http, machine_id)["isolated"] is False


def test_restriction_follows_succeeded_actions(sandbox, http, responder):
    machine_id = machine_ids(sandbox, http)[4]
    action = act(sandbox, http, responder, machine_id, "restrictCodeExecution", {"Comment": "c"}).json()
    wait_for(sandbox, http, responder, action["id"], "Succeeded")
    assert admin_state(sandbox, http, machine_id)["restricted"] is True
    action = act(sandbox, http, responder, machine_id, "unrestrictCodeExecution", {"Comment": "c"}).json()
    wait_for(sandbox, http, responder, action["id"], "Succeeded")
    assert admin_state(sandbox, http, machine_id)["restricted"] is False


def test_an_open_action_of_the_same_type_is_a_conflict(sandbox, http, responder):
    ids = machine_ids(sandbox, http)
    first = act(sandbox, http, responder, ids[0], "isolate", {"Comment": "c"}).json()
    before = counters(sandbox, http)["writes"]
    again = act(sandbox, http, responder, ids[0], "isolate", {"Comment": "c", "IsolationType": "Selective"})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "BadRequest"
    assert again.json()["error"]["message"] == "Action is already in progress"
    assert counters(sandbox, http)["writes"] == before
    # another type, or another machine, is fine
    scan = act(sandbox, http, responder, ids[0], "runAntiVirusScan", {"Comment": "c", "ScanType": "Quick"})
    assert scan.status_code == 201
    assert act(sandbox, http, responder, ids[1], "isolate", {"Comment": "c"}).status_code == 201
    wait_for(sandbox, http, responder, first["id"], "InProgress")
    assert act(sandbox, http, responder, ids[0], "isolate", {"Comment": "c"}).status_code == 400
    wait_for(sandbox, http, responder, first["id"], "Succeeded")
    assert act(sandbox, http, responder, ids[0], "isolate", {"Comment": "c"}).status_code == 201


@pytest.mark.parametrize("outcome", ["Failed", "TimeOut"])
def test_forced_failure_outcomes(sandbox, http, responder, outcome):
    machine_id = machine_ids(sandbox, http)[6]
    assert force(sandbox, http, machine_id, outcome).json()["forcedOutcomes"] == [outcome]
    action = act(sandbox, http, responder, machine_id, "isolate", {"Comment": "c"}).json()
    assert admin_state(sandbox, http, machine_id)["forcedOutcomes"] == []
    assert wait_for(sandbox, http, responder, action["id"], outcome) == ["Pending", "InProgress", outcome]
    done = api(sandbox, http, responder, f"machineactions/{action['id']}").json()
    assert done["errorHResult"] != 0
    assert admin_state(sandbox, http, machine_id)["isolated"] is False
    # the next action is not forced
    action = act(sandbox, http, responder, machine_id, "isolate", {"Comment": "c"}).json()
    wait_for(sandbox, http, responder, action["id"], "Succeeded")
    assert admin_state(sandbox, http, machine_id)["isolated"] is True


def test_forced_cancellation_and_counts(sandbox, http, responder):
    machine_id = machine_ids(sandbox, http)[7]
    assert force(sandbox, http, machine_id, "Cancelled", 2).json()["forcedOutcomes"] == ["Cancelled", "Cancelled"]
    scan = act(sandbox, http, responder, machine_id, "runAntiVirusScan", {"Comment": "c", "ScanType": "Full"}).json()
    package = act(sandbox, http, responder, machine_id, "collectInvestigationPackage", {"Comment": "c"}).json()
    assert wait_for(sandbox, http, responder, scan["id"], "Cancelled") == ["Pending", "Cancelled"]
    cancelled = api(sandbox, http, responder, f"machineactions/{package['id']}").json()
    assert cancelled["status"] == "Cancelled" and cancelled["cancellationDateTimeUtc"]
    restrict = act(sandbox, http, responder, machine_id, "restrictCodeExecution", {"Comment": "c"}).json()
    wait_for(sandbox, http, responder, restrict["id"], "Succeeded")


def test_a_forced_in_progress_action_stays_open_until_the_machines_are_reset(sandbox, http, responder):
    machine_id = machine_ids(sandbox, http)[8]
    force(sandbox, http, machine_id, "InProgress")
    scan = act(sandbox, http, responder, machine_id, "runAntiVirusScan", {"Comment": "c", "ScanType": "Quick"}).json()
    wait_for(sandbox, http, responder, scan["id"], "InProgress")
    time.sleep(2.5)  # past the 1.8 s an action takes at this time scale
    assert api(sandbox, http, responder, f"machineactions/{scan['id']}").json()["status"] == "InProgress"
    again = act(sandbox, http, responder, machine_id, "runAntiVirusScan", {"Comment": "c", "ScanType": "Full"})
    assert again.status_code == 400, "still open: a second one of its type is refused"


@pytest.mark.parametrize("body, status", [({"outcome": "Succeeded"}, 400), ({"outcome": "Failed", "count": 0}, 400),
                                          ({"outcome": "Failed", "extra": 1}, 400), ({}, 400)])
def test_bad_forced_outcomes(sandbox, http, body, status):
    machine_id = machine_ids(sandbox, http)[0]
    response = http.post(f"{sandbox['admin_url']}/tenants/{CONTOSO}/machines/{machine_id}/outcomes", json=body)
    assert response.status_code == status
    assert force(sandbox, http, "0" * 40, "Failed").status_code == 404


# --- machine actions ---------------------------------------------------------------------------------------------

def test_machine_actions_list_get_and_filter(sandbox, http, responder, tokens):
    ids = machine_ids(sandbox, http)
    created = [act(sandbox, http, responder, ids[0], "isolate", {"Comment": "one"}).json(),
               act(sandbox, http, responder, ids[1], "runAntiVirusScan",
                   {"Comment": "two", "ScanType": "Quick"}).json(),
               act(sandbox, http, responder, ids[0], "collectInvestigationPackage", {"Comment": "three"}).json()]
    reader = tokens("soc-reader", ENDPOINT)
    body = api(sandbox, http, reader, "machineactions").json()
    assert body["@odata.context"].endswith("/api/$metadata#MachineActions")
    assert [action["id"] for action in body["value"]] == [action["id"] for action in reversed(created)]
    listed = http.get(f"{sandbox['admin_url']}/tenants/{CONTOSO}/machineactions").json()["value"]
    assert [action["id"] for action in listed] == [action["id"] for action in body["value"]]

    def ids_for(text):
        response = api(sandbox, http, reader, "machineactions", params={"$filter": text})
        assert response.status_code == 200, response.text
        return [action["id"] for action in response.json()["value"]]
    assert ids_for(f"machineId eq '{ids[0]}'") == [created[2]["id"], created[0]["id"]]
    assert ids_for("type eq 'RunAntiVirusScan'") == [created[1]["id"]]
    assert ids_for("status eq 'Pending'") == [action["id"] for action in reversed(created)]
    assert ids_for("status eq 'Succeeded'") == []
    assert ids_for("requestor eq 'soc-responder'") == [action["id"] for action in reversed(created)]
    assert ids_for(f"creationDateTimeUtc gt {created[0]['creationDateTimeUtc']}") == [created[2]["id"],
                                                                                      created[1]["id"]]
    assert ids_for(f"machineId eq '{ids[0]}' and type eq 'Isolate'") == [created[0]["id"]]
    bad = api(sandbox, http, reader, "machineactions", params={"$filter": "scope eq 'Full'"})
    assert bad.status_code == 400
    assert api(sandbox, http, reader, "machineactions", params={"$filter": "type eq 'Scan'"}).status_code == 400

    page = api(sandbox, http, reader, "machineactions", params={"$top": "2"}).json()
    assert len(page["value"]) == 2 and "$skip=2" in page["@odata.nextLink"]
    rest = http.get(page["@odata.nextLink"], headers=bearer(reader)).json()
    assert [a["id"] for a in rest["value"]] == [created[0]["id"]] and "@odata.nextLink" not in rest

    one = api(sandbox, http, reader, f"machineactions/{created[1]['id']}").json()
    assert one["@odata.context"].endswith("#MachineActions/$entity") and one["requestorComment"] == "two"
    known = created[1]["id"]
    missing = api(sandbox, http, reader, "machineactions/" + known[:-1] + ("1" if known.endswith("0") else "0"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
    other_tenant = api(sandbox, http, tokens("soc-responder", ENDPOINT, FABRIKAM), f"machineactions/{created[1]['id']}")
    assert other_tenant.status_code == 404


def test_machine_actions_need_a_read_permission(sandbox, http, tokens):
    response = api(sandbox, http, tokens("soc-bare", ENDPOINT, FABRIKAM), "machineactions")
    assert response.status_code == 403
    assert "Machine.Read.All, Machine.ReadWrite.All" in response.json()["error"]["message"]


# --- investigation packages --------------------------------------------------------------------------------------

def package_uri(sandbox, http, token, action_id, segment="GetPackageUri"):
    http.post(f"{sandbox['admin_url']}/limits/reset")  # its limit is 2 a minute (1.2 s at this time scale)
    return api(sandbox, http, token, f"machineactions/{action_id}/{segment}")


def test_package_uri_and_download(sandbox, http, responder):
    machine_id = machine_ids(sandbox, http)[8]
    action = act(sandbox, http, responder, machine_id, "collectInvestigationPackage", {"Comment": "forensics"}).json()
    early = package_uri(sandbox, http, responder, action["id"])
    assert early.status_code == 404 and "Pending" in early.json()["error"]["message"]
    wait_for(sandbox, http, responder, action["id"], "Succeeded")
    body = package_uri(sandbox, http, responder, action["id"]).json()
    assert body["@odata.context"].endswith("/api/$metadata#Edm.String")
    link = body["value"]
    assert link.startswith(f"{sandbox['base_url']}/safedownload/") and "token=" in link
    download = http.get(link)  # no bearer token
    assert download.status_code == 200 and download.headers["Content-Type"] == "application/zip"
    assert 1000 < len(download.content) < 20000
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert "Summary.txt" in archive.namelist()
        assert action["id"] in archive.read("Summary.txt").decode("utf-8")
    lowercase = package_uri(sandbox, http, responder, action["id"], "getPackageUri").json()["value"]
    assert http.get(lowercase).content == download.content  # deterministic
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    refused = http.get(tampered)
    assert refused.status_code == 403 and b"AuthenticationFailed" in refused.content
    assert http.get(link.split("?")[0]).status_code == 403
    time.sleep(300 * TIME_SCALE + 0.1)  # links are valid 300 sandbox seconds
    expired = http.get(link)
    assert expired.status_code == 403 and b"expiry" in expired.content


def test_package_uri_of_other_actions(sandbox, http, responder, tokens):
    machine_id = machine_ids(sandbox, http)[9]
    isolate = act(sandbox, http, responder, machine_id, "isolate", {"Comment": "c"}).json()
    wrong = package_uri(sandbox, http, responder, isolate["id"])
    assert wrong.status_code == 400 and "CollectInvestigationPackage" in wrong.json()["error"]["message"]
    assert package_uri(sandbox, http, responder, "0" * 8 + "-0000-4000-8000-" + "0" * 12).status_code == 404
    force(sandbox, http, machine_id, "Failed")
    failed = act(sandbox, http, responder, machine_id, "collectInvestigationPackage", {"Comment": "c"}).json()
    wait_for(sandbox, http, responder, failed["id"], "Failed")
    assert package_uri(sandbox, http, responder, failed["id"]).status_code == 404
    # documented permissions: Machine.Read.All (or ReadWrite.All) for apps, Machine.CollectForensics delegated
    assert package_uri(sandbox, http, tokens("soc-bare", ENDPOINT, FABRIKAM), failed["id"]).status_code == 403
    delegated = forge_token(sandbox, delegated_claims(CONTOSO, ENDPOINT_RESOURCE, "Machine.Read"))
    response = package_uri(sandbox, http, delegated, failed["id"])
    assert response.status_code == 403 and "(Machine.CollectForensics)" in response.json()["error"]["message"]


# --- rate limits -------------------------------------------------------------------------------------------------

def test_documented_endpoint_limits(sandbox, http):
    rules = {rule["name"]: rule for rule in http.get(f"{sandbox['admin_url']}/limits").json()["rules"]}
    assert rules["endpoint"]["limits"] == [{"calls": 100, "seconds": 60}, {"calls": 1500, "seconds": 3600}]
    assert "POST /api/machines/{id}/isolate" in rules["endpoint"]["routes"]
    assert "GET /api/machines" in rules["endpoint"]["routes"]
    assert rules["endpoint-package-uri"]["limits"] == [{"calls": 2, "seconds": 60}, {"calls": 120, "seconds": 3600}]


def test_package_uri_limit_is_two_a_minute(sandbox, http, responder):
    machine_id = machine_ids(sandbox, http)[10]
    action = act(sandbox, http, responder, machine_id, "collectInvestigationPackage", {"Comment": "c"}).json()
    wait_for(sandbox, http, responder, action["id"], "Succeeded")
    http.post(f"{sandbox['admin_url']}/limits/reset")
    answers = [api(sandbox, http, responder, f"machineactions/{action['id']}/GetPackageUri") for dummy in range(3)]
    assert [answer.status_code for answer in answers[:2]] == [200, 200]
    assert answers[2].status_code == 429 and answers[2].headers["Retry-After"] == "1"
    assert answers[2].json()["error"]["message"] == "API calls quota exceeded! maximum allowed 2 per 00:01:00"


def test_endpoint_routes_share_a_tenant_window(sandbox, http, responder):
    limits = http.get(f"{sandbox['admin_url']}/limits").json()
    rules = [{**rule, "limits": [{"calls": 4, "seconds": 60}]} if rule["name"] == "endpoint" else rule
             for rule in limits["rules"]]
    assert http.put(f"{sandbox['admin_url']}/limits", json={"rules": rules}).status_code == 200
    try:
        before = counters(sandbox, http)["throttled"]
        machine_id = machine_ids(sandbox, http)[11]
        answers = [api(sandbox, http, responder, "machines", params={"$top": "1"}),
                   api(sandbox, http, responder, f"machines/{machine_id}"),
                   act(sandbox, http, responder, machine_id, "isolate", {"Comment": "c"}),
                   api(sandbox, http, responder, "machineactions"),
                   api(sandbox, http, responder, f"machines/{machine_id}")]
        assert [answer.status_code for answer in answers] == [200, 200, 201, 200, 429]
        assert answers[4].json()["error"]["code"] == "429"
        assert int(answers[4].headers["Retry-After"]) >= 1
        assert counters(sandbox, http)["throttled"] == before + 1
        time.sleep(int(answers[4].headers["x-sandbox-retry-after-ms"]) / 1000 + 0.05)
        assert api(sandbox, http, responder, f"machines/{machine_id}").status_code == 200
    finally:
        http.put(f"{sandbox['admin_url']}/limits", json={})


def test_admin_reset_forgets_actions_and_tags(sandbox, http, responder):
    machine_id = machine_ids(sandbox, http)[12]
    act(sandbox, http, responder, machine_id, "isolate", {"Comment": "c"})
    api(sandbox, http, responder, f"machines/{machine_id}/tags", "POST", json={"Value": "temp", "Action": "Add"})
    force(sandbox, http, machine_id, "Failed")
    cleared = http.post(f"{sandbox['admin_url']}/tenants/{CONTOSO}/machines/reset").json()["cleared"]
    assert cleared == {"actions": 1, "tags": 1, "forced": 1}
    state = admin_state(sandbox, http, machine_id)
    assert (state["actions"], state["forcedOutcomes"], "temp" in state["machine"]["machineTags"]) == ([], [], False)
    assert http.get(f"{sandbox['admin_url']}/tenants/nowhere.example/machines").status_code == 404


def test_creation_time_is_now(sandbox, http, responder):
    machine_id = machine_ids(sandbox, http)[13]
    before = datetime.datetime.now(datetime.timezone.utc)
    action = act(sandbox, http, responder, machine_id, "runAntiVirusScan", {"Comment": "c", "ScanType": "Quick"}).json()
    after = datetime.datetime.now(datetime.timezone.utc)
    assert before - datetime.timedelta(seconds=1) <= moment(action["creationDateTimeUtc"]) <= after
