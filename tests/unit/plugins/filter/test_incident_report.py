# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import datetime
import io

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.secops.m365_defender.plugins.filter.incident_report import (
    FilterModule,
    incident_report,
    incident_report_csv,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._incident_view import incident_view
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import OTHER_TENANT_ID, TENANT_ID

NOW = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.timezone.utc)


def graph_incident(number, severity, status, created, **extra):
    incident = {"id": str(number), "tenantId": TENANT_ID, "displayName": "Incident %d" % number,
                "severity": severity, "status": status, "classification": "unknown", "determination": "unknown",
                "assignedTo": None, "createdDateTime": created, "lastUpdateDateTime": created,
                "customTags": [], "systemTags": [], "comments": [],
                "incidentWebUrl": "https://security.microsoft.com/incident2/%d/overview?tid=%s" % (number, TENANT_ID)}
    incident.update(extra)
    return incident


def defender_incident(number, severity, status, created, **extra):
    incident = {"incidentId": number, "incidentName": "Incident %d" % number, "severity": severity,
                "status": status, "classification": "Unknown", "determination": "NotAvailable", "assignedTo": None,
                "createdTime": created, "lastUpdateTime": created, "tags": [], "comments": [], "alerts": []}
    incident.update(extra)
    return incident


def contoso(incidents, **extra):
    result = {"changed": False, "api": "graph", "complete": True, "incidents": incidents, "count": len(incidents)}
    result.update(extra)
    return {"name": "contoso", "tenant_id": TENANT_ID, "result": result}


def fabrikam(incidents):
    return {"name": "fabrikam", "tenant_id": OTHER_TENANT_ID,
            "result": {"changed": False, "api": "defender", "complete": True, "incidents": incidents}}


def northwind_without_consent():
    return {"name": "northwind", "tenant_id": "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98", "result": {
        "failed": True, "msg": "Sign-in failed: AADSTS700016: no consent.",
        "admin_consent_url": "https://login.microsoftonline.com/3c2b/adminconsent?client_id=61be"}}


@pytest.fixture
def report():
    return incident_report([
        contoso([
            graph_incident(1, "high", "active", "2026-11-20T12:00:00Z"),
            graph_incident(2, "medium", "inProgress", "2026-11-01T12:00:00.1234567Z"),
            graph_incident(3, "low", "resolved", "2026-10-01T12:00:00Z"),
            graph_incident(4, "high", "awaitingAction", "2026-11-25T12:00:00Z"),
        ]),
        fabrikam([
            defender_incident(10, "High", "Active", "2026-11-10T12:00:00Z"),
            defender_incident(11, "UnSpecified", "Redirected", "2026-11-11T12:00:00Z"),
            defender_incident(12, "Informational", "InProgress", "2026-11-24T00:00:00Z"),
        ]),
        northwind_without_consent(),
    ], now=NOW, oldest=3)


def test_totals_count_every_tenant_and_the_one_that_failed(report):
    assert report["totals"] == {"incidents": 7, "open": 5, "tenants": 3, "tenants_failed": 1, "tenants_partial": 0}
    assert report["generated"] == "2026-11-26T12:00:00Z"


def test_both_apis_are_counted_in_graph_spellings(report):
    assert report["by_severity"] == {"high": 3, "medium": 1, "low": 1, "informational": 1, "unknown": 1}
    assert report["open_by_severity"] == {"high": 3, "medium": 1, "low": 0, "informational": 1, "unknown": 0}
    assert report["by_status"] == {"active": 2, "inProgress": 2, "awaitingAction": 1, "resolved": 1,
                                   "redirected": 1}


def test_a_severity_no_api_documents_counts_as_unknown():
    report = incident_report([contoso([graph_incident(1, "unknownFutureValue", "active", "2026-11-20T12:00:00Z")])],
                             now=NOW)
    assert report["open_by_severity"]["unknown"] == 1 and "unknownFutureValue" not in report["by_severity"]
    segments = report["chart"]["bars"][0]["segments"]
    assert [(segment["severity"], segment["count"]) for segment in segments] == [("unknown", 1)]


def test_per_tenant_sections(report):
    contoso_section, fabrikam_section, northwind = report["tenants"]
    assert (contoso_section["incidents"], contoso_section["open"], contoso_section["api"]) == (4, 3, "graph")
    assert contoso_section["oldest_open_days"] == 25.0
    assert fabrikam_section["open_by_severity"]["high"] == 1 and fabrikam_section["by_status"]["redirected"] == 1
    assert northwind["ok"] is False and northwind["incidents"] == 0 and northwind["oldest_open_days"] is None


