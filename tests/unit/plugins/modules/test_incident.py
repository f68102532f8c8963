# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import time

import pytest
import requests

from ansible_collections.secops.m365_defender.plugins.module_utils import _update
from ansible_collections.secops.m365_defender.plugins.modules import incident
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
    Router,
    make_jwt,
    make_response,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module

HOST = {"graph": "graph.sandbox.test", "defender": "defender.sandbox.test"}


def held(api="graph"):
    return {"access_token": make_jwt({"aud": "x"}), "expires_on": int(time.time()) + 3600, "api": api,
            "cloud": "global", "tenant_id": TENANT, "client_id": CLIENT, "login_url": LOGIN, "api_url": API_URL[api]}


def credentials(api="graph"):
    return {"api": api, "tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s", "login_url": LOGIN,
            "%s_url" % api: GRAPH if api == "graph" else DEFENDER}


@pytest.fixture(autouse=True)
def lock_directory(tmp_path, monkeypatch):
    """Each test's incident locks in its own directory, so parallel test runs never wait on each other."""
    directory = str(tmp_path / "locks")
    monkeypatch.setattr(_update, "default_lock_directory", lambda: directory)
    return directory


def graph_incident(**fields):
    value = {"id": "7", "tenantId": "t", "displayName": "Multi-stage incident", "status": "active", "severity": "high",
             "assignedTo": "analyst@contoso.com", "classification": "unknown", "determination": "unknown",
             "customTags": ["a"], "systemTags": [], "comments": [
                 {"comment": "First.", "createdByDisplayName": "someone", "createdDateTime": "2026-01-01T00:00:00Z"}]}
    value.update(fields)
    return value


def defender_incident(**fields):
    value = {"incidentId": 7, "incidentName": "Multi-stage incident", "status": "Active", "severity": "High",
             "assignedTo": None, "classification": "Unknown", "determination": "NotAvailable", "tags": [],
             "comments": []}
    value.update(fields)
    return value


def serve(transport, api, incidents, **kwargs):
    service = IncidentService(api, API_URL[api], incidents, **kwargs)
    transport.handler = Router(**{HOST[api]: service})
    return service


def requests_sent(transport):
    return [(seen.method, seen.path) for seen in transport.seen]


def run(api="graph", **options):
    module_args = {"auth": held(api), "incident_id": "7"}
    module_args.update(options)
    return run_module(incident.main, module_args)


def comment_texts(value):
    return [entry["comment"] for entry in value.get("comments") or []]


# ----- changes, and the second run that finds nothing to change


def test_graph_update_then_nothing_left_to_do(transport):
    service = serve(transport, "graph", [graph_incident()])
    options = dict(status="in_progress", assigned_to="ANALYST@contoso.com", tags=["a", "b"], comment="Taken.")
    outcome, result = run(**options)
    assert outcome == "exit", result
    assert result["changed"] is True and result["api"] == "graph"
    assert service.writes == [
        ("PATCH", "/security/incidents/7", {"status": "inProgress", "customTags": ["a", "b"]}),
        ("POST", "/security/incidents/7/comments", {"@odata.type": "microsoft.graph.security.alertComment",
                                                    "comment": "Taken."}),
    ]
    stored = service.incidents["7"]
    assert dict((name, value) for name, value in result["incident"].items() if name != "comments") == \
        dict((name, value) for name, value in stored.items() if name != "comments")
    assert comment_texts(result["incident"]) == comment_texts(stored) == ["First.", "Taken."]
    assert "diff" not in result
    assert result["http"]["requests"] == 3 and result["http"]["throttled"] == 0
    assert all(seen.headers["Authorization"].startswith("Bearer ") for seen in transport.seen)

    del transport.seen[:]
    outcome, result = run(**options)
    assert outcome == "exit", result
    assert result["changed"] is False
    assert requests_sent(transport) == [("GET", "/v1.0/security/incidents/7")]
    assert len(service.writes) == 2
    assert result["incident"] == stored, "the incident as read, without @odata.context"


