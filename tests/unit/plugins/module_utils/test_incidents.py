# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._api import FLAVOURS, ApiClient, DefenderFlavour
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError, InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import (
    IncidentQuery,
    get_incident,
    list_incidents,
    parse_iso_time,
    parse_time_option,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._properties import incident_projection
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    FakeAuthenticator,
    IncidentApi,
    make_response,
)

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
GRAPH, DEFENDER = FLAVOURS["graph"], FLAVOURS["defender"]


def utc(*args):
    return datetime.datetime(*args, tzinfo=UTC)


# ----- time parsing


@pytest.mark.parametrize("text, expected, offset", [
    ("2024-05-01T10:20:30Z", utc(2024, 5, 1, 10, 20, 30), 0),
    ("2020-09-06T14:46:57.0733333Z", utc(2020, 9, 6, 14, 46, 57, 73333), 0),
    ("2026-11-20T08:15:31.12Z", utc(2026, 11, 20, 8, 15, 31, 120000), 0),
    ("2024-05-01T10:20:30.5+02:00", utc(2024, 5, 1, 8, 20, 30, 500000), 2 * 60),
    ("2024-05-01T10:20:30+0200", utc(2024, 5, 1, 8, 20, 30), 2 * 60),
    ("2024-05-01T10:20:30-05:30", utc(2024, 5, 1, 15, 50, 30), -(5 * 60 + 30)),
    ("2024-05-01T10:20:30", utc(2024, 5, 1, 10, 20, 30), 0),
    ("2024-05-01 10:20", utc(2024, 5, 1, 10, 20), 0),
    ("2024-05-01", utc(2024, 5, 1), 0),
    ("  2024-05-01T00:00:00Z  ", utc(2024, 5, 1), 0),
])
def test_parse_iso_time(text, expected, offset):
    parsed = parse_iso_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == datetime.timedelta(minutes=offset)


@pytest.mark.parametrize("text", [
    "yesterday", "", "24h", "2024-13-01", "2024-02-30", "2024-05-01T25:00:00Z", "2024-05-01T10:61:00Z",
    "2024/05/01", "05/01/2024", "2024-05-01T10:20:30X", None,
])
def test_parse_iso_time_garbage(text):
    assert parse_iso_time(text) is None


@pytest.mark.parametrize("text", ["2024-05-01T00:00:00+24:00", "2024-05-01T00:00:00-99:00"])
def test_parse_iso_time_impossible_offset(text):
    assert parse_iso_time(text) is None


@pytest.mark.parametrize("value, delta", [
    ("24h", datetime.timedelta(hours=24)),
    ("30m", datetime.timedelta(minutes=30)),
    ("7d", datetime.timedelta(days=7)),
    ("2w", datetime.timedelta(weeks=2)),
    ("45s", datetime.timedelta(seconds=45)),
    (" 3 h ", datetime.timedelta(hours=3)),
    ("0d", datetime.timedelta(0)),
])
def test_parse_time_option_relative(value, delta):
    assert parse_time_option("created_after", value, now=NOW) == NOW - delta


def test_parse_time_option_relative_defaults_to_the_current_time():
    before = datetime.datetime.now(UTC)
    parsed = parse_time_option("updated_after", "1h")
    after = datetime.datetime.now(UTC)
    assert before - datetime.timedelta(hours=1) <= parsed <= after - datetime.timedelta(hours=1)


def test_parse_time_option_iso():
    assert parse_time_option("created_after", "2024-05-01T00:00:00Z", now=NOW) == utc(2024, 5, 1)


@pytest.mark.parametrize("option", ["created_after", "updated_after"])
@pytest.mark.parametrize("value", ["yesterday", "24 hours", "-1h", "1y", "2024-13-01"])
def test_parse_time_option_errors_name_the_option(option, value):
    with pytest.raises(InputError) as raised:
        parse_time_option(option, value, now=NOW)
    assert "'%s'" % option in raised.value.message
    assert "'%s'" % value in raised.value.message


# ----- server-side filter

ALL = {
    "status": ["active", "in_progress"],
    "severity": ["high"],
    "classification": ["TruePositive"],
    "determination": ["CompromisedAccount"],
    "assigned_to": "o'brien@contoso.com",
    "created_after": "2024-05-01T00:00:00+02:00",
    "updated_after": "24h",
    "filter": "displayName eq 'x' or severity eq 'low'",
}