def test_oldest_open_incidents_come_first_across_tenants(report):
    assert [(row["tenant"], row["id"]) for row in report["oldest_open"]] == [
        ("contoso", "2"), ("fabrikam", "10"), ("contoso", "1")]
    assert report["oldest_open"][1]["url"] == (
        "https://security.microsoft.com/incident2/10/overview?tid=" + OTHER_TENANT_ID)


def test_a_failed_tenant_is_reported_with_its_reason_and_consent_url(report):
    assert report["failures"] == [{
        "tenant": "northwind", "tenant_id": "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98",
        "reason": "Sign-in failed: AADSTS700016: no consent.",
        "consent_url": "https://login.microsoftonline.com/3c2b/adminconsent?client_id=61be"}]


def test_a_tenant_that_never_reached_the_report_is_named_and_explained():
    report = incident_report([None, contoso([])], names=["wingtip", "contoso"], now=NOW)
    assert report["failures"][0]["tenant"] == "wingtip"
    assert "did not reach the report" in report["failures"][0]["reason"]
    assert report["totals"]["tenants_failed"] == 1


def test_a_partial_listing_counts_what_was_read_and_says_why():
    partial = contoso([graph_incident(1, "high", "active", "2026-11-20T12:00:00Z")], complete=False,
                      error="Listing incidents stopped after 1 page(s): HTTP 500")
    report = incident_report([partial], now=NOW)
    assert report["totals"]["tenants_partial"] == 1 and report["totals"]["tenants_failed"] == 0
    assert report["totals"]["incidents"] == 1
    assert report["failures"][0]["reason"].startswith("Listing incidents stopped")


def test_the_chart_splits_each_bar_by_severity_in_proportion(report):
    chart = report["chart"]
    contoso_bar, fabrikam_bar, northwind_bar = chart["bars"]
    assert [(segment["severity"], segment["count"]) for segment in contoso_bar["segments"]] == [
        ("high", 2), ("medium", 1)]
    high, medium = contoso_bar["segments"]
    assert high["width"] == pytest.approx(2 * medium["width"], abs=0.2)
    assert medium["x"] == pytest.approx(high["x"] + high["width"], abs=0.2)
    assert fabrikam_bar["total"] == 2 and northwind_bar["failed"] is True and northwind_bar["segments"] == []
    assert contoso_bar["y"] < fabrikam_bar["y"] < northwind_bar["y"] < chart["height"]


def test_links_are_only_https():
    hostile = graph_incident(1, "high", "active", "2026-11-20T12:00:00Z", incidentWebUrl="javascript:alert(1)")
    report = incident_report([contoso([hostile])], now=NOW)
    assert report["incidents"][0]["url"] == "https://security.microsoft.com/incident2/1/overview?tid=" + TENANT_ID


