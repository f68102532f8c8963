# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's reading of real answers: Microsoft's documented examples (tests/unit/fixtures/recorded/)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import json
import os

import pytest

from ansible_collections.secops.m365_defender.plugins.filter.incident_report import incident_report, incident_report_csv
from ansible_collections.secops.m365_defender.plugins.filter.triage_plan import triage_plan
from ansible_collections.secops.m365_defender.plugins.module_utils._api import FLAVOURS
from ansible_collections.secops.m365_defender.plugins.module_utils._update import IncidentUpdate, predicted
from ansible_collections.secops.m365_defender.plugins.module_utils._incident_view import incident_view, portal_url
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import OTHER_TENANT_ID

RECORDED = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "recorded")
NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)


def recorded(name):
    with open(os.path.join(RECORDED, name), encoding="utf-8") as handle:
        return json.load(handle)


def graph_incident():
    return recorded("graph_list_incidents.json")["value"][0]


def defender_incidents():
    return recorded("defender_list_incidents.json")["value"]


def by_id(rows):
    return dict((row["id"], row) for row in rows)


# ----- Graph


def test_graph_incident_reads_as_the_page_shows_it():
    view = incident_view("graph", graph_incident(), now=NOW)
    assert view["id"] == "29"
    assert view["tenant_id"] == "cfcdbe43-297b-4c6b-ac7e-8d7f6befb514"
    assert view["title"] == "Multi-stage incident involving Execution & Command and control on one endpoint"
    assert (view["status"], view["open"], view["severity"]) == ("active", True, "high")
    assert (view["classification"], view["determination"]) == ("truePositive", "multiStagedAttack")
    assert view["assigned_to"] == "admin@contoso.com"
    assert view["tags"] == ["Demo"] and view["system_tags"] == [] and view["comments"] == []
    assert view["url"] == "https://security.microsoft.com/incident2/29/overview?tid=cfcdbe43-297b-4c6b-ac7e-8d7f6befb514"
    # 2026-01-22T12:09:23.1433333Z (7 fraction digits) and 2026-02-25T16:29:33.1Z (1 digit).
    assert view["age_days"] == 38.0 and view["idle_days"] == 3.8


def test_a_built_link_has_the_form_of_graphs_own():
    incident = graph_incident()
    assert portal_url(incident["id"], incident["tenantId"]) == incident["incidentWebUrl"]
    without = dict(incident, incidentWebUrl=None)
    assert incident_view("graph", without, now=NOW)["url"] == incident["incidentWebUrl"]


def test_the_incidents_own_https_link_is_preferred_even_in_its_older_form():
    incident = recorded("graph_list_incidents_2022.json")["value"][0]
    view = incident_view("graph", incident, tenant_id=OTHER_TENANT_ID, now=NOW)
    assert view["url"] == "https://security.microsoft.com/incidents/2972395?tid=12f988bf-16f1-11af-11ab-1d7cd011db47"


def test_an_answer_in_pascal_case_reads_as_graphs_names():
    view = incident_view("graph", recorded("graph_list_incidents_2022.json")["value"][0], now=NOW)
    assert (view["status"], view["severity"], view["classification"], view["determination"]) == (
        "active", "medium", "truePositive", "multiStagedAttack")
    assert view["comments"] == ["Demo incident"]
    assert view["assigned_to"] == "KaiC@contoso.onmicrosoft.com"


def test_the_update_answer_needs_no_second_update():
    """Re-running the documented PATCH against its own answer changes nothing (idempotent on PascalCase)."""
    answer = recorded("graph_update_incident.json")
    update = IncidentUpdate(FLAVOURS["graph"], {"classification": "truePositive", "determination": "multiStagedAttack",
                                                "tags": ["Demo"], "comment": "Demo incident", "status": "active",
                                                "assigned_to": "kaic@contoso.onmicrosoft.com"})
    assert not update.plan(answer).changed


@pytest.mark.parametrize("odata_type", [None, "microsoft.graph.security.alertComment",
                                        "#microsoft.graph.security.alertComment"])
def test_comments_read_the_same_with_or_without_the_hash_in_odata_type(odata_type):
    comments = recorded("graph_post_incident_comment.json")["value"]
    if odata_type:
        comments = [dict(comment, **{"@odata.type": odata_type}) for comment in comments]
    incident = dict(graph_incident(), comments=comments)
    assert incident_view("graph", incident, now=NOW)["comments"] == ["test", "Demo for docs"]
    assert not IncidentUpdate(FLAVOURS["graph"], {"comment": "Demo for docs"}).plan(incident).changed
    assert IncidentUpdate(FLAVOURS["graph"], {"comment": "Another"}).plan(incident).changed


def test_alerts_v2_alert_gives_the_service_source():
    alert = recorded("graph_list_alerts_v2.json")["value"][0]
    incident = dict(graph_incident(), alerts=[alert])
    assert incident_view("graph", incident, now=NOW)["service_sources"] == ["microsoftDefenderForEndpoint"]
    rules = [{"name": "endpoint", "match": {"service_source": ["microsoftDefenderForEndpoint"]},
              "set": {"tags": ["endpoint"]}}]
    (entry,) = triage_plan([incident], rules, api="graph", now="2026-03-01T12:00:00Z")
    assert entry["set"] == {"tags": ["endpoint"]} and entry["changes"] == ["tags: + endpoint"]


# ----- the Defender API