def test_graph_server_filter_applies_everything():
    query = IncidentQuery(GRAPH, ALL, now=NOW)
    assert query.server_filter() == (
        "(displayName eq 'x' or severity eq 'low')"
        " and (status eq 'active' or status eq 'inProgress')"
        " and severity eq 'high'"
        " and classification eq 'truePositive'"
        " and determination eq 'compromisedAccount'"
        " and assignedTo eq 'o''brien@contoso.com'"
        " and createdDateTime ge 2024-04-30T22:00:00Z"
        " and lastUpdateDateTime ge 2026-11-25T10:00:00Z"
    )
    assert query.local_filters == []


def test_defender_server_filter_leaves_severity_classification_determination_local():
    query = IncidentQuery(DEFENDER, ALL, now=NOW)
    assert query.server_filter() == (
        "(displayName eq 'x' or severity eq 'low')"
        " and (status eq 'Active' or status eq 'InProgress')"
        " and assignedTo eq 'o''brien@contoso.com'"
        " and createdTime ge 2024-04-30T22:00:00Z"
        " and lastUpdateTime ge 2026-11-25T10:00:00Z"
    )
    assert query.local_filters == ["classification", "determination", "severity"]


@pytest.mark.parametrize("flavour, params, expected", [
    (GRAPH, {}, ""),
    (GRAPH, {"status": []}, ""),
    (GRAPH, {"filter": "severity eq 'high'"}, "(severity eq 'high')"),
    (GRAPH, {"severity": ["HIGH", "Medium", "unspecified"]},
     "(severity eq 'high' or severity eq 'medium' or severity eq 'unknown')"),
    (DEFENDER, {"status": ["resolved"]}, "status eq 'Resolved'"),
    (DEFENDER, {"severity": ["high"]}, ""),
    (DEFENDER, {"assigned_to": "it's"}, "assignedTo eq 'it''s'"),
    (GRAPH, {"created_after": "2020-09-06T14:46:57.0733333Z"}, "createdDateTime ge 2020-09-06T14:46:57.073333Z"),
    (DEFENDER, {"updated_after": "2024-05-01"}, "lastUpdateTime ge 2024-05-01T00:00:00Z"),
])
def test_server_filter_pieces(flavour, params, expected):
    assert IncidentQuery(flavour, params, now=NOW).server_filter() == expected


@pytest.mark.parametrize("raw", [
    "severity eq 'high'",
    "(severity eq 'high' or severity eq 'low') and status ne 'resolved'",
    "displayName eq 'Brute force (RDP) from 10.0.0.1'",
    "displayName eq 'unbalanced ) inside a literal'",
    "displayName eq 'O''Brien (again'",
    "((status eq 'active'))",
])
def test_a_balanced_raw_filter_is_anded_in_parentheses(raw):
    query = IncidentQuery(GRAPH, {"filter": raw, "status": ["active"]}, now=NOW)
    assert query.server_filter() == "(%s) and status eq 'active'" % raw


@pytest.mark.parametrize("raw, words", [
    ("severity eq 'high') or (severity eq 'low'", "closes a parenthesis it did not open (character 19"),
    ("status eq 'active')", "closes a parenthesis it did not open"),
    (")(", "closes a parenthesis it did not open (character 1"),
    ("(status eq 'active'", "leaves 1 parenthesis(es) open"),
    ("((x eq 'a')", "leaves 1 parenthesis(es) open"),
    ("displayName eq 'abc", "string literal without its closing quote"),
    ("displayName eq 'it's') or (true", "string literal without its closing quote"),
])
def test_a_raw_filter_that_could_escape_its_parentheses_is_refused(raw, words):
    """Otherwise "x) or (y" turns the other options' clauses into alternatives: status would no longer filter."""
    with pytest.raises(InputError) as raised:
        IncidentQuery(GRAPH, {"filter": raw, "status": ["active"]}, now=NOW)
    assert raised.value.message.startswith("Option 'filter' ")
    assert words in raised.value.message and raw in raised.value.message


def test_query_errors_name_the_option_before_anything_is_sent():
    with pytest.raises(InputError) as raised:
        IncidentQuery(GRAPH, {"severity": ["high", "critical"]})
    assert "'severity'" in raised.value.message and "'critical'" in raised.value.message
    with pytest.raises(InputError) as raised:
        IncidentQuery(DEFENDER, {"status": ["awaitingAction"]})
    assert "'status'" in raised.value.message
    with pytest.raises(InputError) as raised:
        IncidentQuery(GRAPH, {"updated_after": "last week"})
    assert "'updated_after'" in raised.value.message


# ----- local filters


