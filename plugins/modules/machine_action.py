#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: machine_action
short_description: Isolate, scan, restrict or collect from a device with Microsoft Defender for Endpoint
version_added: 1.0.0
description:
  - Runs a response action on one device through the Defender for Endpoint API (C(/api/machines/{id}/<action>)) -
    isolate it or release it, run an antivirus scan, collect an investigation package (and download it),
    restrict app execution or lift the restriction, or stop and quarantine a file.
  - B(Idempotent), judged from the device's own machine actions. An identical action still C(Pending) or
    C(InProgress) is not sent again (the task reports it, unchanged). A device whose last isolation action that
    succeeded is an isolation is not isolated again, and one never isolated (or last released) is not released;
    app restriction alike. Scans, collections and quarantines run again on every task unless an identical one is
    still open.
  - A request is never sent twice. When it gets no usable answer, the device's actions are read again; if they
    show it, the task goes on with it (and warns), otherwise it fails saying the action may still appear.
  - With O(wait), follows the action (C(/api/machineactions/{id})) until it succeeds, and fails clearly when it
    ends C(Failed), C(Cancelled) or C(TimeOut), or when O(wait_timeout) runs out; progress shows while it waits.
  - Always uses the Defender for Endpoint API, whatever O(api) says (see M(secops.m365_defender.machine_info)).
author:
  - secops.m365_defender contributors (@secops)
options:
  machine_id:
    description:
      - The device's id (40 hexadecimal digits, C(mdeDeviceId) in alerts' device evidence). One of O(machine_id)
        and O(name) is required.
    type: str
  name:
    description:
      - The device's DNS name (C(computerDnsName)), instead of O(machine_id). Exactly one device must have it.
      - Looked up as given, then in lower case; a host name without a domain, such as V(ws-fin-007), also finds
        the device whose DNS name is that host name in any domain (V(ws-fin-007.contoso.example)).
    type: str
  action:
    description:
      - V(isolate) (C(Machine.Isolate)) and V(release) (C(Machine.Isolate)), V(av_scan) (C(Machine.Scan)),
        V(collect_investigation_package) (C(Machine.CollectForensics)), V(restrict_app_execution) and
        V(remove_app_restriction) (C(Machine.RestrictExecution)), V(stop_and_quarantine_file)
        (C(Machine.StopAndQuarantine)). In brackets, the application permission each needs.
    type: str
    required: true
    choices: [isolate, release, av_scan, collect_investigation_package, restrict_app_execution,
              remove_app_restriction, stop_and_quarantine_file]
  comment:
    description:
      - Why, as the API records it with the action (required by the API).
    type: str
    required: true
  isolation_type:
    description:
      - For V(isolate) only. V(full) cuts the device off the network but for Defender for Endpoint; V(selective)
        keeps Outlook, Teams and Skype working; V(unmanaged_device) isolates a device Defender only discovered.
    type: str
    choices: [full, selective, unmanaged_device]
  scan_type:
    description:
      - For V(av_scan) only. V(quick) (the default for that action) or V(full).
    type: str
    choices: [quick, full]
  sha1:
    description:
      - For V(stop_and_quarantine_file), and required there. The file's SHA-1 (40 hexadecimal digits).
    type: str
  wait:
    description:
      - Wait until the action succeeds (or fails, or O(wait_timeout) runs out).
    type: bool
    default: false
  wait_timeout:
    description:
      - How long to wait, in seconds, from 1 to 86400.
    type: int
    default: 600
  download_path:
    description:
      - For V(collect_investigation_package) only. Wait for the collection, then save the package (a zip file) here,
        with mode 0600, written whole or not at all. The download link Microsoft gives is pre-signed and
        short-lived; no token is sent to it.
    type: path
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.NO_DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the device and its actions and reports whether the action would be sent; sends nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: all
    details: >-
      The module runs where the task is delegated, usually the controller (C(ansible_connection=local)), where it
      runs in-process (see the C(action) attribute).
notes:
  - Microsoft allows 100 calls a minute and 1,500 an hour per tenant for these APIs, and 2 package links a minute;
    the module paces itself below them.
"""

EXAMPLES = r"""
- name: Isolate a device named in an alert, and wait until it is isolated
  secops.m365_defender.machine_action:
    auth: "{{ endpoint_token.auth }}"
    machine_id: "{{ device.mde_device_id }}"
    action: isolate
    comment: "Incident {{ incident_id }}: isolated by the SOC playbook"
    wait: true

- name: Full antivirus scan of a server
  secops.m365_defender.machine_action:
    auth: "{{ endpoint_token.auth }}"
    name: srv-app-023.contoso.example
    action: av_scan
    scan_type: full
    comment: Post-incident sweep

- name: Collect and download an investigation package
  secops.m365_defender.machine_action:
    auth: "{{ endpoint_token.auth }}"
    machine_id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    action: collect_investigation_package
    comment: Forensics for incident 2972395
    download_path: /srv/forensics/2972395-ws-fin-007.zip
    wait_timeout: 1800
"""

RETURN = r"""
machine_action:
  description:
    - The machine action the API answered, or the open (or succeeded) one that made sending needless; after
      O(wait), as it ended. None in check mode when the action would be sent, and when releasing a device never
      isolated (or lifting a restriction never set).
  returned: success
  type: dict
  sample:
    id: 7f1ba4b6-7ee3-4bd4-9d0c-3a1e8a1b9f3e
    type: Isolate
    scope: Full
    status: Succeeded
    machineId: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    requestorComment: "Incident 2972395: isolated by the SOC playbook"
machine:
  description: The device the action is for, as the API describes it.
  returned: success
  type: dict
package_bytes:
  description: The size of the investigation package saved to O(download_path).
  returned: when O(download_path) was given and the package was saved
  type: int
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

from ansible_collections.secops.m365_defender.plugins.module_utils._machine_actions import ActionRequest, respond
from ansible_collections.secops.m365_defender.plugins.module_utils._machines import find_machine
from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule

# The one API these devices live in, whatever the task's `api` says.
API = "endpoint"

ARGUMENT_SPEC = dict(
    machine_id=dict(type="str"),
    name=dict(type="str"),
    action=dict(type="str", required=True, choices=["isolate", "release", "av_scan", "collect_investigation_package",
                                                    "restrict_app_execution", "remove_app_restriction",
                                                    "stop_and_quarantine_file"]),
    comment=dict(type="str", required=True),
    isolation_type=dict(type="str", choices=["full", "selective", "unmanaged_device"]),
    scan_type=dict(type="str", choices=["quick", "full"]),
    sha1=dict(type="str"),
    wait=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=600),
    download_path=dict(type="path"),
)


def run(module):
    request = ActionRequest(module.params)
    client = module.client
    machine_id, machine = find_machine(client, module.params)
    changed, machine_action, warnings, size = respond(client, request, machine_id, module.check_mode)
    for warning in warnings:
        module.warn(warning)
    result = {"changed": changed, "machine_action": machine_action, "machine": machine, "api": client.flavour.name}
    if size is not None:
        result["package_bytes"] = size
    return result


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, api=API)
    module.run(run)


if __name__ == "__main__":
    main()
