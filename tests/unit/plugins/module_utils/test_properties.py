# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._properties import (
    PROPERTIES,
    SAME_PROPERTY,
    Projection,
    allowed_names,
    check_names,
    incident_projection,
)

RECORDED = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "fixtures", "recorded")


def recorded(name):
    with open(os.path.join(RECORDED, name)) as handle:
        return json.load(handle)


def refusal(api, **options):
    with pytest.raises(InputError) as raised:
        incident_projection(api, **options)
    return raised.value.message


# ----- the lists


@pytest.mark.parametrize("fixture, api", [("graph_list_incidents.json", "graph"),
                                          ("defender_list_incidents.json", "defender")])
def test_every_property_of_microsofts_example_answers_is_known(fixture, api):
    incidents = recorded(fixture)["value"]
    alerts = [alert for incident in incidents for alert in incident.get("alerts") or []]
    assert set(key for incident in incidents for key in incident) - PROPERTIES["incident"][api] == set()
    assert set(key for alert in alerts for key in alert) - PROPERTIES["alert"][api] == set()
    if api == "defender":
        assert alerts, "the Defender example carries alerts, so the alert check is not vacuous"


def test_graph_alert_names_cover_microsofts_alerts_v2_example():
    alerts = recorded("graph_list_alerts_v2.json")["value"]
    assert set(key for alert in alerts for key in alert) - {"@odata.type"} <= PROPERTIES["alert"]["graph"]


@pytest.mark.parametrize("kind", ["incident", "alert"])
def test_each_pair_of_names_for_the_same_property_belongs_to_its_api(kind):
    for graph_name, defender_name in SAME_PROPERTY[kind]:
        assert graph_name in PROPERTIES[kind]["graph"] and graph_name not in PROPERTIES[kind]["defender"]
        assert defender_name in PROPERTIES[kind]["defender"] and defender_name not in PROPERTIES[kind]["graph"]


def test_allowed_names_are_sorted_without_regard_to_case():
    names = allowed_names("incident", "graph")
    assert names[:3] == ["alerts", "assignedTo", "classification"]
    assert names == sorted(names, key=str.lower)


# ----- checking names


@pytest.mark.parametrize("api, option, name, words", [
    ("graph", "properties", "incidentId", "'incidentId', which is the Defender API's name; on Graph use 'id'"),
    ("graph", "properties", "createdTime", "on Graph use 'createdDateTime'"),
    ("graph", "properties", "tags", "on Graph use 'customTags'"),
    ("defender", "properties", "id", "'id', which is Graph's name; on the Defender API use 'incidentId'"),
    ("defender", "properties", "displayName", "on the Defender API use 'incidentName'"),
    ("defender", "properties", "priorityScore", "'priorityScore', which only Graph has"),
    ("graph", "alert_properties", "alertId", "on Graph use 'id'"),
    ("graph", "alert_properties", "actorName", "on Graph use 'actorDisplayName'"),
    ("graph", "alert_properties", "investigationId", "'investigationId', which only the Defender API has"),
    ("defender", "alert_properties", "evidence", "on the Defender API use 'devices' or 'entities'"),
    ("defender", "alert_properties", "creationtime", "'creationtime', which is spelled 'creationTime' (names are "
                                                     "case-sensitive)"),
    ("graph", "properties", "DisplayName", "which is spelled 'displayName'"),
    ("graph", "properties", "criticality", "'criticality', which is no incident property on Graph"),
    ("defender", "alert_properties", "criticality", "'criticality', which is no alert property on the Defender API"),
])
def test_an_unknown_name_is_refused_with_a_hint_and_the_apis_names(api, option, name, words):
    options = {option: [name], "alerts": True}
    message = refusal(api, **options)
    assert message.startswith("Option '%s' got '%s'" % (option, name))
    assert words in message
    kind = "incident" if option == "properties" else "alert"
    assert message.endswith("Allowed on %s (case-sensitive): %s." % (
        "Graph" if api == "graph" else "the Defender API", ", ".join(allowed_names(kind, api))))


def test_a_name_of_one_kind_is_not_taken_for_the_other():
    """title is an alert's property in both APIs, never an incident's."""
    assert "'title', which is no incident property on Graph" in refusal("graph", properties=["title"])
    assert incident_projection("graph", alert_properties=["title"], alerts=True).alert_keys == ("title",)


