#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: machine_info
short_description: Get devices from Microsoft Defender for Endpoint
version_added: 1.0.0
description:
  - Gets one device by O(machine_id) or by its DNS name (O(name)), or every device that matches the filters, from
    the Defender for Endpoint API (C(/api/machines)).
  - Every filter is applied by the API (C($filter)); every page is followed (C(@odata.nextLink)), 10,000 devices a
    page at most.
  - Returns the API's own machine objects unchanged, so Microsoft's documentation describes them.
  - Always uses the Defender for Endpoint API, whatever O(api) says. Its tokens are for
    C(https://api.securitycenter.microsoft.com), not for Graph or the Defender XDR API, so a token from
    M(secops.m365_defender.token) is reused through O(auth) only when it was asked for with O(api=endpoint).
  - Microsoft allows 100 calls a minute and 1,500 an hour per tenant; the module paces itself below them.
author:
  - secops.m365_defender contributors (@secops)
options:
  machine_id:
    description:
      - The device's id (40 hexadecimal digits, as alerts' device evidence names it in C(mdeDeviceId)). When
        given, the filters are ignored and RV(machines) holds that device, or nothing when the API does not know it.
    type: str
  name:
    description:
      - Only the device with this DNS name (C(computerDnsName)), for example V(ws-fin-007.contoso.example).
      - When no device has it, it is looked for in lower case, and a host name without a domain, such as
        V(ws-fin-007), finds the devices whose DNS name is that host name in any domain.
    type: str
  limit:
    description:
      - Return at most this many devices. By default all that match.
    type: int
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.NO_DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
  - secops.m365_defender.auth.READ_ONLY
  - secops.m365_defender.machine_filters
notes:
  - Needs the Defender for Endpoint application permission C(Machine.Read.All) (or C(Machine.ReadWrite.All)) of
    the C(WindowsDefenderATP) application, not a Graph permission.
"""

EXAMPLES = r"""
- name: Active Windows 11 devices with a high risk score, seen in the last week
  secops.m365_defender.machine_info:
    tenant_id: contoso.onmicrosoft.com
    client_id: "{{ defender_client_id }}"
    client_secret: "{{ defender_client_secret }}"
    health_status: [Active]
    risk_score: [High]
    os_platform: Windows11
    last_seen_after: 7d
  register: risky

- name: One device by its DNS name, in the EU region
  secops.m365_defender.machine_info:
    auth: "{{ endpoint_token.auth }}"
    region: eu
    name: ws-fin-007.contoso.example

- name: The devices named in alerts' evidence
  secops.m365_defender.machine_info:
    auth: "{{ endpoint_token.auth }}"
    machine_id: "{{ item.mde_device_id }}"
  loop: "{{ alerts.evidence.devices }}"
"""

RETURN = r"""
machines:
  description:
    - The devices, as the Defender for Endpoint API returns them (its machine resource).
  returned: always
  type: list
  elements: dict
  sample:
    - id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
      computerDnsName: ws-fin-007.contoso.example
      healthStatus: Active
      riskScore: High
      exposureLevel: Medium
      osPlatform: Windows11
      machineTags: [finance]
count:
  description: How many devices RV(machines) holds.
  returned: always
  type: int
  sample: 1
complete:
  description: Whether every page was read.
  returned: always
  type: bool
  sample: true
filters_applied_locally:
  description: Filters applied here rather than by the API (none today; kept for the shape every listing has).
  returned: always
  type: list
  elements: str
  sample: []
pages:
  description: How many pages were read (none with O(machine_id)).
  returned: always
  type: int
  sample: 1
api:
  description: The API that answered (always V(endpoint)).
  returned: always
  type: str
  sample: endpoint
http:
  description: What the HTTP layer did, as for M(secops.m365_defender.incident).
  returned: success
  type: dict
"""

from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import listing_result
from ansible_collections.secops.m365_defender.plugins.module_utils._machines import read_machines
from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule

# The one API these devices live in, whatever the task's `api` says.
API = "endpoint"

ARGUMENT_SPEC = dict(
    machine_id=dict(type="str"),
    name=dict(type="str"),
    health_status=dict(type="list", elements="str"),
    risk_score=dict(type="list", elements="str"),
    exposure_level=dict(type="list", elements="str"),
    onboarding_status=dict(type="list", elements="str"),
    os_platform=dict(type="str"),
    tag=dict(type="list", elements="str"),
    last_seen_after=dict(type="str"),
    limit=dict(type="int"),
)


def run(module):
    return listing_result(module, read_machines(module.client, module.params), [], "machines")


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, api=API)
    module.run(run)


if __name__ == "__main__":
    main()
