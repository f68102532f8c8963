#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: alert
short_description: Update a Microsoft Defender XDR alert
version_added: 1.0.0
description:
  - Sets an alert's status, assignee, classification and determination, and adds a comment, through Microsoft
    Graph's C(/security/alerts_v2).
  - Reads the alert first and sends only what differs, so a second identical run changes nothing.
  - A comment whose exact text is already on the alert is not added again.
  - Values are accepted in any case and in each of Microsoft's spellings. A determination that the classification
    does not allow is refused before anything is sent.
  - Writes follow the rules of M(secops.m365_defender.incident) - a write that adds a comment is never sent twice,
    one whose answer is lost is confirmed by reading the alert again, and tasks on this machine that update the
    same alert take turns - and a failed update says what was applied (RV(applied), RV(not_applied),
    RV(unconfirmed)).
  - Only Graph has an alerts endpoint. With O(api=defender) the task fails before any request and says so.
author:
  - secops.m365_defender contributors (@secops)
options:
  alert_id:
    description:
      - The alert's id, as Graph gives it (for example V(da637551227677560813_-961444813)).
    type: str
    required: true
  status:
    description:
      - The new status, V(new), V(inProgress) or V(resolved), in any spelling (V(in_progress)).
    type: str
  assigned_to:
    description:
      - The user principal name or mailbox to assign the alert to. Compared without regard to case.
      - An empty string (V("")) unassigns the alert.
    type: str
  classification:
    description:
      - V(unknown), V(truePositive), V(falsePositive) or V(informationalExpectedActivity), in any spelling.
    type: str
  determination:
    description:
      - The determination, by the name Graph's metadata gives it, in any case; which ones go with each
        classification is listed under M(secops.m365_defender.incident).
    type: str
  comment:
    description:
      - A comment to add, unless a comment with exactly this text is already on the alert.
    type: str
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.NO_DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
  - secops.m365_defender.auth.UPDATE
notes:
  - Needs the Graph permission C(SecurityAlert.ReadWrite.All).
"""

EXAMPLES = r"""
- name: Take an alert
  secops.m365_defender.alert:
    auth: "{{ graph_token.auth }}"
    alert_id: da637551227677560813_-961444813
    status: in_progress
    assigned_to: analyst@contoso.com
    comment: Looking into it.

- name: Close it as a false positive
  secops.m365_defender.alert:
    auth: "{{ graph_token.auth }}"
    alert_id: da637551227677560813_-961444813
    status: resolved
    classification: falsePositive
    determination: notMalicious
    comment: Signed admin tool, expected on this server.
"""

RETURN = r"""
alert:
  description:
    - The alert after the update, as Graph returned it; in check mode, as it would be.
  returned: success
  type: dict
  sample:
    id: da637551227677560813_-961444813
    status: inProgress
    assignedTo: analyst@contoso.com
api:
  description: The API that was used (always V(graph)).
  returned: success
  type: str
  sample: graph
diff:
  description: Before and after of each changed option, and the comment texts when a comment is added.
  returned: in diff mode
  type: dict
applied:
  description:
    - The options whose change Graph carried out, of V(status), V(assigned_to), V(classification),
      V(determination) and V(comment).
  returned: when a write was sent (also when the task failed after that)
  type: list
  elements: str
  sample: [status, comment]
not_applied:
  description: The options whose change was not carried out, as for M(secops.m365_defender.incident).
  returned: when a write was sent (also when the task failed after that)
  type: list
  elements: str
unconfirmed:
  description: The options whose request got no usable answer and did not show on the alert when it was read
    again, as for M(secops.m365_defender.incident).
  returned: when a write was sent (also when the task failed after that)
  type: list
  elements: str
http:
  description: What the HTTP layer did, as for M(secops.m365_defender.incident).
  returned: success
  type: dict
"""

from ansible_collections.secops.m365_defender.plugins.module_utils._api import alerts_of
from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule
from ansible_collections.secops.m365_defender.plugins.module_utils._update import AlertUpdate, update_result

ARGUMENT_SPEC = dict(
    alert_id=dict(type="str", required=True),
    status=dict(type="str"),
    assigned_to=dict(type="str"),
    classification=dict(type="str"),
    determination=dict(type="str"),
    comment=dict(type="str"),
)


def run(module):
    resource = alerts_of(module.client.flavour)
    return update_result(module, AlertUpdate(resource, module.params), module.params["alert_id"])


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.run(run)


if __name__ == "__main__":
    main()
