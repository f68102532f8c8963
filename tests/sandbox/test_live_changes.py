"""Live changes through the admin API while clients poll: new incidents, touches of incidents and alerts (time stamps
strictly increasing, visible in every view, found by a lastUpdateDateTime filter), and consent revocation."""
from __future__ import annotations

import dataclasses
import datetime
import threading

import pytest

from sandboxlib import datagen, timefmt
from sandboxlib.liveclock import StrictClock
from sandboxlib.scenario import Tenant
from sandboxtest import CONTOSO, DEFENDER, FABRIKAM, GRAPH, NORTHWIND, app_info, bearer, canonical, counters, moment, \
    secret

ANALYST = "analyst@contoso.example"
START = datetime.datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=datetime.timezone.utc)
TICK = datetime.timedelta(microseconds=1)


def admin(sandbox, suffix, tenant=CONTOSO):
    return f"{sandbox['admin_url']}/tenants/{tenant}{suffix}"


def graph(sandbox, path):
    return f"{sandbox['base_url']}/v1.0/security/{path}"


@pytest.fixture(scope="module")
def responder(tokens):
    return bearer(tokens("soc-responder"))


@pytest.fixture(scope="module")
def create(sandbox, http):
    def call(expected=201, tenant=CONTOSO, **body):
        response = http.post(admin(sandbox, "/incidents/new", tenant), json=body)
        assert response.status_code == expected, response.text
        return response.json()
    return call


@pytest.fixture(scope="module")
def touch(sandbox, http):
    def call(kind, item_id, body=None, expected=200, tenant=CONTOSO):
        response = http.post(admin(sandbox, f"/{kind}/{item_id}/touch", tenant), json=body)
        assert response.status_code == expected, response.text
        return response.json()
    return call


def graph_list(sandbox, http, headers, path, text):
    """Every item of a Graph list with that $filter, following nextLinks."""
    items, url, params = [], graph(sandbox, path), {"$filter": text}
    while url:
        body = http.get(url, params=params, headers=headers).json()
        items += body["value"]
        url, params = body.get("@odata.nextLink"), None
    return items


def test_strict_clock_never_answers_a_moment_twice():
    """A clock that stands still (many calls within one microsecond) or goes back still gives later moments."""
    readings = iter([START] * 500 + [START - datetime.timedelta(seconds=5)] * 10)
    clock = StrictClock(lambda: next(readings))
    moments = [clock() for dummy in range(510)]
    assert moments == [START + number * TICK for number in range(510)]
    assert len({timefmt.odata(stamp) for stamp in moments}) == 510
    later = StrictClock(lambda: START)
    assert later(after=START + datetime.timedelta(hours=1)) == START + datetime.timedelta(hours=1) + TICK
    assert later() == START + datetime.timedelta(hours=1) + 2 * TICK


def test_new_incidents_are_drawn_per_tenant_and_sequence():
    tenant = Tenant(CONTOSO, "Contoso", ("contoso.example",), 0)
    now = START + datetime.timedelta(hours=3)
    first = [datagen.new_incident(datagen.TenantProfile(tenant, START), 900 + n, n, now) for n in range(40)]
    again = [datagen.new_incident(datagen.TenantProfile(tenant, START), 900 + n, n, now) for n in range(40)]
    assert first == again
    assert len({incident.title for incident in first}) >= 6
    assert len({alert.id for incident in first for alert in incident.alerts}) == sum(
        len(incident.alerts) for incident in first)
    for incident in first:
        assert 1 <= len(incident.alerts) <= 3 and incident.created == incident.last_updated == now
        assert (incident.status, incident.comments, incident.custom_tags) == ("active", (), ())
        assert all(alert.created == alert.last_updated == now and alert.entities for alert in incident.alerts)
    other = Tenant(FABRIKAM, "Fabrikam", ("fabrikam.example",), 0)
    assert datagen.new_incident(datagen.TenantProfile(other, START), 900, 0, now).alerts != first[0].alerts


