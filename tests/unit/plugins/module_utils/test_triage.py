# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._api import FLAVOURS
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._update import IncidentUpdate
from ansible_collections.secops.m365_defender.plugins.module_utils._triage import RuleError, parse_rules, triage_plan
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import TENANT_ID

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.timezone.utc)
APIS = ["graph", "defender"]

# The Defender API's spellings of the values these tests use (docs/microsoft-apis.md §4), written out, not computed.
DEFENDER_SPELLING = {
    "status": {"active": "Active", "inProgress": "InProgress", "resolved": "Resolved", "redirected": "Redirected"},
    "severity": {"unknown": "UnSpecified", "informational": "Informational", "low": "Low", "medium": "Medium",
                 "high": "High"},
    "classification": {"unknown": "Unknown", "truePositive": "TruePositive", "falsePositive": "FalsePositive",
                       "informationalExpectedActivity": "InformationalExpectedActivity"},
    "determination": {"unknown": "NotAvailable", "malware": "Malware", "compromisedAccount": "CompromisedAccount",
                      "clean": "Clean", "securityTesting": "SecurityTesting", "phishing": "Phishing"},
    "serviceSource": {"microsoftDefenderForEndpoint": "MicrosoftDefenderForEndpoint",
                      "microsoftDefenderForOffice365": "MicrosoftDefenderForOffice365",
                      "microsoftDefenderForCloudApps": "MicrosoftCloudAppSecurity"},
}


def graph_incident(incident_id="220738", title="Multi-stage incident involving Execution & Credential access on one endpoint",
                   status="active", severity="high", classification="unknown", determination="unknown", assigned_to=None,
                   tags=(), system_tags=(), comments=(), created="2026-11-20T12:00:00.1234567Z",
                   updated="2026-11-25T12:00:00Z", sources=("microsoftDefenderForEndpoint",)):
    """An incident as the sandbox's Graph API lists it (with $expand=alerts)."""
    return {
        "id": incident_id, "tenantId": TENANT_ID, "status": status,
        "incidentWebUrl": "https://security.microsoft.com/incident2/%s/overview?tid=%s" % (incident_id, TENANT_ID),
        "redirectIncidentId": None, "displayName": title, "description": "",
        "createdDateTime": created, "lastUpdateDateTime": updated, "assignedTo": assigned_to,
        "classification": classification, "determination": determination, "severity": severity,
        "customTags": list(tags), "systemTags": list(system_tags),
        "comments": [{"comment": text, "createdByDisplayName": "secops.lead@fabrikam.example",
                      "createdDateTime": "2026-11-26T11:00:00Z"} for text in comments],
        "alerts": [{"id": "fa%d" % index, "incidentId": incident_id, "serviceSource": source, "status": "new"}
                   for index, source in enumerate(sources)],
    }


def defender_incident(**fields):
    """The same incident as the sandbox's Defender API lists it (alerts always embedded)."""
    graph = graph_incident(**fields)
    spelled = dict((name, DEFENDER_SPELLING[name][graph[name]]) for name in ("status", "severity", "classification",
                                                                             "determination"))
    return dict(spelled, **{
        "incidentId": int(graph["id"]), "incidentUri": graph["incidentWebUrl"], "redirectIncidentId": None,
        "incidentName": graph["displayName"], "createdTime": graph["createdDateTime"],
        "lastUpdateTime": graph["lastUpdateDateTime"], "assignedTo": graph["assignedTo"],
        "tags": graph["customTags"], "systemTags": graph["systemTags"],
        "comments": [{"comment": item["comment"], "createdBy": item["createdByDisplayName"],
                      "createdTime": item["createdDateTime"]} for item in graph["comments"]],
        "alerts": [{"alertId": alert["id"], "incidentId": int(graph["id"]),
                    "serviceSource": DEFENDER_SPELLING["serviceSource"][alert["serviceSource"]]}
                   for alert in graph["alerts"]],
    })


def make(api, **fields):
    return graph_incident(**fields) if api == "graph" else defender_incident(**fields)


def plan(api, incidents, rules):
    return triage_plan(incidents, rules, api=api, tenant_id=TENANT_ID, now=NOW)


def rule(name="r", match=None, stop=None, changes=None, **fields):
    """A rule that sets `changes`, else the keyword arguments, else a tag."""
    value = {"name": name, "set": changes if changes is not None else fields or {"tags": ["triaged"]}}
    if match is not None:
        value["match"] = match
    if stop is not None:
        value["stop"] = stop
    return value


def matched(api, match, **fields):
    """Whether a rule with this match applies to an incident with these fields."""
    return bool(plan(api, [make(api, **fields)], [rule(match=match)]))


# ----- checking rules


