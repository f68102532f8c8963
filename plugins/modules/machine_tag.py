#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: machine_tag
short_description: Add or remove the tags of a Microsoft Defender for Endpoint device
version_added: 1.0.0
description:
  - Adds tags to a device, removes them, or makes its tags exactly a given list (O(purge=true)), through the
    Defender for Endpoint API (C(POST /api/machines/{id}/tags)).
  - Reads the device first and sends only what differs, one request per tag (the API changes one tag a call), so a
    second identical run sends nothing but the read.
  - Tags are compared without regard to case (V(VIP) and V(vip) are one tag) and the device's own spelling is kept.
    Microsoft documents no case rule for device tags, and two tags that differ only in case would be a trap in
    device groups and filters, so the module never creates them - a tag already on the device in another case is not
    added again - and removes a tag in the spelling the device has.
  - Additions are sent first, in the order given, then removals, in the device's order, so that with O(purge=true)
    a device never lacks, even for a moment, a tag that it keeps in the end (device groups may be built on tags).
  - Each tag request is safe to repeat (adding a tag the device has, or removing one it has not, changes nothing),
    so one that gets no answer is retried. When one still fails, the task fails with C(changed=true) if anything
    was applied, and RV(tags_added), RV(tags_removed), RV(applied), RV(not_applied) and RV(unconfirmed) say which
    changes were carried out, which were not, and which may have been.
  - Always uses the Defender for Endpoint API, whatever O(api) says, as M(secops.m365_defender.machine_info) does.
  - Microsoft allows 100 calls a minute and 1,500 an hour per tenant; the module paces itself below them.
author:
  - secops.m365_defender contributors (@secops)
options:
  machine_id:
    description:
      - The device's id (40 hexadecimal digits, as alerts' device evidence names it in C(mdeDeviceId)).
      - Exactly one of O(machine_id) and O(name) is required.
    type: str
  name:
    description:
      - The device's DNS name (C(computerDnsName)), for example V(ws-fin-007.contoso.example), looked up with a
        C($filter). No device, or several, of that name fails the task before any change.
      - Looked up as given, then in lower case; a host name without a domain, such as V(ws-fin-007), also finds
        the device whose DNS name is that host name in any domain.
      - Exactly one of O(machine_id) and O(name) is required.
    type: str
  tag:
    description:
      - The tags to add (O(state=present)) or to remove (O(state=absent)).
      - Each is a non-empty string of at most 200 characters (the limit Microsoft's page on device tags gives); the
        same tag twice, in any case, is refused before any request.
      - Give a YAML list. A single string is read by Ansible as a comma-separated list, so V(a,b) is two tags.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) adds the tags the device does not have; V(absent) removes those it has.
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=present), also remove every tag of the device that is not in O(tag). With O(tag=[]) this removes
        every tag.
      - Refused with O(state=absent).
    type: bool
    default: false
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.NO_DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
  - secops.m365_defender.auth.UPDATE
notes:
  - Needs the Defender for Endpoint application permission C(Machine.ReadWrite.All) (delegated C(Machine.ReadWrite))
    of the C(WindowsDefenderATP) application, not a Graph permission. With C(Machine.Read.All) only, the device is
    read and the first tag request is refused with HTTP 403.
  - In check mode and diff mode the module reads the device and reports the tags it would have; it sends no change.
  - Tags that the device sets itself (registry, Intune, dynamic rules) may be set again by it after a removal.
"""

EXAMPLES = r"""
- name: Tag a device named in an alert's evidence
  secops.m365_defender.machine_tag:
    auth: "{{ endpoint_token.auth }}"
    machine_id: "{{ device.mde_device_id }}"
    tag: [Under investigation, "INC-{{ incident_id }}"]

- name: Release it again
  secops.m365_defender.machine_tag:
    auth: "{{ endpoint_token.auth }}"
    machine_id: "{{ device.mde_device_id }}"
    tag: [Under investigation]
    state: absent

- name: Make a device's tags exactly these, by its DNS name
  secops.m365_defender.machine_tag:
    tenant_id: contoso.onmicrosoft.com
    client_id: "{{ defender_client_id }}"
    client_secret: "{{ defender_client_secret }}"
    name: ws-fin-007.contoso.example
    tag: [Finance, PCI]
    purge: true
"""

RETURN = r"""
machine:
  description:
    - The device after the change, as the API answered its last tag request (or its read, when nothing changed);
      in check mode, as it would be.
  returned: success
  type: dict
  sample:
    id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    computerDnsName: ws-fin-007.contoso.example
    machineTags: [Finance, PCI]
tags_added:
  description:
    - The tags added, as given; in check mode, those that would be. On a failure part-way, those whose addition was
      carried out.
  returned: success, and when a tag request failed
  type: list
  elements: str
  sample: [PCI]
tags_removed:
  description:
    - The tags removed, as the device spelled them; in check mode, those that would be. On a failure part-way, those
      whose removal was carried out.
  returned: success, and when a tag request failed
  type: list
  elements: str
  sample: [Legacy]
applied:
  description:
    - On a failure part-way, the changes carried out, each as V(add 'TAG') or V(remove 'TAG').
  returned: when a tag request failed
  type: list
  elements: str
  sample: ["add 'PCI'"]
not_applied:
  description:
    - On a failure part-way, the changes not carried out, because their request was refused or was not sent after
      an earlier one failed.
  returned: when a tag request failed
  type: list
  elements: str
  sample: ["remove 'Legacy'"]
unconfirmed:
  description:
    - On a failure part-way, the change whose request got no usable answer and which did not show on the device when
      it was read again for about O(timeout) seconds. It may still be carried out; running the task again is safe.
  returned: when a tag request failed
  type: list
  elements: str
  sample: []
diff:
  description: The device's tags before and after (in check mode, as they would be).
  returned: in diff mode
  type: dict
  sample:
    before: {tags: [Finance, Legacy]}
    after: {tags: [Finance, PCI]}
api:
  description: The API that answered (always V(endpoint)).
  returned: success
  type: str
  sample: endpoint
http:
  description: What the HTTP layer did, as for M(secops.m365_defender.incident).
  returned: success
  type: dict
"""

from ansible_collections.secops.m365_defender.plugins.module_utils._machine_tags import machine_tag_result
from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule

# The one API these devices live in, whatever the task's `api` says.
API = "endpoint"

ARGUMENT_SPEC = dict(
    machine_id=dict(type="str"),
    name=dict(type="str"),
    tag=dict(type="list", elements="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    purge=dict(type="bool", default=False),
)


def run(module):
    return machine_tag_result(module)


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, api=API)
    module.run(run)


if __name__ == "__main__":
    main()