def test_defender_update_is_one_patch_then_nothing_left_to_do(transport):
    service = serve(transport, "defender", [defender_incident()])
    options = dict(api="defender", status="Resolved", classification="true_positive", determination="compromised user",
                   tags=["phishing"], comment="Closed.")
    outcome, result = run(**options)
    assert outcome == "exit", result
    assert result["changed"] is True and result["api"] == "defender"
    assert service.writes == [("PATCH", "/incidents/7", {
        "status": "Resolved", "classification": "TruePositive", "determination": "CompromisedAccount",
        "tags": ["phishing"], "comment": "Closed."})]
    assert result["incident"] == service.incidents["7"]
    assert comment_texts(result["incident"]) == ["Closed."]

    outcome, result = run(**options)
    assert outcome == "exit", result
    assert result["changed"] is False
    assert len(service.writes) == 1


def test_graph_comment_only_is_one_post(transport):
    service = serve(transport, "graph", [graph_incident()])
    outcome, result = run(comment="Escalated to tier 2.")
    assert outcome == "exit", result
    assert result["changed"] is True
    assert requests_sent(transport) == [("GET", "/v1.0/security/incidents/7"), ("POST", "/v1.0/security/incidents/7/comments")]
    assert comment_texts(result["incident"]) == ["First.", "Escalated to tier 2."]
    assert result["incident"]["status"] == "active"
    assert len(service.writes) == 1


# ----- check mode and diff


@pytest.mark.parametrize("api", ["graph", "defender"])
def test_check_mode_reads_and_predicts_but_writes_nothing(transport, api):
    current = graph_incident() if api == "graph" else defender_incident()
    service = serve(transport, api, [copy.deepcopy(current)])
    outcome, result = run(api=api, _ansible_check_mode=True, status="resolved", tags=["x"], comment="Closed.")
    assert outcome == "exit", result
    assert result["changed"] is True
    assert [method for method, path in requests_sent(transport)] == ["GET"]
    assert service.writes == [] and service.incidents["7"] == current
    tags = "customTags" if api == "graph" else "tags"
    assert result["incident"]["status"] == ("resolved" if api == "graph" else "Resolved")
    assert result["incident"][tags] == current[tags] + ["x"]
    assert comment_texts(result["incident"]) == comment_texts(current) + ["Closed."]


def test_check_mode_without_changes(transport):
    serve(transport, "graph", [graph_incident()])
    outcome, result = run(_ansible_check_mode=True, status="active", comment="First.")
    assert outcome == "exit", result
    assert result["changed"] is False
    assert result["incident"] == graph_incident()


@pytest.mark.parametrize("check_mode", [False, True])
def test_diff_is_returned_only_in_diff_mode(transport, check_mode):
    serve(transport, "graph", [graph_incident()])
    outcome, result = run(_ansible_diff=True, _ansible_check_mode=check_mode, status="inProgress",
                          assigned_to="Analyst@Contoso.com", comment="Taken.")
    assert outcome == "exit", result
    assert result["diff"] == {"before": {"status": "active", "comments": ["First."]},
                              "after": {"status": "inProgress", "comments": ["First.", "Taken."]}}

    outcome, result = run(_ansible_check_mode=check_mode, status="resolved")
    assert outcome == "exit", result
    assert result["changed"] is True and "diff" not in result


def test_diff_of_a_run_without_changes_is_empty(transport):
    serve(transport, "defender", [defender_incident()])
    outcome, result = run(api="defender", _ansible_diff=True, status="active")
    assert outcome == "exit", result
    assert result["changed"] is False
    assert result["diff"] == {"before": {}, "after": {}}


# ----- failures


@pytest.mark.parametrize("api", ["graph", "defender"])
def test_an_unknown_incident_fails_naming_it_and_the_tenant(transport, api):
    service = serve(transport, api, [graph_incident() if api == "graph" else defender_incident()])
    outcome, result = run(api=api, incident_id="99", status="resolved")
    assert outcome == "fail"
    assert "99" in result["msg"] and TENANT in result["msg"] and api in result["msg"]
    assert result["status"] == 404 and result["tenant_id"] == TENANT
    assert "exception" not in result
    assert [method for method, path in requests_sent(transport)] == ["GET"] and service.writes == []


FORBIDDEN = {"error": {"code": "Forbidden", "message": "Missing application roles. API required roles: "
                                                       "SecurityIncident.ReadWrite.All.",
                       "innerError": {"request-id": "r-403"}}}