@pytest.mark.parametrize("rules, expected", [
    ({"name": "r"}, r"The rules must be a list, got dict"),
    (["r"], r"Rule 1: must be a dictionary, got 'r'"),
    ([{"set": {"tags": ["a"]}}], r"Rule 1 name: must be a non-empty string, got None"),
    ([{"name": " ", "set": {"tags": ["a"]}}], r"Rule 1 \(' '\) name: must be a non-empty string"),
    ([rule("a"), rule("b"), {"name": "c", "sett": {}}],
     r"Rule 3 \('c'\): unknown key\(s\) sett; allowed: name, match, set, stop"),
    ([rule("a"), rule("a")], r"Rule names must be unique.*: a"),
    ([{"name": "r"}], r"Rule 1 \('r'\): has no 'set'"),
    ([{"name": "r", "set": {}}], r"Rule 1 \('r'\) set: is empty: set at least one of assigned_to, status"),
    ([{"name": "r", "set": ["tags"]}], r"Rule 1 \('r'\) set: must be a dictionary"),
    ([{"name": "r", "set": {"tag": ["a"]}}], r"Rule 1 \('r'\) set: unknown key\(s\) tag; allowed: assigned_to, status, "
                                             r"classification, determination, tags, comment"),
    ([rule(match={"severty": ["high"]})], r"Rule 1 \('r'\) match: unknown key\(s\) severty; allowed: severity, status"),
    ([rule(match=["high"])], r"Rule 1 \('r'\) match: must be a dictionary"),
    ([rule(match={"severity": ["hihg"]})],
     r"Rule 1 \('r'\) match.severity: got 'hihg'; allowed: high, informational, low, medium, unknown \(any case; "
     r"also accepted: UnSpecified for unknown\)\."),
    ([rule(match={"status": ["open"]})], r"match.status: got 'open'; allowed: active, awaitingAction, inProgress, redirected, resolved \(any case"),
    ([rule(match={"classification": ["bad"]})], r"match.classification: got 'bad'; allowed: falsePositive"),
    ([rule(match={"determination": ["evil"]})], r"match.determination: got 'evil'; allowed: apt, compromisedAccount"),
    ([rule(match={"service_source": ["mde"]})], r"match.service_source: got 'mde'; allowed: .*microsoftDefenderForEndpoint"),
    ([rule(match={"severity": []})], r"match.severity: must be a non-empty list of strings, got \[\]"),
    ([rule(match={"tags": {"a": 1}})], r"match.tags: must be a non-empty list of strings"),
    ([rule(match={"tags_absent": ["a", ""]})], r"match.tags_absent: must be a non-empty string, got ''"),
    ([rule(match={"title": "(phish"})], r"match.title: '\(phish' is not a valid regular expression"),
    ([rule(match={"assigned_to": 5})], r"match.assigned_to: must be a non-empty string, got 5"),
    ([rule(match={"unassigned": "maybe"})], r"match.unassigned: must be true or false, got 'maybe'"),
    ([rule(match={"older_than": "7 days"})], r"Rule 1 \('r'\): Option 'match.older_than' got '7 days'.*7d"),
    ([rule(match={"newer_than": "yesterday"})], r"Option 'match.newer_than' got 'yesterday'"),
    ([rule(match={"idle_for": "2026-01-01"})], r"match.idle_for: got '2026-01-01'; use an age such as 30m, 24h"),
    ([rule(stop="sometimes")], r"Rule 1 \('r'\) stop: must be true or false, got 'sometimes'"),
    ([rule(status="Redirected")], r"Rule 1 \('r'\) set: Option 'status' cannot be 'redirected'"),
    ([rule(status="closed")], r"set.status: got 'closed'; allowed"),
    ([rule(classification="tp")], r"set.classification: got 'tp'; allowed"),
    ([rule(determination="evil")], r"set.determination: got 'evil'; allowed"),
    ([rule(classification="falsePositive", determination="malware")],
     r"Rule 1 \('r'\) set: Determination 'malware' does not go with classification 'falsePositive'; it allows: "),
    ([rule(comment="  ")], r"set.comment: must be a non-empty string"),
    ([rule(assigned_to=["a@b"])], r"set.assigned_to: must be a non-empty string"),
    ([rule(tags=[])], r"set.tags: must be a non-empty list of strings"),
])
def test_bad_rules_are_refused_naming_rule_key_value_and_allowed(rules, expected):
    with pytest.raises(RuleError, match=expected):
        parse_rules(rules, NOW)


def test_rule_errors_are_input_errors_raised_before_incidents_are_looked_at():
    with pytest.raises(InputError, match=r"Rule 2 \('second'\) match.severity"):
        triage_plan("not even incidents", [rule("first"), rule("second", match={"severity": "hgh"})], now=NOW)


def test_good_rules_in_every_spelling():
    rules = parse_rules([
        rule("a", match={"severity": ["UnSpecified", "HIGH"], "status": ["in_progress", "Active"],
                         "classification": ["true_positive"], "determination": ["CompromisedUser", "NotAvailable"],
                         "service_source": ["MicrosoftCloudAppSecurity"], "title": "phish", "tags": "VIP",
                         "tags_absent": ["done"], "assigned_to": "a@b", "unassigned": "no", "older_than": "2w",
                         "newer_than": "2024-05-01T00:00:00Z", "idle_for": "36h"},
             status="in_progress", classification="TruePositive", determination="CompromisedAccount",
             assigned_to="t@c", tags="one", comment="c"),
        rule("b", stop="yes", changes={}),
        {"name": "c", "match": None, "set": {"tags": ["x", "x"]}, "stop": None},
    ], NOW)
    assert [item.name for item in rules] == ["a", "b", "c"]
    assert rules[0].changes == {"status": "inProgress", "classification": "truePositive",
                                "determination": "compromisedAccount", "assigned_to": "t@c", "tags": ["one"],
                                "comment": "c"}
    assert [item.stop for item in rules] == [False, True, False]
    assert rules[2].changes == {"tags": ["x"]}


def test_no_rules_plan_nothing():
    assert plan("graph", [make("graph")], None) == []
    assert plan("graph", [make("graph")], []) == []


def test_unknown_api_and_bad_incidents():
    with pytest.raises(InputError, match="The API must be one of defender, graph, got 'legacy'"):
        triage_plan([], [rule()], api="legacy", now=NOW)
    with pytest.raises(InputError, match="must be a list of incident objects"):
        triage_plan(["220738"], [rule()], now=NOW)


