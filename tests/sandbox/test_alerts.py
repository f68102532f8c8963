"""Graph's alerts_v2 over the incident store: listing, paging, $filter, one alert, PATCH, comments, an incident's
alerts, permissions and counters. What the store holds comes from the admin API, never from the API under test."""
from __future__ import annotations

import pytest

from sandboxtest import DEFENDER, FABRIKAM, bearer, canonical, counters, moment

ALERTS = "/v1.0/security/alerts_v2"


def url(sandbox, suffix=""):
    return f"{sandbox['base_url']}{ALERTS}{suffix}"


def held_alerts(sandbox, http, tenant=None):
    """Every alert of the tenant as the store holds it (Graph shape), newest createdDateTime first."""
    incidents = canonical(sandbox, http, **({"tenant": tenant} if tenant else {}))
    alerts = [alert for incident in incidents for alert in incident["alerts"]]
    return sorted(alerts, key=lambda alert: (moment(alert["createdDateTime"]), alert["id"]), reverse=True)


@pytest.fixture(scope="module")
def responder(tokens):
    return bearer(tokens("soc-responder"))


@pytest.fixture(scope="module")
def get(sandbox, http, responder):
    def call(suffix="", headers=None, **params):
        return http.get(url(sandbox, suffix), params=params, headers=headers or responder)
    return call


@pytest.fixture(scope="module")
def ids(sandbox, http):
    """Alert ids, newest first, as the module started: each writing test changes its own alert."""
    return [alert["id"] for alert in held_alerts(sandbox, http)]


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


# --- list ---------------------------------------------------------------------------------------------------------

def test_list_pages_through_every_alert_newest_first(sandbox, http, get, responder):
    page = get().json()
    assert page["@odata.context"] == f"{sandbox['base_url']}/v1.0/$metadata#security/alerts_v2"
    assert len(page["value"]) == 100  # the page size without $top
    assert page["@odata.nextLink"].startswith(f"{url(sandbox)}?$skiptoken=")
    seen = [alert["id"] for alert in page["value"]]
    while "@odata.nextLink" in page:
        page = http.get(page["@odata.nextLink"], headers=responder).json()
        assert len(page["value"]) <= 100
        seen.extend(alert["id"] for alert in page["value"])
    expected = [alert["id"] for alert in held_alerts(sandbox, http)]
    assert len(expected) > 300 and seen == expected


def test_top_and_skip(sandbox, http, get):
    expected = [alert["id"] for alert in held_alerts(sandbox, http)]
    page = get(**{"$top": 7, "$skip": 3}).json()
    assert [alert["id"] for alert in page["value"]] == expected[3:10]
    assert "@odata.nextLink" in page
    everything = get(**{"$top": 1000}).json()
    assert [alert["id"] for alert in everything["value"]] == expected and "@odata.nextLink" not in everything
    assert get(**{"$top": 0}).json()["value"] == []


def test_top_above_1000_is_refused(get):
    error = error_of(get(**{"$top": 1001}), 400)
    assert error["code"] == "BadRequest"
    assert error["message"] == ("The limit of '1000' for Top query has been exceeded. The value from the incoming "
                                "request is '1001'.")
    assert error_of(get(**{"$top": "ten"}), 400)["message"].startswith("Invalid value 'ten' for query option '$top'")


def test_count(sandbox, http, get):
    page = get(**{"$count": "true", "$top": 3}).json()
    assert page["@odata.count"] == len(held_alerts(sandbox, http)) and len(page["value"]) == 3
    assert "@odata.count" not in get(**{"$top": 3}).json()


def test_next_link_keeps_the_filter_and_count(sandbox, http, get, responder):
    expected = [alert["id"] for alert in held_alerts(sandbox, http) if alert["severity"] == "medium"]
    page = get(**{"$filter": "severity eq 'medium'", "$top": 10, "$count": "true"}).json()
    seen = [alert["id"] for alert in page["value"]]
    while "@odata.nextLink" in page:
        page = http.get(page["@odata.nextLink"], headers=responder).json()
        assert page["@odata.count"] == len(expected)
        seen.extend(alert["id"] for alert in page["value"])
    assert len(expected) > 10 and seen == expected


def _first_assignee(alerts):
    return next(alert["assignedTo"] for alert in alerts if alert["assignedTo"])


