#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: incident_info
short_description: Get Microsoft Defender XDR incidents
version_added: 1.0.0
description:
  - Gets one incident by O(incident_id), or every incident that matches the filters.
  - Follows every page at the API's largest page size (50 on Graph, 100 on the Defender API).
  - Filters the API can apply are sent as C($filter); the others (on the Defender API O(severity),
    O(classification) and O(determination)) are applied to each incident as it arrives, and
    RV(filters_applied_locally) names them.
  - Returns the API's own incident objects unchanged, so Microsoft's documentation describes them; or, with
    O(properties) and O(alert_properties), only the properties chosen of each incident and of its alerts.
author:
  - secops.m365_defender contributors (@secops)
options:
  incident_id:
    description:
      - The incident's number. When given, the filters are ignored and RV(incidents) holds that incident, or
        nothing when the API does not know it.
    type: str
  status:
    description:
      - Only incidents with one of these statuses.
      - Any spelling and case is accepted, for example V(in_progress), V(inProgress) or V(InProgress).
      - Graph knows V(active), V(inProgress), V(resolved), V(redirected), V(awaitingAction); the Defender API
        knows all but V(awaitingAction). Older data names V(active) V(New), which is accepted too.
      - V(redirected) marks an incident that Defender XDR merged into another; it can be read and filtered on, but
        M(secops.m365_defender.incident) cannot set it.
    type: list
    elements: str
  severity:
    description:
      - Only incidents with one of these severities, V(unknown) (the Defender API's V(UnSpecified)),
        V(informational), V(low), V(medium), V(high), in any case.
    type: list
    elements: str
  assigned_to:
    description:
      - Only incidents assigned to this user principal name or mailbox.
    type: str
  classification:
    description:
      - Only incidents with one of these classifications, V(unknown), V(falsePositive), V(truePositive),
        V(informationalExpectedActivity), in any spelling.
    type: list
    elements: str
  determination:
    description:
      - Only incidents with one of these determinations, by the names of Graph's metadata (V(compromisedAccount),
        V(notMalicious), V(notEnoughDataToValidate), V(confirmedActivity), V(malware), ...; see
        M(secops.m365_defender.incident) for the list), in any case.
      - "Also accepted: compromisedUser for compromisedAccount, confirmedUserActivity for confirmedActivity,
        insufficientData and NoEnoughDataToValidate for notEnoughDataToValidate, clean for notMalicious,
        NotAvailable for unknown. Each is sent in the chosen API's own spelling."
    type: list
    elements: str
  created_after:
    description:
      - Only incidents created at or after this time.
      - ISO-8601 (V(2024-05-01T00:00:00Z)) or an age such as V(30m), V(24h), V(7d), V(2w).
    type: str
  updated_after:
    description:
      - Only incidents last updated at or after this time, in the same forms as O(created_after).
    type: str
  filter:
    description:
      - A raw OData C($filter) expression, combined with the other filters by C(and).
      - It is put in parentheses, so its own parentheses must be balanced outside string literals and every
        literal closed (a quote inside one written twice, V(O''Brien)); otherwise it is refused before any request.
      - Written in the chosen API's own field names and enum spellings.
    type: str
  limit:
    description:
      - Return at most this many incidents. By default all that match.
    type: int
  alerts:
    description:
      - Include each incident's alerts (Graph C($expand=alerts)).
      - The Defender API always includes them.
    type: bool
    default: false
  properties:
    description:
      - Return only these properties of each incident, by the chosen API's own names (case-sensitive). An
        incident that lacks one of them is returned without it. By default every property is returned.
      - "On Graph: V(alerts), V(assignedTo), V(classification), V(comments), V(createdDateTime), V(customTags),
        V(description), V(determination), V(displayName), V(id), V(incidentWebUrl), V(lastModifiedBy),
        V(lastUpdateDateTime), V(priorityScore), V(redirectIncidentId), V(resolvingComment), V(severity),
        V(status), V(summary), V(systemTags), V(tenantId)."
      - "On the Defender API: V(alerts), V(assignedTo), V(classification), V(comments), V(createdTime),
        V(determination), V(incidentId), V(incidentName), V(incidentUri), V(lastUpdateTime), V(redirectIncidentId),
        V(severity), V(status), V(systemTags), V(tags)."
      - With O(alerts=true) each incident keeps its V(alerts) without naming it; without it, naming V(alerts) is
        refused. On the Defender API, which always sends the alerts, O(properties) without O(alerts=true) leaves
        them out.
      - The incidents are filtered first, so a filter applied locally (RV(filters_applied_locally)) sees every
        property, chosen or not. Each incident is then reduced as it is read, so a large listing holds, and hands
        to Ansible, only what was chosen.
      - A name the chosen API does not have is refused before any request, with the API's names and, for the
        other API's name of a property, the name to use instead (V(incidentId) on Graph is V(id)).
    type: list
    elements: str
  alert_properties:
    description:
      - Return only these properties of each alert, by the chosen API's own names (case-sensitive). Needs
        O(alerts=true). By default every property of the alerts is returned.
      - "On Graph: V(actorDisplayName), V(additionalData), V(alertPolicyId), V(alertWebUrl), V(assignedTo),
        V(categories), V(category), V(classification), V(comments), V(createdDateTime), V(customDetails),
        V(description), V(detectionSource), V(detectorId), V(determination), V(evidence), V(firstActivityDateTime),
        V(id), V(incidentId), V(incidentWebUrl), V(investigationState), V(lastActivityDateTime),
        V(lastUpdateDateTime), V(mitreTechniques), V(productName), V(providerAlertId), V(recommendedActions),
        V(resolvedDateTime), V(serviceSource), V(severity), V(status), V(systemTags), V(tenantId),
        V(threatDisplayName), V(threatFamilyName), V(title)."
      - "On the Defender API: V(actorName), V(alertId), V(assignedTo), V(category), V(classification),
        V(creationTime), V(description), V(detectionSource), V(detectorId), V(determination), V(devices),
        V(entities), V(firstActivity), V(incidentId), V(investigationId), V(investigationState), V(lastActivity),
        V(lastUpdatedTime), V(mitreTechniques), V(providerAlertId), V(resolvedTime), V(serviceSource), V(severity),
        V(status), V(threatFamilyName), V(title)."
      - Can be given without O(properties), to keep every property of the incidents but only these of their
        alerts. Unknown names are refused before any request, as for O(properties).
    type: list
    elements: str
  allow_partial:
    description:
      - When a page cannot be read after O(retries), return the incidents read so far with RV(complete) V(false)
        and a warning, instead of failing the task.
      - The task still fails when nothing could be read (the sign-in or the first page failed).
    type: bool
    default: false
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.NO_DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
  - secops.m365_defender.auth.READ_ONLY
