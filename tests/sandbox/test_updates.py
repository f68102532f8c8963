"""Incident updates through both APIs over the one store: PATCH, comments, validation, permissions, counters."""
from __future__ import annotations

import pytest
import requests

from sandboxtest import DEFENDER, GRAPH, add_fault, bearer, canonical, counters, moment


def graph_url(sandbox, incident_id, suffix=""):
    return f"{sandbox['base_url']}/v1.0/security/incidents/{incident_id}{suffix}"


def defender_url(sandbox, incident_id):
    return f"{sandbox['base_url']}/api/incidents/{incident_id}"


@pytest.fixture(scope="module")
def ids(sandbox, http):
    """Incident ids, newest first: each test changes its own incident so that the tests stay independent."""
    return [item["id"] for item in canonical(sandbox, http)]


@pytest.fixture(scope="module")
def incident(sandbox, http, tokens, ids):
    """incident(position) -> the incident as Graph shows it now."""
    def get(position):
        return http.get(graph_url(sandbox, ids[position]), headers=bearer(tokens("soc-responder"))).json()
    return get


def test_graph_patch_is_visible_through_defender(sandbox, http, tokens, incident):
    before = incident(1)
    body = {"status": "inProgress", "assignedTo": "tier2.responder@contoso.example", "classification": "truePositive",
            "determination": "compromisedAccount", "customTags": ["VIP", "Escalated"]}
    response = http.patch(graph_url(sandbox, before["id"]), json=body, headers=bearer(tokens("soc-responder")))
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated.pop("@odata.context").endswith("/v1.0/$metadata#security/incidents/$entity")
    assert {name: updated[name] for name in body} == body
    assert moment(updated["lastUpdateDateTime"]) > moment(before["lastUpdateDateTime"])
    twin = http.get(defender_url(sandbox, before["id"]), headers=bearer(tokens("soc-responder", DEFENDER))).json()
    assert (twin["status"], twin["assignedTo"], twin["classification"], twin["determination"], twin["tags"]) == (
        "InProgress", "tier2.responder@contoso.example", "TruePositive", "CompromisedAccount", ["VIP", "Escalated"])
    assert twin["lastUpdateTime"] == updated["lastUpdateDateTime"]


@pytest.mark.parametrize("spelling, stored", [
    ("CompromisedUser", "compromisedAccount"), ("CompromisedAccount", "compromisedAccount"),
    ("InsufficientData", "notEnoughDataToValidate"), ("NoEnoughDataToValidate", "notEnoughDataToValidate"),
    ("ConfirmedUserActivity", "confirmedActivity"), ("ConfirmedActivity", "confirmedActivity"),
    ("Clean", "notMalicious"),
])
def test_defender_accepts_every_determination_spelling(sandbox, http, tokens, ids, spelling, stored):
    """The Defender API's own spellings and the ones other Defender pages use land on Graph's enum members."""
    classification = {"compromisedAccount": "TruePositive", "notEnoughDataToValidate": "FalsePositive",
                      "notMalicious": "FalsePositive", "confirmedActivity": "InformationalExpectedActivity"}[stored]
    incident_id = ids[2]
    response = http.patch(defender_url(sandbox, incident_id), json={"classification": classification,
                                                                    "determination": spelling},
                          headers=bearer(tokens("soc-responder", DEFENDER)))
    assert response.status_code == 200, response.text
    assert http.get(graph_url(sandbox, incident_id), headers=bearer(tokens("soc-responder"))).json()[
        "determination"] == stored


def test_defender_patch_with_comment_and_tags_is_visible_through_graph(sandbox, http, tokens, incident):
    before = incident(3)
    body = {"status": "Resolved", "assignedTo": "analyst@contoso.example", "classification": "FalsePositive",
            "determination": "Clean", "tags": ["Pen test"], "comment": "Closed: approved penetration test."}
    response = http.patch(defender_url(sandbox, before["id"]), json=body, headers=bearer(tokens("soc-responder", DEFENDER)))
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated.pop("@odata.context").endswith("/api/$metadata#Incidents/$entity")
    assert (updated["status"], updated["determination"], updated["tags"]) == ("Resolved", "Clean", ["Pen test"])
    assert updated["comments"][-1]["comment"] == "Closed: approved penetration test."
    assert updated["comments"][-1]["createdBy"] == "soc-responder"
    twin = http.get(graph_url(sandbox, before["id"]), headers=bearer(tokens("soc-responder"))).json()
    assert (twin["status"], twin["classification"], twin["determination"], twin["customTags"]) == (
        "resolved", "falsePositive", "notMalicious", ["Pen test"])
    assert len(twin["comments"]) == len(before["comments"]) + 1
    assert twin["comments"][-1]["createdByDisplayName"] == "soc-responder"
    assert twin["lastUpdateDateTime"] == updated["lastUpdateTime"]
    assert moment(twin["lastUpdateDateTime"]) > moment(before["lastUpdateDateTime"])