def test_every_unknown_name_is_named_once_in_one_message():
    message = refusal("graph", properties=["id", "incidentId", "severity", "bogus"])
    assert "got 'incidentId', which is the Defender API's name; on Graph use 'id'; 'bogus', which is no" in message
    assert "'severity'," not in message.split("Allowed")[0]


@pytest.mark.parametrize("option", ["properties", "alert_properties"])
def test_an_empty_list_is_refused(option):
    message = refusal("graph", alerts=True, **{option: []})
    assert message.startswith("Option '%s' is an empty list" % option)


def test_alert_properties_without_alerts_names_both_options():
    message = refusal("graph", alert_properties=["id"])
    assert message.startswith("Option 'alert_properties' needs option 'alerts' set to true")
    assert "alerts: true" in message


def test_alerts_among_the_properties_without_alerts_is_refused():
    message = refusal("defender", properties=["incidentId", "alerts"])
    assert message.startswith("Option 'properties' names 'alerts', which option 'alerts' controls")


def test_repeats_are_dropped_and_the_order_kept():
    assert check_names("properties", ["status", "id", "status"], "incident", "graph") == ["status", "id"]


# ----- what a projection keeps


def test_nothing_chosen_is_no_projection():
    assert incident_projection("graph") is None
    assert incident_projection("defender", alerts=True) is None


def test_alerts_are_kept_without_being_named():
    projection = incident_projection("graph", properties=["id"], alerts=True)
    assert projection.incident_keys == ("id", "alerts")
    assert projection.alert_keys is None
    naming_them = incident_projection("graph", properties=["alerts", "id"], alerts=True)
    assert naming_them.incident_keys == ("alerts", "id")


GRAPH_INCIDENT = {
    "id": "7", "displayName": "Phish", "severity": "high", "status": "active", "assignedTo": None,
    "alerts": [{"id": "da1", "title": "A", "severity": "low", "evidence": [{"verdict": "malicious"}]},
               {"id": "da2", "severity": "high"}],
}


def test_an_incident_keeps_only_the_chosen_properties_it_has():
    projected = incident_projection("graph", properties=["severity", "id", "priorityScore", "assignedTo"])(
        GRAPH_INCIDENT)
    assert projected == {"severity": "high", "id": "7", "assignedTo": None}
    assert list(projected) == ["severity", "id", "assignedTo"], "in the order chosen"


def test_alerts_are_projected_with_their_own_properties():
    projection = incident_projection("graph", properties=["id"], alert_properties=["id", "title"], alerts=True)
    assert projection(GRAPH_INCIDENT) == {"id": "7", "alerts": [{"id": "da1", "title": "A"}, {"id": "da2"}]}


def test_alert_properties_alone_keep_every_property_of_the_incident():
    projected = incident_projection("graph", alert_properties=["severity"], alerts=True)(GRAPH_INCIDENT)
    assert projected == dict(GRAPH_INCIDENT, alerts=[{"severity": "low"}, {"severity": "high"}])


def test_chosen_properties_without_alerts_drop_the_alerts_the_defender_api_always_sends():
    incident = {"incidentId": 5, "severity": "High", "alerts": [{"alertId": "da1"}]}
    assert incident_projection("defender", properties=["incidentId"])(incident) == {"incidentId": 5}


def test_the_apis_objects_are_left_as_they_were():
    """The pager compares each page with the one before it: a projection must not change what it read."""
    original = copy.deepcopy(GRAPH_INCIDENT)
    incident_projection("graph", alert_properties=["id"], alerts=True)(GRAPH_INCIDENT)
    incident_projection("graph", properties=["id"], alert_properties=["id"], alerts=True)(GRAPH_INCIDENT)
    assert GRAPH_INCIDENT == original


@pytest.mark.parametrize("alerts", [None, "n/a", {"id": "x"}])
def test_alerts_that_are_not_a_list_are_left_as_they_are(alerts):
    projection = Projection(["id", "alerts"], ["id"])
    assert projection({"id": "1", "alerts": alerts}) == {"id": "1", "alerts": alerts}


def test_an_alert_that_is_not_an_object_is_left_as_it_is():
    projection = Projection(None, ["id"])
    assert projection({"id": "1", "alerts": ["text", {"id": "a", "title": "t"}]})["alerts"] == ["text", {"id": "a"}]
