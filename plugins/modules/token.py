#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: token
short_description: Sign in to Entra ID and get an access token for the Defender APIs
version_added: 1.0.0
description:
  - Signs in to Microsoft Entra ID and returns an access token for the Microsoft Graph security API or the
    legacy Microsoft Defender XDR API, with its expiry and its non-secret claims.
  - Pass the returned RV(auth) to other modules of this collection with their O(auth) option, so that a play
    signs in once instead of once per task.
  - Application context with a client secret, a certificate, a federated token or an Azure managed identity, in
    the app's own tenant or, in partner context, in a customer tenant that has consented to a multi-tenant app.
  - User context with a device code (the task shows the code and waits) or, deprecated by Microsoft, a password.
  - Unlike the other modules, this module never uses the token in O(auth) itself; it always signs in (or takes a
    token that is still valid from O(token_cache_path)). Given O(auth), it takes the API, cloud, tenant, app and
    endpoints from it where its own options are silent, so that a play can renew a token with the same settings;
    without credentials it fails saying so.
  - The task's output is hidden, as with C(no_log), because the result holds the access token; the
    registered variable holds everything. Its warnings (a token cache made private or unreadable, the password
    flow, O(validate_certs=false)) are still shown.
author:
  - secops.m365_defender contributors (@secops)
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
  - secops.m365_defender.auth.READ_ONLY
"""

EXAMPLES = r"""
- name: Get a token for the Graph security API with a client secret
  secops.m365_defender.token:
    tenant_id: contoso.onmicrosoft.com
    client_id: 00000000-0000-0000-0000-000000000000
    client_secret: "{{ vault_defender_secret }}"
  register: defender_token

- name: Reuse it for the rest of the play
  secops.m365_defender.incident_info:
    auth: "{{ defender_token.auth }}"
    status: [active, in_progress]

- name: Get a token for the legacy Defender API with a certificate
  secops.m365_defender.token:
    api: defender
    tenant_id: 6d9a1c1e-2f43-4b8e-9a0f-0c1b2d3e4f50
    client_id: 00000000-0000-0000-0000-000000000000
    client_certificate_path: /etc/defender/app-cert.pem
  register: legacy_token

- name: Show which application roles the token carries
  ansible.builtin.debug:
    var: legacy_token.claims.roles

- name: Sign a user in with a device code (the task shows the code and waits), keeping the sign-in for later runs
  secops.m365_defender.token:
    auth_flow: device_code
    tenant_id: contoso.onmicrosoft.com
    client_id: 00000000-0000-0000-0000-000000000000
    token_cache_path: ~/.cache/m365d-token-cache.json
    device_code_timeout: 600
  register: analyst_token

- name: Sign a user in with a password (deprecated by Microsoft and impossible with MFA; prefer device_code)
  secops.m365_defender.token:
    auth_flow: password
    tenant_id: contoso.onmicrosoft.com
    client_id: 00000000-0000-0000-0000-000000000000
    username: analyst@contoso.onmicrosoft.com
    password: "{{ vault_analyst_password }}"
  register: password_token

- name: Sign in as the Azure machine's system-assigned managed identity
  secops.m365_defender.token:
    auth_flow: managed_identity
  register: identity_token

- name: Sign in as a user-assigned managed identity
  secops.m365_defender.token:
    managed_identity_client_id: 11111111-2222-3333-4444-555555555555
  register: assigned_identity_token

- name: Partner context - a token in each customer's tenant for the multi-tenant app they consented to
  secops.m365_defender.token:
    tenant_id: "{{ item }}"
    client_id: 00000000-0000-0000-0000-000000000000
    client_secret: "{{ vault_partner_app_secret }}"
  loop:
    - 6d9a1c1e-2f43-4b8e-9a0f-0c1b2d3e4f50
    - fabrikam.onmicrosoft.com
  register: customer_tokens

- name: Read each customer's incidents with its own token
  secops.m365_defender.incident_info:
    auth: "{{ item.auth }}"
    status: [active]
  loop: "{{ customer_tokens.results }}"
  loop_control:
    label: "{{ item.item }}"
"""

RETURN = r"""
auth:
  description:
    - Everything another module needs to call the API without signing in; pass it as their O(auth) option.
    - Holds the access token, which is a secret.
  returned: success
  type: dict
  contains:
    access_token:
      description: The access token (a JWT).
      type: str
      returned: success
    token_type:
      description: Always C(Bearer).
      type: str
      returned: success
      sample: Bearer
    expires_on:
      description: When the token expires, in seconds since the epoch.
      type: int
      returned: success
      sample: 1764151200
    expires_at:
      description: When the token expires, ISO-8601 in UTC.
      type: str
      returned: success
      sample: "2026-11-26T10:00:00Z"
    api:
      description: The API the token is for.
      type: str
      returned: success
      sample: graph
    cloud:
      description: The cloud the token is for.
      type: str
      returned: success
      sample: global
    tenant_id:
      description: The tenant as given in O(tenant_id).
      type: str
      returned: success
      sample: contoso.onmicrosoft.com
    client_id:
      description: The app's client ID.
      type: str
      returned: success
    login_url:
      description: The sign-in endpoint used.
      type: str
      returned: success
      sample: https://login.microsoftonline.com
    api_url:
      description: The API's base URL.
      type: str
      returned: success
      sample: https://graph.microsoft.com/v1.0
    resource:
      description: The token's audience.
      type: str
      returned: success
      sample: https://graph.microsoft.com
    scope:
      description: The scope that was requested.
      type: str
      returned: success
      sample: https://graph.microsoft.com/.default
claims:
  description:
    - The token's non-secret claims, read without verifying the signature.
    - C(roles) lists application permissions; it is missing when no permission was consented, in which case
      the APIs answer HTTP 403.
  returned: success
  type: dict
  sample:
    aud: https://graph.microsoft.com
    tid: 6d9a1c1e-2f43-4b8e-9a0f-0c1b2d3e4f50
    appid: 00000000-0000-0000-0000-000000000000
    roles: [SecurityIncident.Read.All]
    exp: 1764151200
token_source:
  description: Where the token came from, C(identity_provider) or C(cache) (MSAL's token cache).
  returned: success
  type: str
  sample: identity_provider
http:
  description: What the HTTP layer did, as for M(secops.m365_defender.incident).
  returned: success
  type: dict
"""

from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule, token_result


def run(module):
    return token_result(module.session, module.sign_in())


def main():
    module = DefenderModule(supports_check_mode=True)
    module.run(run)


if __name__ == "__main__":
    main()