FILTERS = {  # property -> (the $filter made from the held alerts, what it selects)
    "status": (lambda alerts: "status eq 'inProgress'", lambda alert: alert["status"] == "inProgress"),
    "severity": (lambda alerts: "severity in ('high', 'low')", lambda alert: alert["severity"] in ("high", "low")),
    "classification": (lambda alerts: "classification eq 'falsePositive'",
                       lambda alert: alert["classification"] == "falsePositive"),
    "determination": (lambda alerts: "determination ne 'unknown'", lambda alert: alert["determination"] != "unknown"),
    "serviceSource": (lambda alerts: "serviceSource eq 'microsoftDefenderForOffice365'",
                      lambda alert: alert["serviceSource"] == "microsoftDefenderForOffice365"),
}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_on_enum_property(sandbox, http, get, name):
    held = held_alerts(sandbox, http)
    text, selects = FILTERS[name][0](held), FILTERS[name][1]
    expected = [alert["id"] for alert in held if selects(alert)]
    assert 0 < len(expected) < len(held)
    page = get(**{"$filter": text, "$top": 1000}).json()
    assert [alert["id"] for alert in page["value"]] == expected


def test_filter_on_assigned_to(sandbox, http, get):
    held = held_alerts(sandbox, http)
    assignee = _first_assignee(held)
    page = get(**{"$filter": f"assignedTo eq '{assignee}'", "$top": 1000}).json()
    expected = [alert["id"] for alert in held if alert["assignedTo"] == assignee]
    assert [alert["id"] for alert in page["value"]] == expected
    unassigned = get(**{"$filter": "assignedTo eq null", "$top": 1000}).json()["value"]
    assert unassigned and all(alert["assignedTo"] is None for alert in unassigned)


