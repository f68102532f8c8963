# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""secops.m365_defender.incidents: an event for each new or updated Microsoft Defender XDR incident.

Polls Microsoft Graph's security incidents (or the Defender XDR API's, with api: defender) for changes since the
last one delivered, in one tenant or several, and puts one event per change on the rulebook's queue:
``event.m365d.kind`` (incident), ``.change`` (created or updated), ``.tenant_id``, ``.id``, ``.last_update`` and
``.incident`` (the incident as the API answered it). docs/eda.md in the collection describes the arguments.

Arguments: the modules' connection options (tenant_id or tenants, client_id, client_secret, client_certificate_path,
login_url, graph_url, ca_path, api, cloud, ...) and their environment variables; interval, jitter, start, lookback,
overlap, state_file, max_backoff, status, severity.

Example:
  sources:
    - secops.m365_defender.incidents:
        tenant_id: "{{ m365d_tenant_id }}"
        interval: 60
        state_file: /var/lib/eda/m365d-incidents.json
        severity: [high, medium]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys


def _importable():
    """ansible-rulebook runs this file by its path: make the collection's package importable from the folder that
    holds ansible_collections/ (seven levels above this file's folder), when the Python path does not reach it."""
    try:
        import ansible_collections.secops.m365_defender.plugins.plugin_utils  # noqa: F401 pylint: disable=unused-import
    except ImportError:
        sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 7)))


async def watch(queue, args, kind):
    """The source of `kind` (incident or alert); secops.m365_defender.alerts runs this too."""
    _importable()
    from ansible_collections.secops.m365_defender.plugins.plugin_utils._event_source import run_source
    await run_source(queue, args, kind)


async def main(queue, args):
    await watch(queue, args, "incident")
