# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The property names of incidents and alerts in each API, and incident_info's choice of them (a projection)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError

# Graph: the properties of microsoft.graph.security.incident and .alert in Graph's v1.0 metadata (with the id of
# microsoft.graph.entity); the Defender API: what its incidents resource page documents and its answers hold
# (docs/microsoft-apis.md section 4).
PROPERTIES = {
    "incident": {
        "graph": frozenset((
            "id", "tenantId", "displayName", "description", "status", "severity", "classification", "determination",
            "assignedTo", "createdDateTime", "lastUpdateDateTime", "lastModifiedBy", "customTags", "systemTags",
            "comments", "incidentWebUrl", "redirectIncidentId", "priorityScore", "resolvingComment", "summary",
            "alerts")),
        "defender": frozenset((
            "incidentId", "incidentName", "status", "severity", "classification", "determination", "assignedTo",
            "createdTime", "lastUpdateTime", "tags", "systemTags", "comments", "incidentUri", "redirectIncidentId",
            "alerts")),
    },
    "alert": {
        "graph": frozenset((
            "id", "providerAlertId", "incidentId", "tenantId", "title", "description", "status", "severity",
            "classification", "determination", "category", "categories", "serviceSource", "detectionSource",
            "detectorId", "productName", "assignedTo", "actorDisplayName", "threatDisplayName", "threatFamilyName",
            "mitreTechniques", "recommendedActions", "alertWebUrl", "incidentWebUrl", "createdDateTime",
            "lastUpdateDateTime", "resolvedDateTime", "firstActivityDateTime", "lastActivityDateTime",
            "investigationState", "systemTags", "alertPolicyId", "additionalData", "customDetails", "comments",
            "evidence")),
        "defender": frozenset((
            "alertId", "providerAlertId", "incidentId", "title", "description", "status", "severity",
            "classification", "determination", "category", "serviceSource", "detectionSource", "detectorId",
            "assignedTo", "actorName", "threatFamilyName", "mitreTechniques", "creationTime", "lastUpdatedTime",
            "resolvedTime", "firstActivity", "lastActivity", "investigationId", "investigationState", "devices",
            "entities")),
    },
}

# The same property under each API's name where the names differ: (Graph's, the Defender API's). Graph's alert
# evidence holds what the Defender API splits into devices and entities.
SAME_PROPERTY = {
    "incident": (("id", "incidentId"), ("displayName", "incidentName"), ("createdDateTime", "createdTime"),
                 ("lastUpdateDateTime", "lastUpdateTime"), ("customTags", "tags"), ("incidentWebUrl", "incidentUri")),
    "alert": (("id", "alertId"), ("createdDateTime", "creationTime"), ("lastUpdateDateTime", "lastUpdatedTime"),
              ("resolvedDateTime", "resolvedTime"), ("firstActivityDateTime", "firstActivity"),
              ("lastActivityDateTime", "lastActivity"), ("actorDisplayName", "actorName"), ("evidence", "devices"),
              ("evidence", "entities")),
}

API_NAMES = {"graph": "Graph", "defender": "the Defender API"}
OTHER_API = {"graph": "defender", "defender": "graph"}


def allowed_names(kind, api):
    """The API's property names of an incident or an alert, in the order messages and docs list them."""
    return sorted(PROPERTIES[kind][api], key=lambda name: (name.lower(), name))


def _quoted(names):
    return " or ".join("'%s'" % name for name in names)


def _why_unknown(name, kind, api):
    """Why `name` is no property of this API's incidents or alerts, with what to write instead when there is one."""
    other = OTHER_API[api]
    if name in PROPERTIES[kind][other]:
        mine, theirs = (0, 1) if api == "graph" else (1, 0)
        equivalents = sorted(set(pair[mine] for pair in SAME_PROPERTY[kind] if pair[theirs] == name))
        if equivalents:
            return "'%s', which is %s's name; on %s use %s" % (
                name, API_NAMES[other], API_NAMES[api], _quoted(equivalents))
        return "'%s', which only %s has" % (name, API_NAMES[other])
    same_but_case = [known for known in allowed_names(kind, api) if known.lower() == name.lower()]
    if same_but_case:
        return "'%s', which is spelled %s (names are case-sensitive)" % (name, _quoted(same_but_case))
    return "'%s', which is no %s property on %s" % (name, kind, API_NAMES[api])


def check_names(option, names, kind, api):
    """The chosen names without repeats, in their order; InputError naming each unknown one and the allowed ones."""
    if not names:
        raise InputError("Option '%s' is an empty list: name at least one %s property, or leave the option out to "
                         "get every property." % (option, kind))
    unknown = [name for name in names if name not in PROPERTIES[kind][api]]
    if unknown:
        raise InputError("Option '%s' got %s. Allowed on %s (case-sensitive): %s." % (
            option, "; ".join(_why_unknown(name, kind, api) for name in unknown), API_NAMES[api],
            ", ".join(allowed_names(kind, api))))
    unique = []
    for name in names:
        if name not in unique:
            unique.append(name)
    return unique


class Projection(object):
    """Reduces an incident to the chosen properties and each of its alerts to theirs.

    Builds new objects and leaves the API's untouched: the pager compares each page with the one before.
    """

    def __init__(self, incident_keys=None, alert_keys=None):
        self.incident_keys = tuple(incident_keys) if incident_keys is not None else None
        self.alert_keys = tuple(alert_keys) if alert_keys is not None else None

    def __call__(self, incident):
        keys = self.incident_keys
        if keys is None:
            projected = dict(incident)
        else:
            projected = {key: incident[key] for key in keys if key in incident}
        alerts = projected.get("alerts")
        alert_keys = self.alert_keys
        if alert_keys is not None and isinstance(alerts, list):
            projected["alerts"] = [{key: alert[key] for key in alert_keys if key in alert}
                                   if isinstance(alert, dict) else alert for alert in alerts]
        return projected


def incident_projection(api, properties=None, alert_properties=None, alerts=False):
    """The Projection incident_info's options ask for, None when they ask for whole incidents; checked first."""
    incident_keys = alert_keys = None
    if properties is not None:
        incident_keys = check_names("properties", properties, "incident", api)
        if "alerts" in incident_keys and not alerts:
            raise InputError("Option 'properties' names 'alerts', which option 'alerts' controls: set alerts: true "
                             "(and choose the alerts' properties with alert_properties) instead.")
        if alerts and "alerts" not in incident_keys:
            incident_keys.append("alerts")
    if alert_properties is not None:
        if not alerts:
            raise InputError("Option 'alert_properties' needs option 'alerts' set to true: without it the incidents "
                             "are returned without their alerts. Set alerts: true, or leave alert_properties out.")
        alert_keys = check_names("alert_properties", alert_properties, "alert", api)
    if incident_keys is None and alert_keys is None:
        return None
    return Projection(incident_keys, alert_keys)
