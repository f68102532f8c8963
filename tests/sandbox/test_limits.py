"""Rate limits: the documented defaults, 429s in each API's shape, Retry-After, windows freeing, configuration."""
from __future__ import annotations

import json
import os
import time

import pytest

import control
from sandboxtest import CONTOSO, DEFENDER, FABRIKAM, GRAPH, bearer, canonical, counters

TIME_SCALE = 0.1  # a minute lasts 6 s


@pytest.fixture(autouse=True)
def default_limits(sandbox, http):
    """Every test starts with the documented limits and empty windows."""
    http.put(f"{sandbox['admin_url']}/limits", json={}).raise_for_status()
    counters(sandbox, http, reset=True)


def set_limits(sandbox, http, config):
    response = http.put(f"{sandbox['admin_url']}/limits", json=config)
    assert response.status_code == 200, response.text
    return response.json()


def test_documented_defaults(sandbox, http):
    limits = http.get(f"{sandbox['admin_url']}/limits").json()
    assert (limits["enabled"], limits["time_scale"]) == (True, TIME_SCALE)
    rules = {route: rule["limits"] for rule in limits["rules"] for route in rule["routes"]}
    minute_and_hour = [{"calls": 50, "seconds": 60}, {"calls": 1500, "seconds": 3600}]
    assert rules == {
        "GET /api/incidents": minute_and_hour, "PATCH /api/incidents/{id}": minute_and_hour,
        "GET /api/incidents/{id}": [{"calls": 100, "seconds": 60}, {"calls": 1500, "seconds": 3600}],
        "POST /api/advancedhunting/run": [{"calls": 45, "seconds": 60}],
        "POST /v1.0/security/runHuntingQuery": [{"calls": 45, "seconds": 60}],
        "POST /v1.0/security/microsoft.graph.security.runHuntingQuery": [{"calls": 45, "seconds": 60}],
        **{route: [{"calls": 100, "seconds": 60}, {"calls": 1500, "seconds": 3600}] for route in (
            "GET /api/machines", "GET /api/machines/{id}", "POST /api/machines/{id}/tags", "GET /api/machineactions",
            "GET /api/machineactions/{id}", "POST /api/machines/{id}/isolate", "POST /api/machines/{id}/unisolate",
            "POST /api/machines/{id}/runAntiVirusScan", "POST /api/machines/{id}/collectInvestigationPackage",
            "POST /api/machines/{id}/restrictCodeExecution", "POST /api/machines/{id}/unrestrictCodeExecution",
            "POST /api/machines/{id}/StopAndQuarantineFile", "GET /api/indicators", "POST /api/indicators",
            "POST /api/indicators/import", "POST /api/indicators/BatchDelete", "DELETE /api/indicators/{id}")},
        "GET /api/machineactions/{id}/GetPackageUri": [{"calls": 2, "seconds": 60}, {"calls": 120, "seconds": 3600}],
        "GET /api/machineactions/{id}/getPackageUri": [{"calls": 2, "seconds": 60}, {"calls": 120, "seconds": 3600}],
    }


