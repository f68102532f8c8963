# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The values the unit tests share: tenants, the app, the hosts of the fake services, a device.

Values live here, behaviour in fakes.py (the fake services, `FakeTransport` and the one `Router` that sends each
request to the fake service of its host); fakes.py takes its tenant id from here. The hosts end in `.test`, a
name that never resolves, and no test can reach a network anyway: `FakeTransport` refuses any request it has no
answer for. A test file that needs a different value (a port in a URL, Microsoft's real login host, hostile text)
keeps its own constant and says why.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The tenant most tests sign in to, as a user writes it (a domain name), and its id, the `tid` of its tokens.
TENANT = "contoso.example"
TENANT_ID = "6d9a1c1e-2f43-4b8e-9a0f-0c1b2d3e4f50"
# A second tenant, for what reads several tenants (inventory, reports, event sources).
OTHER_TENANT_ID = "8e7f6a5b-4c3d-4e2f-8a1b-9c8d7e6f5a4b"

# The app registration (client id) the tests sign in as, its secret, and a user-assigned managed identity.
CLIENT = "11111111-2222-3333-4444-555555555555"
SECRET = "Very.Secret~Value-123"
MANAGED_CLIENT = "99999999-8888-7777-6666-555555555555"

# The hosts the tests give as login_url, graph_url and defender_url, and each API's base URL on them.
LOGIN = "https://login.sandbox.test"
GRAPH = "https://graph.sandbox.test"
DEFENDER = "https://defender.sandbox.test"
API_URL = {"graph": GRAPH + "/v1.0", "defender": DEFENDER + "/api"}

# A Defender for Endpoint device id (40 hex digits, as the API gives them).
DEVICE = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"
