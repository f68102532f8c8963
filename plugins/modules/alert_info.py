#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: alert_info
short_description: Get Microsoft Defender XDR alerts and their evidence
version_added: 1.0.0
description:
  - Gets one alert by O(alert_id), the alerts of one incident (O(incident_id)), or every alert that matches the
    filters, from Microsoft Graph's C(/security/alerts_v2).
  - Follows every page (C(@odata.nextLink)). Filters Graph applies are sent as C($filter) (O(status),
    O(severity), O(service_source), O(classification), O(determination), O(assigned_to), O(created_after),
    O(updated_after)); O(detection_source) is applied to each alert as it arrives, and RV(filters_applied_locally)
    names it.
  - With O(incident_id) the incident is read with its alerts (one request, C($expand=alerts), which needs the
    permission to read incidents) and every filter is applied here.
  - Returns Graph's own alert objects unchanged, so Microsoft's documentation describes them; with O(evidence),
    also the entities of their evidence as plain lists (RV(evidence)).
  - Only Graph has an alerts endpoint. With O(api=defender) the task fails before any request and says so; the
    Defender API's alerts come inside its incidents (M(secops.m365_defender.incident_info)).
author:
  - secops.m365_defender contributors (@secops)
options:
  alert_id:
    description:
      - The alert's id (for example V(da637551227677560813_-961444813)). When given, the filters are ignored and
        RV(alerts) holds that alert, or nothing when Graph does not know it.
    type: str
  incident_id:
    description:
      - Only the alerts of this incident (its number).
    type: str
  status:
    description:
      - Only alerts with one of these statuses, V(new), V(inProgress), V(resolved) or V(unknown), in any spelling
        (V(in_progress)).
    type: list
    elements: str
  severity:
    description:
      - Only alerts with one of these severities, V(unknown), V(informational), V(low), V(medium), V(high), in any
        case.
    type: list
    elements: str
  service_source:
    description:
      - Only alerts raised by one of these products (Graph's C(serviceSource)), in any spelling, for example
        V(microsoftDefenderForEndpoint), V(microsoftDefenderForOffice365), V(microsoftDefenderForIdentity),
        V(microsoftDefenderForCloudApps), V(azureAdIdentityProtection), V(microsoft365Defender),
        V(dataLossPrevention), V(microsoftDefenderForCloud), V(microsoftSentinel).
      - The products' older names are accepted too (V(MicrosoftCloudAppSecurity), V(MicrosoftDefenderATP),
        V(OfficeATP)).
    type: list
    elements: str
  detection_source:
    description:
      - Only alerts raised by one of these detectors (Graph's C(detectionSource)), in any spelling, for example
        V(antivirus), V(microsoftDefenderForEndpoint) (EDR), V(customDetection), V(smartScreen),
        V(automatedInvestigation), V(cloudAppSecurity). The Defender API's names (V(WindowsDefenderAv), V(EDR),
        V(MCAS), ...) are accepted too.
      - Graph cannot filter on it; it is applied to each alert here.
    type: list
    elements: str
  assigned_to:
    description:
      - Only alerts assigned to this user principal name or mailbox.
    type: str
  classification:
    description:
      - Only alerts with one of these classifications, V(unknown), V(falsePositive), V(truePositive),
        V(informationalExpectedActivity), in any spelling.
    type: list
    elements: str
  determination:
    description:
      - Only alerts with one of these determinations, by the names of Graph's metadata (see
        M(secops.m365_defender.incident_info)), in any case.
    type: list
    elements: str
  created_after:
    description:
      - Only alerts created at or after this time.
      - ISO-8601 (V(2024-05-01T00:00:00Z)) or an age such as V(30m), V(24h), V(7d), V(2w).
    type: str
  updated_after:
    description:
      - Only alerts last updated at or after this time, in the same forms as O(created_after).
    type: str
  filter:
    description:
      - A raw OData C($filter) expression in Graph's alert property names, combined with the other filters by
        C(and). Graph filters alerts on C(assignedTo), C(classification), C(determination), C(createdDateTime),
        C(lastUpdateDateTime), C(severity), C(serviceSource) and C(status) only.
      - It is put in parentheses, so its own parentheses must be balanced outside string literals.
      - Not allowed with O(incident_id), whose alerts are filtered here.
    type: str
  limit:
    description:
      - Return at most this many alerts. By default all that match.
    type: int
  evidence:
    description:
      - Also return RV(evidence), the devices, users, mailboxes, files, processes, IP addresses, URLs and cloud
        apps of the returned alerts' evidence as plain lists, as the filter P(secops.m365_defender.evidence#filter)
        makes them.
    type: bool
    default: false
  allow_partial:
    description:
      - When a page cannot be read after O(retries), return the alerts read so far with RV(complete) V(false)
        and a warning, instead of failing the task.
    type: bool
    default: false
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.NO_DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
  - secops.m365_defender.auth.READ_ONLY