@pytest.mark.parametrize("params, incident, expected", [
    ({"severity": ["high", "medium"]}, {"severity": "High"}, True),
    ({"severity": ["high", "medium"]}, {"severity": "Medium"}, True),
    ({"severity": ["high", "medium"]}, {"severity": "Low"}, False),
    ({"severity": ["high"]}, {}, False),
    ({"severity": ["high"]}, {"severity": None}, False),
    ({"severity": ["unknown"]}, {"severity": "UnSpecified"}, True),
    ({"classification": ["true_positive"]}, {"classification": "TruePositive"}, True),
    ({"classification": ["true_positive"]}, {"classification": "FalsePositive"}, False),
    ({"determination": ["compromised_user"]}, {"determination": "CompromisedAccount"}, True),
    ({"determination": ["NoEnoughDataToValidate"]}, {"determination": "InsufficientData"}, True),
    ({"determination": ["clean"]}, {"determination": "Malware"}, False),
    ({"severity": ["high"], "determination": ["malware"]}, {"severity": "High", "determination": "Malware"}, True),
    ({"severity": ["high"], "determination": ["malware"]}, {"severity": "High", "determination": "Phishing"}, False),
    ({"status": ["active"]}, {"status": "Resolved", "severity": "Low"}, True),
])
def test_defender_matches_the_local_filters_only(params, incident, expected):
    assert IncidentQuery(DEFENDER, params).matches(incident) is expected


def test_graph_applies_nothing_locally():
    query = IncidentQuery(GRAPH, {"severity": ["high"], "status": ["active"]})
    assert query.matches({"severity": "low", "status": "resolved"}) is True


class EverythingLocal(DefenderFlavour):
    """A flavour whose server applies no filter, to reach the local assigned_to and time filters."""

    server_filters = frozenset()


@pytest.mark.parametrize("params, incident, expected", [
    ({"assigned_to": "Analyst@Contoso.com"}, {"assignedTo": "analyst@contoso.com"}, True),
    ({"assigned_to": "analyst@contoso.com"}, {"assignedTo": "other@contoso.com"}, False),
    ({"assigned_to": "analyst@contoso.com"}, {"assignedTo": None}, False),
    ({"created_after": "2024-05-01T00:00:00Z"}, {"createdTime": "2024-05-01T00:00:00.0000001Z"}, True),
    ({"created_after": "2024-05-01T00:00:00Z"}, {"createdTime": "2024-05-01T00:00:00Z"}, True),
    ({"created_after": "2024-05-01T00:00:00Z"}, {"createdTime": "2024-04-30T23:59:59.9999999Z"}, False),
    ({"created_after": "2024-05-01T00:00:00Z"}, {"createdTime": "2024-05-01T01:00:00+02:00"}, False),
    ({"created_after": "2024-05-01T00:00:00Z"}, {}, False),
    ({"created_after": "2024-05-01T00:00:00Z"}, {"createdTime": "garbage"}, False),
    ({"updated_after": "1h"}, {"lastUpdateTime": "2026-11-26T09:30:00Z"}, True),
    ({"updated_after": "1h"}, {"lastUpdateTime": "2026-11-26T08:30:00Z"}, False),
])
def test_local_assigned_to_and_time_filters(params, incident, expected):
    query = IncidentQuery(EverythingLocal(), params, now=NOW)
    assert query.server_filter() == ""
    assert query.matches(incident) is expected


# ----- listing and getting


def make_client(api):
    endpoints = resolve_endpoints(api=api, graph_url="https://graph.sandbox.test", defender_url="https://defender.sandbox.test")
    return ApiClient(endpoints, HttpClient(retries=0, sleep=lambda seconds: None), FakeAuthenticator(), "contoso.example")


SEVERITIES = ["High", "Medium", "Low", "Informational", "UnSpecified"]


def defender_incidents(count):
    return [{"incidentId": number, "severity": SEVERITIES[number % 5], "status": "Active"} for number in range(1, count + 1)]


def graph_incidents(count):
    return [{"id": str(number), "severity": SEVERITIES[number % 5].lower()} for number in range(1, count + 1)]


@pytest.mark.parametrize("limit, top, requests", [(10, "10", 1), (50, "50", 1), (120, "50", 3), (None, "50", 5)])
def test_graph_limit_sets_the_page_size(transport, limit, top, requests):
    client = make_client("graph")
    server = IncidentApi("graph", graph_incidents(237), client.endpoints.api_url)
    transport.handler = server
    found = list_incidents(client, IncidentQuery(client.flavour, {}), limit=limit).items
    assert [incident["id"] for incident in found] == [str(number) for number in range(1, (limit or 237) + 1)]
    assert len(transport.seen) == requests
    assert server.queries[0]["$top"] == top
    assert "$filter" not in server.queries[0]


