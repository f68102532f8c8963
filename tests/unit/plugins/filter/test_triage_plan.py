# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.secops.m365_defender.plugins.filter import triage_plan as plugin
from ansible_collections.secops.m365_defender.plugins.filter.triage_plan import FilterModule, triage_plan
from ansible_collections.secops.m365_defender.plugins.module_utils._triage import (
    ALERT_MATCH_KEYS,
    ALERT_SET_KEYS,
    MATCH_KEYS,
    RULE_KEYS,
    SET_KEYS,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import TENANT_ID

RULES = [{"name": "young and high", "match": {"severity": ["High"], "newer_than": "24h"},
          "set": {"status": "in_progress", "tags": ["triaged"]}}]


def defender_incident(created):
    """An incident as the Defender API lists it, without incidentUri: the link is built from the tenant."""
    return {"incidentId": 924565, "incidentName": "Suspicious email forwarding activity", "status": "Active",
            "severity": "High", "assignedTo": None, "classification": "Unknown", "determination": "NotAvailable",
            "createdTime": created, "lastUpdateTime": created, "tags": [], "systemTags": ["BEC Fraud"],
            "comments": [], "alerts": []}


def test_the_filter_is_exposed_by_its_name():
    assert FilterModule().filters() == {"triage_plan": triage_plan}


def test_ages_count_from_now_given_as_iso_text():
    incidents = [defender_incident("2026-11-25T13:00:00Z")]
    [entry] = triage_plan(incidents, RULES, api="defender", tenant_id=TENANT_ID, cloud="gcc_high",
                          now="2026-11-26T12:00:00Z")
    assert entry == {"incident_id": "924565", "title": "Suspicious email forwarding activity",
                     "url": "https://security.microsoft.us/incident2/924565/overview?tid=" + TENANT_ID,
                     "rules": ["young and high"], "set": {"status": "inProgress", "tags": ["triaged"]},
                     "changes": ["status: active -> inProgress", "tags: + triaged"], "alerts": []}
    assert triage_plan(incidents, RULES, api="defender", now="2026-11-26T14:00:00Z") == []


def test_cloud_none_means_global():
    [entry] = triage_plan([defender_incident("2026-11-26T11:00:00Z")], RULES, api="defender", tenant_id=TENANT_ID,
                          cloud=None, now="2026-11-26T12:00:00Z")
    assert entry["url"].startswith("https://security.microsoft.com/incident2/924565/overview?tid=")


def test_an_empty_list_only_checks_the_rules():
    assert triage_plan([], RULES) == []
    with pytest.raises(AnsibleFilterError, match=r"^triage_plan: Rule 1 \('young and high'\) match.severity: got 'hi'"):
        triage_plan([], [dict(RULES[0], match={"severity": "hi"})])


@pytest.mark.parametrize("kwargs, expected", [
    ({"api": "mde"}, r"^triage_plan: The API must be one of defender, graph, got 'mde'"),
    ({"now": "noon"}, r"^triage_plan: Option 'now' got 'noon'"),
])
def test_errors_become_filter_errors(kwargs, expected):
    with pytest.raises(AnsibleFilterError, match=expected):
        triage_plan([], RULES, **kwargs)


def test_the_documentation_sidecar_documents_every_option():
    """The sidecar (read by ansible-doc) must name the filter and document each keyword argument."""
    path = os.path.splitext(plugin.__file__)[0] + ".yml"
    with open(path) as handle:
        docs = yaml.safe_load(handle)
    assert docs["DOCUMENTATION"]["name"] == "triage_plan"
    assert set(docs["DOCUMENTATION"]["options"]) == {"_input", "rules", "api", "tenant_id", "cloud", "now", "status",
                                                     "created_after"}
    assert set(docs["DOCUMENTATION"]["options"]["rules"]["suboptions"]) == {"name", "match", "set", "stop"}
    assert "triage_plan" in docs["EXAMPLES"]
    assert "_value" in docs["RETURN"]


def test_the_sidecar_and_the_role_know_every_rule_key():
    """Typos in rule keys are refused by the role's argument validation: its spec must list exactly the keys."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(plugin.__file__))))
    with open(os.path.splitext(plugin.__file__)[0] + ".yml") as handle:
        sidecar = yaml.safe_load(handle)["DOCUMENTATION"]["options"]["rules"]["suboptions"]
    with open(os.path.join(root, "roles", "incident_triage", "meta", "argument_specs.yml")) as handle:
        role = yaml.safe_load(handle)["argument_specs"]["main"]["options"]["incident_triage_rules"]["options"]
    for rule in (sidecar, role):
        options = "suboptions" if rule is sidecar else "options"
        assert tuple(rule) == RULE_KEYS
        assert set(rule["match"][options]) == set(MATCH_KEYS)
        assert set(rule["set"][options]) == set(SET_KEYS)
        assert tuple(rule["match"][options]["alerts"][options]) == ALERT_MATCH_KEYS
        assert tuple(rule["set"][options]["alerts"][options]) == ALERT_SET_KEYS


def graph_incident_with_alert(risk):
    return {"id": "220738", "tenantId": TENANT_ID, "displayName": "Multi-stage incident", "status": "active",
            "severity": "high", "assignedTo": None, "classification": "unknown", "determination": "unknown",
            "createdDateTime": "2026-11-25T12:00:00Z", "lastUpdateDateTime": "2026-11-25T12:00:00Z",
            "customTags": [], "systemTags": [], "comments": [],
            "alerts": [{"id": "da1", "incidentId": "220738", "title": "Suspicious process", "status": "new",
                        "serviceSource": "microsoftDefenderForEndpoint", "assignedTo": None, "comments": [],
                        "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence",
                                      "deviceDnsName": "ws-fin-001.fabrikam.example", "riskScore": risk}]}]}


ALERT_RULES = [{"name": "risky", "match": {"alerts": {"device_risk_score": ["high"]}},
                "set": {"alerts": {"status": "inProgress"}}}]


def test_alert_updates_are_listed_under_their_incident():
    [entry] = triage_plan([graph_incident_with_alert("high")], ALERT_RULES, now="2026-11-26T12:00:00Z")
    assert (entry["incident_id"], entry["set"], entry["changes"]) == ("220738", {}, [])
    assert entry["alerts"] == [{"alert_id": "da1", "incident_id": "220738", "title": "Suspicious process",
                                "rules": ["risky"], "set": {"status": "inProgress"},
                                "changes": ["status: new -> inProgress"]}]
    assert triage_plan([graph_incident_with_alert("low")], ALERT_RULES, now="2026-11-26T12:00:00Z") == []


def test_alert_updates_on_the_defender_api_fail_the_filter():
    with pytest.raises(AnsibleFilterError, match=r"^triage_plan: Rule 1 \('risky'\) set.alerts: alerts can only be "
                                                 r"updated through Microsoft Graph"):
        triage_plan([], ALERT_RULES, api="defender")