# ----- every match key, on both APIs' shapes


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("match, fields, expected", [
    ({}, {}, True),
    ({"severity": ["high", "medium"]}, {"severity": "high"}, True),
    ({"severity": ["High"]}, {"severity": "low"}, False),
    ({"severity": ["UnSpecified"]}, {"severity": "unknown"}, True),
    ({"status": ["in_progress"]}, {"status": "inProgress"}, True),
    ({"status": ["InProgress"]}, {"status": "active"}, False),
    ({"classification": ["TruePositive"]}, {"classification": "truePositive", "determination": "malware"}, True),
    ({"classification": ["false_positive"]}, {"classification": "unknown"}, False),
    ({"determination": ["CompromisedUser"]}, {"classification": "truePositive", "determination": "compromisedAccount"}, True),
    ({"determination": ["NotAvailable"]}, {"determination": "unknown"}, True),
    ({"determination": ["malware"]}, {"determination": "unknown"}, False),
    ({"service_source": ["MicrosoftCloudAppSecurity"]}, {"sources": ("microsoftDefenderForCloudApps",)}, True),
    ({"service_source": ["microsoft_defender_for_cloud_apps"]},
     {"sources": ("microsoftDefenderForEndpoint", "microsoftDefenderForCloudApps")}, True),
    ({"service_source": ["microsoftDefenderForOffice365"]}, {"sources": ("microsoftDefenderForEndpoint",)}, False),
    ({"service_source": ["microsoftDefenderForOffice365"]}, {"sources": ()}, False),
    ({"title": "credential ACCESS"}, {}, True),
    ({"title": "^multi-stage .* endpoint$"}, {}, True),
    ({"title": "ransomware|phish"}, {}, False),
    ({"tags": ["vip", "exec"]}, {"tags": ("VIP",)}, True),
    ({"tags": ["ransomware"]}, {"system_tags": ("Ransomware",)}, True),
    ({"tags": ["vip"]}, {"tags": ("Pen test",)}, False),
    ({"tags_absent": ["triaged"]}, {"tags": ("VIP",)}, True),
    ({"tags_absent": ["Triaged", "done"]}, {"tags": ("triaged",)}, False),
    ({"tags_absent": ["bec fraud"]}, {"system_tags": ("BEC Fraud",)}, False),
    ({"assigned_to": "Analyst@Fabrikam.example"}, {"assigned_to": "analyst@fabrikam.example"}, True),
    ({"assigned_to": "analyst@fabrikam.example"}, {"assigned_to": None}, False),
    ({"unassigned": True}, {"assigned_to": None}, True),
    ({"unassigned": True}, {"assigned_to": ""}, True),
    ({"unassigned": True}, {"assigned_to": "analyst@fabrikam.example"}, False),
    ({"unassigned": False}, {"assigned_to": "analyst@fabrikam.example"}, True),
    ({"unassigned": False}, {"assigned_to": None}, False),
    ({"older_than": "6d"}, {"created": "2026-11-20T12:00:00.1234567Z"}, False),
    ({"older_than": "5d"}, {"created": "2026-11-20T12:00:00Z"}, True),
    ({"older_than": "2026-11-21"}, {"created": "2026-11-20T12:00:00Z"}, True),
    ({"older_than": "2026-11-20T11:00:00Z"}, {"created": "2026-11-20T12:00:00Z"}, False),
    ({"newer_than": "7d"}, {"created": "2026-11-20T12:00:00Z"}, True),
    ({"newer_than": "5d"}, {"created": "2026-11-20T12:00:00Z"}, False),
    ({"newer_than": "2026-11-20T13:00:00+02:00"}, {"created": "2026-11-20T12:00:00Z"}, True),
    ({"idle_for": "24h"}, {"updated": "2026-11-25T11:59:00Z"}, True),
    ({"idle_for": "24h"}, {"updated": "2026-11-25T12:01:00Z"}, False),
    ({"idle_for": "2w"}, {"updated": "2026-11-25T12:00:00Z"}, False),
    ({"severity": ["high"], "unassigned": True, "tags_absent": ["triaged"]}, {}, True),
    ({"severity": ["high"], "unassigned": True, "tags_absent": ["triaged"]}, {"tags": ("triaged",)}, False),
])
def test_match_keys(api, match, fields, expected):
    assert matched(api, match, **fields) is expected


@pytest.mark.parametrize("api", APIS)
def test_missing_times_match_no_time_condition(api):
    incident = make(api)
    incident.pop("createdDateTime" if api == "graph" else "createdTime")
    incident.pop("lastUpdateDateTime" if api == "graph" else "lastUpdateTime")
    for match in ({"older_than": "1d"}, {"newer_than": "1d"}, {"idle_for": "1d"}):
        assert plan(api, [incident], [rule(match=match)]) == []


# ----- rules together: order, stop, overrides, tags


@pytest.mark.parametrize("api", APIS)
def test_later_rules_override_scalars_and_tags_accumulate(api):
    rules = [
        rule("everything", status="inProgress", assigned_to="tier1@fabrikam.example", tags=["triaged"],
             comment="Taken by triage."),
        rule("high", match={"severity": ["high"]}, assigned_to="tier2@fabrikam.example", tags=["urgent", "triaged"],
             comment="High severity: tier 2."),
        rule("low", match={"severity": ["low"]}, assigned_to="tier3@fabrikam.example"),
    ]
    [entry] = plan(api, [make(api, tags=("VIP",))], rules)
    assert entry["rules"] == ["everything", "high"]
    assert entry["set"] == {"status": "inProgress", "assigned_to": "tier2@fabrikam.example",
                            "tags": ["triaged", "urgent"], "comment": "High severity: tier 2."}
    assert entry["changes"] == ["status: active -> inProgress", "assigned_to: none -> tier2@fabrikam.example",
                                "tags: + triaged, urgent", "comment: + High severity: tier 2."]


@pytest.mark.parametrize("api", APIS)
def test_stop_ends_the_rules_for_the_incidents_it_matched(api):
    rules = [
        rule("pen tests", match={"tags": ["Pen test"]}, stop=True, classification="informationalExpectedActivity",
             determination="securityTesting", status="resolved"),
        rule("leave VIPs alone", match={"tags": ["VIP"]}, stop=True, changes={}),
        rule("everything else", tags=["triaged"]),
    ]
    incidents = [make(api, incident_id="1", tags=("Pen test",)), make(api, incident_id="2", tags=("VIP",)),
                 make(api, incident_id="3")]
    entries = plan(api, incidents, rules)
    assert [(entry["incident_id"], entry["rules"]) for entry in entries] == [("1", ["pen tests"]), ("3", ["everything else"])]
    assert entries[0]["set"] == {"status": "resolved", "classification": "informationalExpectedActivity",
                                 "determination": "securityTesting"}
    assert entries[0]["changes"] == ["status: active -> resolved", "classification: unknown -> informationalExpectedActivity",
                                     "determination: unknown -> securityTesting"]