def test_defender_local_filter_keeps_the_largest_page_and_filters(transport):
    client = make_client("defender")
    server = IncidentApi("defender", defender_incidents(237), client.endpoints.api_url)
    transport.handler = server
    query = IncidentQuery(client.flavour, {"severity": ["high"], "status": ["active"]})
    listing = list_incidents(client, query, limit=None)
    assert listing.complete is True and listing.error is None
    found = listing.items
    assert [incident["incidentId"] for incident in found] == [number for number in range(1, 238) if number % 5 == 0]
    assert [q["$top"] for q in server.queries] == ["100", "100", "100"]
    assert server.queries[0]["$filter"] == "status eq 'Active'"


def test_defender_limit_with_a_local_filter_stops_early(transport):
    client = make_client("defender")
    server = IncidentApi("defender", defender_incidents(237), client.endpoints.api_url)
    transport.handler = server
    found = list_incidents(client, IncidentQuery(client.flavour, {"severity": ["medium"]}), limit=3).items
    assert [incident["incidentId"] for incident in found] == [1, 6, 11]
    assert server.queries == [{"$top": "100"}], "a local filter must not shrink the page to the limit"


def test_defender_limit_without_local_filter_shrinks_the_page(transport):
    client = make_client("defender")
    server = IncidentApi("defender", defender_incidents(237), client.endpoints.api_url)
    transport.handler = server
    found = list_incidents(client, IncidentQuery(client.flavour, {"status": ["active"]}), limit=7).items
    assert len(found) == 7
    assert server.queries == [{"$top": "7", "$filter": "status eq 'Active'"}]


def test_graph_alerts_are_expanded(transport):
    client = make_client("graph")
    server = IncidentApi("graph", graph_incidents(3), client.endpoints.api_url)
    transport.handler = server
    list_incidents(client, IncidentQuery(client.flavour, {"severity": ["low"]}), alerts=True)
    assert server.queries == [{"$top": "50", "$expand": "alerts", "$filter": "severity eq 'low'"}]


def test_get_incident(transport):
    client = make_client("graph")
    transport.answer(make_response(200, {"@odata.context": "https://graph.sandbox.test/v1.0/$metadata#incident",
                                         "id": "42", "status": "active"}))
    assert get_incident(client, "42", alerts=True) == {"id": "42", "status": "active"}
    assert transport.seen[0].path == "/v1.0/security/incidents/42"
    assert transport.seen[0].query == {"$expand": "alerts"}


def test_get_incident_defender_has_no_expand(transport):
    client = make_client("defender")
    transport.answer(make_response(200, {"incidentId": 42}))
    assert get_incident(client, 42, alerts=True) == {"incidentId": 42}
    assert transport.seen[0].url == "https://defender.sandbox.test/api/incidents/42"


@pytest.mark.parametrize("api, body", [
    ("graph", {"value": "abc"}),
    ("graph", {"@odata.context": "x", "status": "active"}),
    ("graph", {"id": None}),
    ("graph", {"id": ""}),
    ("defender", {"incidentId": {"n": 1}}),
    ("defender", {"incidentId": True}),
])
def test_get_incident_refuses_a_body_that_is_no_incident(transport, api, body):
    client = make_client(api)
    transport.answer(make_response(200, body))
    with pytest.raises(ApiError) as raised:
        get_incident(client, "42")
    assert "is not an incident" in raised.value.message
    assert "GET %s/incidents/42" % ("https://graph.sandbox.test/v1.0/security" if api == "graph"
                                    else "https://defender.sandbox.test/api") in raised.value.message


def test_get_incident_404_is_none(transport):
    client = make_client("defender")
    transport.answer(make_response(404, {"error": {"code": "NotFound", "message": "Incident not found"}}))
    assert get_incident(client, "999999") is None


def test_get_incident_other_errors_are_raised(transport):
    client = make_client("graph")
    transport.answer(make_response(403, {"error": {"code": "Forbidden", "message": "Missing application roles."}}))
    with pytest.raises(ApiError) as raised:
        get_incident(client, "42")
    assert raised.value.status == 403


def test_get_incident_bad_id_sends_nothing(transport):
    with pytest.raises(InputError):
        get_incident(make_client("graph"), "42/../../users")
    assert transport.seen == []


