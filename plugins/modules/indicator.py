#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: indicator
short_description: Create, update or delete Microsoft Defender for Endpoint custom indicators
version_added: 1.0.0
description:
  - Keeps custom indicators (file hashes, IP addresses, URLs, domains, certificate thumbprints) as the task says,
    through the Defender for Endpoint API (C(/api/indicators)).
  - One indicator by O(type) and O(value), or many in O(indicators). An indicator is identified by its type and
    value; hashes and domains are compared in lower case and IP addresses in their short form.
  - Reads the tenant's indicators first and sends only what differs, so a second identical run sends nothing but
    the read. Only the fields given are compared; O(application) is set on creation only (the API ignores it on
    an update) and never compared.
  - Up to three indicators to create or update go one C(POST /api/indicators) each; more go by
    C(POST /api/indicators/import) in calls of up to 500. An indicator that an import refuses fails the task, naming
    it and the API's reason, with C(changed=true) and RV(created) and RV(updated) listing the others.
  - With O(state=absent), one indicator is deleted by C(DELETE /api/indicators/{id}), more by
    C(POST /api/indicators/BatchDelete) in calls of up to 500.
  - Always uses the Defender for Endpoint API, whatever O(api) says. Microsoft allows 100 calls a minute and 1,500
    an hour per tenant; the module paces itself below them.
author:
  - secops.m365_defender contributors (@secops)
options:
  type:
    description:
      - The indicator's type. V(file_sha1), V(file_sha256), V(file_md5) and V(certificate) (a SHA-1 thumbprint) take
        hexadecimal digits of the hash's length; V(ip) one IPv4 or IPv6 address (no ranges); V(domain) a domain name;
        V(url) an http or https URL.
      - Required unless O(indicators) is given.
    type: str
    choices: [file_sha1, file_sha256, file_md5, ip, url, domain, certificate]
  value:
    description:
      - The indicator's value, checked against O(type) before any request.
      - Required unless O(indicators) is given.
    type: str
  indicators:
    description:
      - Several indicators, each a dictionary with the keys O(type) and O(value) and any of O(action), O(title),
        O(description), O(severity), O(expiration), O(recommended_actions), O(rbac_group_names), O(generate_alert)
        and O(application).
      - The top-level options of those names apply to every item that does not set them.
      - Mutually exclusive with O(type) and O(value). The same indicator twice is refused.
    type: list
    elements: dict
  action:
    description:
      - What Defender does when it meets the indicator. Required with O(state=present).
      - Files and certificates take V(allowed), V(audit), V(warn) (not certificates), V(block) and
        V(block_and_remediate); IP addresses, URLs and domains V(allowed), V(audit), V(warn) and V(block).
        V(alert) and V(alert_and_block) are older names the API still takes for every type.
    type: str
    choices: [alert, warn, block, audit, allowed, alert_and_block, block_and_remediate]
  title:
    description: The title of the alerts the indicator raises. Required with O(state=present).
    type: str
  description:
    description: What the indicator is for. Required with O(state=present).
    type: str
  severity:
    description: The severity of the alerts it raises.
    type: str
    choices: [informational, low, medium, high]
  expiration:
    description: When the indicator expires, ISO-8601 (V(2027-01-31T00:00:00Z)); without a zone, UTC.
    type: str
  recommended_actions:
    description: The recommended actions shown with its alerts.
    type: str
  rbac_group_names:
    description: The device groups the indicator applies to (all devices when not given).
    type: list
    elements: str
  generate_alert:
    description: Whether meeting the indicator raises an alert.
    type: bool
  application:
    description:
      - The application the indicator belongs to. Set on creation only.
      - With O(purge), the mark of the indicators the task owns.
    type: str
  purge:
    description:
      - With O(state=present), also delete the tenant's indicators whose C(application) is O(application) and that
        the task does not name, so that the task's list is exactly that application's indicators (a feed that an
        indicator left). Indicators of other applications, or created without one (in the portal), are never
        deleted; one the task names is updated whatever its application.
      - Needs O(application) as a top-level option; an item of O(indicators) may not name another application.
        O(indicators) may then be empty, which deletes every indicator of that application.
      - The deletions are part of the plan, so check mode lists them in RV(deleted) and diff mode shows them.
    type: bool
    default: false
  state:
    description:
      - V(present) creates or updates the indicators; V(absent) deletes those that exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.NO_DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
  - secops.m365_defender.auth.UPDATE
