# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The incident_query filter: incident_info's filter options checked on the controller, before any request
(documentation in incident_query.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.secops.m365_defender.plugins.module_utils._api import FLAVOURS
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import M365DefenderError
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import (
    ENUM_FILTERS,
    TIME_FILTERS,
    IncidentQuery,
)

LIST_OPTIONS = tuple(name for name, enum in ENUM_FILTERS)
TIME_OPTIONS = tuple(option for name, option in TIME_FILTERS)


def as_list(value):
    """A list option's items, as Ansible's argument specs read them: a string is split at commas."""
    if value is None:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _checked(option, value, name):
    """The option as incident_info checks it (on Graph, which knows every value either API has)."""
    try:
        query = IncidentQuery(FLAVOURS["graph"], {option: value})
    except M365DefenderError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc.message))
    return query.enums.get(option, value)


def incident_query(options, names=None):
    """The options checked as incident_info checks them, with empty ones left out and lists in Graph's spelling."""
    if not isinstance(options, dict):
        raise AnsibleFilterError("incident_query expects a dictionary of incident_info options, got %s."
                                 % type(options).__name__)
    names = names or {}
    unknown = sorted(str(option) for option in options if option not in LIST_OPTIONS + TIME_OPTIONS)
    if unknown:
        raise AnsibleFilterError("incident_query checks %s; got %s." % (
            ", ".join(LIST_OPTIONS + TIME_OPTIONS), ", ".join(unknown)))
    checked = {}
    for option, value in options.items():
        value = as_list(value) if option in LIST_OPTIONS else value
        if value not in (None, "", []):
            checked[option] = _checked(option, value, names.get(option, option))
    return checked


class FilterModule(object):
    def filters(self):
        return {"incident_query": incident_query}