@pytest.mark.parametrize("method, sent", [("GET", ["GET"]), ("PATCH", ["GET", "PATCH"])])
def test_a_forbidden_read_or_write_fails_with_the_status(transport, method, sent):
    serve(transport, "graph", [graph_incident()], refuse={method: make_response(403, FORBIDDEN)})
    outcome, result = run(status="resolved", comment="Closed.")
    assert outcome == "fail"
    assert result["status"] == 403 and result["error_code"] == "Forbidden" and result["request_id"] == "r-403"
    assert "HTTP 403" in result["msg"] and "SecurityIncident.ReadWrite.All" in result["msg"]
    assert "exception" not in result
    assert [seen.method for seen in transport.seen] == sent, "no comment is posted after a refused update"


@pytest.mark.parametrize("options, words", [
    ({"status": "closed"}, "Option 'status' got 'closed'"),
    ({"status": "Redirected"}, "'status' cannot be 'redirected'"),
    ({"comment": "   "}, "Option 'comment' must not be empty"),
    ({"classification": "truePositive", "determination": "clean"}, "does not go with classification"),
    ({"determination": "banana"}, "Option 'determination' got 'banana'"),
    ({"api": "defender", "defender_url": DEFENDER, "status": "awaitingAction"}, "Option 'status' got 'awaitingAction'"),
    ({"incident_id": "7/../8", "status": "resolved"}, "Option 'incident_id'"),
])
def test_input_errors_fail_before_any_request(transport, options, words):
    entra = FakeEntra(LOGIN, TENANT)
    transport.handler = Router(**{"login.sandbox.test": entra, HOST["graph"]: IncidentService("graph", API_URL["graph"]),
                                  HOST["defender"]: IncidentService("defender", API_URL["defender"])})
    module_args = credentials()
    module_args.update(incident_id="7")
    module_args.update(options)
    outcome, result = run_module(incident.main, module_args)
    assert outcome == "fail"
    assert words in result["msg"]
    assert "exception" not in result
    assert transport.seen == [], "not even a sign-in"


@pytest.mark.parametrize("api", ["graph", "defender"])
def test_a_pair_that_does_not_fit_the_incident_fails_before_any_write(transport, api):
    if api == "graph":
        current = graph_incident(classification="truePositive", determination="malware")
    else:
        current = defender_incident(classification="TruePositive", determination="Malware")
    service = serve(transport, api, [current])
    outcome, result = run(api=api, classification="falsePositive", comment="Closed.")
    assert outcome == "fail"
    assert "does not go with classification" in result["msg"]
    assert "malware" in result["msg"].lower() and "falsepositive" in result["msg"].lower()
    assert [method for method, path in requests_sent(transport)] == ["GET"] and service.writes == []


def test_a_refused_held_token_is_renewed_once_with_the_credentials(transport):
    entra = FakeEntra(LOGIN, TENANT, access_token=make_jwt({"aud": "https://graph.microsoft.com", "n": "fresh"}))
    service = IncidentService("graph", API_URL["graph"], [graph_incident()])
    transport.handler = Router(**{"login.sandbox.test": entra, HOST["graph"]: service})
    expired = {"error": {"code": "InvalidAuthenticationToken", "message": "Lifetime validation failed, the token is expired."}}
    transport.answer(make_response(401, expired))
    auth = held()
    module_args = credentials()
    module_args.update(auth=auth, incident_id="7", status="resolved")
    outcome, result = run_module(incident.main, module_args)
    assert outcome == "exit", result
    api_calls = [seen for seen in transport.seen if seen.host == HOST["graph"]]
    assert [(seen.method, seen.headers["Authorization"]) for seen in api_calls] == [
        ("GET", "Bearer " + auth["access_token"]),
        ("GET", "Bearer " + entra.access_token),
        ("PATCH", "Bearer " + entra.access_token),
    ]
    assert len(entra.token_requests) == 1
    assert json.loads(api_calls[-1].body) == {"status": "resolved"}


# ----- a write whose answer is lost


class LosesAnswers(object):
    """Carries every request out on the service, then loses the answer of the first `count` writes."""

    def __init__(self, service, count=1):
        self.service = service
        self.count = count

    def __call__(self, seen):
        answer = self.service(seen)
        if seen.method in ("PATCH", "POST") and self.count:
            self.count -= 1
            raise requests.exceptions.ConnectionError("('Connection aborted.', RemoteDisconnected('Remote end closed "
                                                      "connection without response'))")
        return answer