def test_defender_incidents_read_as_the_page_shows_them():
    views = by_id(incident_view("defender", incident, tenant_id=OTHER_TENANT_ID, now=NOW)
                  for incident in defender_incidents())
    assert sorted(views) == ["924518", "924521", "924565"]
    for view in views.values():
        assert view["assigned_to"] is None
        assert (view["status"], view["open"]) == ("active", True)
        assert (view["classification"], view["determination"]) == ("unknown", "unknown")
        assert view["url"] == "https://security.microsoft.com/incident2/%s/overview?tid=%s" % (
            view["id"], OTHER_TENANT_ID)
    assert dict((key, view["severity"]) for key, view in views.items()) == {
        "924565": "medium", "924521": "low", "924518": "informational"}
    assert views["924565"]["comments"] == ["test comment for docs"]
    assert views["924565"]["title"] == "Ransomware activity"


def test_defender_service_sources_of_every_generation_read_as_graphs_names():
    views = by_id(incident_view("defender", incident, tenant_id=OTHER_TENANT_ID, now=NOW)
                  for incident in defender_incidents())
    assert dict((key, view["service_sources"]) for key, view in views.items()) == {
        "924565": ["microsoftDefenderForCloudApps"],    # MicrosoftCloudAppSecurity
        "924521": ["microsoftDefenderForEndpoint"],     # MicrosoftDefenderATP
        "924518": ["microsoftDefenderForOffice365"],    # OfficeATP
    }


def test_defender_times_with_two_and_seven_fraction_digits():
    views = by_id(incident_view("defender", incident, tenant_id=OTHER_TENANT_ID, now=NOW)
                  for incident in defender_incidents())
    # createdTime 2020-09-06T14:46:57.0733333Z, lastUpdateTime 2020-09-06T14:46:57.29Z.
    assert views["924565"]["created"] == "2020-09-06T14:46:57.0733333Z"
    assert views["924565"]["age_days"] == views["924565"]["idle_days"] == 2001.9


# ----- the report and the triage plan over both


def report():
    return incident_report([
        {"name": "contoso", "tenant_id": None, "result": {"api": "graph", "incidents": [graph_incident()]}},
        {"name": "fabrikam", "tenant_id": OTHER_TENANT_ID,
         "result": {"api": "defender", "incidents": defender_incidents()}},
    ], now=NOW, oldest=10)


def test_the_report_counts_recorded_answers():
    built = report()
    assert built["totals"] == {"incidents": 4, "open": 4, "tenants": 2, "tenants_failed": 0, "tenants_partial": 0}
    assert built["by_severity"] == {"high": 1, "medium": 1, "low": 1, "informational": 1, "unknown": 0}
    assert built["by_status"] == {"active": 4, "inProgress": 0, "awaitingAction": 0, "resolved": 0, "redirected": 0}
    assert [(row["tenant"], row["id"]) for row in built["oldest_open"]] == [
        ("fabrikam", "924518"), ("fabrikam", "924521"), ("fabrikam", "924565"), ("contoso", "29")]
    assert built["tenants"][0]["tenant_id"] == "cfcdbe43-297b-4c6b-ac7e-8d7f6befb514", "taken from the answer"


def test_the_csv_of_recorded_answers():
    lines = incident_report_csv(report()).splitlines()
    assert len(lines) == 5
    assert lines[1].startswith("contoso,cfcdbe43-297b-4c6b-ac7e-8d7f6befb514,29,")
    assert "microsoftDefenderForEndpoint" in [line for line in lines if ",924521," in line][0]


def test_triage_over_recorded_defender_answers():
    rules = [
        {"name": "endpoint", "match": {"service_source": ["microsoftDefenderForEndpoint"], "unassigned": True},
         "set": {"assigned_to": "endpoint-team@contoso.com", "status": "inProgress"}},
        {"name": "mail", "match": {"service_source": ["OfficeATP"]}, "set": {"tags": ["mail"]}},
        {"name": "low-noise", "match": {"severity": ["informational"], "status": ["active"]},
         "set": {"comment": "Reviewed by triage."}},
    ]
    incidents = defender_incidents()
    before = copy.deepcopy(incidents)
    plans = by_id(dict(entry, id=entry["incident_id"]) for entry in triage_plan(
        incidents, rules, api="defender", tenant_id=OTHER_TENANT_ID, now="2026-03-01T12:00:00Z"))
    assert sorted(plans) == ["924518", "924521"]
    assert plans["924521"]["set"] == {"status": "inProgress", "assigned_to": "endpoint-team@contoso.com"}
    assert plans["924521"]["changes"] == ["status: active -> inProgress", "assigned_to: none -> endpoint-team@contoso.com"]
    assert plans["924518"]["rules"] == ["mail", "low-noise"]
    assert plans["924518"]["set"] == {"tags": ["mail"], "comment": "Reviewed by triage."}
    assert plans["924518"]["url"] == "https://security.microsoft.com/incident2/924518/overview?tid=" + OTHER_TENANT_ID
    assert incidents == before


def test_check_mode_prediction_of_a_recorded_incident_reads_as_the_change():
    incident = defender_incidents()[1]
    update = IncidentUpdate(FLAVOURS["defender"], {"status": "resolved", "classification": "truePositive",
                                                   "determination": "malware", "assigned_to": "soc@contoso.com"})
    plan = update.plan(incident)
    assert plan.fields == {"status": "Resolved", "classification": "TruePositive", "determination": "Malware",
                           "assignedTo": "soc@contoso.com"}
    view = incident_view("defender", predicted(incident, plan, FLAVOURS["defender"]), tenant_id=OTHER_TENANT_ID,
                         now=NOW)
    assert (view["status"], view["open"], view["determination"], view["assigned_to"]) == (
        "resolved", False, "malware", "soc@contoso.com")
