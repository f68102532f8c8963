#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: incident
short_description: Update a Microsoft Defender XDR incident
version_added: 0.1.0
description:
  - Sets an incident's status, assignee, classification, determination and tags, and adds a comment.
  - Reads the incident first and sends only what differs, so a second identical run changes nothing.
  - A comment whose exact text is already on the incident is not added again (comments cannot be deleted,
    so re-running a playbook must not pile them up).
  - Values are accepted in any case and in each of Microsoft's spellings, and sent in the chosen API's own
    spelling. A determination that the classification does not allow is refused before anything is sent.
author:
  - secops.m365_defender contributors (@secops)
options:
  incident_id:
    description:
      - The incident's number.
    type: str
    required: true
  status:
    description:
      - The new status, V(active), V(inProgress), V(resolved), or on Graph also V(awaitingAction), in any
        spelling (V(in_progress), V(InProgress)).
      - V(redirected) cannot be set; Defender XDR sets it when it merges incidents.
    type: str
  assigned_to:
    description:
      - The user principal name or mailbox to assign the incident to. Compared without regard to case.
    type: str
  classification:
    description:
      - V(unknown), V(truePositive), V(falsePositive) or V(informationalExpectedActivity), in any spelling.
    type: str
  determination:
    description:
      - The determination, in any of Microsoft's spellings.
      - With V(truePositive) - V(multiStagedAttack), V(maliciousUserActivity), V(compromisedUser)
        (V(CompromisedAccount)), V(malware), V(phishing), V(unwantedSoftware), V(other).
      - With V(informationalExpectedActivity) - V(securityTesting), V(lineOfBusinessApplication),
        V(confirmedUserActivity) (V(ConfirmedActivity)), V(other).
      - With V(falsePositive) - V(clean) (V(notMalicious)), V(insufficientData) (V(NoEnoughDataToValidate)),
        V(other).
      - V(unknown) goes with every classification. The deprecated V(apt) and V(securityPersonnel) are accepted.
    type: str
  tags:
    description:
      - Tags to put on the incident (Graph C(customTags), the Defender API's C(tags)).
      - Added to the incident's tags unless O(purge_tags) is V(true).
    type: list
    elements: str
  purge_tags:
    description:
      - Remove the tags that are not in O(tags). With O(tags=[]) this removes every tag.
    type: bool
    default: false
  comment:
    description:
      - A comment to add, unless a comment with exactly this text is already on the incident.
    type: str
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.ATTRIBUTES
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the incident and reports what would change; sends no write.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Before and after of each changed option, and the comment texts when a comment is added.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: all
    details: The module runs where the task is delegated, usually the controller (C(ansible_connection=local)).
"""

EXAMPLES = r"""
- name: Take an incident and mark it in progress
  secops.m365_defender.incident:
    auth: "{{ defender_token.auth }}"
    incident_id: "2972395"
    status: in_progress
    assigned_to: analyst@contoso.com
    tags: [triaged]
    comment: Taken by the SOC night shift.

- name: Close it as a phishing true positive
  secops.m365_defender.incident:
    auth: "{{ defender_token.auth }}"
    incident_id: "2972395"
    status: resolved
    classification: truePositive
    determination: phishing
    comment: User reset and mailbox rules removed.

- name: Replace every tag, on the legacy Defender API
  secops.m365_defender.incident:
    api: defender
    tenant_id: contoso.onmicrosoft.com
    client_id: "{{ defender_client_id }}"
    client_secret: "{{ defender_client_secret }}"
    incident_id: "2972395"
    tags: [phishing, vip]
    purge_tags: true
"""

RETURN = r"""
incident:
  description:
    - The incident after the update, as the API returned it; in check mode, as it would be.
  returned: success
  type: dict
  sample:
    id: "2972395"
    status: inProgress
    assignedTo: analyst@contoso.com
    customTags: [triaged]
api:
  description: The API that was used.
  returned: success
  type: str
  sample: graph
http:
  description: What the HTTP layer did.
  returned: success
  type: dict
  contains:
    requests:
      description: HTTP requests sent, sign-in included.
      type: int
      returned: success
    retries:
      description: Requests that were retried after HTTP 429, 5xx or a lost connection.
      type: int
      returned: success
    throttled:
      description: HTTP 429 answers received.
      type: int
      returned: success
    wait_seconds:
      description: Seconds spent waiting before retries.
      type: float
      returned: success
    paced_seconds:
      description: Seconds spent waiting to stay below the API's documented per-minute limits.
      type: float
      returned: success
"""

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError
from ansible_collections.secops.m365_defender.plugins.module_utils._incident_update import (
    IncidentUpdate,
    apply_plan,
    predicted,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import get_incident
from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule

ARGUMENT_SPEC = dict(
    incident_id=dict(type="str", required=True),
    status=dict(type="str"),
    assigned_to=dict(type="str"),
    classification=dict(type="str"),
    determination=dict(type="str"),
    tags=dict(type="list", elements="str"),
    purge_tags=dict(type="bool", default=False),
    comment=dict(type="str"),
)


def run(module):
    client = module.client
    update = IncidentUpdate(client.flavour, module.params)
    incident_id = client.flavour.check_incident_id(module.params["incident_id"])
    current = get_incident(client, incident_id)
    if current is None:
        raise ApiError("Incident %s does not exist in tenant %s (%s API)." % (
            incident_id, client.tenant, client.flavour.name), status=404, tenant_id=client.tenant)
    plan = update.plan(current)
    if not plan.changed:
        incident = current
    elif module.check_mode:
        incident = predicted(current, plan, client.flavour)
    else:
        incident = apply_plan(client, incident_id, plan, current)
    result = {"changed": plan.changed, "incident": incident, "api": client.flavour.name}
    if module._diff:
        result["diff"] = {"before": plan.before, "after": plan.after}
    return result


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.run(run)


if __name__ == "__main__":
    main()