def test_csv_has_one_row_per_incident_and_neutralises_formulas(report):
    hostile = graph_incident(5, "high", "active", "2026-11-20T12:00:00Z", displayName='=HYPERLINK("http://x")',
                             customTags=["a, b", "-c"])
    rows = list(csv.DictReader(io.StringIO(incident_report_csv(incident_report([contoso([hostile])], now=NOW)))))
    assert rows[0]["title"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["tags"] == "a, b; -c"
    assert len(list(csv.reader(io.StringIO(incident_report_csv(report))))) == 1 + 7


def test_bad_input_gets_a_clear_error():
    with pytest.raises(AnsibleFilterError, match="list of tenants"):
        incident_report("contoso")
    with pytest.raises(AnsibleFilterError, match="result of the incident_report filter"):
        incident_report_csv([])


def test_filters_are_registered():
    assert sorted(FilterModule().filters()) == ["incident_report", "incident_report_csv"]


def test_incident_view_reads_both_apis_alike():
    graph = incident_view("graph", graph_incident(7, "medium", "inProgress", "2026-11-25T12:00:00Z",
                                                  alerts=[{"serviceSource": "microsoftDefenderForCloudApps"}]), now=NOW)
    defender = incident_view("defender", defender_incident(7, "Medium", "InProgress", "2026-11-25T12:00:00Z",
                                                           alerts=[{"serviceSource": "MicrosoftCloudAppSecurity"}]),
                             tenant_id=TENANT_ID, now=NOW)
    for key in ("id", "severity", "status", "open", "age_days", "service_sources", "url"):
        assert graph[key] == defender[key], key
    assert graph["service_sources"] == ["microsoftDefenderForCloudApps"] and graph["age_days"] == 1.0


def test_oldest_open_are_ordered_by_time_not_by_text():
    # As text, ".5Z" sorts before "Z" and "13:00+02:00" after "12:00Z": both orders would be wrong.
    incidents = [
        graph_incident(1, "high", "active", "2026-11-20T12:00:00.5Z"),
        graph_incident(2, "high", "active", "2026-11-20T12:00:00Z"),
        graph_incident(3, "high", "active", "2026-11-20T13:00:00+02:00"),
        graph_incident(4, "high", "active", "2026-11-20T12:00:00.0000001Z"),
        graph_incident(5, "high", "active", "2026-11-20T12:00:00.123Z"),
        graph_incident(6, "high", "active", "2026-11-20T11:59:59.9999999"),
    ]
    report = incident_report([contoso(incidents)], now=NOW)
    assert [row["id"] for row in report["oldest_open"]] == ["3", "6", "2", "4", "5", "1"]


@pytest.mark.parametrize("api", ["graph", "defender"])
def test_status_new_counts_as_open_in_the_active_column(api):
    if api == "graph":
        entry = contoso([graph_incident(1, "high", "New", "2026-11-20T12:00:00Z")])
    else:
        entry = fabrikam([defender_incident(1, "High", "New", "2026-11-20T12:00:00Z")])
    report = incident_report([entry], now=NOW)
    assert report["totals"]["open"] == 1
    assert report["by_status"] == {"active": 1, "inProgress": 0, "awaitingAction": 0, "resolved": 0, "redirected": 0}
    assert [row["id"] for row in report["oldest_open"]] == ["1"]


@pytest.mark.parametrize("owner", ["Unassigned", "unassigned", None, ""])
def test_an_incident_assigned_to_the_text_unassigned_has_no_owner(owner):
    report = incident_report([fabrikam([defender_incident(1, "High", "Active", "2026-11-20T12:00:00Z",
                                                          assignedTo=owner)])], now=NOW)
    assert report["incidents"][0]["assigned_to"] is None
    assert incident_report_csv(report).splitlines()[1].split(",")[8] == ""


def test_links_are_built_as_graphs_incident_web_url_per_cloud():
    entry = fabrikam([defender_incident(10, "High", "Active", "2026-11-20T12:00:00Z")])
    assert incident_report([entry], now=NOW)["incidents"][0]["url"] == (
        "https://security.microsoft.com/incident2/10/overview?tid=" + OTHER_TENANT_ID)
    entry["cloud"] = "gcc_high"
    assert incident_report([entry], now=NOW)["incidents"][0]["url"] == (
        "https://security.microsoft.us/incident2/10/overview?tid=" + OTHER_TENANT_ID)


# ----- alerts by source, and the devices and users of open incidents

def graph_alert(source, devices=(), users=()):
    evidence = [{"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": name, "mdeDeviceId": mde,
                 "riskScore": risk} for name, mde, risk in devices]
    evidence += [{"@odata.type": "#microsoft.graph.security.userEvidence",
                  "userAccount": {"accountName": upn.split("@")[0], "userPrincipalName": upn}} for upn in users]
    alert = {"id": "a-%s" % source, "evidence": evidence}
    if source:
        alert["serviceSource"] = source
    return alert


def defender_alert(source, devices=(), users=()):
    """The same alert as the Defender API embeds it in an incident: devices and entities, capitalized risk scores."""
    return {"alertId": "a-%s" % source, "serviceSource": source,
            "devices": [{"deviceDnsName": name, "mdatpDeviceId": mde, "riskScore": risk.capitalize()}
                        for name, mde, risk in devices],
            "entities": [{"entityType": "User", "accountName": upn.split("@")[0], "userPrincipalName": upn}
                         for upn in users]}


WS1 = ("ws-fin-001.contoso.example", "mde-1", "medium")
WS2 = ("ws-hr-002.contoso.example", "mde-2", "low")
DC = ("dc-core-030.contoso.example", "mde-3", "high")


@pytest.fixture
def entity_report():
    return incident_report([
        contoso([
            graph_incident(1, "high", "active", "2026-11-20T12:00:00Z", alerts=[
                graph_alert("microsoftDefenderForEndpoint", [WS1, DC], ["ann@contoso.example"]),
                graph_alert("microsoftDefenderForEndpoint", [WS1], ["bob@contoso.example"])]),
            graph_incident(2, "medium", "inProgress", "2026-11-21T12:00:00Z", alerts=[
                graph_alert("microsoftDefenderForOffice365", [], ["ann@contoso.example"]),
                graph_alert(None, [WS1[:2] + ("high",)])]),
            graph_incident(3, "low", "resolved", "2026-11-22T12:00:00Z", alerts=[
                graph_alert("microsoftDefenderForEndpoint", [WS2, WS2, DC], ["bob@contoso.example"])]),
        ]),
        fabrikam([
            defender_incident(10, "High", "Active", "2026-11-10T12:00:00Z", alerts=[
                defender_alert("MicrosoftCloudAppSecurity", [], ["ann@contoso.example"]),
                defender_alert("MicrosoftDefenderForEndpoint", [WS2], [])]),
            defender_incident(11, "Low", "Resolved", "2026-11-11T12:00:00Z", alerts=[
                defender_alert("OfficeATP", [WS2], ["bob@contoso.example"])]),
        ]),
        northwind_without_consent(),
    ], now=NOW, top_entities=2)


def test_alerts_are_counted_by_source_in_graphs_names_over_both_apis(entity_report):
    assert entity_report["alerts"] == 8
    assert list(entity_report["alerts_by_service_source"].items()) == [
        ("microsoftDefenderForEndpoint", 4), ("microsoftDefenderForOffice365", 2), ("microsoftDefenderForCloudApps", 1),
        ("unknown", 1)]
    contoso_section, fabrikam_section, northwind = entity_report["tenants"]
    assert contoso_section["alerts"] == 5 and fabrikam_section["alerts"] == 3 and northwind["alerts"] == 0
    assert fabrikam_section["alerts_by_service_source"] == {"microsoftDefenderForCloudApps": 1,
                                                            "microsoftDefenderForEndpoint": 1,
                                                            "microsoftDefenderForOffice365": 1}


def test_top_devices_count_open_incidents_over_tenants_with_the_highest_risk(entity_report):
    # WS1: open incidents 1 and 2 (twice in 1); DC: 1 only (3 is resolved); WS2: Fabrikam's 10 only (11 is resolved).
    assert entity_report["top_devices"] == [
        {"name": "ws-fin-001.contoso.example", "incidents": 2, "tenants": ["contoso"], "risk_score": "high",
         "mde_device_id": "mde-1", "os_platform": None},
        {"name": "dc-core-030.contoso.example", "incidents": 1, "tenants": ["contoso"], "risk_score": "high",
         "mde_device_id": "mde-3", "os_platform": None}]


def test_top_users_count_open_incidents_and_name_every_tenant(entity_report):
    assert [(user["name"], user["incidents"], user["tenants"]) for user in entity_report["top_users"]] == [
        ("ann@contoso.example", 3, ["contoso", "fabrikam"]), ("bob@contoso.example", 1, ["contoso"])]
    assert entity_report["top_users"][0]["account_name"] == "ann"


@pytest.mark.parametrize("count, devices", [(0, 0), (1, 1), (10, 3)])
def test_top_entities_sets_how_many_are_listed(count, devices):
    incidents = [graph_incident(1, "high", "active", "2026-11-20T12:00:00Z",
                                alerts=[graph_alert("microsoftDefenderForEndpoint", [WS1, WS2, DC])])]
    report = incident_report([contoso(incidents)], now=NOW, top_entities=count)
    assert len(report["top_devices"]) == devices
    assert report["top_users"] == []


def test_a_negative_top_entities_is_refused():
    with pytest.raises(AnsibleFilterError, match="top_entities must be 0 or more, got -1"):
        incident_report([contoso([])], now=NOW, top_entities=-1)


def test_incidents_without_alerts_have_no_sources_devices_or_users():
    report = incident_report([contoso([graph_incident(1, "high", "active", "2026-11-20T12:00:00Z")])], now=NOW)
    assert report["alerts"] == 0 and report["alerts_by_service_source"] == {}
    assert report["top_devices"] == [] and report["top_users"] == []
    assert (report["incidents"][0]["devices"], report["incidents"][0]["users"]) == ([], [])


def test_each_incident_row_names_its_devices_and_users_also_in_the_csv(entity_report):
    rows = dict((row["id"], row) for row in entity_report["incidents"])
    assert rows["1"]["devices"] == ["ws-fin-001.contoso.example", "dc-core-030.contoso.example"]
    assert rows["1"]["users"] == ["ann@contoso.example", "bob@contoso.example"]
    assert rows["10"]["service_sources"] == ["microsoftDefenderForCloudApps", "microsoftDefenderForEndpoint"]
    lines = list(csv.DictReader(io.StringIO(incident_report_csv(entity_report))))
    by_id = dict((line["id"], line) for line in lines)
    assert list(lines[0])[-3:] == ["url", "devices", "users"]
    assert by_id["1"]["devices"] == "ws-fin-001.contoso.example; dc-core-030.contoso.example"
    assert by_id["11"]["users"] == "bob@contoso.example"
    assert by_id["2"]["service_sources"] == "microsoftDefenderForOffice365"
