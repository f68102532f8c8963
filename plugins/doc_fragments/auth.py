# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options shared by every module that talks to Entra ID and the Defender APIs."""

    DOCUMENTATION = r"""
options:
  api:
    description:
      - Which API to use.
      - V(graph) is the Microsoft Graph security API (C(/v1.0/security)).
      - V(defender) is the legacy Microsoft Defender XDR API (C(api.security.microsoft.com)), which Microsoft
        retires on 2027-02-01.
      - V(endpoint) is the Microsoft Defender for Endpoint API (devices and device response; its tokens are for
        C(https://api.securitycenter.microsoft.com)). The device modules always use it and ignore this option;
        set it on M(secops.m365_defender.token) to get a token for them.
      - If not set, the API of O(auth) when given, else V(graph).
      - Falls back to the E(M365D_API) environment variable.
    type: str
    choices: [graph, defender, endpoint]
  cloud:
    description:
      - The national cloud, which decides the sign-in, Graph and Defender hosts and the token's scope.
      - If not set, the cloud of O(auth) when given, else V(global).
      - Falls back to the E(M365D_CLOUD) environment variable.
    type: str
    choices: [global, gcc, gcc_high, dod]
  tenant_id:
    description:
      - The directory (tenant) ID, a GUID, or a verified domain of the tenant to work in.
      - In partner context, the customer's tenant.
      - Required unless O(auth) is given. A value with spaces or a line break around it is refused.
      - Falls back to the E(AZURE_TENANT_ID) or E(AZURE_TENANT) environment variables.
    type: str
  client_id:
    description:
      - The Application (client) ID of the app registration, a GUID; spaces or a line break around it are refused.
      - Falls back to the E(AZURE_CLIENT_ID) environment variable.
    type: str
  client_secret:
    description:
      - A client secret of the app registration (its Value, not its Secret ID).
      - Falls back to the E(AZURE_CLIENT_SECRET) or E(AZURE_SECRET) environment variables.
    type: str
  client_certificate_path:
    description:
      - Path to a PEM file holding the private key and the certificate whose public part is registered
        with the app, or to a PFX (PKCS#12) file holding both.
      - Opened and checked before any request - a damaged file, a wrong O(client_certificate_password), a
        certificate that expired or is not valid yet, or a key that does not belong to the certificate fails the
        task saying so.
      - Falls back to the E(AZURE_CLIENT_CERTIFICATE_PATH) environment variable.
    type: path
  client_certificate_password:
    description:
      - Password of an encrypted private key or PFX file in O(client_certificate_path).
      - Falls back to the E(AZURE_CLIENT_CERTIFICATE_PASSWORD) environment variable.
    type: str
  federated_token_file:
    description:
      - Workload identity federation. A file holding a token from another identity provider (for example a
        Kubernetes service account token) that the app trusts through a federated credential; read at each
        sign-in.
      - Falls back to the E(AZURE_FEDERATED_TOKEN_FILE) environment variable.
    type: path
  managed_identity_client_id:
    description:
      - The client ID (a GUID) of a user-assigned managed identity to sign in as.
      - For the machine's system-assigned identity set O(auth_flow=managed_identity) and leave this out.
    type: str
  username:
    description:
      - User context. The user principal name to sign in as with O(auth_flow=password), or to pick from
        the token cache.
      - Falls back to the E(AZURE_USERNAME) environment variable.
    type: str
  password:
    description:
      - User context. The user's password, for O(auth_flow=password).
      - Falls back to the E(AZURE_PASSWORD) environment variable.
    type: str
  auth_flow:
    description:
      - How to sign in.
      - V(auto) picks the first flow whose options are given, in this order - V(client_certificate)
        (O(client_certificate_path)), V(client_secret), V(federated_token) (O(federated_token_file)),
        V(password) (O(username) and O(password)), V(managed_identity) (O(managed_identity_client_id)).
        Credentials of two flows given together (for example O(client_secret) and O(client_certificate_path),
        also through their environment variables) are refused rather than one of them ignored; name the flow to
        use one of them.
      - V(device_code) signs a user in with a code entered at Microsoft's sign-in page; only
        M(secops.m365_defender.token) can show the code, other modules and plugins use its sign-in through
        O(token_cache_path).
      - V(managed_identity) without O(managed_identity_client_id) uses the machine's system-assigned identity.
      - Falls back to the E(M365D_AUTH_FLOW) environment variable.
    type: str
    default: auto
    choices: [auto, client_certificate, client_secret, federated_token, password, managed_identity, device_code]
  token_cache_path:
    description:
      - A file to keep MSAL's token cache in, so that later tasks and runs reuse tokens (and, in user context,
        refresh tokens) instead of signing in again.
      - Created readable only by its owner (0600), written atomically, and locked while in use so that parallel
        forks can share it.
      - The file and its lock file (the same path with C(.lock) added) must not be symbolic links; a link is
        refused. In check mode the file is read but neither it nor its lock file is created or changed.
      - Falls back to the E(M365D_TOKEN_CACHE) environment variable.
    type: path
  auth:
    description:
      - The RV(secops.m365_defender.token#module:auth) dictionary returned by M(secops.m365_defender.token).
      - When its API, cloud and tenant match this task's and it is valid for more than five minutes, the task
        uses its access token and does not sign in.
      - When it is about to expire and credentials are given, the task signs in again.
      - When its API, cloud or tenant differ from this task's options, it is not used; without credentials the task
        fails naming what differs.
      - M(secops.m365_defender.token) is the exception; it never uses this token and always signs in, taking from
        O(auth) only the settings its own options leave unset.
    type: dict
    suboptions:
      access_token:
        description: The access token.
        type: str
        required: true
      token_type:
        description: The token type.
        type: str
        default: Bearer
      expires_on:
        description: When the token expires, in seconds since the epoch.
        type: int
        required: true
      expires_at:
        description: When the token expires, ISO-8601 in UTC.
        type: str
      api:
        description: The API the token is for.
        type: str
        required: true
        choices: [graph, defender, endpoint]
      cloud:
        description: The cloud the token is for.
        type: str
        required: true
        choices: [global, gcc, gcc_high, dod]
      tenant_id:
        description: The tenant the token was issued in.
        type: str
        required: true
      client_id:
        description: The app the token was issued to.
        type: str
      login_url:
        description: The sign-in endpoint that issued the token.
        type: str
      api_url:
        description: The API's base URL.
        type: str
      resource:
        description: The token's audience.
        type: str
      scope:
        description: The scope that was requested.
        type: str
  login_url:
    description:
      - Replaces the cloud's sign-in endpoint, for example C(https://login.microsoftonline.com).
      - MSAL's instance discovery is turned off for any host that is not Microsoft's.
      - Falls back to the E(M365D_LOGIN_URL) environment variable.
    type: str
  graph_url:
    description:
      - Replaces the cloud's Microsoft Graph endpoint, for example C(https://graph.microsoft.com).
      - The token's scope stays the cloud's.
      - Falls back to the E(M365D_GRAPH_URL) environment variable.
    type: str
  defender_url:
    description:
      - Replaces the cloud's Defender API endpoint, for example a regional one such as
        C(https://api-eu.security.microsoft.com).
      - The token's scope stays the cloud's.
      - It also replaces the Defender for Endpoint API's host (the two APIs share it).
      - Falls back to the E(M365D_DEFENDER_URL) environment variable.
    type: str
  region:
    description:
      - The Defender for Endpoint API's regional host in the global cloud, V(us), V(eu), V(uk), V(au), V(swa) or
        V(ina) (C(https://<region>.api.security.microsoft.com)), which keeps requests in the tenant's data region.
      - Only for the Defender for Endpoint API (C(api=endpoint), which the device modules and the inventory plugin
        always use); the other APIs ignore it. O(defender_url) wins over it.
      - Falls back to the E(M365D_REGION) environment variable; empty means none.
    type: str
  validate_certs:
    description:
      - Whether to verify the TLS certificates of the sign-in and API endpoints.
      - Set to V(false) only for tests; the task then warns.
      - Falls back to the E(M365D_VALIDATE_CERTS) environment variable.
    type: bool
    default: true
  ca_path:
    description:
      - A CA bundle (PEM) to verify the endpoints' certificates with, for example a TLS-inspecting proxy's CA, or
        a folder of hashed CA certificates. A file that does not exist or holds no certificate is refused before
        any request.
      - Takes precedence over E(REQUESTS_CA_BUNDLE) and E(CURL_CA_BUNDLE).
      - Falls back to the E(M365D_CA_PATH) environment variable.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer, from 1 to 3600.
    type: int
    default: 30
  retries:
    description:
      - How many times to retry a request that got HTTP 429, 500, 502, 503 or 504, or no answer.
      - Waits as long as the C(Retry-After) header says, else backs off exponentially.
      - From 0 to 20.
    type: int
    default: 3
notes:
  - Proxies are taken from the E(HTTPS_PROXY) and E(NO_PROXY) environment variables.
  - All modules of this collection are in the action group C(secops.m365_defender.m365_defender), so
    C(module_defaults) can set these options once per play.
requirements:
  - msal
  - requests
"""

    # The same sign-in options for plugins other than modules (the inventory plugin), which document the environment
    # variables they read (env); without the module-only ones (api, cloud, tenant_id, auth, graph_url): a plugin
    # documents those it takes itself. The text is the modules' (tests/unit/plugins/doc_fragments checks it).
    PLUGINS = r"""
options:
  client_id:
    description:
      - The Application (client) ID of the app registration, a GUID; spaces or a line break around it are refused.
      - Falls back to the E(AZURE_CLIENT_ID) environment variable.
    type: str
    env:
      - name: AZURE_CLIENT_ID
  client_secret:
    description:
      - A client secret of the app registration (its Value, not its Secret ID).
      - Falls back to the E(AZURE_CLIENT_SECRET) or E(AZURE_SECRET) environment variables.
    type: str
    env:
      - name: AZURE_CLIENT_SECRET
      - name: AZURE_SECRET
  client_certificate_path:
    description:
      - Path to a PEM file holding the private key and the certificate whose public part is registered
        with the app, or to a PFX (PKCS#12) file holding both.
      - Opened and checked before any request - a damaged file, a wrong O(client_certificate_password), a
        certificate that expired or is not valid yet, or a key that does not belong to the certificate fails the
        task saying so.
      - Falls back to the E(AZURE_CLIENT_CERTIFICATE_PATH) environment variable.
    type: path
    env:
      - name: AZURE_CLIENT_CERTIFICATE_PATH
  client_certificate_password:
    description:
      - Password of an encrypted private key or PFX file in O(client_certificate_path).
      - Falls back to the E(AZURE_CLIENT_CERTIFICATE_PASSWORD) environment variable.
    type: str
    env:
      - name: AZURE_CLIENT_CERTIFICATE_PASSWORD
  federated_token_file:
    description:
      - Workload identity federation. A file holding a token from another identity provider (for example a
        Kubernetes service account token) that the app trusts through a federated credential; read at each
        sign-in.
      - Falls back to the E(AZURE_FEDERATED_TOKEN_FILE) environment variable.
    type: path
    env:
      - name: AZURE_FEDERATED_TOKEN_FILE
  managed_identity_client_id:
    description:
      - The client ID (a GUID) of a user-assigned managed identity to sign in as.
      - For the machine's system-assigned identity set O(auth_flow=managed_identity) and leave this out.
    type: str
  username:
    description:
      - User context. The user principal name to sign in as with O(auth_flow=password), or to pick from
        the token cache.
      - Falls back to the E(AZURE_USERNAME) environment variable.
    type: str
    env:
      - name: AZURE_USERNAME
  password:
    description:
      - User context. The user's password, for O(auth_flow=password).
      - Falls back to the E(AZURE_PASSWORD) environment variable.
    type: str
    env:
      - name: AZURE_PASSWORD
  auth_flow:
    description:
      - How to sign in.
      - V(auto) picks the first flow whose options are given, in this order - V(client_certificate)
        (O(client_certificate_path)), V(client_secret), V(federated_token) (O(federated_token_file)),
        V(password) (O(username) and O(password)), V(managed_identity) (O(managed_identity_client_id)).
        Credentials of two flows given together (for example O(client_secret) and O(client_certificate_path),
        also through their environment variables) are refused rather than one of them ignored; name the flow to
        use one of them.
      - V(device_code) signs a user in with a code entered at Microsoft's sign-in page; only
        M(secops.m365_defender.token) can show the code, other modules and plugins use its sign-in through
        O(token_cache_path).
      - V(managed_identity) without O(managed_identity_client_id) uses the machine's system-assigned identity.
      - Falls back to the E(M365D_AUTH_FLOW) environment variable.
    type: str
    default: auto
    choices: [auto, client_certificate, client_secret, federated_token, password, managed_identity, device_code]
    env:
      - name: M365D_AUTH_FLOW
  token_cache_path:
    description:
      - A file to keep MSAL's token cache in, so that later tasks and runs reuse tokens (and, in user context,
        refresh tokens) instead of signing in again.
      - Created readable only by its owner (0600), written atomically, and locked while in use so that parallel
        forks can share it.
      - The file and its lock file (the same path with C(.lock) added) must not be symbolic links; a link is
        refused. In check mode the file is read but neither it nor its lock file is created or changed.
      - Falls back to the E(M365D_TOKEN_CACHE) environment variable.
    type: path
    env:
      - name: M365D_TOKEN_CACHE
  login_url:
    description:
      - Replaces the cloud's sign-in endpoint, for example C(https://login.microsoftonline.com).
      - MSAL's instance discovery is turned off for any host that is not Microsoft's.
      - Falls back to the E(M365D_LOGIN_URL) environment variable.
    type: str
    env:
      - name: M365D_LOGIN_URL
  defender_url:
    description:
      - Replaces the cloud's Defender API endpoint, for example a regional one such as
        C(https://api-eu.security.microsoft.com).
      - The token's scope stays the cloud's.
      - It also replaces the Defender for Endpoint API's host (the two APIs share it).
      - Falls back to the E(M365D_DEFENDER_URL) environment variable.
    type: str
    env:
      - name: M365D_DEFENDER_URL
  region:
    description:
      - The Defender for Endpoint API's regional host in the global cloud, V(us), V(eu), V(uk), V(au), V(swa) or
        V(ina) (C(https://<region>.api.security.microsoft.com)), which keeps requests in the tenant's data region.
      - Only for the Defender for Endpoint API (C(api=endpoint), which the device modules and the inventory plugin
        always use); the other APIs ignore it. O(defender_url) wins over it.
      - Falls back to the E(M365D_REGION) environment variable; empty means none.
    type: str
    env:
      - name: M365D_REGION
  validate_certs:
    description:
      - Whether to verify the TLS certificates of the sign-in and API endpoints.
      - Set to V(false) only for tests; the task then warns.
      - Falls back to the E(M365D_VALIDATE_CERTS) environment variable.
    type: bool
    default: true
    env:
      - name: M365D_VALIDATE_CERTS
  ca_path:
    description:
      - A CA bundle (PEM) to verify the endpoints' certificates with, for example a TLS-inspecting proxy's CA, or
        a folder of hashed CA certificates. A file that does not exist or holds no certificate is refused before
        any request.
      - Takes precedence over E(REQUESTS_CA_BUNDLE) and E(CURL_CA_BUNDLE).
      - Falls back to the E(M365D_CA_PATH) environment variable.
    type: path
    env:
      - name: M365D_CA_PATH
  timeout:
    description:
      - Seconds to wait for each HTTP answer, from 1 to 3600.
    type: int
    default: 30
  retries:
    description:
      - How many times to retry a request that got HTTP 429, 500, 502, 503 or 504, or no answer.
      - Waits as long as the C(Retry-After) header says, else backs off exponentially.
      - From 0 to 20.
    type: int
    default: 3
notes:
  - Proxies are taken from the E(HTTPS_PROXY) and E(NO_PROXY) environment variables.
requirements:
  - msal
  - requests
"""

    # device_code_timeout is accepted by every module, so that module_defaults for the group can set it, but only
    # the token module waits for a device code sign-in: each module takes the fragment that tells its truth.
    DEVICE_CODE = r"""
options:
  device_code_timeout:
    description:
      - With O(auth_flow=device_code), how many seconds to wait for the user to sign in with the code shown, at
        most the code's own lifetime (1 to 3600).
    type: int
    default: 300
"""

    NO_DEVICE_CODE = r"""
options:
  device_code_timeout:
    description:
      - Not used by this module, which cannot show a device code; M(secops.m365_defender.token) signs in with
        O(auth_flow=device_code) and waits this long. Accepted so that C(module_defaults) for the group can set
        it for every module.
    type: int
    default: 300
"""

    ATTRIBUTES = r"""
attributes:
  action_group:
    description: Use C(group/secops.m365_defender.m365_defender) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - secops.m365_defender.m365_defender
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - When the task's connection is C(local) (the controller, or C(delegate_to=localhost)) and it uses neither
        C(async) nor C(become), the task runs in-process in its action plugin, under the controller's Python; no
        interpreter is started for it, and progress is shown while it works (waits for a rate limit or
        C(Retry-After) of 3 seconds or more at default verbosity, pages read from C(-v) on).
      - Otherwise, or when the variable C(m365d_execution) is V(module) (or the controller's environment variable
        C(M365D_EXECUTION) is), it runs as a module in a Python process of its own on the target.
"""

    UPDATE = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the item and reports what would change, and the item as it would be; sends no write.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Before and after of each changed option, and the comment texts when a comment is added.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: all
    details: >-
      The module runs where the task is delegated, usually the controller (C(ansible_connection=local)), where it
      runs in-process (see the C(action) attribute).
"""

    READ_ONLY = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module never changes anything.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: The module never changes anything.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: all
    details: >-
      The module runs where the task is delegated, usually the controller (C(ansible_connection=local)), where it
      runs in-process (see the C(action) attribute).
"""
