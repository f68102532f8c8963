# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

import pytest
import yaml

from ansible_collections.secops.m365_defender.plugins.module_utils._properties import allowed_names
from ansible_collections.secops.m365_defender.plugins.modules import incident_info
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, DEFENDER, GRAPH, LOGIN, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    FakeEntra,
    IncidentApi,
    Router,
    make_jwt,
    make_response,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module

SEVERITIES = ["High", "Medium", "Low", "Informational", "UnSpecified"]


def held(api="graph"):
    return {"access_token": make_jwt({"aud": "x"}), "expires_on": int(time.time()) + 3600, "api": api,
            "cloud": "global", "tenant_id": TENANT, "client_id": CLIENT, "login_url": LOGIN,
            "api_url": (GRAPH + "/v1.0") if api == "graph" else (DEFENDER + "/api")}


def test_bad_severity_fails_before_any_request(transport):
    transport.handler = Router(**{"login.sandbox.test": FakeEntra(LOGIN, TENANT)})
    outcome, result = run_module(incident_info.main, {
        "tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s", "login_url": LOGIN, "graph_url": GRAPH,
        "severity": ["high", "critical"]})
    assert outcome == "fail"
    assert result["msg"].startswith("Option 'severity' got 'critical'")
    assert "high" in result["msg"] and "informational" in result["msg"]
    assert "exception" not in result
    assert transport.seen == []


@pytest.mark.parametrize("options, words", [
    ({"api": "defender", "status": ["awaitingAction"]}, "Option 'status' got 'awaitingAction'"),
    ({"created_after": "last tuesday"}, "Option 'created_after' got 'last tuesday'"),
    ({"limit": 0}, "Option 'limit' must be 1 or more"),
    ({"incident_id": "12/../../users"}, "Option 'incident_id'"),
    ({"graph_url": "http://graph.sandbox.test"}, "Option 'graph_url' must be an https:// URL"),
])
def test_other_input_errors_fail_before_any_request(transport, options, words):
    module_args = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s", "login_url": LOGIN}
    module_args.update(options)
    outcome, result = run_module(incident_info.main, module_args)
    assert outcome == "fail"
    assert words in result["msg"]
    assert transport.seen == []


def test_lists_every_graph_incident_with_a_held_token(transport):
    incidents = [{"id": str(number), "severity": "high", "status": "active"} for number in range(1, 238)]
    server = IncidentApi("graph", incidents, GRAPH + "/v1.0")
    transport.handler = Router(**{"graph.sandbox.test": server})
    auth = held()
    outcome, result = run_module(incident_info.main, {"auth": auth, "status": ["active", "in_progress"]})
    assert outcome == "exit", result
    assert result["incidents"] == incidents
    assert result["count"] == 237
    assert result["pages"] == 5
    assert result["api"] == "graph"
    assert result["filters_applied_locally"] == []
    assert result["changed"] is False
    always = [name for name, doc in yaml.safe_load(incident_info.RETURN).items() if doc["returned"] == "always"]
    assert set(result) >= set(always)
    assert result["complete"] is True and "error" not in result
    assert result["http"]["requests"] == 5 and result["http"]["throttled"] == 0
    assert "warnings" not in result
    assert server.queries[0] == {"$top": "50", "$filter": "(status eq 'active' or status eq 'inProgress')"}
    assert all(seen.headers["Authorization"] == "Bearer " + auth["access_token"] for seen in transport.seen)


def test_defender_signs_in_once_and_filters_severity_locally(transport):
    entra = FakeEntra(LOGIN, TENANT)
    incidents = [{"incidentId": number, "severity": SEVERITIES[number % 5]} for number in range(1, 238)]
    server = IncidentApi("defender", incidents, DEFENDER + "/api")
    transport.handler = Router(**{"login.sandbox.test": entra, "defender.sandbox.test": server})
    outcome, result = run_module(incident_info.main, {
        "api": "defender", "tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s", "login_url": LOGIN,
        "defender_url": DEFENDER, "severity": ["HIGH", "unknown"], "limit": 30})
    assert outcome == "exit", result
    assert [incident["severity"] for incident in result["incidents"]] == ["UnSpecified", "High"] * 15
    assert result["count"] == 30
    assert result["filters_applied_locally"] == ["severity"]
    assert result["pages"] == 1
    assert len(entra.token_requests) == 1
    assert entra.token_requests[0].form["scope"] == "https://api.security.microsoft.com/.default"
    assert server.queries == [{"$top": "100"}]


def test_one_incident_by_id(transport):
    transport.answer(make_response(200, {"@odata.context": DEFENDER + "/api/$metadata#Incidents/$entity",
                                         "incidentId": 924565, "severity": "High"}))
    outcome, result = run_module(incident_info.main, {"auth": held("defender"), "incident_id": "924565"})
    assert outcome == "exit", result
    assert result["incidents"] == [{"incidentId": 924565, "severity": "High"}]
    assert (result["count"], result["pages"], result["api"]) == (1, 0, "defender")
    assert transport.seen[0].url == DEFENDER + "/api/incidents/924565"


