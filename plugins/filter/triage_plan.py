# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The triage_plan filter: what triage rules would change on incidents (documentation in triage_plan.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import M365DefenderError
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import parse_time_option
from ansible_collections.secops.m365_defender.plugins.module_utils._triage import triage_plan as plan


def triage_plan(incidents, rules, api="graph", tenant_id=None, cloud="global", now=None, status=None,
                created_after=None):
    try:
        moment = parse_time_option("now", now) if now else None
        return plan(incidents, rules, api=api, tenant_id=tenant_id, cloud=cloud or "global", now=moment,
                    status=status, created_after=created_after or None)
    except M365DefenderError as exc:
        raise AnsibleFilterError("triage_plan: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"triage_plan": triage_plan}