def test_defender_list_and_update_share_50_calls_a_minute(sandbox, http, tokens):
    token = bearer(tokens("soc-responder", DEFENDER, FABRIKAM))
    url = f"{sandbox['base_url']}/api/incidents"
    assert all(http.get(url, headers=token).status_code == 200 for dummy in range(50))
    throttled = http.get(url, headers=token)
    assert throttled.status_code == 429
    assert throttled.json()["error"] == {"code": "429", "message": "API calls quota exceeded! maximum allowed 50 per "
                                         "00:01:00", "target": throttled.headers["request-id"]}
    waited = int(throttled.headers["x-sandbox-retry-after-ms"])
    assert 0 < waited <= 6000 and throttled.headers["Retry-After"] == str(max(1, -(-waited // 1000)))
    incident_id = canonical(sandbox, http, FABRIKAM)[0]["id"]
    assert http.patch(f"{url}/{incident_id}", json={}, headers=token).status_code == 429  # same rule
    assert http.get(f"{url}/{incident_id}", headers=token).status_code == 200  # another rule
    assert http.get(url, headers=bearer(tokens("soc-responder", DEFENDER, CONTOSO)), params={"$top": "1"}).status_code == 200
    seen = counters(sandbox, http)
    assert seen["throttled"] == 2
    assert seen["throttled_routes"] == {"GET /api/incidents": 1, "PATCH /api/incidents/{id}": 1}
    assert seen["routes"]["GET /api/incidents"] == 52


def test_hunting_allows_45_calls_a_minute_in_each_api(sandbox, http, tokens):
    for path, scope in (("/v1.0/security/runHuntingQuery", GRAPH), ("/api/advancedhunting/run", DEFENDER)):
        token = bearer(tokens("soc-responder", scope, FABRIKAM))
        calls = [http.post(f"{sandbox['base_url']}{path}", json={"Query": "AlertInfo | take 1"}, headers=token)
                 for dummy in range(46)]
        assert [call.status_code for call in calls] == [200] * 45 + [429], path
    graph, defender = (http.post(f"{sandbox['base_url']}{path}", json={"Query": "AlertInfo | take 1"},
                                 headers=bearer(tokens("soc-responder", scope, FABRIKAM)))
                       for path, scope in (("/v1.0/security/runHuntingQuery", GRAPH), ("/api/advancedhunting/run", DEFENDER)))
    assert graph.json()["error"]["code"] == "TooManyRequests" and graph.json()["error"]["message"] == "Too many requests."
    assert set(graph.json()["error"]["innerError"]) == {"date", "request-id", "client-request-id"}
    assert defender.json()["error"]["message"] == "API calls quota exceeded! maximum allowed 45 per 00:01:00"
    assert int(graph.headers["Retry-After"]) >= 1 and int(defender.headers["Retry-After"]) >= 1


def test_graph_incidents_have_no_default_limit(sandbox, http, tokens):
    url = f"{sandbox['base_url']}/v1.0/security/incidents/0"
    assert {http.get(url, headers=bearer(tokens("soc-reader"))).status_code for dummy in range(120)} == {404}
    assert counters(sandbox, http)["throttled"] == 0


def test_a_window_frees_its_slots(sandbox, http, tokens):
    set_limits(sandbox, http, {"rules": [{"name": "graph-list", "routes": ["GET /v1.0/security/incidents"],
                                          "limits": [{"calls": 2, "seconds": 3}]}]})
    url = f"{sandbox['base_url']}/v1.0/security/incidents?$top=1"
    token = bearer(tokens("soc-reader"))
    assert [http.get(url, headers=token).status_code for dummy in range(3)] == [200, 200, 429]
    throttled = http.get(url, headers=token)
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert throttled.headers["Retry-After"] == "1"  # at most 0.3 s, rounded up to whole seconds
    time.sleep(int(throttled.headers["x-sandbox-retry-after-ms"]) / 1000 + 0.02)
    assert http.get(url, headers=token).status_code == 200  # the 429s took no slot


def test_the_longest_wait_names_the_limit(sandbox, http, tokens):
    set_limits(sandbox, http, {"rules": [{"name": "one", "routes": ["GET /api/incidents/{id}"],
                                          "limits": [{"calls": 1, "seconds": 60}, {"calls": 1, "seconds": 3600}]}]})
    url = f"{sandbox['base_url']}/api/incidents/1"
    token = bearer(tokens("soc-reader", DEFENDER))
    assert http.get(url, headers=token).status_code == 404  # every call with a valid token counts
    throttled = http.get(url, headers=token)
    assert throttled.json()["error"]["message"] == "API calls quota exceeded! maximum allowed 1 per 01:00:00"
    assert 355 <= int(throttled.headers["Retry-After"]) <= 360
    assert http.post(f"{sandbox['admin_url']}/limits/reset").json() == {"cleared": 2}
    assert http.get(url, headers=token).status_code == 404


def test_counters_reset_clears_the_windows_and_limits_can_be_turned_off(sandbox, http, tokens):
    set_limits(sandbox, http, {"rules": [{"name": "tiny", "routes": ["GET /api/incidents"],
                                          "limits": [{"calls": 1, "seconds": 600}]}]})
    url = f"{sandbox['base_url']}/api/incidents?$top=1"
    token = bearer(tokens("soc-reader", DEFENDER))
    assert [http.get(url, headers=token).status_code for dummy in range(2)] == [200, 429]
    counters(sandbox, http, reset=True)
    assert [http.get(url, headers=token).status_code for dummy in range(2)] == [200, 429]
    assert set_limits(sandbox, http, {"enabled": False, "rules": []}) == {"enabled": False, "time_scale": TIME_SCALE,
                                                                          "rules": []}
    assert http.get(url, headers=token).status_code == 200
    assert http.get(url).status_code == 401  # no token, no throttling


@pytest.mark.parametrize("config, fragment", [
    ({"enabled": "no"}, '"enabled" must be true or false'),
    ({"rules": [{"name": "x", "routes": ["GET /nowhere"], "limits": [{"calls": 1, "seconds": 1}]}]}, "API routes"),
    ({"rules": [{"name": "x", "routes": ["GET /api/incidents"], "limits": [{"calls": 0, "seconds": 1}]}]},
     "positive integer"),
    ({"rules": [{"name": "x", "routes": ["GET /api/incidents"], "limits": [{"calls": 1, "seconds": 1}]}] * 2},
     "one rule only"),
    ({"windows": 1}, '"enabled" and "rules"'),
])
def test_invalid_limits_are_refused(sandbox, http, config, fragment):
    response = http.put(f"{sandbox['admin_url']}/limits", json=config)
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]


def test_scenario_rate_limits(tmp_path):
    with open(os.path.join(os.path.dirname(control.SERVER), "scenarios", "default.json"), encoding="utf-8") as handle:
        scenario = json.load(handle)
    scenario["rate_limits"] = {"rules": [{"name": "x", "routes": ["GET /api/nowhere"], "limits": []}]}
    (tmp_path / "bad.json").write_text(json.dumps(scenario))
    with pytest.raises(control.SandboxError, match="rate_limits: rule 'x'"):
        control.start(str(tmp_path / "state"), scenario=str(tmp_path / "bad.json"))
