# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading alerts: alert filters to Graph's $filter, the page size, an incident's alerts, the API without alerts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._alerts import AlertQuery, read_alerts
from ansible_collections.secops.m365_defender.plugins.module_utils._api import FLAVOURS
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._update import AlertUpdate
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import IncidentApi, make_response
from ansible_collections.secops.m365_defender.tests.unit.plugins.module_utils.test_incidents import make_client

ALERTS = FLAVOURS["graph"].alerts
NOW = datetime.datetime(2026, 11, 26, 10, 0, 0, tzinfo=datetime.timezone.utc)


def options(**given):
    names = ("alert_id", "incident_id", "status", "severity", "service_source", "detection_source", "assigned_to",
             "classification", "determination", "created_after", "updated_after", "filter", "limit", "allow_partial")
    return dict(dict((name, None) for name in names), **given)


def graph_alerts(count):
    detections = ["antivirus", "microsoftDefenderForEndpoint", "customDetection"]
    return [{"id": "da%05d_-1" % number, "incidentId": str(number // 3), "detectionSource": detections[number % 3],
             "status": "new"} for number in range(count)]


def test_graph_filters_what_it_can_and_the_detection_source_is_applied_here():
    query = AlertQuery(ALERTS, options(status=["New", "in_progress"], severity=["HIGH"],
                                       service_source=["MicrosoftDefenderATP"], detection_source=["WindowsDefenderAv"],
                                       assigned_to="tier1@contoso.example", classification=["true_positive"],
                                       determination=["clean"], created_after="24h", filter="title ne 'x'"), NOW)
    assert query.server_filter() == (
        "(title ne 'x') and (status eq 'new' or status eq 'inProgress') and severity eq 'high' and "
        "classification eq 'truePositive' and determination eq 'notMalicious' and "
        "serviceSource eq 'microsoftDefenderForEndpoint' and assignedTo eq 'tier1@contoso.example' and "
        "createdDateTime ge 2026-11-25T10:00:00Z")
    assert query.local_filters == ["detection_source"]
    assert query.matches({"detectionSource": "antivirus"})
    assert not query.matches({"detectionSource": "microsoftDefenderForEndpoint"})
    assert not query.matches({}), "an alert without a detection source does not match one"


@pytest.mark.parametrize("given, words", [
    ({"status": ["active"]}, ["'status'", "got 'active'", "inProgress, new, resolved, unknown"]),
    ({"detection_source": ["laser"]}, ["'detection_source'", "got 'laser'", "antivirus", "EDR for microsoftDefenderForEndpoint"]),
    ({"service_source": ["toaster"]}, ["'service_source'", "microsoftDefenderForEndpoint"]),
    ({"updated_after": "yesterday"}, ["'updated_after'", "ISO-8601"]),
])
def test_bad_filters_are_refused_naming_the_option_and_what_is_allowed(given, words):
    with pytest.raises(InputError) as raised:
        AlertQuery(ALERTS, options(**given))
    for word in words:
        assert word in raised.value.message


@pytest.mark.parametrize("limit, local, top", [
    (None, {}, None),
    (5, {}, "5"),
    (1000, {}, "1000"),
    (1001, {}, None),
    (5, {"detection_source": ["antivirus"]}, None),
])
def test_top_is_sent_only_for_a_limit_graph_can_take_without_local_filters(transport, limit, local, top):
    client = make_client("graph")
    server = IncidentApi("graph", graph_alerts(120), client.endpoints.api_url)
    server.max_top = 1000  # the security API's documented $top limit for alerts
    transport.handler = server
    listing, applied_here = read_alerts(client, options(limit=limit, **local))
    assert server.queries[0].get("$top") == top
    assert transport.seen[0].path == "/v1.0/security/alerts_v2"
    expected = [alert for alert in graph_alerts(120) if not local or alert["detectionSource"] == "antivirus"]
    assert listing.items == expected[:limit]
    assert applied_here == sorted(local)


def test_every_page_is_followed_without_a_top(transport):
    client = make_client("graph")
    server = IncidentApi("graph", graph_alerts(120), client.endpoints.api_url)
    transport.handler = server
    listing = read_alerts(client, options())[0]
    assert len(listing.items) == 120 and client.pages_read == 3
    assert [query.get("$skip") for query in server.queries] == [None, "50", "100"]


def test_an_incidents_alerts_come_from_the_incident_and_every_filter_is_applied_here(transport):
    alerts = [{"id": "a1", "severity": "high", "detectionSource": "antivirus"},
              {"id": "a2", "severity": "low", "detectionSource": "antivirus"},
              {"id": "a3", "severity": "high", "detectionSource": "customDetection"}]
    transport.answer(make_response(200, {"id": "7", "alerts": alerts}))
    listing, applied_here = read_alerts(make_client("graph"), options(incident_id="7", severity=["high"],
                                                                      detection_source=["antivirus"]))
    assert [alert["id"] for alert in listing.items] == ["a1"]
    assert applied_here == ["detection_source", "severity"]
    assert transport.seen[0].path == "/v1.0/security/incidents/7" and transport.seen[0].query == {"$expand": "alerts"}


def test_an_unknown_alert_or_incident_reads_as_nothing(transport):
    not_found = {"error": {"code": "NotFound", "message": "not found"}}
    transport.answer(make_response(404, not_found), make_response(404, not_found))
    client = make_client("graph")
    assert read_alerts(client, options(alert_id="da1_-1"))[0].items == []
    assert read_alerts(client, options(incident_id="99"))[0].items == []
    assert [seen.path for seen in transport.seen] == ["/v1.0/security/alerts_v2/da1_-1", "/v1.0/security/incidents/99"]


@pytest.mark.parametrize("given", [options(), options(alert_id="da1"), options(incident_id="7")])
def test_the_defender_api_has_no_alerts_and_nothing_is_sent(transport, given):
    with pytest.raises(InputError) as raised:
        read_alerts(make_client("defender"), given)
    assert "no alerts endpoint" in raised.value.message and "api: graph" in raised.value.message
    assert transport.seen == []


@pytest.mark.parametrize("alert_id", ["da1/../../incidents/7", "da1 ", "da1\n", "", "da1?$expand=x", "x" * 257])
def test_alert_ids_that_would_change_the_url_are_refused(alert_id):
    with pytest.raises(InputError) as raised:
        ALERTS.check_id(alert_id)
    assert "'alert_id'" in raised.value.message


def test_an_alert_update_plans_alert_statuses_and_comments():
    update = AlertUpdate(ALERTS, {"status": "in_progress", "assigned_to": "Tier1@contoso.example",
                                  "classification": None, "determination": None, "comment": "Taken."})
    plan = update.plan({"id": "da1", "status": "new", "assignedTo": None, "comments": []})
    assert plan.fields == {"status": "inProgress", "assignedTo": "Tier1@contoso.example"}
    assert plan.comment == "Taken."
    done = {"id": "da1", "status": "inProgress", "assignedTo": "tier1@CONTOSO.example", "comments": [{"comment": "Taken."}]}
    assert not update.plan(done).changed
    with pytest.raises(InputError) as raised:
        AlertUpdate(ALERTS, {"status": "unknown"})
    assert "cannot be 'unknown'" in raised.value.message
