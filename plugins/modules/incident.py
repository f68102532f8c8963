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
version_added: 1.0.0
description:
  - Sets an incident's status, assignee, classification, determination and tags, and adds a comment.
  - Reads the incident first and sends only what differs, so a second identical run changes nothing.
  - A comment whose exact text is already on the incident is not added again (comments cannot be deleted,
    so re-running a playbook must not pile them up).
  - Values are accepted in any case and in each of Microsoft's spellings, and sent in the chosen API's own
    spelling. A determination that the classification does not allow is refused before anything is sent.
  - When a write fails part-way (on Graph the fields are changed with one request and the comment is added with
    another), the task fails with C(changed=true) if anything was applied, and RV(applied), RV(not_applied) and
    RV(unconfirmed) (and the message) say which options were carried out, which were not, and which may have been.
notes:
  - "B(A comment is added once.) Neither API takes an idempotency key, so the module makes sure of it in three ways.
    (1) A write that carries a comment is never sent twice by one task: it is not retried after a lost connection,
    a timeout, or a 5xx other than 503. (2) When such a write gets no usable answer, the module reads the incident
    again, at once and then every few seconds for about as long as O(timeout), and reports the comment added if it
    shows, or fails with RV(unconfirmed) naming it if it does not. (3) Tasks on the same machine that update the
    same incident of the same tenant (forks of one play, parallel plays of one user) take turns, holding a lock
    file from reading the incident to the last write, so they cannot both find the comment missing and both add
    it."
  - "Where the guarantee stops: a comment write that the API carries out more than about twice O(timeout) seconds
    after it was sent (the request's own timeout, then the reading again; so after the task failed with
    RV(unconfirmed)) and a re-run that reads the incident before that happens give two copies. The failed task
    says so; look at the incident before running it again. Tasks on different machines (two controllers, AWX
    jobs in separate containers), of different users, or with a different temporary directory (the lock files
    live in C($TMPDIR/secops.m365_defender-<uid>/)) do not share the lock. A comment with the same text written by anyone else counts as already there."
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
        spelling (V(in_progress), V(InProgress)). Older data names V(active) V(New), which is accepted too.
      - V(redirected) can be read and filtered on (M(secops.m365_defender.incident_info)) but not set. Graph's
        update page lists it among the enum's members, but it is the state Defender XDR gives an incident that it
        merged into another (C(redirectIncidentId) names that one), and an update cannot name a target, so it
        is refused before any request.
    type: str
  assigned_to:
    description:
      - The user principal name or mailbox to assign the incident to. Compared without regard to case.
      - An empty string (V("")) unassigns the incident; an incident without an assignee is left as it is.
    type: str
  classification:
    description:
      - V(unknown), V(truePositive), V(falsePositive) or V(informationalExpectedActivity), in any spelling.
    type: str
  determination:
    description:
      - The determination, by the name Graph's metadata gives it (its C(alertDetermination) member), in any case.
      - With V(truePositive) - V(multiStagedAttack), V(maliciousUserActivity), V(compromisedAccount),
        V(malware), V(phishing), V(unwantedSoftware), V(other).
      - With V(informationalExpectedActivity) - V(securityTesting), V(lineOfBusinessApplication),
        V(confirmedActivity), V(other).
      - With V(falsePositive) - V(notMalicious), V(notEnoughDataToValidate), V(other).
      - V(unknown) goes with every classification. The deprecated V(apt) and V(securityPersonnel) are accepted.
      - "Also accepted: compromisedUser for compromisedAccount, confirmedUserActivity for confirmedActivity,
        insufficientData and NoEnoughDataToValidate for notEnoughDataToValidate, clean for notMalicious,
        NotAvailable for unknown (Microsoft's other pages and the Defender API). Each is sent in the chosen API's
        own spelling."
    type: str
  tags:
    description:
      - Tags to put on the incident (Graph C(customTags), the Defender API's C(tags)).
      - Added to the incident's tags unless O(purge_tags) is V(true).
      - Each tag must be a non-empty string; a dictionary, a list, V(true)/V(false) or a number with a fraction is
        refused before any request rather than written as its Python text (quote such a tag in YAML).
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
  - secops.m365_defender.auth.NO_DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
  - secops.m365_defender.auth.UPDATE
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
applied:
  description:
    - The options whose change the API carried out, of V(status), V(assigned_to), V(classification),
      V(determination), V(tags) and V(comment).
  returned: when a write was sent (also when the task failed after that)
  type: list
  elements: str
  sample: [status, tags]
not_applied:
  description:
    - The options whose change was not carried out, because their request was refused or was not sent after an
      earlier one failed. Empty when the update succeeded.
  returned: when a write was sent (also when the task failed after that)
  type: list
  elements: str
  sample: [comment]
unconfirmed:
  description:
    - The options whose request got no usable answer (a timeout, a lost connection, a 5xx other than 503) and which
      did not show on the incident when it was read again for about O(timeout) seconds. They may still be carried
      out; they were not sent again. Empty when the update succeeded.
  returned: when a write was sent (also when the task failed after that)
  type: list
  elements: str
  sample: []
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

from ansible_collections.secops.m365_defender.plugins.module_utils._update import (
    IncidentUpdate,
    update_result,
)
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
    return update_result(module, IncidentUpdate(module.client.flavour, module.params), module.params["incident_id"])


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.run(run)


if __name__ == "__main__":
    main()