notes:
  - Needs the Defender for Endpoint application permission C(Ti.ReadWrite.All) of the C(WindowsDefenderATP)
    application (C(Ti.ReadWrite) lets an app see and change only the indicators it created). With C(Ti.Read.All)
    only, the indicators are read and the first change is refused with HTTP 403.
  - In check mode and diff mode the module reads the indicators and reports what it would change; it sends no
    change.
  - A tenant holds at most 15,000 active indicators.
"""

EXAMPLES = r"""
- name: Block a file by its SHA-256
  secops.m365_defender.indicator:
    auth: "{{ endpoint_token.auth }}"
    type: file_sha256
    value: 275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f
    action: block_and_remediate
    title: EICAR test file
    description: Blocked by the SOC (INC-42)
    severity: high

- name: Block several indicators at once (more than three go by import, up to 500 a call)
  secops.m365_defender.indicator:
    auth: "{{ endpoint_token.auth }}"
    action: block
    title: Threat feed
    description: Indicators of the weekly feed
    indicators:
      - {type: domain, value: evil.example}
      - {type: url, value: "https://phish.example/login"}
      - {type: ip, value: 203.0.113.7, severity: high}

- name: Keep exactly the feed's domains in the tenant, deleting those of the feed that left it
  secops.m365_defender.indicator:
    auth: "{{ endpoint_token.auth }}"
    action: block
    title: Threat feed
    description: Indicators of the weekly feed
    application: weekly-feed
    purge: true
    indicators: "{{ lookup('ansible.builtin.file', 'weekly-feed.yml') | from_yaml }}"  # [{type: domain, value: ...}, ...]

- name: Remove an indicator
  secops.m365_defender.indicator:
    auth: "{{ endpoint_token.auth }}"
    type: ip
    value: 203.0.113.7
    state: absent
"""

RETURN = r"""
indicators:
  description:
    - The indicators the task names, after it, in its order, as the API answered (a submit's answer, or the read);
      an imported one is the body sent with the id the import answered. In check mode, as they would be (a new one
      with C(id=null)). With O(state=absent), empty.
  returned: success
  type: list
  elements: dict
  sample:
    - id: "995"
      indicatorValue: 275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f
      indicatorType: FileSha256
      action: BlockAndRemediate
      title: EICAR test file
      severity: High
created:
  description: The indicators created (in check mode, that would be), each as its O(type) and normalised O(value).
  returned: success, and when a change failed
  type: list
  elements: dict
  sample: [{type: domain, value: evil.example}]
updated:
  description: The indicators updated because a field given differed, as for RV(created).
  returned: success, and when a change failed
  type: list
  elements: dict
  sample: []
deleted:
  description: The indicators deleted (with O(purge), also those of the application the task no longer names), as for RV(created).
  returned: success, and when a change failed
  type: list
  elements: dict
  sample: []
failed:
  description: The indicators an import refused, each with the API's C(reason).
  returned: when a change failed
  type: list
  elements: dict
  sample: [{type: url, value: "https://evil.example/x", reason: "..."}]
diff:
  description:
    - Per changed indicator (keyed C(type:value)), its compared fields before and after; C(null) where it does not
      exist.
  returned: in diff mode
  type: dict
  sample:
    before: {"domain:evil.example": null}
    after: {"domain:evil.example": {action: Block, title: Feed, description: Weekly feed, severity: null}}
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

from ansible_collections.secops.m365_defender.plugins.module_utils._indicators import indicator_result
from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule

# The one API indicators live in, whatever the task's `api` says.
API = "endpoint"

ARGUMENT_SPEC = dict(
    type=dict(type="str", choices=["file_sha1", "file_sha256", "file_md5", "ip", "url", "domain", "certificate"]),
    value=dict(type="str"),
    indicators=dict(type="list", elements="dict"),
    action=dict(type="str", choices=["alert", "warn", "block", "audit", "allowed", "alert_and_block",
                                     "block_and_remediate"]),
    title=dict(type="str"),
    description=dict(type="str"),
    severity=dict(type="str", choices=["informational", "low", "medium", "high"]),
    expiration=dict(type="str"),
    recommended_actions=dict(type="str"),
    rbac_group_names=dict(type="list", elements="str"),
    generate_alert=dict(type="bool"),
    application=dict(type="str"),
    purge=dict(type="bool", default=False),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)


def run(module):
    return indicator_result(module)


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, api=API)
    module.run(run)


if __name__ == "__main__":
    main()
