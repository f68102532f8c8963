# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""secops.m365_defender.alerts: an event for each new or updated Microsoft Defender XDR alert.

Polls Microsoft Graph's alerts_v2 for changes since the last one delivered, in one tenant or several, and puts one
event per change on the rulebook's queue: ``event.m365d.kind`` (alert), ``.change`` (created or updated),
``.tenant_id``, ``.id``, ``.last_update`` and ``.alert`` (the alert as Graph answered it, with its evidence).
docs/eda.md in the collection describes the arguments.

Arguments: the modules' connection options (tenant_id or tenants, client_id, client_secret, client_certificate_path,
login_url, graph_url, ca_path, api, cloud, ...) and their environment variables; interval, jitter, start, lookback,
overlap, state_file, max_backoff, status, severity, service_source.

Example:
  sources:
    - secops.m365_defender.alerts:
        tenants: "{{ m365d_customer_tenants }}"
        interval: 60
        state_file: /var/lib/eda/m365d-alerts.json
        service_source: [microsoftDefenderForEndpoint]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import runpy

# The sources share one implementation, in incidents.py (ansible-rulebook loads each source file by its path).
INCIDENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "incidents.py")


async def main(queue, args):
    await runpy.run_path(INCIDENTS)["watch"](queue, args, "alert")