"""

EXAMPLES = r"""
- name: Open high and medium severity incidents of the last day, with their alerts
  secops.m365_defender.incident_info:
    tenant_id: contoso.onmicrosoft.com
    client_id: "{{ defender_client_id }}"
    client_secret: "{{ defender_client_secret }}"
    status: [active, in_progress]
    severity: [high, medium]
    created_after: 24h
    alerts: true
  register: open_incidents

- name: One incident from the legacy Defender API, reusing a token
  secops.m365_defender.incident_info:
    auth: "{{ defender_token.auth }}"
    incident_id: "924565"

- name: Every incident's number, title, severity and status, and its alerts' ids, titles and products
  secops.m365_defender.incident_info:
    auth: "{{ graph_token.auth }}"
    properties: [id, displayName, severity, status]
    alerts: true
    alert_properties: [id, title, serviceSource]
  register: overview

- name: High severity incidents from the Defender API (filtered locally), only their number and title
  secops.m365_defender.incident_info:
    auth: "{{ defender_token.auth }}"
    severity: [high]
    properties: [incidentId, incidentName]

- name: The 10 newest incidents assigned to an analyst, with a raw filter
  secops.m365_defender.incident_info:
    auth: "{{ graph_token.auth }}"
    assigned_to: analyst@contoso.com
    filter: "classification eq 'truePositive'"
    limit: 10
"""

RETURN = r"""
incidents:
  description:
    - The incidents, as the API returns them (Graph C(incident) resources, or the Defender API's incident
      objects).
    - With O(properties), each holds only those of the chosen properties it has (and V(alerts) with
      O(alerts=true)); with O(alert_properties), each of its alerts holds only those properties.
  returned: always
  type: list
  elements: dict
  sample:
    - id: "2972395"
      displayName: Multi-stage incident involving Initial access & Command and control on one endpoint
      status: active
      severity: high
      assignedTo: analyst@contoso.com
      createdDateTime: "2026-11-20T08:15:31.12Z"
count:
  description: How many incidents RV(incidents) holds.
  returned: always
  type: int
  sample: 1
complete:
  description:
    - Whether every page was read. Only V(false) with O(allow_partial) when paging failed midway.
  returned: always
  type: bool
  sample: true
error:
  description: Why paging stopped, when RV(complete) is V(false).
  returned: when paging failed with O(allow_partial)
  type: str
filters_applied_locally:
  description: The filters that the API could not apply and that were applied to each incident here.
  returned: always
  type: list
  elements: str
  sample: [severity]
pages:
  description: How many pages were read from the API.
  returned: always
  type: int
  sample: 3
api:
  description: The API that answered.
  returned: always
  type: str
  sample: graph
http:
  description: What the HTTP layer did, as for M(secops.m365_defender.incident).
  returned: success
  type: dict
"""

from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import (
    IncidentQuery,
    Listing,
    check_limit,
    get_incident,
    list_incidents,
    listing_result,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._properties import incident_projection
from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule

ARGUMENT_SPEC = dict(
    incident_id=dict(type="str"),
    status=dict(type="list", elements="str"),
    severity=dict(type="list", elements="str"),
    assigned_to=dict(type="str"),
    classification=dict(type="list", elements="str"),
    determination=dict(type="list", elements="str"),
    created_after=dict(type="str"),
    updated_after=dict(type="str"),
    filter=dict(type="str"),
    limit=dict(type="int"),
    alerts=dict(type="bool", default=False),
    properties=dict(type="list", elements="str"),
    alert_properties=dict(type="list", elements="str"),
    allow_partial=dict(type="bool", default=False),
)


def run(module):
    params = module.params
    client = module.client
    check_limit(params["limit"])
    project = incident_projection(client.flavour.name, params["properties"], params["alert_properties"],
                                  params["alerts"])
    if params["incident_id"]:
        incident = get_incident(client, params["incident_id"], params["alerts"])
        if incident and project:
            incident = project(incident)
        listing, local = Listing([incident] if incident else []), []
    else:
        query = IncidentQuery(client.flavour, params)
        listing = list_incidents(client, query, limit=params["limit"], alerts=params["alerts"],
                                 allow_partial=params["allow_partial"], project=project)
        local = query.local_filters
    return listing_result(module, listing, local, "incidents")


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.run(run)


if __name__ == "__main__":
    main()
