#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: indicator_info
short_description: List Microsoft Defender for Endpoint custom indicators
version_added: 1.0.0
description:
  - Lists the tenant's custom indicators through the Defender for Endpoint API (C(GET /api/indicators)), filtered
    by the API with a C($filter), following every page.
  - Always uses the Defender for Endpoint API, whatever O(api) says.
author:
  - secops.m365_defender contributors (@secops)
options:
  type:
    description: Only indicators of these types.
    type: list
    elements: str
    choices: [file_sha1, file_sha256, file_md5, ip, url, domain, certificate]
  value:
    description:
      - Only the indicator with this value (exactly). With one O(type), the value is normalised as the
        M(secops.m365_defender.indicator) module does (hashes and domains in lower case).
    type: str
  action:
    description: Only indicators with one of these actions.
    type: list
    elements: str
    choices: [alert, warn, block, audit, allowed, alert_and_block, block_and_remediate]
  severity:
    description: Only indicators of one of these severities.
    type: list
    elements: str
    choices: [informational, low, medium, high]
  limit:
    description: Return at most this many indicators (1 or more).
    type: int
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.NO_DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
  - secops.m365_defender.auth.READ_ONLY
notes:
  - Needs the Defender for Endpoint application permission C(Ti.Read.All) (or C(Ti.ReadWrite.All)) of the
    C(WindowsDefenderATP) application. An app with C(Ti.ReadWrite) only sees the indicators it created.
"""

EXAMPLES = r"""
- name: The domains the tenant blocks
  secops.m365_defender.indicator_info:
    auth: "{{ endpoint_token.auth }}"
    type: [domain]
    action: [block]
  register: blocked
"""

RETURN = r"""
indicators:
  description: The indicators, as the API returns them (its indicator resource).
  returned: always
  type: list
  elements: dict
  sample:
    - id: "995"
      indicatorValue: evil.example
      indicatorType: DomainName
      action: Block
      title: Threat feed
      severity: Medium
count:
  description: How many indicators RV(indicators) holds.
  returned: always
  type: int
  sample: 1
complete:
  description: Whether every page was read.
  returned: always
  type: bool
  sample: true
filters_applied_locally:
  description: Filters applied here rather than by the API (none; kept for the shape every listing has).
  returned: always
  type: list
  elements: str
  sample: []
pages:
  description: How many pages were read.
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
from ansible_collections.secops.m365_defender.plugins.module_utils._indicators import read_indicators
from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule

# The one API indicators live in, whatever the task's `api` says.
API = "endpoint"

ARGUMENT_SPEC = dict(
    type=dict(type="list", elements="str",
              choices=["file_sha1", "file_sha256", "file_md5", "ip", "url", "domain", "certificate"]),
    value=dict(type="str"),
    action=dict(type="list", elements="str", choices=["alert", "warn", "block", "audit", "allowed",
                                                      "alert_and_block", "block_and_remediate"]),
    severity=dict(type="list", elements="str", choices=["informational", "low", "medium", "high"]),
    limit=dict(type="int"),
)


def run(module):
    return listing_result(module, read_indicators(module.client, module.params), [], "indicators")


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, api=API)
    module.run(run)


if __name__ == "__main__":
    main()