@pytest.mark.parametrize("api", APIS)
def test_a_stop_rule_that_does_not_match_stops_nothing(api):
    rules = [rule("vip", match={"tags": ["VIP"]}, stop=True, changes={}), rule("all", tags=["triaged"])]
    assert [entry["rules"] for entry in plan(api, [make(api)], rules)] == [["all"]]


# ----- only what differs, once


@pytest.mark.parametrize("api", APIS)
def test_nothing_planned_when_the_incident_already_is_as_the_rules_say(api):
    incident = make(api, status="inProgress", assigned_to="Tier1@Fabrikam.example", classification="truePositive",
                    determination="compromisedAccount", tags=("triaged", "VIP"), comments=("Taken by triage.",))
    rules = [rule("all", status="in_progress", assigned_to="tier1@fabrikam.example", classification="TruePositive",
                  determination="CompromisedUser", tags=["triaged"], comment="Taken by triage.")]
    assert plan(api, [incident], rules) == []


@pytest.mark.parametrize("api", APIS)
def test_only_the_differences_and_the_missing_tags_are_planned(api):
    incident = make(api, status="inProgress", tags=("triaged",), comments=("Taken by triage. ",))
    [entry] = plan(api, [incident], [rule("all", status="inProgress", tags=["triaged", "VIP"], comment="Taken by triage.")])
    assert entry["set"] == {"tags": ["triaged", "VIP"], "comment": "Taken by triage."}
    assert entry["changes"] == ["tags: + VIP", "comment: + Taken by triage."]


@pytest.mark.parametrize("api", APIS)
def test_a_comment_is_added_once(api):
    rules = [rule("note", comment="Checked by the night shift.")]
    assert plan(api, [make(api, comments=("Other.", "Checked by the night shift."))], rules) == []
    [entry] = plan(api, [make(api, comments=("Other.",))], rules)
    assert entry["set"] == {"comment": "Checked by the night shift."}


@pytest.mark.parametrize("api", APIS)
def test_entries_name_the_incident_its_link_and_the_rules(api):
    [entry] = plan(api, [make(api, incident_id="220744", title="Phishing campaign")], [rule("phish", tags=["t"])])
    assert entry == {"incident_id": "220744", "title": "Phishing campaign",
                     "url": "https://security.microsoft.com/incident2/220744/overview?tid=" + TENANT_ID,
                     "rules": ["phish"],
                     "set": {"tags": ["t"]}, "changes": ["tags: + t"], "alerts": []}


def test_both_apis_give_the_same_plan():
    rules = [rule("mcas", match={"service_source": ["microsoftDefenderForCloudApps"], "older_than": "3d"},
                  status="inProgress", tags=["cloud"]),
             rule("high", match={"severity": ["high"], "unassigned": True}, assigned_to="tier2@fabrikam.example")]
    fields = [dict(incident_id="1", sources=("microsoftDefenderForCloudApps",)),
              dict(incident_id="2", severity="medium", assigned_to="x@y"),
              dict(incident_id="3", created="2026-11-26T11:00:00Z", sources=("microsoftDefenderForCloudApps",))]
    graph = plan("graph", [make("graph", **item) for item in fields], rules)
    defender = plan("defender", [make("defender", **item) for item in fields], rules)
    assert graph == defender
    assert [entry["incident_id"] for entry in graph] == ["1", "3"]


def test_the_incidents_are_not_modified():
    incidents = [make("graph", tags=("VIP",))]
    before = copy.deepcopy(incidents)
    plan("graph", incidents, [rule("all", tags=["triaged"], comment="c")])
    assert incidents == before


# ----- what only the API or the incident can tell


def test_a_value_the_api_cannot_take_names_the_incident_and_rules():
    rules = [rule("wait", status="awaitingAction")]
    assert plan("graph", [make("graph")], rules)[0]["set"] == {"status": "awaitingAction"}
    with pytest.raises(RuleError, match=r"Incident 220738 \(rules 'wait'\): Option 'status' got 'awaitingAction'; "
                                        r"the defender API allows"):
        plan("defender", [make("defender")], rules)


@pytest.mark.parametrize("api", APIS)
def test_a_determination_must_fit_the_classification_after_the_rules(api):
    incident = make(api, classification="falsePositive", determination="clean")
    with pytest.raises(RuleError, match=r"Incident 220738 \(rules 'malware'\): Determination 'malware' does not go "
                                        r"with classification '(falsePositive|FalsePositive)'"):
        plan(api, [incident], [rule("malware", determination="malware")])
    rules = [rule("tp", classification="truePositive", determination="malware"),
             rule("fp", match={"title": "multi"}, classification="falsePositive")]
    with pytest.raises(RuleError, match=r"rules 'tp', 'fp'\): Determination 'malware' does not go with classification "
                                        r"'falsePositive'"):
        plan(api, [make(api)], rules)


# ----- values of older recorded answers, and Graph's newer enum members


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("text", ["Unassigned", "unassigned", "UNASSIGNED"])
def test_the_text_unassigned_means_no_owner(api, text):
    incident = make(api, assigned_to=text)
    rules = [rule("take", match={"unassigned": True}, assigned_to="soc@fabrikam.example")]
    (entry,) = plan(api, [incident], rules)
    assert entry["changes"] == ["assigned_to: none -> soc@fabrikam.example"]
    assert plan(api, [incident], [rule("owned", match={"unassigned": False})]) == []
    assert plan(api, [incident], [rule("theirs", match={"assigned_to": "unassigned"})]) == []


@pytest.mark.parametrize("api", APIS)
def test_unassigning_an_incident_that_reads_unassigned_changes_nothing(api):
    update = IncidentUpdate(FLAVOURS[api], {"assigned_to": ""})
    assert not update.plan(make(api, assigned_to="Unassigned")).changed
    assert update.plan(make(api, assigned_to="analyst@fabrikam.example")).changed


@pytest.mark.parametrize("api", APIS)
def test_status_new_of_older_answers_is_active(api):
    incident = dict(make(api), status="New")
    assert [entry["incident_id"] for entry in plan(api, [incident], [rule("open", match={"status": ["active"]})])] == [
        "220738"]
    assert plan(api, [incident], [rule("done", match={"status": ["resolved"]})]) == []
    assert len(plan(api, [make(api)], [rule("new", match={"status": ["new"]})])) == 1
    assert plan(api, [incident], [rule("same", status="active")]) == [], "New is already active: nothing to send"


