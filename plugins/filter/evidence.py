# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence filter: the devices, users, files, ... in alerts' evidence as plain lists, the same for either API
(documentation in evidence.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import M365DefenderError
from ansible_collections.secops.m365_defender.plugins.module_utils._evidence import evidence_lists


def evidence(data):
    """evidence_lists(data), its InputError as a filter error."""
    try:
        return evidence_lists(data)
    except M365DefenderError as exc:
        raise AnsibleFilterError(exc.message)


class FilterModule(object):
    def filters(self):
        return {"evidence": evidence}