def test_new_incident_redraws_taken_alert_ids_and_keeps_the_rest():
    profile = datagen.TenantProfile(Tenant(CONTOSO, "Contoso", ("contoso.example",), 0), START)
    free = datagen.new_incident(profile, 900, 0, START)
    taken = frozenset(alert.id for alert in free.alerts)
    redrawn = datagen.new_incident(profile, 900, 0, START, taken=taken)
    assert not {alert.id for alert in redrawn.alerts} & taken
    assert dataclasses.replace(redrawn, alerts=tuple(dataclasses.replace(alert, id="") for alert in redrawn.alerts)) \
        == dataclasses.replace(free, alerts=tuple(dataclasses.replace(alert, id="") for alert in free.alerts))
    severe = datagen.new_incident(profile, 900, 0, START, "high")
    assert (severe.title, severe.severity, severe.alerts[0].severity) == (free.title, "high", "high")


def test_new_incidents_show_in_every_view(sandbox, http, tokens, responder, create):
    before = canonical(sandbox, http)
    # the lists are read before, so that a view kept from then would show
    for path in ("incidents", "alerts_v2"):
        assert http.get(graph(sandbox, path), headers=responder).status_code == 200
    assert http.get(f"{sandbox['base_url']}/api/incidents",
                    headers=bearer(tokens("soc-responder", DEFENDER))).status_code == 200
    answer = create(count=3)
    assert answer["tenant_id"] == CONTOSO
    created = answer["created"]
    highest = max(int(incident["id"]) for incident in before)
    assert [item["id"] for item in created] == [str(highest + n) for n in (1, 2, 3)]
    times = [moment(item["lastUpdateDateTime"]) for item in created]
    assert times == sorted(set(times)) and len(set(times)) == 3
    assert times[0] > max(moment(incident["lastUpdateDateTime"]) for incident in before)
    all_alert_ids = [alert_id for item in created for alert_id in item["alert_ids"]]
    assert all(1 <= len(item["alert_ids"]) <= 3 for item in created)
    assert len(set(all_alert_ids)) == len(all_alert_ids)

    listed = http.get(graph(sandbox, "incidents"), params={"$top": 3, "$expand": "alerts"}, headers=responder).json()
    assert [incident["id"] for incident in listed["value"]] == [item["id"] for item in reversed(created)]
    for item in created:
        incident = http.get(graph(sandbox, f"incidents/{item['id']}"), params={"$expand": "alerts"},
                            headers=responder).json()
        assert incident["createdDateTime"] == incident["lastUpdateDateTime"] == item["lastUpdateDateTime"]
        assert (incident["status"], incident["customTags"], incident["comments"]) == ("active", [], [])
        assert [alert["id"] for alert in incident["alerts"]] == item["alert_ids"]
        for alert_id in item["alert_ids"]:
            alert = http.get(graph(sandbox, f"alerts_v2/{alert_id}"), headers=responder).json()
            assert (alert["incidentId"], alert["createdDateTime"], alert["lastUpdateDateTime"]) == (
                item["id"], item["lastUpdateDateTime"], item["lastUpdateDateTime"])
            assert alert["evidence"] and alert["status"] == "new"
        defender = http.get(f"{sandbox['base_url']}/api/incidents/{item['id']}",
                            headers=bearer(tokens("soc-responder", DEFENDER))).json()
        assert defender["lastUpdateTime"] == defender["createdTime"] == item["lastUpdateDateTime"]
        assert [alert["alertId"] for alert in defender["alerts"]] == item["alert_ids"]

    newest_alerts = http.get(graph(sandbox, "alerts_v2"), params={"$top": len(all_alert_ids)}, headers=responder).json()
    assert {alert["id"] for alert in newest_alerts["value"]} == set(all_alert_ids)
    defender_list = http.get(f"{sandbox['base_url']}/api/incidents", params={"$top": 3},
                             headers=bearer(tokens("soc-responder", DEFENDER))).json()
    created_ids = [item["id"] for item in reversed(created)]
    assert [incident["incidentId"] for incident in defender_list["value"]] == [int(item) for item in created_ids]
    hunted = http.post(graph(sandbox, "runHuntingQuery"), headers=responder,
                       json={"Query": "AlertInfo | where Timestamp >= ago(1h) | project AlertId"}).json()
    assert set(all_alert_ids) <= {row["AlertId"] for row in hunted["results"]}
    after = canonical(sandbox, http)
    assert after[3:] == before and [incident["id"] for incident in after[:3]] == created_ids