@pytest.mark.parametrize("name", ["createdDateTime", "lastUpdateDateTime"])
def test_filter_on_time(sandbox, http, get, name):
    held = held_alerts(sandbox, http)
    middle = sorted(moment(alert[name]) for alert in held)[len(held) // 2]
    since = middle.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    page = get(**{"$filter": f"{name} ge {since}", "$top": 1000}).json()
    assert [alert["id"] for alert in page["value"]] == [alert["id"] for alert in held if moment(alert[name]) >= middle]


@pytest.mark.parametrize("name", ["detectionSource", "incidentId", "title"])
def test_filter_on_other_properties_is_refused(get, name):
    error = error_of(get(**{"$filter": f"{name} eq 'x'"}), 400)
    assert error["code"] == "BadRequest"
    assert error["message"].startswith(f"Invalid filter clause: Filtering on the property '{name}' is not supported.")


def test_filter_needs_enum_members(get):
    message = error_of(get(**{"$filter": "status eq 'active'"}), 400)["message"]
    assert "'active' is not a valid enumeration type constant" in message and "inProgress" in message


@pytest.mark.parametrize("option, value", [("$expand", "evidence"), ("$orderby", "createdDateTime"),
                                           ("$select", "id"), ("$search", "x")])
def test_other_query_options_are_refused(get, option, value):
    error = error_of(get(**{option: value}), 400)
    assert error["message"] == (f"The query option '{option}' is not supported on this resource. Supported query "
                                "options: $count, $filter, $skip, $top, $skiptoken.")


def test_tenants_see_their_own_alerts(sandbox, http, tokens):
    page = http.get(url(sandbox), params={"$top": 1000}, headers=bearer(tokens("soc-responder", tenant=FABRIKAM)))
    assert [alert["id"] for alert in page.json()["value"]] == [
        alert["id"] for alert in held_alerts(sandbox, http, FABRIKAM)]


# --- one alert ----------------------------------------------------------------------------------------------------

def test_get_one(sandbox, http, get):
    held = held_alerts(sandbox, http)[5]
    response = get(f"/{held['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body.pop("@odata.context") == f"{sandbox['base_url']}/v1.0/$metadata#security/alerts_v2/$entity"
    assert body == held


def test_unknown_alert_is_not_found(get):
    error = error_of(get("/da000000000000000000_1"), 404)
    assert (error["code"], error["message"]) == ("NotFound", "Alert with id 'da000000000000000000_1' was not found.")


def test_another_tenants_alert_is_not_found(sandbox, http, get):
    other = held_alerts(sandbox, http, FABRIKAM)[0]
    assert error_of(get(f"/{other['id']}"), 404)["code"] == "NotFound"


# --- PATCH ----------------------------------------------------------------------------------------------------------

def patch(sandbox, http, headers, alert_id, body):
    return http.patch(url(sandbox, f"/{alert_id}"), json=body, headers=headers)


def current(sandbox, http, alert_id):
    return next(alert for alert in held_alerts(sandbox, http) if alert["id"] == alert_id)


def incident_of(sandbox, http, alert_id, api="graph"):
    """The incident holding the alert, in that API's shape, from the store."""
    graph = next(incident for incident in canonical(sandbox, http)
                 if any(alert["id"] == alert_id for alert in incident["alerts"]))
    if api == "graph":
        return graph
    return next(incident for incident in canonical(sandbox, http, api="defender")
                if incident["incidentId"] == int(graph["id"]))


def test_patch_every_field_shows_in_both_apis(sandbox, http, responder, tokens, ids):
    before = next(alert for alert in held_alerts(sandbox, http)[40:] if alert["status"] == "new")
    alert_id = before["id"]
    assert before["resolvedDateTime"] is None
    body = {"status": "resolved", "assignedTo": "tier2@contoso.example", "classification": "truePositive",
            "determination": "malware", "customDetails": {"Reviewed": "yes"}}
    response = patch(sandbox, http, responder, alert_id, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer.pop("@odata.context").endswith("/v1.0/$metadata#security/alerts_v2/$entity")
    assert {name: answer[name] for name in body} == body
    assert moment(answer["lastUpdateDateTime"]) > moment(before["lastUpdateDateTime"])
    assert answer["resolvedDateTime"] == answer["lastUpdateDateTime"]  # resolved now
    assert http.get(url(sandbox, f"/{alert_id}"), headers=responder).json() == {
        "@odata.context": f"{sandbox['base_url']}/v1.0/$metadata#security/alerts_v2/$entity", **answer}
    graph = incident_of(sandbox, http, alert_id)
    assert next(alert for alert in graph["alerts"] if alert["id"] == alert_id) == answer
    expanded = http.get(f"{sandbox['base_url']}/v1.0/security/incidents/{graph['id']}", params={"$expand": "alerts"},
                        headers=responder).json()
    assert next(alert for alert in expanded["alerts"] if alert["id"] == alert_id) == answer
    defender = http.get(f"{sandbox['base_url']}/api/incidents/{graph['id']}",
                        headers=bearer(tokens("soc-responder", DEFENDER))).json()
    twin = next(alert for alert in defender["alerts"] if alert["alertId"] == alert_id)
    assert (twin["status"], twin["assignedTo"], twin["classification"], twin["determination"]) == (
        "Resolved", "tier2@contoso.example", "TruePositive", "Malware")
    assert twin["resolvedTime"] == answer["resolvedDateTime"]


@pytest.mark.parametrize("status, defender_status", [("inProgress", "InProgress"), ("new", "New")])
def test_patch_status_reopens(sandbox, http, responder, ids, status, defender_status):
    alert_id = ids[11]
    resolved = patch(sandbox, http, responder, alert_id, {"status": "resolved"}).json()
    assert resolved["resolvedDateTime"] is not None
    answer = patch(sandbox, http, responder, alert_id, {"status": status}).json()
    assert answer["status"] == status and answer["resolvedDateTime"] is None
    assert moment(answer["lastUpdateDateTime"]) > moment(resolved["lastUpdateDateTime"])
    twin = next(alert for alert in incident_of(sandbox, http, alert_id, api="defender")["alerts"]
                if alert["alertId"] == alert_id)
    assert twin["status"] == defender_status and twin["resolvedTime"] is None


def test_patch_assigned_to_alone_keeps_the_rest(sandbox, http, responder, ids):
    alert_id = ids[12]
    before = current(sandbox, http, alert_id)
    answer = patch(sandbox, http, responder, alert_id, {"assignedTo": "someone@contoso.example"}).json()
    assert answer["assignedTo"] == "someone@contoso.example"
    assert {name: answer[name] for name in ("status", "classification", "determination", "resolvedDateTime")} == {
        name: before[name] for name in ("status", "classification", "determination", "resolvedDateTime")}
    cleared = patch(sandbox, http, responder, alert_id, {"assignedTo": None}).json()
    assert cleared["assignedTo"] is None


def test_patch_that_changes_nothing_keeps_the_time(sandbox, http, responder, ids):
    alert_id = ids[13]
    before = current(sandbox, http, alert_id)
    answer = patch(sandbox, http, responder, alert_id, {"status": before["status"]}).json()
    assert answer["lastUpdateDateTime"] == before["lastUpdateDateTime"]


def test_resolving_again_keeps_the_resolved_time(sandbox, http, responder):
    before = next(alert for alert in held_alerts(sandbox, http)[60:] if alert["status"] == "resolved")
    answer = patch(sandbox, http, responder, before["id"], {"status": "resolved", "assignedTo": "x@contoso.example"})
    assert moment(answer.json()["lastUpdateDateTime"]) > moment(before["lastUpdateDateTime"])
    assert answer.json()["resolvedDateTime"] == before["resolvedDateTime"]


@pytest.mark.parametrize("body, wanted", [
    ({"status": "active"}, "Cannot convert the literal 'active' to the expected type "
                           "'microsoft.graph.security.alertStatus' of property 'status'"),
    ({"status": "unknownFutureValue"}, "The status 'unknownFutureValue' cannot be set. Allowed values: new, "
                                       "inProgress, resolved."),
    ({"classification": "benign"}, "Cannot convert the literal 'benign' to the expected type "
                                   "'microsoft.graph.security.alertClassification'"),
    ({"determination": "clean"}, "Cannot convert the literal 'clean' to the expected type "
                                 "'microsoft.graph.security.alertDetermination'"),
    ({"customDetails": "x"}, "Invalid value for property 'customDetails': a JSON object or null is expected."),
    ({"severity": "high"}, "The property 'severity' cannot be updated. Updatable properties: assignedTo, "
                           "classification, determination, status, customDetails."),
])
def test_patch_refuses_bad_values(sandbox, http, responder, ids, body, wanted):
    alert_id = ids[14]
    before = current(sandbox, http, alert_id)
    error = error_of(patch(sandbox, http, responder, alert_id, body), 400)
    assert error["code"] == "BadRequest" and error["message"].startswith(wanted), error["message"]
    assert current(sandbox, http, alert_id) == before


def test_patch_refuses_a_determination_that_does_not_fit(sandbox, http, responder, ids):
    alert_id = ids[15]
    before = current(sandbox, http, alert_id)
    error = error_of(patch(sandbox, http, responder, alert_id, {"classification": "falsePositive",
                                                                "determination": "malware"}), 400)
    assert error["message"] == ("The determination 'malware' does not fit the classification 'falsePositive'. With "
                                "'falsePositive' use one of: unknown, notMalicious, notEnoughDataToValidate, other.")
    assert current(sandbox, http, alert_id) == before


def test_patch_of_an_unknown_alert_is_not_found(sandbox, http, responder):
    assert error_of(patch(sandbox, http, responder, "nope", {"status": "new"}), 404)["code"] == "NotFound"


def test_read_only_apps_cannot_patch(sandbox, http, tokens, ids):
    error = error_of(patch(sandbox, http, bearer(tokens("soc-reader")), ids[16], {"status": "inProgress"}), 403)
    assert error["message"] == ("Missing application roles. API required roles: SecurityAlert.ReadWrite.All, "
                                "application roles: SecurityIncident.Read.All,SecurityAlert.Read.All.")


# --- comments -------------------------------------------------------------------------------------------------------

COMMENT = {"@odata.type": "microsoft.graph.security.alertComment"}


def test_comments_are_appended_and_answered_as_the_collection(sandbox, http, responder, ids):
    alert_id = ids[20]
    before = current(sandbox, http, alert_id)
    assert before["comments"] == []
    first = http.post(url(sandbox, f"/{alert_id}/comments"), json={**COMMENT, "comment": "Looked at it."},
                      headers=responder)
    assert first.status_code == 200, first.text
    second = http.post(url(sandbox, f"/{alert_id}/comments"), json={**COMMENT, "comment": "Benign after all."},
                       headers=responder).json()
    assert second["@odata.context"] == (f"{sandbox['base_url']}/v1.0/$metadata#Collection("
                                        "microsoft.graph.security.alertComment)")
    assert [comment["comment"] for comment in second["value"]] == ["Looked at it.", "Benign after all."]
    assert all(comment["@odata.type"] == "#microsoft.graph.security.alertComment"
               and comment["createdByDisplayName"] == "soc-responder" for comment in second["value"])
    after = current(sandbox, http, alert_id)
    assert after["comments"] == [{name: value for name, value in comment.items() if name != "@odata.type"}
                                 for comment in second["value"]]
    assert moment(after["lastUpdateDateTime"]) > moment(before["lastUpdateDateTime"])
    assert moment(second["value"][0]["createdDateTime"]) <= moment(second["value"][1]["createdDateTime"])


def test_comments_as_the_sdks_send_them(sandbox, http, responder, ids):
    """Microsoft's SDKs send a JSON array of alertComment objects."""
    alert_id = ids[21]
    answer = http.post(url(sandbox, f"/{alert_id}/comments"), headers=responder,
                       json=[{"@odata.type": "#microsoft.graph.security.alertComment", "comment": "From an SDK."}])
    assert answer.status_code == 200, answer.text
    assert [comment["comment"] for comment in answer.json()["value"]] == ["From an SDK."]


@pytest.mark.parametrize("body", [{}, {"comment": ""}, {"comment": 3}, {"text": "x"}, []])
def test_comments_need_a_comment(sandbox, http, responder, ids, body):
    alert_id = ids[22]
    assert error_of(http.post(url(sandbox, f"/{alert_id}/comments"), json=body, headers=responder), 400)
    assert current(sandbox, http, alert_id)["comments"] == []


def test_read_only_tokens_cannot_comment(sandbox, http, tokens, ids):
    alert_id = ids[23]
    response = http.post(url(sandbox, f"/{alert_id}/comments"), json={**COMMENT, "comment": "x"},
                         headers=bearer(tokens("soc-reader")))
    assert error_of(response, 403)["message"].startswith(
        "Missing application roles. API required roles: SecurityAlert.ReadWrite.All, application roles: ")
    missing = http.post(url(sandbox, "/nope/comments"), json={**COMMENT, "comment": "x"},
                        headers=bearer(tokens("soc-responder")))
    assert error_of(missing, 404)["code"] == "NotFound"


# --- an incident's alerts -----------------------------------------------------------------------------------------

def test_incident_alerts(sandbox, http, responder):
    incident = next(item for item in canonical(sandbox, http) if len(item["alerts"]) >= 2)
    base = f"{sandbox['base_url']}/v1.0/security/incidents/{incident['id']}/alerts"
    answer = http.get(base, headers=responder).json()
    assert answer["@odata.context"] == (f"{sandbox['base_url']}/v1.0/$metadata#security/"
                                        f"incidents('{incident['id']}')/alerts")
    assert answer["value"] == incident["alerts"] and "@odata.nextLink" not in answer
    severity = incident["alerts"][1]["severity"]
    filtered = http.get(base, params={"$filter": f"severity eq '{severity}'", "$count": "true"},
                        headers=responder).json()
    expected = [alert for alert in incident["alerts"] if alert["severity"] == severity]
    assert filtered["value"] == expected and filtered["@odata.count"] == len(expected)
    assert error_of(http.get(base, params={"$top": 1}, headers=responder), 400)["code"] == "BadRequest"
    missing = http.get(f"{sandbox['base_url']}/v1.0/security/incidents/1/alerts", headers=responder)
    assert error_of(missing, 404)["message"] == "Incident with id '1' was not found."


def test_incident_alerts_need_incident_permissions(sandbox, http, tokens):
    incident = canonical(sandbox, http)[0]
    response = http.get(f"{sandbox['base_url']}/v1.0/security/incidents/{incident['id']}/alerts",
                        headers=bearer(tokens("soc-bare", tenant=FABRIKAM)))
    assert error_of(response, 403)["message"].startswith(
        "Missing application roles. API required roles: SecurityIncident.Read.All,SecurityIncident.ReadWrite.All")


# --- permissions and counters ---------------------------------------------------------------------------------------

def test_reading_needs_an_alert_permission(sandbox, http, tokens):
    bare = bearer(tokens("soc-bare", tenant=FABRIKAM))
    for path in ("", "/x"):
        error = error_of(http.get(url(sandbox, path), headers=bare), 403)
        assert error["message"] == ("Missing application roles. API required roles: SecurityAlert.Read.All,"
                                    "SecurityAlert.ReadWrite.All, application roles: .")
    assert http.get(url(sandbox), params={"$top": 1}, headers=bearer(tokens("soc-reader"))).status_code == 200
    assert error_of(http.get(url(sandbox)), 401)["code"] == "InvalidAuthenticationToken"


def test_routes_and_writes_are_counted(sandbox, http, responder, ids):
    counters(sandbox, http, reset=True)
    http.get(url(sandbox), params={"$top": 1}, headers=responder)
    http.get(url(sandbox, f"/{ids[30]}"), headers=responder)
    http.patch(url(sandbox, f"/{ids[30]}"), json={"status": "inProgress"}, headers=responder)
    http.post(url(sandbox, f"/{ids[30]}/comments"), json={**COMMENT, "comment": "x"}, headers=responder)
    http.patch(url(sandbox, f"/{ids[30]}"), json={"status": "nope"}, headers=responder)  # refused: not a write
    seen = counters(sandbox, http)
    assert seen["routes"] == {"GET /v1.0/security/alerts_v2": 1, "GET /v1.0/security/alerts_v2/{id}": 1,
                              "PATCH /v1.0/security/alerts_v2/{id}": 2,
                              "POST /v1.0/security/alerts_v2/{id}/comments": 1}
    assert seen["writes"] == 2