def test_graph_comment_answers_the_whole_list(sandbox, http, tokens, incident):
    before = incident(4)
    response = http.post(graph_url(sandbox, before["id"], "/comments"), headers=bearer(tokens("soc-responder")),
                         json={"@odata.type": "microsoft.graph.security.alertComment", "comment": "Looking into it."})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#Collection(microsoft.graph.security.alertComment)")
    assert [c["comment"] for c in body["value"]] == [c["comment"] for c in before["comments"]] + ["Looking into it."]
    newest = body["value"][-1]
    assert newest["@odata.type"] == "#microsoft.graph.security.alertComment"
    assert newest["createdByDisplayName"] == "soc-responder" and newest["createdDateTime"].endswith("Z")
    assert moment(incident(4)["lastUpdateDateTime"]) > moment(before["lastUpdateDateTime"])


@pytest.mark.parametrize("body", [{"comment": ""}, {"comment": "   "}, {}, {"comment": 5}, ["x"]])
def test_graph_comment_must_not_be_empty(sandbox, http, tokens, ids, body):
    response = http.post(graph_url(sandbox, ids[4], "/comments"), json=body,
                         headers=bearer(tokens("soc-responder")))
    assert (response.status_code, response.json()["error"]["code"]) == (400, "BadRequest")


@pytest.mark.parametrize("body, fragment", [
    ({"severity": "high"}, "The property 'severity' cannot be updated. Updatable properties: assignedTo, "
                           "classification, determination, status, customTags."),
    ({"status": "Resolved"}, "Cannot convert the literal 'Resolved' to the expected type "
                             "'microsoft.graph.security.incidentStatus' of property 'status'. Allowed values: active, "
                             "inProgress, resolved."),
    ({"status": "redirected"}, "The status 'redirected' cannot be set."),
    ({"classification": "benign"}, "Allowed values: unknown, falsePositive, truePositive, informationalExpectedActivity"),
    ({"classification": "falsePositive", "determination": "malware"},
     "The determination 'malware' does not fit the classification 'falsePositive'. With 'falsePositive' use one "
     "of: unknown, notMalicious, notEnoughDataToValidate, other."),
    ({"customTags": "VIP"}, "a list of non-empty strings"),
    ({"assignedTo": 42}, "a string or null"),
    (["status"], "must be a JSON object"),
])
def test_graph_patch_validation(sandbox, http, tokens, ids, body, fragment):
    response = http.patch(graph_url(sandbox, ids[5]), json=body,
                          headers=bearer(tokens("soc-responder")))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadRequest" and fragment in error["message"] and "innerError" in error


@pytest.mark.parametrize("body, code, fragment", [
    ({"Status": "Active"}, "InvalidRequestBody", "The property 'Status' cannot be updated. Updatable properties: "
                                                 "status, assignedTo, classification, determination, tags, comment."),
    ({"customTags": ["x"]}, "InvalidRequestBody", "'customTags'"),
    ({"status": "resolved"}, "InvalidInput", "Allowed values: Active, InProgress, Resolved."),
    ({"status": "Redirected"}, "InvalidInput", "The status 'Redirected' cannot be set."),
    ({"classification": "TruePositive", "determination": "Clean"}, "InvalidInput",
     "With 'TruePositive' use one of: NotAvailable, MultiStagedAttack, MaliciousUserActivity, CompromisedAccount, "
     "Malware, Phishing, UnwantedSoftware, Other, Apt, SecurityPersonnel."),
    ({"determination": "malware"}, "InvalidInput", "Invalid value 'malware' for property 'determination'"),
    ({"comment": ""}, "InvalidInput", "'comment': a non-empty string"),
    ({"tags": [""]}, "InvalidInput", "a list of non-empty strings"),
])
def test_defender_patch_validation(sandbox, http, tokens, ids, body, code, fragment):
    response = http.patch(defender_url(sandbox, ids[5]), json=body,
                          headers=bearer(tokens("soc-responder", DEFENDER)))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and fragment in error["message"] and error["target"]


def test_invalid_json_bodies(sandbox, http, tokens, ids):
    incident_id = ids[5]
    graph = http.patch(graph_url(sandbox, incident_id), data=b"{status", headers={
        **bearer(tokens("soc-responder")), "Content-Type": "application/json"})
    defender = http.patch(defender_url(sandbox, incident_id), data=b"{status", headers={
        **bearer(tokens("soc-responder", DEFENDER)), "Content-Type": "application/json"})
    assert (graph.status_code, graph.json()["error"]["code"]) == (400, "BadRequest")
    assert (defender.status_code, defender.json()["error"]["code"]) == (400, "InvalidRequestBody")
    assert "not valid JSON" in graph.json()["error"]["message"] and "not valid JSON" in defender.json()["error"]["message"]