notes:
  - Needs the Graph permission C(SecurityAlert.Read.All) (or C(SecurityAlert.ReadWrite.All)); with O(incident_id),
    C(SecurityIncident.Read.All) (or C(SecurityIncident.ReadWrite.All)) instead.
"""

EXAMPLES = r"""
- name: New high severity alerts of Defender for Endpoint in the last day, with their evidence
  secops.m365_defender.alert_info:
    auth: "{{ graph_token.auth }}"
    status: [new]
    severity: [high]
    service_source: [microsoftDefenderForEndpoint]
    created_after: 24h
    evidence: true
  register: endpoint_alerts

- name: The devices they name
  ansible.builtin.debug:
    msg: "{{ endpoint_alerts.evidence.devices | map(attribute='dns_name') | list }}"

- name: The alerts of one incident raised by the antivirus
  secops.m365_defender.alert_info:
    auth: "{{ graph_token.auth }}"
    incident_id: "2972395"
    detection_source: [antivirus]

- name: One alert
  secops.m365_defender.alert_info:
    tenant_id: contoso.onmicrosoft.com
    client_id: "{{ defender_client_id }}"
    client_secret: "{{ defender_client_secret }}"
    alert_id: da637551227677560813_-961444813
"""

RETURN = r"""
alerts:
  description:
    - The alerts, as Graph returns them (C(microsoft.graph.security.alert) resources), newest first.
  returned: always
  type: list
  elements: dict
  sample:
    - id: da637551227677560813_-961444813
      incidentId: "28282"
      status: new
      severity: low
      serviceSource: microsoftDefenderForEndpoint
      detectionSource: antivirus
      title: Suspicious execution of hidden file
count:
  description: How many alerts RV(alerts) holds.
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
evidence:
  description:
    - The entities of the returned alerts' evidence, deduplicated, as the filter
      P(secops.m365_defender.evidence#filter) returns them; each entry names the alerts and incidents it appears in.
  returned: when O(evidence=true)
  type: dict
  contains:
    devices:
      description: Devices (DNS name, Defender for Endpoint and Entra device ids, risk score, OS, last IP).
      type: list
      elements: dict
      returned: always
    users:
      description: User accounts (account name, domain, UPN, Entra object id, SID).
      type: list
      elements: dict
      returned: always
    mailboxes:
      description: Mailboxes (primary address, display name, UPN).
      type: list
      elements: dict
      returned: always
    files:
      description: Files (name, path, SHA-1, SHA-256).
      type: list
      elements: dict
      returned: always
    processes:
      description: Processes (id, command line, image file and its hashes, parent process, account).
      type: list
      elements: dict
      returned: always
    ips:
      description: IP addresses (and country).
      type: list
      elements: dict
      returned: always
    urls:
      description: URLs.
      type: list
      elements: dict
      returned: always
    cloud_apps:
      description: Cloud applications (app id, name, instance).
      type: list
      elements: dict
      returned: always
filters_applied_locally:
  description: The filters that Graph could not apply and that were applied to each alert here.
  returned: always
  type: list
  elements: str
  sample: [detection_source]
pages:
  description: How many pages of C(/security/alerts_v2) were read (none with O(alert_id) or O(incident_id), which
    read one object).
  returned: always
  type: int
  sample: 2
api:
  description: The API that answered (always V(graph)).
  returned: always
  type: str
  sample: graph
http:
  description: What the HTTP layer did, as for M(secops.m365_defender.incident).
  returned: success
  type: dict
"""

from ansible_collections.secops.m365_defender.plugins.module_utils._alerts import read_alerts
from ansible_collections.secops.m365_defender.plugins.module_utils._evidence import evidence_lists
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import listing_result
from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule

ARGUMENT_SPEC = dict(
    alert_id=dict(type="str"),
    incident_id=dict(type="str"),
    status=dict(type="list", elements="str"),
    severity=dict(type="list", elements="str"),
    service_source=dict(type="list", elements="str"),
    detection_source=dict(type="list", elements="str"),
    assigned_to=dict(type="str"),
    classification=dict(type="list", elements="str"),
    determination=dict(type="list", elements="str"),
    created_after=dict(type="str"),
    updated_after=dict(type="str"),
    filter=dict(type="str"),
    limit=dict(type="int"),
    evidence=dict(type="bool", default=False),
    allow_partial=dict(type="bool", default=False),
)


def run(module):
    params = module.params
    listing, local = read_alerts(module.client, params)
    result = listing_result(module, listing, local, "alerts")
    if params["evidence"]:
        result["evidence"] = evidence_lists(listing.items)
    return result


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.run(run)


if __name__ == "__main__":
    main()
