# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

import pytest
import requests
import yaml

from ansible_collections.secops.m365_defender.plugins.modules import hunting_query
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import (
    API_URL,
    CLIENT,
    DEFENDER,
    GRAPH,
    LOGIN,
    TENANT,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    FakeEntra,
    IncidentService,
    make_jwt,
    make_response,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module

QUERY = 'AlertInfo\n| where Severity == "High"\n| summarize count() by ServiceSource'
ROWS = [{"ServiceSource": "Microsoft Defender for Endpoint", "count_": number} for number in range(1, 38)]

# docs/microsoft-apis.md §6: each API's answer.
GRAPH_ANSWER = {"@odata.context": GRAPH + "/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
                "schema": [{"name": "ServiceSource", "type": "String"}, {"name": "count_", "type": "Int64"}],
                "results": ROWS}
DEFENDER_ANSWER = {"Stats": {"ExecutionTime": 0.66, "resource_usage": {"cpu": {"total": 0.1}}, "dataset_statistics": []},
                   "Schema": [{"Name": "ServiceSource", "Type": "String"}, {"Name": "count_", "Type": "Int64"}],
                   "Results": ROWS}


def held(api="graph"):
    return {"access_token": make_jwt({"aud": "x"}), "expires_on": int(time.time()) + 3600, "api": api,
            "cloud": "global", "tenant_id": TENANT, "client_id": CLIENT, "login_url": LOGIN, "api_url": API_URL[api]}


def serve(transport, api, answer):
    service = IncidentService(api, API_URL[api], hunting=answer)
    transport.handler = service
    return service


def run(api="graph", **options):
    module_args = {"auth": held(api), "query": QUERY}
    module_args.update(options)
    return run_module(hunting_query.main, module_args)


def documented_keys(api):
    """The result keys RETURN promises for this API."""
    keys = set()
    for name, doc in yaml.safe_load(hunting_query.RETURN).items():
        if doc["returned"] == "success" or doc["returned"] == "success and O(api=%s)" % api:
            keys.add(name)
    return keys


def test_graph_query_with_a_timespan(transport):
    service = serve(transport, "graph", GRAPH_ANSWER)
    outcome, result = run(timespan="P7D")
    assert outcome == "exit", result
    assert service.hunting_bodies == [{"Query": QUERY, "Timespan": "P7D"}]
    seen = transport.seen[0]
    assert (seen.method, seen.url) == ("POST", GRAPH + "/v1.0/security/runHuntingQuery")
    assert seen.headers["Content-Type"].startswith("application/json")
    assert result["schema"] == GRAPH_ANSWER["schema"]
    assert result["results"] == ROWS
    assert result["row_count"] == len(ROWS)
    assert "stats" not in result, "Graph returns no statistics"
    assert result["api"] == "graph" and result["changed"] is False
    assert set(result) == documented_keys("graph") | set(["changed"])
    assert result["http"]["requests"] == 1


def test_graph_query_without_a_timespan_sends_none(transport):
    service = serve(transport, "graph", GRAPH_ANSWER)
    outcome, result = run()
    assert outcome == "exit", result
    assert service.hunting_bodies == [{"Query": QUERY}]


def test_defender_query_returns_the_statistics(transport):
    service = serve(transport, "defender", DEFENDER_ANSWER)
    outcome, result = run(api="defender")
    assert outcome == "exit", result
    assert service.hunting_bodies == [{"Query": QUERY}]
    assert transport.seen[0].url == DEFENDER + "/api/advancedhunting/run"
    assert result["schema"] == DEFENDER_ANSWER["Schema"]
    assert result["results"] == ROWS
    assert result["row_count"] == len(ROWS)
    assert result["stats"] == DEFENDER_ANSWER["Stats"]
    assert result["api"] == "defender" and result["changed"] is False
    assert set(result) == documented_keys("defender") | set(["changed", "warnings"])


@pytest.mark.parametrize("api, answer", [("graph", GRAPH_ANSWER), ("defender", DEFENDER_ANSWER)])
def test_only_the_defender_api_warns_that_its_hunting_endpoint_is_retiring(transport, api, answer):
    serve(transport, api, answer)
    outcome, result = run(api=api)
    assert outcome == "exit", result
    warnings = result.get("warnings", [])
    if api == "graph":
        assert warnings == []
    else:
        assert len(warnings) == 1 and "MC1220762" in warnings[0] and "runHuntingQuery" in warnings[0]
        assert "api: graph" in warnings[0]


@pytest.mark.parametrize("api, answer", [("graph", {"schema": [], "results": []}), ("defender", {"Schema": [], "Results": [], "Stats": {}})])
def test_a_query_without_rows(transport, api, answer):
    serve(transport, api, answer)
    outcome, result = run(api=api)
    assert outcome == "exit", result
    assert (result["results"], result["row_count"], result["schema"]) == ([], 0, [])


def test_check_mode_runs_the_read_only_query(transport):
    service = serve(transport, "graph", GRAPH_ANSWER)
    outcome, result = run(_ansible_check_mode=True)
    assert outcome == "exit", result
    assert result["changed"] is False and result["row_count"] == len(ROWS)
    assert len(service.hunting_bodies) == 1


@pytest.mark.parametrize("options, words", [
    ({"api": "defender", "defender_url": DEFENDER, "timespan": "P7D"}, "Option 'timespan' exists only on the Graph API"),
    ({"query": ""}, "Option 'query' must not be empty"),
    ({"query": "  \n\t"}, "Option 'query' must not be empty"),
])
def test_input_errors_fail_before_any_request(transport, options, words):
    transport.handler = FakeEntra(LOGIN, TENANT)
    module_args = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s", "login_url": LOGIN, "graph_url": GRAPH,
                   "query": QUERY}
    module_args.update(options)
    outcome, result = run_module(hunting_query.main, module_args)
    assert outcome == "fail"
    assert words in result["msg"]
    assert "exception" not in result
    assert transport.seen == [], "not even a sign-in"