def test_unknown_incident_id_is_an_empty_list(transport):
    transport.answer(make_response(404, {"error": {"code": "NotFound", "message": "Not found", "innerError": {}}}))
    outcome, result = run_module(incident_info.main, {"auth": held(), "incident_id": "1"})
    assert outcome == "exit", result
    assert (result["incidents"], result["count"]) == ([], 0)


def test_api_error_fails_cleanly(transport):
    body = {"error": {"code": "Forbidden", "message": "Missing application roles. API required roles: SecurityIncident.Read.All.",
                      "innerError": {"request-id": "r-1"}}}
    transport.answer(make_response(403, body))
    outcome, result = run_module(incident_info.main, {"auth": held()})
    assert outcome == "fail"
    assert "answered HTTP 403 (Forbidden): Missing application roles." in result["msg"]
    assert result["status"] == 403
    assert result["error_code"] == "Forbidden"
    assert result["request_id"] == "r-1"
    assert result["tenant_id"] == TENANT
    assert "exception" not in result


def test_throttling_is_retried_inside_the_module(transport, waits):
    transport.answer(make_response(429, {"error": {"code": "TooManyRequests"}}, headers={"Retry-After": "3"}),
                     make_response(200, {"value": [{"id": "1"}]}))
    outcome, result = run_module(incident_info.main, {"auth": held()})
    assert outcome == "exit", result
    assert result["count"] == 1
    assert waits == [3.0]
    assert result["http"]["throttled"] == 1 and result["http"]["wait_seconds"] == 3.0
    assert len(result["warnings"]) == 1 and "throttled 1 request(s)" in result["warnings"][0]


def test_unexpected_errors_are_reported_with_a_traceback(transport):
    transport.answer(ValueError("boom"))
    outcome, result = run_module(incident_info.main, {"auth": held()})
    assert outcome == "fail"
    assert result["msg"] == "Unexpected ValueError: boom"
    assert "Traceback" in result["exception"]


def failing_third_page(seen, server=IncidentApi("graph", [{"id": str(number)} for number in range(1, 238)], GRAPH + "/v1.0")):
    if seen.query.get("$skip") == "100":
        return make_response(503, {"error": {"code": "ServiceUnavailable", "message": "Try again later."}})
    return server(seen)


def test_paging_failure_fails_the_task(transport, waits):
    transport.handler = failing_third_page
    outcome, result = run_module(incident_info.main, {"auth": held(), "retries": 1})
    assert outcome == "fail"
    assert result["msg"].startswith("Listing incidents stopped after 2 page(s):")
    assert result["status"] == 503
    assert waits == [0.5]


def test_allow_partial_returns_what_was_read_with_a_warning(transport):
    transport.handler = failing_third_page
    outcome, result = run_module(incident_info.main, {"auth": held(), "retries": 1, "allow_partial": True})
    assert outcome == "exit", result
    assert result["complete"] is False
    assert result["count"] == 100 and result["incidents"][-1] == {"id": "100"}
    assert "HTTP 503" in result["error"]
    assert any("Returning 100 incident(s) read before paging failed" in warning for warning in result["warnings"])


# ----- data of the wrong shape never passes as a complete listing


@pytest.mark.parametrize("allow_partial", [False, True])
def test_a_page_whose_value_is_text_fails_instead_of_listing_its_characters(transport, allow_partial):
    transport.answer(make_response(200, {"value": "abc"}))
    outcome, result = run_module(incident_info.main, {"auth": held(), "allow_partial": allow_partial})
    assert outcome == "fail", "{'value': 'abc'} is not three incidents"
    assert "'value' is a string where a list of objects belongs" in result["msg"]
    assert "GET https://graph.sandbox.test/v1.0/security/incidents" in result["msg"]
    assert "exception" not in result


def test_a_bad_second_page_with_allow_partial_is_incomplete(transport):
    link = GRAPH + "/v1.0/security/incidents?$skip=1"
    transport.answer(make_response(200, {"value": [{"id": "1"}], "@odata.nextLink": link}),
                     make_response(200, {"value": ["2", "3"]}))
    outcome, result = run_module(incident_info.main, {"auth": held(), "allow_partial": True})
    assert outcome == "exit", result
    assert result["complete"] is False and result["count"] == 1
    assert "'value' is a list holding a string" in result["error"]


def test_an_upper_case_next_link_is_followed_and_the_listing_complete(transport):
    items = [{"id": str(number)} for number in range(1, 4)]
    transport.answer(
        make_response(200, {"value": items[:2], "@odata.nextLink": "HTTPS://GRAPH.SANDBOX.TEST/v1.0/security/incidents?$skip=2"}),
        make_response(200, {"value": items[2:]}))
    outcome, result = run_module(incident_info.main, {"auth": held()})
    assert outcome == "exit", result
    assert result["incidents"] == items and result["complete"] is True and result["pages"] == 2
    assert transport.seen[1].url == GRAPH + "/v1.0/security/incidents?$skip=2"


