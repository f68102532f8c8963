#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: app_registration_info
short_description: Check that an app registration can do what the playbooks need, in one tenant
version_added: 1.0.0
description:
  - Signs in to the tenant and compares the permissions in the token (C(roles) in application context, C(scp)
    in user context) with those the chosen O(features) need on the chosen O(api). A C(ReadWrite) permission
    covers its C(Read) one.
  - When the app is unknown in the tenant or not consented there (AADSTS700016, AADSTS65001), reports the
    consent as missing with the admin consent URL to send to the tenant's admin, instead of failing.
  - Where Graph lets the app read its own registration (C(Application.Read.All)), also reports its sign-in
    audience (multi-tenant apps are needed for partner use) and its secrets and certificates with their expiry
    dates, and warns about those expiring within O(expiry_warning_days). Where Graph refuses, the check still
    answers from the token and says what it could not see.
  - A missing permission is data, not a failure; see RV(ready). Never changes anything.
  - With O(api=defender), reading the registration takes a second token, for Graph.
author:
  - secops.m365_defender contributors (@secops)
options:
  features:
    description:
      - What the playbooks do. V(incident_read) reads incidents, V(incident_write) updates them, V(alert_read)
        reads alerts (M(secops.m365_defender.alert_info)), V(alert_write) updates them
        (M(secops.m365_defender.alert)), V(hunting) runs advanced hunting queries.
      - "On Graph: C(SecurityIncident.Read.All), C(SecurityIncident.ReadWrite.All), C(SecurityAlert.Read.All),
        C(SecurityAlert.ReadWrite.All), C(ThreatHunting.Read.All). On the Defender API: C(Incident.Read.All),
        C(Incident.ReadWrite.All), C(AdvancedHunting.Read.All) (in user context C(Incident.Read),
        C(Incident.ReadWrite), C(AdvancedHunting.Read))."
      - "Device features, on the Defender for Endpoint API (O(api=endpoint)): V(machine_read) reads devices
        (C(Machine.Read.All)), V(machine_tag) tags them (C(Machine.ReadWrite.All)), V(machine_isolate) isolates and
        releases them (C(Machine.Isolate)), V(machine_scan) runs antivirus scans (C(Machine.Scan)),
        V(machine_collect_forensics) collects investigation packages (C(Machine.CollectForensics)),
        V(machine_restrict_execution) restricts app execution (C(Machine.RestrictExecution)),
        V(machine_stop_and_quarantine) stops and quarantines files (C(Machine.StopAndQuarantine)),
        V(indicator_read) lists custom indicators (C(Ti.Read.All)), V(indicator_write) creates, updates and deletes
        them (C(Ti.ReadWrite.All)); in user context the same without C(.All). They are app roles of the WindowsDefenderATP application and appear only in
        tokens for C(https://api.securitycenter.microsoft.com), never in Graph's or the Defender XDR API's."
      - A feature the chosen API does not have is refused before any request, naming the API to check it with.
      - By default V(incident_read), or V(machine_read) with O(api=endpoint).
    type: list
    elements: str
    choices: [incident_read, incident_write, alert_read, alert_write, hunting, machine_read, machine_tag,
              machine_isolate, machine_scan, machine_collect_forensics, machine_restrict_execution,
              machine_stop_and_quarantine, indicator_read, indicator_write]
  expiry_warning_days:
    description:
      - Warn about secrets and certificates that expire within this many days, from V(0) (only expired ones) to
        V(3650).
    type: int
    default: 30
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.NO_DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
  - secops.m365_defender.auth.READ_ONLY
"""

EXAMPLES = r"""
- name: Can the SOC automation app triage incidents and hunt in this customer tenant?
  secops.m365_defender.app_registration_info:
    tenant_id: "{{ customer_tenant_id }}"
    client_id: "{{ partner_app_id }}"
    client_secret: "{{ partner_app_secret }}"
    features: [incident_read, incident_write, hunting]
  register: app_check

- name: Stop here when something is missing
  ansible.builtin.assert:
    that: app_check.ready
    fail_msg: >-
      Missing {{ app_check.missing_permissions | join(', ') }}; consent: {{ app_check.consent.state }}
      {{ app_check.consent.admin_consent_url }}
"""

RETURN = r"""
ready:
  description: Whether the app is consented and has every permission the features need.
  returned: success
  type: bool
  sample: false
api:
  description: The API checked.
  returned: success
  type: str
  sample: graph
context:
  description: C(application) (permissions in C(roles)) or C(user) (permissions in C(scp)).
  returned: success
  type: str
  sample: application
granted_permissions:
  description: The permissions in the token.
  returned: success
  type: list
  elements: str
  sample: [SecurityIncident.Read.All]
needed_permissions:
  description: The permissions the features need on this API in this context.
  returned: success
  type: list
  elements: str
  sample: [SecurityIncident.ReadWrite.All, ThreatHunting.Read.All]
missing_permissions:
  description: Needed permissions that were not granted; empty when nothing is missing.
  returned: success
  type: list
  elements: str
  sample: [SecurityIncident.ReadWrite.All]
consent:
  description: Consent in this tenant.
  returned: success
  type: dict
  contains:
    state:
      description:
        - C(granted) (permissions were consented), C(no_permissions) (the app is known in the tenant but no
          permission of this API was consented), or C(missing) (the app is unknown in the tenant or not consented).
      type: str
      returned: success
      sample: granted
    admin_consent_url:
      description:
        - The URL to send to the tenant's admin to grant consent (again, after a permission change).
        - None for a managed identity, whose permissions are granted with app role assignments.
      type: str
      returned: success
    error:
      description: The sign-in error, when the consent is missing.
      type: str
      returned: when state is C(missing)
registration:
  description: What Graph's directory shows of the app registration in this tenant.
  returned: when the app could sign in
  type: dict
  contains:
    visible:
      description: Whether the registration could be read.
      type: bool
      returned: always
    reason:
      description: Why it could not be read, or where it lives.
      type: str
      returned: when not visible
    service_principal_id:
      description: The object ID of the app's service principal in this tenant.
      type: str
      returned: when Graph could be read
    display_name:
      description: The app's name.
      type: str
      returned: when visible
    sign_in_audience:
      description: C(AzureADMyOrg) (single tenant) or C(AzureADMultipleOrgs) (multi-tenant), ...
      type: str
      returned: when visible
    multi_tenant:
      description: Whether other tenants can consent to the app (needed in partner context).
      type: bool
      returned: when visible
    credentials:
      description: Secrets and certificates with C(type), C(key_id), C(display_name), C(end_date_time),
        C(days_left), C(expired), C(expiring_soon). Never their values.
      type: list
      elements: dict
      returned: when visible
http:
  description: What the HTTP layer did, as for M(secops.m365_defender.incident).
  returned: success
  type: dict
"""

from ansible_collections.secops.m365_defender.plugins.module_utils._auth import ManagedIdentityFlow, select_flow
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import AuthenticationError, admin_consent_url
from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule, check_range
from ansible_collections.secops.m365_defender.plugins.module_utils._permissions import (
    FEATURES,
    granted_permissions,
    missing_permissions,
    needed_permissions,
    token_context,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._registration import read_registration

ARGUMENT_SPEC = dict(
    features=dict(type="list", elements="str", choices=list(FEATURES)),
    expiry_warning_days=dict(type="int", default=30),
)

CONSENT_CODES = (700016, 65001)


def run(module):
    check_range("expiry_warning_days", module.params["expiry_warning_days"], 0, 3650, "days")
    connection = module.connection
    api = connection.api
    try:
        token = module.sign_in()
    except AuthenticationError as exc:
        if exc.details.get("aadsts_code") not in CONSENT_CODES:
            raise
        return missing_consent(module, api, str(exc), consent_url_for(module, {}))
    consent_url = consent_url_for(module, token.claims)
    granted = granted_permissions(token.claims)
    context = token_context(token.claims)
    needed = needed_permissions(api, context, module.params["features"])
    missing = missing_permissions(needed, granted)
    client_id = connection.client_id or token.claims.get("appid")
    registration = read_registration(graph_client(module), client_id, module.params["expiry_warning_days"])
    warn_about_credentials(module, registration, client_id, connection.tenant_id or token.claims.get("tid"))
    return {
        "changed": False,
        "ready": not missing,
        "api": api,
        "context": context,
        "granted_permissions": granted,
        "needed_permissions": needed,
        "missing_permissions": missing,
        "consent": {"state": "granted" if granted else "no_permissions", "admin_consent_url": consent_url},
        "registration": registration,
    }


def consent_url_for(module, claims):
    """The admin consent URL for this app in this tenant; none for a managed identity, which has no consent."""
    connection = module.connection
    tenant = connection.tenant_id or claims.get("tid")
    client_id = connection.client_id or claims.get("appid")
    if isinstance(select_flow(module.params), ManagedIdentityFlow) or not (tenant and client_id):
        return None
    return admin_consent_url(connection.endpoints.login_url, tenant, client_id)


def missing_consent(module, api, error, consent_url):
    context = select_flow(module.params).context
    needed = needed_permissions(api, context, module.params["features"])
    return {
        "changed": False,
        "ready": False,
        "api": api,
        "context": context,
        "granted_permissions": [],
        "needed_permissions": needed,
        "missing_permissions": needed,
        "consent": {"state": "missing", "admin_consent_url": consent_url, "error": error},
    }


def graph_client(module):
    """A client for Graph's directory: the module's own on Graph, else one more sign-in, for Graph."""
    if module.connection.api == "graph":
        return module.client
    return module.open_session(dict(module.params, api="graph", auth=None)).client


def warn_about_credentials(module, registration, client_id, tenant):
    """One warning per secret or certificate that expired or expires soon, naming the app and the tenant."""
    app = "'%s' (%s)" % (registration.get("display_name") or "", client_id)
    for credential in registration.get("credentials", []):
        if credential["expired"] or credential["expiring_soon"]:
            module.warn("The %s '%s' (%s) of the app %s, registered in tenant %s, %s on %s." % (
                credential["type"], credential["display_name"] or "", credential["key_id"], app, tenant,
                "expired" if credential["expired"] else "expires in %d day(s)" % credential["days_left"],
                credential["end_date_time"]))


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.run(run)


if __name__ == "__main__":
    main()