def test_new_incidents_take_severity_and_status(sandbox, http, responder, create):
    created = create(tenant="contoso.example", count=2, severity="low", status="resolved")["created"]
    for item in created:
        incident = http.get(graph(sandbox, f"incidents/{item['id']}"), params={"$expand": "alerts"},
                            headers=responder).json()
        assert (incident["severity"], incident["status"]) == ("low", "resolved")
        assert incident["alerts"][0]["severity"] == "low"
        assert all(alert["status"] == "resolved" and alert["resolvedDateTime"] == item["lastUpdateDateTime"]
                   for alert in incident["alerts"])


def test_new_incidents_in_another_tenant_follow_its_ids(sandbox, http, create):
    before = canonical(sandbox, http, FABRIKAM)
    created = create(tenant=FABRIKAM)["created"]
    assert len(created) == 1 and created[0]["id"] == str(max(int(item["id"]) for item in before) + 1)
    assert canonical(sandbox, http, FABRIKAM)[1:] == before
    assert canonical(sandbox, http, FABRIKAM)[0]["tenantId"] == FABRIKAM


def test_creations_in_one_call_and_in_parallel_never_share_a_time_stamp(create):
    """100 incidents in one call land within a few milliseconds; parallel calls too: every stamp is its own, and a
    higher id always has the later one."""
    stamps = [(int(item["id"]), item["lastUpdateDateTime"]) for item in create(count=100)["created"]]
    results = []

    def worker():
        results.extend(create(count=10)["created"])
    threads = [threading.Thread(target=worker) for dummy in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps += [(int(item["id"]), item["lastUpdateDateTime"]) for item in results]
    assert len(stamps) == 150
    assert len({stamp for dummy, stamp in stamps}) == 150 and len({number for number, dummy in stamps}) == 150
    ordered = sorted(stamps)
    times = [moment(stamp) for dummy, stamp in ordered]
    assert times == sorted(times) and len(set(times)) == 150


def test_last_update_filter_finds_exactly_the_changes(sandbox, http, responder, create, touch):
    """What a poller asks: `lastUpdateDateTime ge <the time it last saw>` on incidents and on alerts_v2."""
    create()  # before the mark: not found
    old = canonical(sandbox, http)[-1]  # generated long before the sandbox started
    other = canonical(sandbox, http)[-2]
    mark = create(count=2)["created"]
    touched_incident = touch("incidents", old["id"], {"comment": "seen by the poller test"})
    touched_alert = touch("alerts", other["alerts"][0]["id"], {"status": "inProgress"})
    since = mark[0]["lastUpdateDateTime"]

    incidents = graph_list(sandbox, http, responder, "incidents", f"lastUpdateDateTime ge {since}")
    assert {incident["id"] for incident in incidents} == {mark[0]["id"], mark[1]["id"], old["id"]}
    assert {(incident["id"], incident["lastUpdateDateTime"]) for incident in incidents} == {
        (mark[0]["id"], mark[0]["lastUpdateDateTime"]), (mark[1]["id"], mark[1]["lastUpdateDateTime"]),
        (old["id"], touched_incident["lastUpdateDateTime"])}
    alerts = graph_list(sandbox, http, responder, "alerts_v2", f"lastUpdateDateTime ge {since}")
    assert {alert["id"] for alert in alerts} == {*mark[0]["alert_ids"], *mark[1]["alert_ids"], touched_alert["id"]}

    later = graph_list(sandbox, http, responder, "incidents", f"lastUpdateDateTime gt {since}")
    assert {incident["id"] for incident in later} == {mark[1]["id"], old["id"]}
    latest = touched_alert["lastUpdateDateTime"]
    assert graph_list(sandbox, http, responder, "alerts_v2", f"lastUpdateDateTime gt {latest}") == []
    assert graph_list(sandbox, http, responder, "incidents", f"lastUpdateDateTime gt {latest}") == []


def test_touch_incident_applies_fields_and_moves_the_time_stamp(sandbox, http, tokens, responder, touch):
    target = canonical(sandbox, http)[-5]
    body = {"status": "inProgress", "severity": "high", "assignedTo": "tier2.responder@contoso.example",
            "comment": "Escalated by the sandbox test."}
    answer = touch("incidents", target["id"], body)
    assert set(answer) == {"id", "lastUpdateDateTime"} and answer["id"] == target["id"]
    assert moment(answer["lastUpdateDateTime"]) > moment(target["lastUpdateDateTime"])
    incident = http.get(graph(sandbox, f"incidents/{target['id']}"), headers=responder).json()
    assert (incident["status"], incident["severity"], incident["assignedTo"], incident["lastModifiedBy"]) == (
        "inProgress", "high", "tier2.responder@contoso.example", "sandbox")
    assert incident["lastUpdateDateTime"] == answer["lastUpdateDateTime"]
    assert incident["comments"][-1] == {"comment": "Escalated by the sandbox test.", "createdByDisplayName": "sandbox",
                                        "createdDateTime": answer["lastUpdateDateTime"]}
    defender = http.get(f"{sandbox['base_url']}/api/incidents/{target['id']}",
                        headers=bearer(tokens("soc-responder", DEFENDER))).json()
    assert (defender["status"], defender["severity"], defender["lastUpdateTime"]) == (
        "InProgress", "High", answer["lastUpdateDateTime"])

    unassign = touch("incidents", target["id"], {"assignedTo": None})
    assert http.get(graph(sandbox, f"incidents/{target['id']}"), headers=responder).json()["assignedTo"] is None
    assert moment(unassign["lastUpdateDateTime"]) > moment(answer["lastUpdateDateTime"])


@pytest.mark.parametrize("body", [None, {}])
def test_empty_touch_moves_only_the_time_stamp(sandbox, http, touch, body):
    before = canonical(sandbox, http)[-7]
    answer = touch("incidents", before["id"], body)
    after = next(item for item in canonical(sandbox, http) if item["id"] == before["id"])
    assert moment(after["lastUpdateDateTime"]) > moment(before["lastUpdateDateTime"])
    assert after["lastUpdateDateTime"] == answer["lastUpdateDateTime"]
    assert {**after, "lastUpdateDateTime": None} == {**before, "lastUpdateDateTime": None}


def test_touch_without_body_at_all(sandbox, http):
    target = canonical(sandbox, http)[-8]
    response = http.post(admin(sandbox, f"/incidents/{target['id']}/touch"))
    assert response.status_code == 200, response.text
    assert moment(response.json()["lastUpdateDateTime"]) > moment(target["lastUpdateDateTime"])


def test_touches_in_a_row_are_strictly_ordered(sandbox, http, touch):
    target = canonical(sandbox, http)[-9]
    stamps = [touch("incidents", target["id"])["lastUpdateDateTime"] for dummy in range(20)]
    times = [moment(stamp) for stamp in stamps]
    assert times == sorted(set(times))


def test_touch_alert_applies_fields_and_leaves_the_incident(sandbox, http, responder, touch):
    incident = canonical(sandbox, http)[-10]
    alert = incident["alerts"][0]
    body = {"status": "resolved", "severity": "medium", "assignedTo": ANALYST, "comment": "Closed by the test."}
    answer = touch("alerts", alert["id"], body)
    assert answer["id"] == alert["id"] and answer["incidentId"] == incident["id"]
    shown = http.get(graph(sandbox, f"alerts_v2/{alert['id']}"), headers=responder).json()
    assert (shown["status"], shown["severity"], shown["assignedTo"]) == ("resolved", "medium", ANALYST)
    assert shown["lastUpdateDateTime"] == shown["resolvedDateTime"] == answer["lastUpdateDateTime"]
    assert moment(answer["lastUpdateDateTime"]) > moment(alert["lastUpdateDateTime"])
    assert shown["comments"][-1]["createdByDisplayName"] == "sandbox"
    after = http.get(graph(sandbox, f"incidents/{incident['id']}"), headers=responder).json()
    assert after["lastUpdateDateTime"] == incident["lastUpdateDateTime"]

    again = touch("alerts", alert["id"])
    assert moment(again["lastUpdateDateTime"]) > moment(answer["lastUpdateDateTime"])
    assert http.get(graph(sandbox, f"alerts_v2/{alert['id']}"), headers=responder).json()["status"] == "resolved"


@pytest.mark.parametrize("kind, body, words", [
    ("incidents", {"status": "closed"}, ("'status'", "active, inProgress, resolved")),
    ("incidents", {"status": "redirected"}, ("'status'", "active, inProgress, resolved")),
    ("incidents", {"severity": "critical"}, ("'severity'", "unknown, informational, low, medium, high")),
    ("incidents", {"assignedTo": 42}, ("'assignedTo'", "a string or null")),
    ("incidents", {"comment": "  "}, ("'comment'", "non-empty string")),
    ("incidents", {"classification": "truePositive"}, ("'classification'", "status, severity, assignedTo, comment")),
    ("incidents", ["status"], ("JSON object",)),
    ("alerts", {"status": "active"}, ("'status'", "new, inProgress, resolved")),
    ("alerts", {"severity": "High"}, ("'severity'", "unknown, informational, low, medium, high")),
])
def test_touch_refuses_bad_bodies_and_changes_nothing(sandbox, http, kind, body, words):
    incident = canonical(sandbox, http)[-12]
    item_id = incident["id"] if kind == "incidents" else incident["alerts"][0]["id"]
    response = http.post(admin(sandbox, f"/{kind}/{item_id}/touch"), json=body)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert all(word in message for word in words), message
    assert next(item for item in canonical(sandbox, http) if item["id"] == incident["id"]) == incident


def test_touch_refuses_a_body_that_is_not_json(sandbox, http):
    incident = canonical(sandbox, http)[-12]
    response = http.post(admin(sandbox, f"/incidents/{incident['id']}/touch"), data=b"{status: active",
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "JSON object" in response.json()["error"]["message"]


@pytest.mark.parametrize("body, words", [
    ({"count": 0}, ("count", "1 to 100")),
    ({"count": 101}, ("count", "1 to 100")),
    ({"count": "2"}, ("count", "1 to 100")),
    ({"count": True}, ("count", "1 to 100")),
    ({"severity": "critical"}, ("severity", "unknown, informational, low, medium, high")),
    ({"status": "redirected"}, ("status", "active, inProgress, resolved")),
    ({"title": "x"}, ("unknown fields: title",)),
])
def test_new_refuses_bad_bodies_and_adds_nothing(sandbox, http, body, words):
    before = len(canonical(sandbox, http))
    response = http.post(admin(sandbox, "/incidents/new"), json=body)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert all(word in message for word in words), message
    assert len(canonical(sandbox, http)) == before


@pytest.mark.parametrize("method_path", [
    "/incidents/99999999/touch", "/incidents/abc/touch", "/alerts/da000000000000000000_1/touch",
])
def test_unknown_incident_or_alert_is_404(sandbox, http, method_path):
    response = http.post(admin(sandbox, method_path), json={})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "SandboxAdmin"


def test_another_tenants_incident_is_404(sandbox, http):
    fabrikam_incident = canonical(sandbox, http, FABRIKAM)[-1]
    response = http.post(admin(sandbox, f"/incidents/{fabrikam_incident['id']}/touch", CONTOSO), json={})
    assert response.status_code == 404
    assert http.post(admin(sandbox, f"/alerts/{fabrikam_incident['alerts'][0]['id']}/touch"), json={}).status_code \
        == 404


@pytest.mark.parametrize("suffix", ["/incidents/new", "/incidents/1/touch", "/alerts/x/touch",
                                    "/apps/soc-responder/revoke", "/apps/soc-responder/restore"])
def test_unknown_tenant_is_404(sandbox, http, suffix):
    response = http.post(admin(sandbox, suffix, "nowhere.example"), json={})
    assert response.status_code == 404 and "nowhere.example" in response.json()["error"]["message"]


# --- consent revocation -----------------------------------------------------------------------------------------------

def client_token(sandbox, http, tenant, scope=GRAPH, name="soc-responder"):
    """A token request sent by hand (MSAL would answer from its cache)."""
    form = {"grant_type": "client_credentials", "client_id": app_info(sandbox, name)["client_id"], "scope": scope,
            "client_secret": secret(sandbox, name)}
    return http.post(f"{sandbox['base_url']}/{tenant}/oauth2/v2.0/token", data=form)


def revoke(sandbox, http, tenant, key, action="revoke"):
    response = http.post(admin(sandbox, f"/apps/{key}/{action}", tenant))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture()
def restored(sandbox, http):
    """Restores what a test revoked, even when it fails."""
    revoked = []
    yield revoked
    for tenant, key in revoked:
        revoke(sandbox, http, tenant, key, "restore")


def test_revoke_refuses_tokens_and_restore_brings_them_back(sandbox, http, restored):
    responder = app_info(sandbox, "soc-responder")["client_id"]
    graph_token = client_token(sandbox, http, FABRIKAM).json()["access_token"]
    defender_token = client_token(sandbox, http, FABRIKAM, DEFENDER).json()["access_token"]
    assert http.get(graph(sandbox, "incidents"), headers=bearer(graph_token)).status_code == 200

    restored.append((FABRIKAM, responder))
    assert revoke(sandbox, http, "fabrikam.example", responder) == {
        "tenant_id": FABRIKAM, "client_id": responder, "app": "soc-responder", "revoked": True}
    response = client_token(sandbox, http, FABRIKAM)
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"]) == (400, "unauthorized_client", [700016])
    assert f"Application with identifier '{responder}' was not found in the directory 'Fabrikam'" in \
        body["error_description"]
    refused = http.get(graph(sandbox, "incidents"), headers=bearer(graph_token))
    assert refused.status_code == 401
    assert refused.json()["error"] == {**refused.json()["error"], "code": "InvalidAuthenticationToken",
                                       "message": "Access token has expired or is not yet valid."}
    refused = http.get(f"{sandbox['base_url']}/api/incidents", headers=bearer(defender_token))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "Unauthorized"
    # only that tenant: the app still signs in to Contoso
    assert client_token(sandbox, http, CONTOSO).status_code == 200

    counters(sandbox, http, reset=True)
    http.post(admin(sandbox, "/incidents", FABRIKAM), json={"count": 12})
    assert client_token(sandbox, http, FABRIKAM).status_code == 400
    assert revoke(sandbox, http, FABRIKAM, "soc-responder")["revoked"] is True  # again, by name: still revoked

    assert revoke(sandbox, http, FABRIKAM, responder, "restore")["revoked"] is False
    fresh = client_token(sandbox, http, FABRIKAM)
    assert fresh.status_code == 200
    assert http.get(graph(sandbox, "incidents"), headers=bearer(fresh.json()["access_token"])).status_code == 200
    assert http.get(graph(sandbox, "incidents"), headers=bearer(graph_token)).status_code == 200


def test_revoke_in_the_home_tenant_stops_user_sign_in_too(sandbox, http, restored):
    cli = app_info(sandbox, "soc-analyst-cli")["client_id"]
    form = {"grant_type": "password", "client_id": cli, "username": ANALYST, "password": "Contoso!Analyst1",
            "scope": GRAPH}
    before = http.post(f"{sandbox['base_url']}/{CONTOSO}/oauth2/v2.0/token", data=form)
    assert before.status_code == 200, before.text
    restored.append((CONTOSO, cli))
    revoke(sandbox, http, CONTOSO, cli)
    after = http.post(f"{sandbox['base_url']}/organizations/oauth2/v2.0/token", data=form)
    assert (after.status_code, after.json()["error_codes"]) == (400, [700016])
    refused = http.get(graph(sandbox, "incidents"), headers=bearer(before.json()["access_token"]))
    assert refused.status_code == 401


@pytest.mark.parametrize("tenant, key, words", [
    (NORTHWIND, "soc-responder", "never consented"),
    (FABRIKAM, "soc-reader", "never consented"),
    (CONTOSO, "no-such-app", "no app 'no-such-app'"),
    (CONTOSO, "0afd78b2-ce70-4ee9-9c06-fcd86e9dc2ac", "no app"),  # a managed identity, not an app registration
])
def test_revoke_what_is_not_there_is_404(sandbox, http, tenant, key, words):
    for action in ("revoke", "restore"):
        response = http.post(admin(sandbox, f"/apps/{key}/{action}", tenant))
        assert response.status_code == 404 and words in response.json()["error"]["message"]