def test_unknown_incidents_are_404(sandbox, http, tokens):
    graph = http.patch(graph_url(sandbox, 1), json={"status": "active"}, headers=bearer(tokens("soc-responder")))
    comment = http.post(graph_url(sandbox, "abc", "/comments"), json={"comment": "x"},
                        headers=bearer(tokens("soc-responder")))
    defender = http.patch(defender_url(sandbox, 1), json={"status": "Active"},
                          headers=bearer(tokens("soc-responder", DEFENDER)))
    assert [r.status_code for r in (graph, comment, defender)] == [404, 404, 404]
    assert [r.json()["error"]["code"] for r in (graph, comment, defender)] == ["NotFound", "NotFound", "ResourceNotFound"]


def test_read_only_apps_cannot_write(sandbox, http, tokens, ids):
    incident_id = ids[6]
    graph = http.patch(graph_url(sandbox, incident_id), json={"status": "active"}, headers=bearer(tokens("soc-reader")))
    assert graph.status_code == 403
    assert graph.json()["error"]["message"] == ("Missing application roles. API required roles: "
                                                "SecurityIncident.ReadWrite.All, application roles: "
                                                "SecurityIncident.Read.All,SecurityAlert.Read.All.")
    comment = http.post(graph_url(sandbox, incident_id, "/comments"), json={"comment": "x"},
                        headers=bearer(tokens("soc-reader")))
    assert comment.status_code == 403
    defender = http.patch(defender_url(sandbox, incident_id), json={"status": "Active"},
                          headers=bearer(tokens("soc-reader", DEFENDER)))
    assert defender.status_code == 403
    assert defender.json()["error"]["message"] == ("The application does not have any of the required application "
                                                   "permissions (Incident.ReadWrite.All) to access the resource.")


def test_writes_counter_and_unchanged_updates(sandbox, http, tokens, incident):
    before = incident(7)
    url = graph_url(sandbox, before["id"])
    counters(sandbox, http, reset=True)
    same = {"status": before["status"], "assignedTo": before["assignedTo"], "customTags": before["customTags"]}
    unchanged = http.patch(url, json=same, headers=bearer(tokens("soc-responder"))).json()
    assert unchanged["lastUpdateDateTime"] == before["lastUpdateDateTime"]
    cleared = http.patch(url, json={"assignedTo": None}, headers=bearer(tokens("soc-responder"))).json()
    assert cleared["assignedTo"] is None
    http.patch(url, json={"status": "bogus"}, headers=bearer(tokens("soc-responder")))  # 400: not a write
    http.patch(url, json={"status": "active"}, headers=bearer(tokens("soc-reader")))  # 403: not a write
    seen = counters(sandbox, http)
    assert seen["writes"] == 2
    assert seen["routes"] == {"PATCH /v1.0/security/incidents/{id}": 4}


@pytest.mark.parametrize("fault", [{"action": "drop"}, {"action": "malformed"}, {"action": "truncate"},
                                   {"status": 200, "body": {"id": "1"}}])
@pytest.mark.parametrize("api", ["graph", "defender", "comment"])
def test_a_write_answered_by_a_fault_is_neither_stored_nor_counted(sandbox, http, tokens, incident, api, fault):
    """A fault answers instead of the handler: nothing is stored, so `writes` stays 0 (no double write to see)."""
    before = incident(9)
    if api == "graph":
        method, url, body, token = "PATCH", graph_url(sandbox, before["id"]), {"customTags": ["Faulted"]}, GRAPH
    elif api == "comment":
        method, url, body, token = "POST", graph_url(sandbox, before["id"], "/comments"), {"comment": "Faulted"}, GRAPH
    else:
        method, url, body, token = "PATCH", defender_url(sandbox, before["id"]), {"comment": "Faulted"}, DEFENDER
    add_fault(sandbox, http, method=method, path=f"/{before['id']}", **fault)
    counters(sandbox, http, reset=True)
    try:
        http.request(method, url, json=body, headers=bearer(tokens("soc-responder", token)))
    except requests.RequestException:
        pass  # drop and truncate break the connection
    seen = counters(sandbox, http)
    assert (seen["writes"], seen["faults_served"]) == (0, 1)
    assert incident(9) == before


def test_a_write_delayed_by_a_latency_fault_is_stored_and_counted(sandbox, http, tokens, incident):
    before = incident(9)
    add_fault(sandbox, http, method="PATCH", path=f"/{before['id']}$", latency=0.2)
    counters(sandbox, http, reset=True)
    response = http.patch(graph_url(sandbox, before["id"]), json={"customTags": ["Late"]},
                          headers=bearer(tokens("soc-responder")))
    assert response.status_code == 200 and response.json()["customTags"] == ["Late"]
    assert counters(sandbox, http)["writes"] == 1


def test_other_tenants_incidents_cannot_be_changed(sandbox, http, tokens, ids):
    response = http.patch(graph_url(sandbox, ids[8]), json={"status": "active"},
                          headers=bearer(tokens("soc-responder", GRAPH, "fabrikam.example")))
    assert response.status_code == 404