def test_a_bad_query_fails_with_the_apis_message(transport):
    message = "Query could not be parsed at 'DeviceProcessEventz' on line [1,0]"
    serve(transport, "defender", make_response(400, {"error": {"code": "BadRequest", "message": message,
                                                               "target": "tracking-id-1"}}))
    outcome, result = run(api="defender", query="DeviceProcessEventz | take 1")
    assert outcome == "fail"
    assert message in result["msg"] and "HTTP 400" in result["msg"]
    assert result["status"] == 400 and result["error_code"] == "BadRequest" and result["request_id"] == "tracking-id-1"
    assert result["tenant_id"] == TENANT
    assert len(transport.seen) == 1, "a 400 is not retried"


@pytest.mark.parametrize("api, answer", [("graph", GRAPH_ANSWER), ("defender", DEFENDER_ANSWER)])
def test_a_throttled_query_is_retried_and_reported(transport, waits, api, answer):
    quota = {"error": {"code": "429", "message": "API calls quota exceeded! maximum allowed 45 per 00:01:00",
                       "target": "tracking-id-2"}}
    service = serve(transport, api, answer)
    transport.answer(make_response(429, quota, headers={"Retry-After": "2"}))
    outcome, result = run(api=api)
    assert outcome == "exit", result
    assert result["row_count"] == len(ROWS)
    assert len(transport.seen) == 2 and len(service.hunting_bodies) == 1
    assert transport.seen[0].body == transport.seen[1].body, "the same query, sent again"
    assert waits == [2.0]
    assert result["http"]["throttled"] == 1 and result["http"]["retries"] == 1 and result["http"]["wait_seconds"] == 2.0
    throttling = [warning for warning in result["warnings"] if "MC1220762" not in warning]
    assert len(throttling) == 1
    assert "throttled 1 request(s) with HTTP 429" in throttling[0]


def test_throttling_beyond_the_retries_fails_with_retry_after(transport, waits):
    quota = {"error": {"code": "429", "message": "API calls quota exceeded! maximum allowed 45 per 00:01:00"}}
    serve(transport, "graph", make_response(429, quota, headers={"Retry-After": "5"}))
    outcome, result = run(retries=1)
    assert outcome == "fail"
    assert result["status"] == 429 and result["retry_after"] == "5"
    assert "maximum allowed 45" in result["msg"]
    assert waits == [5.0] and len(transport.seen) == 2


def test_a_query_whose_answer_was_lost_is_sent_again(transport, waits):
    """Hunting only reads, so its POST is repeated after a lost connection like a GET."""
    service = serve(transport, "graph", GRAPH_ANSWER)
    transport.answer(requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError(104, 'reset'))"))
    outcome, result = run()
    assert outcome == "exit", result
    assert result["row_count"] == len(ROWS)
    assert len(transport.seen) == 2 and len(service.hunting_bodies) == 1
    assert result["http"]["retries"] == 1 and result["http"]["throttled"] == 0
    assert "warnings" not in result