def defender_with_sources(*sources):
    incident = make("defender", sources=())
    incident["alerts"] = [{"alertId": "da%d" % index, "incidentId": 220738, "serviceSource": source}
                          for index, source in enumerate(sources)]
    return incident


@pytest.mark.parametrize("source, name", [
    ("MicrosoftDefenderATP", "microsoftDefenderForEndpoint"),
    ("OfficeATP", "microsoftDefenderForOffice365"),
    ("MicrosoftCloudAppSecurity", "microsoftDefenderForCloudApps"),
])
def test_older_service_source_names_match_graphs_names(source, name):
    incident = defender_with_sources(source)
    assert len(plan("defender", [incident], [rule("by-product", match={"service_source": [name]})])) == 1
    assert len(plan("defender", [incident], [rule("by-old-name", match={"service_source": [source]})])) == 1
    assert plan("defender", [incident], [rule("other", match={"service_source": ["microsoftSentinel"]})]) == []


@pytest.mark.parametrize("source", ["microsoftThreatIntelligence", "microsoftSecurityForAI"])
def test_graphs_newer_service_sources_are_accepted_and_matched(source):
    incident = make("graph", sources=(source,))
    assert len(plan("graph", [incident], [rule("new-product", match={"service_source": [source]})])) == 1
    assert plan("graph", [make("graph")], [rule("new-product", match={"service_source": [source]})]) == []


def test_a_status_that_cannot_be_set_is_not_listed_as_allowed():
    with pytest.raises(RuleError) as raised:
        parse_rules([rule(status="closed")], NOW)
    assert "allowed: active, awaitingAction, inProgress, resolved (any case; also accepted: New for active)." in str(
        raised.value)
    with pytest.raises(RuleError) as raised:
        parse_rules([rule(status="Redirected")], NOW)
    message = str(raised.value)
    assert "cannot be 'redirected'" in message
    assert "Allowed: active, awaitingAction, inProgress, resolved (any case" in message
    # Matching on it is fine: it is a status one reads.
    parse_rules([rule(match={"status": ["redirected"]})], NOW)


def test_determinations_are_named_as_graphs_metadata_names_them():
    with pytest.raises(RuleError) as raised:
        parse_rules([rule(classification="falsePositive", determination="evil")], NOW)
    message = str(raised.value)
    assert "notMalicious" in message and "notEnoughDataToValidate" in message and "compromisedAccount" in message
    assert message.count("clean") == 1 and message.count("insufficientData") == 1, "each other name listed once"
    with pytest.raises(RuleError, match=r"Determination 'notMalicious' does not go with classification 'truePositive'; it "
                                        r"allows: apt, compromisedAccount, maliciousUserActivity, malware"):
        parse_rules([rule(classification="truePositive", determination="clean")], NOW)


# ----- match.alerts and set.alerts

SHA256 = "a1" * 32
SHA1 = "b2" * 20
# The Defender API's spellings of the alert values these tests use, written out.
DEFENDER_ALERT_SPELLING = {
    "status": {"new": "New", "inProgress": "InProgress", "resolved": "Resolved"},
    "detectionSource": {"microsoftDefenderForEndpoint": "EDR", "antivirus": "WindowsDefenderAv",
                        "microsoftDefenderForOffice365": "OfficeATP"},
    "riskScore": {"none": "None", "low": "Low", "medium": "Medium", "high": "High"},
}


def alert_spec(alert_id="da1", **fields):
    """An alert in Graph's terms, with the entities of its evidence."""
    spec = {"id": alert_id, "serviceSource": "microsoftDefenderForEndpoint",
            "detectionSource": "microsoftDefenderForEndpoint", "severity": "high", "status": "new",
            "title": "Suspicious PowerShell command line", "category": "Execution", "assignedTo": None,
            "classification": "unknown", "determination": "unknown", "comments": [],
            "devices": [("ws-fin-001.fabrikam.example", "medium")], "users": [("jlauer", "jlauer@fabrikam.example")],
            "files": [(SHA256, SHA1)], "ips": [], "urls": [], "verdict": "suspicious"}
    spec.update(fields)
    return spec


def graph_alert(spec, incident_id):
    evidence = [{"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": name,
                 "mdeDeviceId": "dev-" + name, "riskScore": risk, "verdict": spec["verdict"]}
                for name, risk in spec["devices"]]
    evidence += [{"@odata.type": "#microsoft.graph.security.userEvidence", "verdict": "unknown",
                  "userAccount": {"accountName": account, "userPrincipalName": upn}} for account, upn in spec["users"]]
    evidence += [{"@odata.type": "#microsoft.graph.security.fileEvidence", "verdict": spec["verdict"],
                  "fileDetails": {"sha256": sha256, "sha1": sha1, "fileName": "x.exe"}}
                 for sha256, sha1 in spec["files"]]
    evidence += [{"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": ip, "verdict": "unknown"}
                 for ip in spec["ips"]]
    evidence += [{"@odata.type": "#microsoft.graph.security.urlEvidence", "url": url, "verdict": "unknown"}
                 for url in spec["urls"]]
    alert = dict((key, value) for key, value in spec.items() if key not in ("devices", "users", "files", "ips", "urls",
                                                                            "verdict"))
    return dict(alert, incidentId=incident_id, evidence=evidence,
                comments=[{"comment": text} for text in spec["comments"]])