@pytest.mark.parametrize("api", ["graph", "defender"])
def test_an_update_without_a_comment_is_sent_again_after_a_lost_answer(transport, waits, api):
    service = IncidentService(api, API_URL[api], [graph_incident() if api == "graph" else defender_incident()])
    transport.handler = LosesAnswers(service)
    outcome, result = run(api=api, status="resolved")
    assert outcome == "exit", result
    assert [method for method, path, body in service.writes] == ["PATCH", "PATCH"], "setting a status twice is harmless"
    assert result["incident"]["status"].lower() == "resolved"
    assert result["http"]["retries"] == 1 and waits == [0.5]


def test_a_graph_comment_is_not_posted_again_after_a_lost_answer(transport, waits):
    service = IncidentService("graph", API_URL["graph"], [graph_incident()])
    transport.handler = LosesAnswers(service)
    outcome, result = run(comment="Taken.")
    assert outcome == "exit", result
    assert result["changed"] is True and result["applied"] == ["comment"]
    assert [method for method, path, body in service.writes] == ["POST"]
    assert comment_texts(service.incidents["7"]) == comment_texts(result["incident"]) == ["First.", "Taken."]
    assert "got no usable answer" in result["warnings"][0] and "carried out" in result["warnings"][0]
    assert waits == [], "the re-read found it at once"


def test_a_defender_comment_is_not_sent_again_after_a_lost_answer(transport, waits):
    service = IncidentService("defender", API_URL["defender"], [defender_incident()])
    transport.handler = LosesAnswers(service)
    outcome, result = run(api="defender", status="resolved", comment="Closed.")
    assert outcome == "exit", result
    assert comment_texts(service.incidents["7"]) == ["Closed."]
    assert len(service.writes) == 1
    assert result["applied"] == ["status", "comment"] and result["incident"]["status"] == "Resolved"


class DropsWrites(object):
    """Loses the first `count` comment writes on the way there: not carried out, no answer."""

    def __init__(self, service, count=1):
        self.service = service
        self.count = count

    def __call__(self, seen):
        comment_write = seen.method == "POST" or (seen.method == "PATCH" and "comment" in json.loads(seen.body))
        if comment_write and self.count:
            self.count -= 1
            raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=4)")
        return self.service(seen)


@pytest.mark.parametrize("api", ["graph", "defender"])
def test_a_comment_write_without_an_answer_that_never_lands_fails_saying_so(transport, waits, api):
    service = IncidentService(api, API_URL[api], [graph_incident() if api == "graph" else defender_incident()])
    transport.handler = DropsWrites(service)
    outcome, result = run(api=api, timeout=4, status="resolved", comment="Closed.")
    assert outcome == "fail"
    assert "not confirmed: " in result["msg"] and "not sent again" in result["msg"]
    assert sum(waits) == 4.0, "read again for about as long as the timeout"
    assert "exception" not in result
    if api == "graph":
        assert (result["applied"], result["unconfirmed"], result["not_applied"]) == (["status"], ["comment"], [])
    else:
        assert (result["applied"], result["unconfirmed"], result["not_applied"]) == ([], ["status", "comment"], [])
    assert result["changed"] is True
    assert comment_texts(service.incidents["7"]) == comment_texts(graph_incident() if api == "graph" else defender_incident())

    del transport.seen[:]
    outcome, result = run(api=api, status="resolved", comment="Closed.")
    assert outcome == "exit", result
    assert comment_texts(service.incidents["7"]).count("Closed.") == 1, "the re-run adds it once"


def test_a_comment_refused_after_the_status_changed_reports_changed_and_what_was_applied(transport):
    service = serve(transport, "graph", [graph_incident()], refuse={"POST": make_response(403, FORBIDDEN)})
    outcome, result = run(status="resolved", tags=["b"], comment="Closed.")
    assert outcome == "fail"
    assert result["changed"] is True, "the status and the tag were changed"
    assert (result["applied"], result["not_applied"], result["unconfirmed"]) == (["status", "tags"], ["comment"], [])
    assert "applied: status, tags" in result["msg"] and "not applied: comment" in result["msg"]
    assert "HTTP 403" in result["msg"] and result["status"] == 403
    assert service.incidents["7"]["status"] == "resolved"


def test_a_successful_update_lists_what_it_applied(transport):
    serve(transport, "graph", [graph_incident()])
    outcome, result = run(status="resolved", comment="Closed.")
    assert outcome == "exit", result
    assert (result["applied"], result["not_applied"], result["unconfirmed"]) == (["status", "comment"], [], [])
    outcome, result = run(status="resolved", comment="Closed.")
    assert outcome == "exit" and result["changed"] is False
    assert "applied" not in result, "no write, nothing to list"
