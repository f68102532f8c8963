# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.secops.m365_defender.plugins.filter import incident_query as plugin
from ansible_collections.secops.m365_defender.plugins.filter.incident_query import FilterModule, as_list, incident_query

NAMES = {"status": "incident_report_status", "severity": "incident_report_severity",
         "created_after": "incident_report_created_after"}


def test_the_filter_is_registered():
    assert FilterModule().filters() == {"incident_query": incident_query}


def test_any_spelling_of_either_api_comes_back_in_graphs_spelling():
    checked = incident_query({"status": ["Active", "in_progress"], "severity": "High, UnSpecified",
                              "classification": ["TruePositive"], "determination": ["CompromisedAccount"],
                              "created_after": "7d", "updated_after": "2024-05-01T00:00:00Z"})
    assert checked == {"status": ["active", "inProgress"], "severity": ["high", "unknown"],
                       "classification": ["truePositive"], "determination": ["compromisedAccount"],
                       "created_after": "7d", "updated_after": "2024-05-01T00:00:00Z"}


def test_empty_options_are_left_out():
    assert incident_query({"status": [], "severity": "", "created_after": "", "updated_after": None}) == {}


@pytest.mark.parametrize("value, items", [
    ("incident_read", ["incident_read"]),
    ("json,csv", ["json", "csv"]),
    ("json, csv,", ["json", "csv"]),
    (["a", "b"], ["a", "b"]),
    (None, []),
    (5, [5]),
])
def test_a_string_is_split_at_commas_as_argument_specs_split_it(value, items):
    assert as_list(value) == items


@pytest.mark.parametrize("options, named, wrong", [
    ({"status": ["active", "bogus"]}, "incident_report_status", "'bogus'"),
    ({"status": "active,bogus"}, "incident_report_status", "'bogus'"),
    ({"severity": ["critical"]}, "incident_report_severity", "'critical'"),
    ({"created_after": "garbage"}, "incident_report_created_after", "'garbage'"),
    ({"created_after": "999999999w"}, "incident_report_created_after", "'999999999w'"),
    ({"created_after": "0001-01-01T00:00:00Z"}, "incident_report_created_after", "'0001-01-01T00:00:00Z'"),
])
def test_a_bad_value_is_refused_naming_the_variable_and_the_value(options, named, wrong):
    with pytest.raises(AnsibleFilterError) as raised:
        incident_query(options, names=NAMES)
    message = str(raised.value)
    assert message.startswith(named + ": ")
    assert wrong in message


def test_an_allowed_list_is_given_with_a_bad_status():
    with pytest.raises(AnsibleFilterError) as raised:
        incident_query({"status": ["waiting"]})
    assert "status: " in str(raised.value)
    for allowed in ("active", "inProgress", "resolved"):
        assert allowed in str(raised.value)


@pytest.mark.parametrize("options", [["status"], "status=active", None])
def test_anything_but_a_dictionary_is_refused(options):
    with pytest.raises(AnsibleFilterError, match="dictionary of incident_info options"):
        incident_query(options)


def test_an_option_it_does_not_check_is_refused():
    with pytest.raises(AnsibleFilterError, match="got limit"):
        incident_query({"limit": 5})


def test_the_documentation_names_every_option_it_checks():
    with open(os.path.join(os.path.dirname(plugin.__file__), "incident_query.yml")) as handle:
        documented = yaml.safe_load(handle)["DOCUMENTATION"]["options"]["_input"]["suboptions"]
    assert sorted(documented) == sorted(plugin.LIST_OPTIONS + plugin.TIME_OPTIONS)