def defender_alert(spec, incident_id):
    """The same alert as the Defender API embeds it: devices and entities, no verdicts."""
    entities = [{"entityType": "User", "accountName": account, "userPrincipalName": upn}
                for account, upn in spec["users"]]
    entities += [{"entityType": "File", "sha256": sha256, "sha1": sha1, "fileName": "x.exe"}
                 for sha256, sha1 in spec["files"]]
    entities += [{"entityType": "Ip", "ipAddress": ip} for ip in spec["ips"]]
    entities += [{"entityType": "Url", "url": url} for url in spec["urls"]]
    return {"alertId": spec["id"], "incidentId": int(incident_id), "title": spec["title"],
            "category": spec["category"], "severity": DEFENDER_SPELLING["severity"][spec["severity"]],
            "status": DEFENDER_ALERT_SPELLING["status"][spec["status"]],
            "serviceSource": DEFENDER_SPELLING["serviceSource"][spec["serviceSource"]],
            "detectionSource": DEFENDER_ALERT_SPELLING["detectionSource"][spec["detectionSource"]],
            "assignedTo": spec["assignedTo"], "classification": None, "determination": None,
            "devices": [{"mdatpDeviceId": "dev-" + name, "deviceDnsName": name,
                         "riskScore": DEFENDER_ALERT_SPELLING["riskScore"][risk]} for name, risk in spec["devices"]],
            "entities": entities}


def with_alerts(api, specs, **fields):
    incident = make(api, sources=(), **fields)
    incident_id = str(incident["id"] if api == "graph" else incident["incidentId"])
    render = graph_alert if api == "graph" else defender_alert
    incident["alerts"] = [render(spec, incident_id) for spec in specs]
    return incident


def alert_matched(api, match, **fields):
    """Whether a rule with match.alerts applies to an incident with one alert of these fields."""
    return bool(plan(api, [with_alerts(api, [alert_spec(**fields)])], [rule(match={"alerts": match})]))


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("match, fields, expected", [
    ({"service_source": ["MicrosoftDefenderATP"]}, {}, True),
    ({"service_source": ["microsoftDefenderForOffice365"]}, {}, False),
    ({"detection_source": ["EDR"]}, {}, True),
    ({"detection_source": ["antivirus"]}, {"detectionSource": "antivirus"}, True),
    ({"detection_source": ["antivirus"]}, {}, False),
    ({"severity": ["High", "medium"]}, {}, True),
    ({"severity": ["low"]}, {}, False),
    ({"status": ["new", "in_progress"]}, {"status": "inProgress"}, True),
    ({"status": ["resolved"]}, {}, False),
    ({"title": "powershell"}, {}, True),
    ({"title": "^mimikatz"}, {}, False),
    ({"category": ["execution", "Persistence"]}, {}, True),
    ({"category": ["credential_access"]}, {"category": "CredentialAccess"}, True),
    ({"category": ["Malware"]}, {}, False),
    ({"device_risk_score": ["Medium", "high"]}, {}, True),
    ({"device_risk_score": ["high"]}, {}, False),
    ({"device_risk_score": ["none"]}, {"devices": [("ws-hr-002.fabrikam.example", "none")]}, True),
    ({"device_risk_score": ["high"]}, {"devices": []}, False),
    ({"device": "^WS-FIN-"}, {}, True),
    ({"device": r"\.contoso\."}, {}, False),
    ({"device": "ws-fin", "device_risk_score": ["medium"]}, {}, True),
    ({"device": "ws-fin", "device_risk_score": ["high"]},
     {"devices": [("ws-fin-001.fabrikam.example", "low"), ("srv-app-017.fabrikam.example", "high")]}, False),
    ({"device": "srv", "device_risk_score": ["high"]},
     {"devices": [("ws-fin-001.fabrikam.example", "low"), ("srv-app-017.fabrikam.example", "high")]}, True),
    ({"user": "^jlauer$"}, {}, True),
    ({"user": "@FABRIKAM\\.example$"}, {}, True),
    ({"user": "admin"}, {}, False),
    ({"file_sha256": [SHA256.upper()]}, {}, True),
    ({"file_sha256": ["c3" * 32]}, {}, False),
    ({"file_sha1": [SHA1]}, {}, True),
    ({"file_sha1": ["c3" * 20]}, {}, False),
    ({"ip": ["203.0.113.7"]}, {"ips": ["203.0.113.7"]}, True),
    ({"ip": ["203.0.113.0/24", "2001:db8::/32"]}, {"ips": ["2001:db8::1"]}, True),
    ({"ip": ["198.51.100.0/24"]}, {"ips": ["203.0.113.7"]}, False),
    ({"url": "evil\\.example/"}, {"urls": ["https://login.evil.example/o365"]}, True),
    ({"url": "evil"}, {}, False),
    ({"service_source": ["microsoftDefenderForEndpoint"], "device_risk_score": ["medium"], "user": "jlauer"}, {}, True),
    ({"service_source": ["microsoftDefenderForEndpoint"], "device_risk_score": ["high"]}, {}, False),
])
def test_alert_match_keys(api, match, fields, expected):
    assert alert_matched(api, match, **fields) is expected


@pytest.mark.parametrize("verdicts, expected", [(["Malicious"], False), (["suspicious"], True),
                                                (["no_threats_found", "unknown"], True)])
def test_verdicts_match_any_entity_of_the_alert_on_graph(verdicts, expected):
    assert alert_matched("graph", {"verdict": verdicts}) is expected


def test_the_defender_api_gives_no_verdicts_so_none_matches():
    assert alert_matched("defender", {"verdict": ["suspicious", "unknown"]}) is False


@pytest.mark.parametrize("api", APIS)
def test_one_alert_must_meet_every_alert_condition(api):
    incident = with_alerts(api, [alert_spec("da1", severity="low"),
                                 alert_spec("da2", devices=[("ws-fin-001.fabrikam.example", "high")], severity="medium")])
    assert plan(api, [incident], [rule(match={"alerts": {"severity": ["medium"], "device_risk_score": ["high"]}})])
    assert not plan(api, [incident], [rule(match={"alerts": {"severity": ["low"], "device_risk_score": ["high"]}})])


@pytest.mark.parametrize("api", APIS)
def test_an_incident_without_alerts_matches_no_alert_condition(api):
    assert plan(api, [make(api, sources=())], [rule(match={"alerts": {"severity": ["high"]}})]) == []
    incident = make(api)
    incident.pop("alerts")
    assert plan(api, [incident], [rule(match={"alerts": {"severity": ["high"]}})]) == []