class FailingPage(object):
    """Serves pages from an IncidentApi until page `fail_at` (1-based), which answers HTTP 500."""

    def __init__(self, server, fail_at):
        self.server = server
        self.fail_at = fail_at
        self.calls = 0

    def __call__(self, seen):
        self.calls += 1
        if self.calls == self.fail_at:
            return make_response(500, {"error": {"code": "InternalServerError", "message": "Something went wrong."}})
        return self.server(seen)


def test_a_failing_page_fails_the_listing_saying_how_far_it_got(transport):
    client = make_client("graph")
    transport.handler = FailingPage(IncidentApi("graph", graph_incidents(237), client.endpoints.api_url), fail_at=3)
    with pytest.raises(ApiError) as raised:
        list_incidents(client, IncidentQuery(client.flavour, {}))
    assert raised.value.message.startswith("Listing incidents stopped after 2 page(s): GET ")
    assert "HTTP 500" in raised.value.message


def test_allow_partial_returns_what_was_read(transport):
    client = make_client("graph")
    transport.handler = FailingPage(IncidentApi("graph", graph_incidents(237), client.endpoints.api_url), fail_at=3)
    listing = list_incidents(client, IncidentQuery(client.flavour, {}), allow_partial=True)
    assert listing.complete is False
    assert [incident["id"] for incident in listing.items] == [str(number) for number in range(1, 101)]
    assert "HTTP 500" in listing.error and "Something went wrong." in listing.error


def test_allow_partial_still_fails_when_nothing_was_read(transport):
    client = make_client("graph")
    transport.handler = FailingPage(IncidentApi("graph", graph_incidents(237), client.endpoints.api_url), fail_at=1)
    with pytest.raises(ApiError) as raised:
        list_incidents(client, IncidentQuery(client.flavour, {}), allow_partial=True)
    assert "HTTP 500" in raised.value.message
    assert "stopped after" not in raised.value.message


# ----- chosen properties


def with_alerts(incidents):
    return [dict(incident, classification="TruePositive",
                 alerts=[{"alertId": "da%d" % incident["incidentId"], "title": "t", "severity": "Low"}])
            for incident in incidents]


def test_defender_local_filter_sees_properties_that_are_not_chosen(transport):
    client = make_client("defender")
    server = IncidentApi("defender", with_alerts(defender_incidents(237)), client.endpoints.api_url)
    transport.handler = server
    query = IncidentQuery(client.flavour, {"severity": ["high"], "classification": ["truePositive"]})
    project = incident_projection("defender", ["incidentId", "status"], ["alertId"], alerts=True)
    found = list_incidents(client, query, alerts=True, project=project).items
    assert [incident["incidentId"] for incident in found] == [number for number in range(1, 238) if number % 5 == 0]
    assert all(incident == {"incidentId": incident["incidentId"], "status": "Active",
                            "alerts": [{"alertId": "da%d" % incident["incidentId"]}]} for incident in found)
    assert query.local_filters == ["classification", "severity"]


def test_a_limit_counts_projected_incidents(transport):
    client = make_client("defender")
    transport.handler = IncidentApi("defender", defender_incidents(237), client.endpoints.api_url)
    query = IncidentQuery(client.flavour, {"severity": ["medium"]})
    found = list_incidents(client, query, limit=3, project=incident_projection("defender", ["incidentId"])).items
    assert found == [{"incidentId": 1}, {"incidentId": 6}, {"incidentId": 11}]


def test_a_projection_does_not_hide_a_page_that_repeats(transport):
    """The pager compares each page with the one before: projecting must leave the page it read as it was."""
    client = make_client("defender")
    pages = [{"value": defender_incidents(100)}] * 3 + [{"value": []}]  # the end, should the repeat go unseen
    transport.answer(*[make_response(200, page) for page in pages])
    project = incident_projection("defender", ["incidentId"])
    with pytest.raises(ApiError) as raised:
        list_incidents(client, IncidentQuery(client.flavour, {}), project=project)
    assert "returned the same page twice" in raised.value.message
    assert len(transport.seen) == 2


def test_allow_partial_returns_projected_incidents(transport):
    client = make_client("graph")
    transport.handler = FailingPage(IncidentApi("graph", graph_incidents(237), client.endpoints.api_url), fail_at=3)
    listing = list_incidents(client, IncidentQuery(client.flavour, {}), allow_partial=True,
                             project=incident_projection("graph", ["severity"]))
    assert listing.complete is False
    assert len(listing.items) == 100
    assert listing.items[:2] == [{"severity": "medium"}, {"severity": "low"}]
