# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The permissions each feature needs (docs/microsoft-apis.md §1), what a token grants, and what is missing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._permissions import (
    DEVICE_FEATURES,
    ENDPOINT_FEATURES,
    FEATURES,
    granted_permissions,
    missing_permissions,
    needed_permissions,
    satisfies,
    token_context,
)

ALL = list(FEATURES)
# What each API has: the Defender XDR API has no alerts endpoint, devices are the Defender for Endpoint API's.
GRAPH_ALL = [feature for feature in FEATURES if feature not in ENDPOINT_FEATURES]
DEFENDER_ALL = [feature for feature in GRAPH_ALL if not feature.startswith("alert_")]


@pytest.mark.parametrize("api, context, features, needed", [
    ("graph", "application", ["incident_read"], ["SecurityIncident.Read.All"]),
    ("graph", "user", ["incident_read"], ["SecurityIncident.Read.All"]),
    ("graph", "application", ["incident_read", "hunting"], ["SecurityIncident.Read.All", "ThreatHunting.Read.All"]),
    ("defender", "application", ["incident_write"], ["Incident.ReadWrite.All"]),
    ("defender", "user", ["incident_read", "hunting"], ["AdvancedHunting.Read", "Incident.Read"]),
    ("defender", "user", ["hunting", "hunting"], ["AdvancedHunting.Read"]),
    ("graph", "application", [], ["SecurityIncident.Read.All"]),
    ("endpoint", "application", [], ["Machine.Read.All"]),
    ("endpoint", "application", list(DEVICE_FEATURES), [
        "Machine.CollectForensics", "Machine.Isolate", "Machine.ReadWrite.All", "Machine.RestrictExecution",
        "Machine.Scan", "Machine.StopAndQuarantine"]),
    ("endpoint", "user", ["machine_read", "machine_isolate"], ["Machine.Isolate", "Machine.Read"]),
    ("endpoint", "application", ["indicator_read"], ["Ti.Read.All"]),
    ("endpoint", "application", ["indicator_read", "indicator_write", "machine_read"], [
        "Machine.Read.All", "Ti.ReadWrite.All"]),
    ("endpoint", "user", ["indicator_write"], ["Ti.ReadWrite"]),
    # The ReadWrite permission that writing needs covers reading: Read is not asked for besides it.
    ("graph", "application", GRAPH_ALL, ["SecurityAlert.ReadWrite.All", "SecurityIncident.ReadWrite.All",
                                         "ThreatHunting.Read.All"]),
    ("defender", "application", DEFENDER_ALL, ["AdvancedHunting.Read.All", "Incident.ReadWrite.All"]),
    ("defender", "user", DEFENDER_ALL, ["AdvancedHunting.Read", "Incident.ReadWrite"]),
    ("graph", "application", ["alert_read"], ["SecurityAlert.Read.All"]),
    ("graph", "user", ["alert_read", "incident_read"], ["SecurityAlert.Read.All", "SecurityIncident.Read.All"]),
    ("graph", "application", ["alert_read", "alert_write"], ["SecurityAlert.ReadWrite.All"]),
])
def test_needed_permissions_follow_the_documented_table(api, context, features, needed):
    assert needed_permissions(api, context, features) == needed


def test_unknown_feature():
    with pytest.raises(InputError) as raised:
        needed_permissions("graph", "application", ["incident_read", "alerts", "delete"])
    assert "alerts, delete" in raised.value.message
    assert "incident_read, incident_write, alert_read, alert_write, hunting, machine_read" in raised.value.message


@pytest.mark.parametrize("api, features, words", [
    ("graph", ["machine_isolate"], ["machine_isolate", "graph API does not have", "api: endpoint",
                                    "https://api.securitycenter.microsoft.com"]),
    ("endpoint", ["incident_read", "hunting"], ["incident_read, hunting", "api: graph"]),
    ("defender", ["indicator_write"], ["indicator_write", "api: endpoint", "Ti.*"]),
])
def test_features_of_another_api_are_refused_naming_the_api_to_use(api, features, words):
    with pytest.raises(InputError) as raised:
        needed_permissions(api, "application", features)
    for word in words:
        assert word in raised.value.message


@pytest.mark.parametrize("context", ["application", "user"])
def test_alert_features_are_refused_on_the_defender_api_saying_why(context):
    with pytest.raises(InputError) as raised:
        needed_permissions("defender", context, ["incident_read", "alert_read", "alert_write"])
    message = raised.value.message
    assert "alert_read, alert_write" in message and "no alerts endpoint" in message and "api: graph" in message


@pytest.mark.parametrize("claims, granted, context", [
    ({"roles": ["ThreatHunting.Read.All", "SecurityIncident.Read.All"]}, ["SecurityIncident.Read.All", "ThreatHunting.Read.All"],
     "application"),
    ({"scp": "Incident.Read AdvancedHunting.Read"}, ["AdvancedHunting.Read", "Incident.Read"], "user"),
    ({"scp": "  Incident.Read   Incident.ReadWrite "}, ["Incident.Read", "Incident.ReadWrite"], "user"),
    ({"scp": ""}, [], "user"),
    ({"aud": "https://graph.microsoft.com"}, [], "application"),
    ({"roles": []}, [], "application"),
])
def test_granted_permissions_and_context(claims, granted, context):
    assert granted_permissions(claims) == granted
    assert token_context(claims) == context


@pytest.mark.parametrize("have, needed, result", [
    ("Incident.Read.All", "Incident.Read.All", True),
    ("Incident.ReadWrite.All", "Incident.Read.All", True),
    ("Incident.ReadWrite", "Incident.Read", True),
    ("SecurityIncident.ReadWrite.All", "SecurityIncident.Read.All", True),
    ("Incident.Read.All", "Incident.ReadWrite.All", False),
    ("Incident.Read", "Incident.Read.All", False),
    ("Incident.Read.All", "Incident.Read", False),
    ("SecurityIncident.ReadWrite.All", "Incident.Read.All", False),
    ("AdvancedHunting.Read.All", "ThreatHunting.Read.All", False),
    ("incident.read.all", "Incident.Read.All", False),
])
def test_readwrite_covers_read_and_nothing_else(have, needed, result):
    assert satisfies(have, needed) is result


def test_missing_permissions_keep_the_needed_order():
    needed = ["SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All", "ThreatHunting.Read.All"]
    assert missing_permissions(needed, ["SecurityIncident.ReadWrite.All"]) == ["ThreatHunting.Read.All"]
    assert missing_permissions(needed, ["SecurityIncident.Read.All"]) == ["SecurityIncident.ReadWrite.All", "ThreatHunting.Read.All"]
    assert missing_permissions(needed, []) == needed
    assert missing_permissions(needed, needed + ["Application.Read.All"]) == []