def test_one_incident_of_the_wrong_shape_fails(transport):
    transport.answer(make_response(200, {"value": "abc"}))
    outcome, result = run_module(incident_info.main, {"auth": held(), "incident_id": "7"})
    assert outcome == "fail"
    assert "is not an incident (no 'id')" in result["msg"]


def test_a_raw_filter_that_closes_its_parentheses_fails_before_any_request(transport):
    outcome, result = run_module(incident_info.main, {
        "tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s", "login_url": LOGIN, "graph_url": GRAPH,
        "filter": "severity eq 'low') or (severity ne 'low'", "status": ["active"]})
    assert outcome == "fail"
    assert result["msg"].startswith("Option 'filter' closes a parenthesis it did not open")
    assert transport.seen == [], "not even a sign-in"


# ----- chosen properties


def sign_in_args(**options):
    return dict({"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s", "login_url": LOGIN,
                 "graph_url": GRAPH, "defender_url": DEFENDER}, **options)


@pytest.mark.parametrize("options, words", [
    ({"properties": ["id", "incidentId"]},
     "Option 'properties' got 'incidentId', which is the Defender API's name; on Graph use 'id'."),
    ({"api": "defender", "properties": ["displayName"]},
     "Option 'properties' got 'displayName', which is Graph's name; on the Defender API use 'incidentName'."),
    ({"alerts": True, "alert_properties": ["alertId"]},
     "Option 'alert_properties' got 'alertId', which is the Defender API's name; on Graph use 'id'."),
    ({"alert_properties": ["id"]}, "Option 'alert_properties' needs option 'alerts' set to true"),
    ({"properties": ["id", "alerts"]}, "Option 'properties' names 'alerts', which option 'alerts' controls"),
    ({"properties": []}, "Option 'properties' is an empty list"),
    ({"incident_id": "7", "properties": ["Severity"]}, "got 'Severity', which is spelled 'severity'"),
])
def test_bad_property_names_fail_before_any_request(transport, options, words):
    outcome, result = run_module(incident_info.main, sign_in_args(**options))
    assert outcome == "fail"
    assert words in result["msg"]
    assert "exception" not in result
    assert transport.seen == [], "not even a sign-in"


def test_defender_filters_on_severity_without_returning_it(transport):
    incidents = [{"incidentId": number, "incidentName": "i%d" % number, "severity": SEVERITIES[number % 5],
                  "alerts": [{"alertId": "da%d" % number, "title": "t"}]} for number in range(1, 238)]
    transport.handler = IncidentApi("defender", incidents, DEFENDER + "/api")
    outcome, result = run_module(incident_info.main, {
        "auth": held("defender"), "severity": ["high"], "properties": ["incidentName", "incidentId", "createdTime"]})
    assert outcome == "exit", result
    assert result["incidents"] == [{"incidentName": "i%d" % number, "incidentId": number}
                                   for number in range(5, 238, 5)]
    assert result["count"] == 47 and result["filters_applied_locally"] == ["severity"]


def test_graph_alerts_are_expanded_and_projected(transport):
    incidents = [{"id": str(number), "status": "active", "alerts": [{"id": "da%d" % number, "title": "t"}]}
                 for number in range(1, 4)]
    server = IncidentApi("graph", incidents, GRAPH + "/v1.0")
    transport.handler = server
    outcome, result = run_module(incident_info.main, {
        "auth": held(), "properties": ["id"], "alerts": True, "alert_properties": ["title"]})
    assert outcome == "exit", result
    assert result["incidents"] == [{"id": str(number), "alerts": [{"title": "t"}]} for number in range(1, 4)]
    assert server.queries == [{"$top": "50", "$expand": "alerts"}]


def test_one_incident_by_id_is_projected(transport):
    transport.answer(make_response(200, {"@odata.context": DEFENDER + "/api/$metadata#Incidents/$entity",
                                         "incidentId": 924565, "severity": "High", "alerts": []}))
    outcome, result = run_module(incident_info.main, {
        "auth": held("defender"), "incident_id": "924565", "properties": ["severity"]})
    assert outcome == "exit", result
    assert result["incidents"] == [{"severity": "High"}]


def documented_names(option, api):
    """The V() names of the option's description item that starts with "On Graph:" or "On the Defender API:"."""
    options = yaml.safe_load(incident_info.DOCUMENTATION)["options"]
    start = "On Graph:" if api == "graph" else "On the Defender API:"
    items = [item for item in options[option]["description"] if item.startswith(start)]
    assert len(items) == 1, items
    return re.findall(r"V\(([^)]+)\)", items[0])


@pytest.mark.parametrize("option, kind", [("properties", "incident"), ("alert_properties", "alert")])
@pytest.mark.parametrize("api", ["graph", "defender"])
def test_the_documented_names_are_the_checked_names(option, kind, api):
    assert documented_names(option, api) == allowed_names(kind, api)