@pytest.mark.parametrize("api", APIS)
def test_match_alerts_goes_with_the_incident_conditions(api):
    incident = with_alerts(api, [alert_spec()], severity="low")
    assert plan(api, [incident], [rule(match={"severity": ["low"], "alerts": {"device_risk_score": ["medium"]}})])
    assert not plan(api, [incident], [rule(match={"severity": ["high"], "alerts": {"device_risk_score": ["medium"]}})])


RISKY = {"name": "risky MDE alerts", "match": {"alerts": {"service_source": ["microsoftDefenderForEndpoint"],
                                                          "device_risk_score": ["high"]}},
         "set": {"tags": ["risky-device"], "alerts": {"status": "in_progress", "assigned_to": "tier2@fabrikam.example",
                                                      "comment": "Device at high risk: taken by triage."}}}


def test_set_alerts_changes_the_alerts_that_matched():
    incident = with_alerts("graph", [alert_spec("da1", devices=[("srv-app-017.fabrikam.example", "high")]),
                                     alert_spec("da2"), alert_spec("ca3", serviceSource="microsoftDefenderForCloudApps",
                                                                   devices=[("srv-app-017.fabrikam.example", "high")])])
    [entry] = plan("graph", [incident], [RISKY])
    assert entry["rules"] == ["risky MDE alerts"]
    assert entry["set"] == {"tags": ["risky-device"]}
    assert entry["alerts"] == [{
        "alert_id": "da1", "incident_id": "220738", "title": "Suspicious PowerShell command line",
        "rules": ["risky MDE alerts"],
        "set": {"status": "inProgress", "assigned_to": "tier2@fabrikam.example",
                "comment": "Device at high risk: taken by triage."},
        "changes": ["status: new -> inProgress", "assigned_to: none -> tier2@fabrikam.example",
                    "comment: + Device at high risk: taken by triage."]}]


def test_set_alerts_without_match_alerts_changes_every_alert_and_only_the_alerts():
    incident = with_alerts("graph", [alert_spec("da1"), alert_spec("da2", status="resolved")])
    rules = [{"name": "all alerts", "match": {"severity": ["high"]}, "set": {"alerts": {"status": "resolved"}}}]
    [entry] = plan("graph", [incident], rules)
    assert (entry["set"], entry["changes"]) == ({}, [])
    assert [(item["alert_id"], item["set"], item["changes"]) for item in entry["alerts"]] == [
        ("da1", {"status": "resolved"}, ["status: new -> resolved"])]


def test_alert_updates_are_planned_only_for_what_differs():
    done = alert_spec("da1", devices=[("srv-app-017.fabrikam.example", "high")], status="inProgress",
                      assignedTo="Tier2@Fabrikam.example", comments=["Device at high risk: taken by triage."])
    incident = with_alerts("graph", [done], tags=("risky-device",))
    assert plan("graph", [incident], [RISKY]) == []
    done["comments"] = []
    [entry] = plan("graph", [with_alerts("graph", [done], tags=("risky-device",))], [RISKY])
    assert entry["alerts"][0]["set"] == {"comment": "Device at high risk: taken by triage."}
    assert entry["set"] == {}


def test_later_rules_override_alert_values_and_stop_ends_them():
    incident = with_alerts("graph", [alert_spec("da1"), alert_spec("da2", severity="low")])
    rules = [
        {"name": "take", "set": {"alerts": {"status": "inProgress", "assigned_to": "tier1@fabrikam.example"}}},
        {"name": "high to tier 2", "match": {"alerts": {"severity": ["high"]}},
         "set": {"alerts": {"assigned_to": "tier2@fabrikam.example"}}, "stop": True},
        {"name": "never reached", "set": {"alerts": {"status": "resolved"}}},
    ]
    [entry] = plan("graph", [incident], rules)
    assert entry["rules"] == ["take", "high to tier 2"]
    assert [(item["alert_id"], item["rules"], item["set"]) for item in entry["alerts"]] == [
        ("da1", ["take", "high to tier 2"], {"status": "inProgress", "assigned_to": "tier2@fabrikam.example"}),
        ("da2", ["take"], {"status": "inProgress", "assigned_to": "tier1@fabrikam.example"})]


def test_an_alert_determination_must_fit_its_classification():
    incident = with_alerts("graph", [alert_spec("da1", classification="falsePositive", determination="notMalicious")])
    rules = [{"name": "malware", "set": {"alerts": {"determination": "malware"}}}]
    with pytest.raises(RuleError, match=r"Alert da1 of incident 220738 \(rules 'malware'\): Determination 'malware' "
                                        r"does not go with classification 'falsePositive'"):
        plan("graph", [incident], rules)


def test_alert_updates_are_refused_on_the_defender_api_before_anything_is_planned():
    rules = [rule("tags only"), dict(RISKY, name="alerts")]
    with pytest.raises(RuleError, match=r"^Rule 2 \('alerts'\) set.alerts: alerts can only be updated through "
                                        r"Microsoft Graph \(alerts_v2\); the defender API has no alerts endpoint"):
        plan("defender", [with_alerts("defender", [alert_spec()])], rules)
    with pytest.raises(RuleError, match="set.alerts: alerts can only be updated through Microsoft Graph"):
        plan("defender", [], rules)


def test_match_alerts_alone_works_on_the_defender_api():
    incident = with_alerts("defender", [alert_spec(devices=[("srv-app-017.fabrikam.example", "high")])])
    [entry] = plan("defender", [incident], [dict(RISKY, set={"tags": ["risky-device"]})])
    assert entry["set"] == {"tags": ["risky-device"]} and entry["alerts"] == []


def test_both_apis_match_alerts_alike():
    specs = [[alert_spec("da1", detectionSource="antivirus", devices=[("ws-hr-002.fabrikam.example", "low")])],
             [alert_spec("da2", ips=["10.1.2.3"], users=[("admin", "admin@fabrikam.example")])],
             [alert_spec("da3", serviceSource="microsoftDefenderForOffice365", devices=[], files=[],
                         urls=["https://evil.example/login"])]]
    rules = [{"name": "av", "match": {"alerts": {"detection_source": ["antivirus"], "device_risk_score": ["low"]}},
              "set": {"tags": ["av"]}},
             {"name": "admin", "match": {"alerts": {"user": "^admin", "ip": ["10.0.0.0/8"]}}, "set": {"tags": ["adm"]}},
             {"name": "mail", "match": {"alerts": {"service_source": ["OfficeATP"], "url": "evil"}},
              "set": {"tags": ["mail"]}}]

    def entries(api):
        incidents = [with_alerts(api, alerts, incident_id=str(index)) for index, alerts in enumerate(specs, 1)]
        return [(entry["incident_id"], entry["rules"]) for entry in plan(api, incidents, rules)]
    assert entries("graph") == entries("defender") == [("1", ["av"]), ("2", ["admin"]), ("3", ["mail"])]


def test_alerts_are_not_modified():
    incidents = [with_alerts("graph", [alert_spec(devices=[("srv-app-017.fabrikam.example", "high")])])]
    before = copy.deepcopy(incidents)
    assert plan("graph", incidents, [RISKY])
    assert incidents == before


@pytest.mark.parametrize("match, expected", [
    ({"alerts": {"severty": ["high"]}}, r"Rule 1 \('r'\) match.alerts: unknown key\(s\) severty; allowed: "
                                        r"service_source, detection_source, severity, status, title, category"),
    ({"alerts": {}}, r"match.alerts: is empty: give at least one of service_source"),
    ({"alerts": ["high"]}, r"match.alerts: must be a dictionary"),
    ({"alerts": {"service_source": ["mde"]}}, r"match.alerts.service_source: got 'mde'; allowed: .*microsoftDefenderForEndpoint"),
    ({"alerts": {"detection_source": ["edrr"]}}, r"match.alerts.detection_source: got 'edrr'; allowed: .*antivirus.*"
                                                 r"also accepted: .*EDR for microsoftDefenderForEndpoint"),
    ({"alerts": {"status": ["active"]}}, r"match.alerts.status: got 'active'; allowed: inProgress, new, resolved, unknown"),
    ({"alerts": {"severity": []}}, r"match.alerts.severity: must be a non-empty list of strings"),
    ({"alerts": {"title": "(x"}}, r"match.alerts.title: '\(x' is not a valid regular expression"),
    ({"alerts": {"category": [""]}}, r"match.alerts.category: must be a non-empty string"),
    ({"alerts": {"device_risk_score": ["critical"]}},
     r"match.alerts.device_risk_score: got 'critical'; allowed: none, informational, low, medium, high \(any case\)"),
    ({"alerts": {"device": "[a-"}}, r"match.alerts.device: '\[a-' is not a valid regular expression"),
    ({"alerts": {"user": 7}}, r"match.alerts.user: must be a non-empty string, got 7"),
    ({"alerts": {"file_sha256": ["abc"]}}, r"match.alerts.file_sha256: got 'abc'; a SHA256 is 64 hexadecimal digits"),
    ({"alerts": {"file_sha1": [SHA256]}}, r"match.alerts.file_sha1: got '%s'; a SHA1 is 40 hexadecimal digits" % SHA256),
    ({"alerts": {"ip": ["10.0.0.300"]}}, r"match.alerts.ip: got '10.0.0.300'; allowed: an IPv4 or IPv6 address, or a "
                                         r"network such as 10.0.0.0/8"),
    ({"alerts": {"url": "*"}}, r"match.alerts.url: '\*' is not a valid regular expression"),
    ({"alerts": {"verdict": ["bad"]}}, r"match.alerts.verdict: got 'bad'; allowed: unknown, suspicious, malicious, "
                                       r"noThreatsFound \(any case\)"),
])
def test_bad_alert_conditions_are_refused(match, expected):
    with pytest.raises(RuleError, match=expected):
        parse_rules([rule(match=match)], NOW)


@pytest.mark.parametrize("alerts, expected", [
    ({}, r"Rule 1 \('r'\) set.alerts: is empty: set at least one of status, assigned_to, classification, "
         r"determination, comment\."),
    ({"tags": ["x"]}, r"set.alerts: unknown key\(s\) tags; allowed: status, assigned_to, classification, determination, "
                      r"comment"),
    ("resolved", r"set.alerts: must be a dictionary"),
    ({"status": "active"}, r"set.alerts.status: got 'active'; allowed: inProgress, new, resolved \(any case\)"),
    ({"status": "unknown"}, r"set.alerts: Option 'status' cannot be 'unknown'"),
    ({"classification": "tp"}, r"set.alerts.classification: got 'tp'; allowed"),
    ({"classification": "falsePositive", "determination": "malware"},
     r"set.alerts: Determination 'malware' does not go with classification 'falsePositive'"),
    ({"comment": " "}, r"set.alerts.comment: must be a non-empty string"),
    ({"assigned_to": ""}, r"set.alerts.assigned_to: must be a non-empty string"),
])
def test_bad_alert_changes_are_refused(alerts, expected):
    with pytest.raises(RuleError, match=expected):
        parse_rules([{"name": "r", "set": {"alerts": alerts}}], NOW)


def test_good_alert_rules_in_every_spelling():
    [parsed] = parse_rules([{"name": "r", "match": {"alerts": {
        "service_source": "OfficeATP", "detection_source": ["WindowsDefenderAv"], "severity": ["UnSpecified"],
        "status": ["In Progress"], "title": "x", "category": "Malware", "device_risk_score": ["MEDIUM"],
        "device": "ws", "user": "a", "file_sha256": SHA256, "file_sha1": [SHA1], "ip": "10.0.0.0/8",
        "url": "evil", "verdict": ["NoThreatsFound"]}},
        "set": {"alerts": {"status": "in_progress", "classification": "TruePositive", "determination": "CompromisedUser",
                           "assigned_to": "a@b", "comment": "c"}}}], NOW)
    assert parsed.changes == {}
    assert parsed.alert_changes == {"status": "inProgress", "classification": "truePositive",
                                    "determination": "compromisedAccount", "assigned_to": "a@b", "comment": "c"}
