# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Enum names: Graph's metadata members first, Microsoft's other names accepted, and docs and messages agreeing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
import yaml

from ansible_collections.secops.m365_defender.plugins.module_utils._api import (
    DETERMINATION,
    SERVICE_SOURCE,
    STATUS,
    owner,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.modules import incident, incident_info

COLLECTION = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")

# Graph v1.0's members (msgraph-sdk 1.65's models, written out): serviceSource and alertDetermination, without
# unknownFutureValue.
GRAPH_SERVICE_SOURCES = ["unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity",
                         "microsoftDefenderForCloudApps", "microsoftDefenderForOffice365", "microsoft365Defender",
                         "azureAdIdentityProtection", "microsoftAppGovernance", "dataLossPrevention",
                         "microsoftDefenderForCloud", "microsoftSentinel", "microsoftInsiderRiskManagement",
                         "microsoftThreatIntelligence", "microsoftSecurityForAI"]
GRAPH_DETERMINATIONS = ["unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
                        "multiStagedAttack", "compromisedAccount", "phishing", "maliciousUserActivity", "notMalicious",
                        "notEnoughDataToValidate", "confirmedActivity", "lineOfBusinessApplication"]
OTHER_DETERMINATION_NAMES = ("Also accepted: compromisedUser for compromisedAccount, confirmedUserActivity for "
                             "confirmedActivity, insufficientData and NoEnoughDataToValidate for notEnoughDataToValidate, "
                             "clean for notMalicious, NotAvailable for unknown")


@pytest.mark.parametrize("value", [None, "", "  ", "Unassigned", "unassigned", "UNASSIGNED"])
def test_no_owner(value):
    assert owner(value) is None


@pytest.mark.parametrize("value", ["analyst@contoso.com", "Automation", "Unassigned Team"])
def test_an_owner(value):
    assert owner(value) == value


def test_every_graph_service_source_is_known_and_read_as_itself():
    assert SERVICE_SOURCE.names("graph") == sorted(GRAPH_SERVICE_SOURCES)
    for name in GRAPH_SERVICE_SOURCES:
        assert SERVICE_SOURCE.normal(name) == name


@pytest.mark.parametrize("older, name", [
    ("MicrosoftDefenderATP", "microsoftDefenderForEndpoint"),
    ("OfficeATP", "microsoftDefenderForOffice365"),
    ("MicrosoftCloudAppSecurity", "microsoftDefenderForCloudApps"),
])
def test_older_service_source_names_read_as_graphs(older, name):
    assert SERVICE_SOURCE.normal(older) == name
    assert SERVICE_SOURCE.key(older) == SERVICE_SOURCE.key(name)


def test_determinations_are_graphs_members():
    assert DETERMINATION.names("graph") == sorted(GRAPH_DETERMINATIONS)
    assert DETERMINATION.allowed("graph") == sorted(GRAPH_DETERMINATIONS)


@pytest.mark.parametrize("api", ["graph", "defender"])
def test_new_is_active(api):
    assert STATUS.normal("New") == "active"
    assert STATUS.to_api(api, "new") == {"graph": "active", "defender": "Active"}[api]


@pytest.mark.parametrize("api", ["graph", "defender"])
def test_redirected_is_read_but_never_set_and_never_offered_for_setting(api):
    assert STATUS.to_api(api, "redirected") == {"graph": "redirected", "defender": "Redirected"}[api]
    with pytest.raises(InputError) as raised:
        STATUS.to_api(api, "Redirected", write=True)
    assert raised.value.message.startswith("Option 'status' cannot be 'redirected': Defender XDR sets it when it merges")
    with pytest.raises(InputError) as raised:
        STATUS.to_api(api, "closed", write=True)
    assert "redirected" not in raised.value.message
    assert "redirected" not in STATUS.names(api, write=True)


def test_a_message_names_each_value_once_by_graphs_name():
    with pytest.raises(InputError) as raised:
        DETERMINATION.to_api("defender", "evil")
    message = raised.value.message
    assert message.startswith("Option 'determination' got 'evil'; the defender API allows: apt, compromisedAccount, ")
    assert OTHER_DETERMINATION_NAMES.lower() in message.lower()
    for name in ("Clean", "CompromisedAccount", "ConfirmedActivity"):
        assert re.search(r"\b%s\b" % name, message) is None, "the Defender API's spelling is not a second name"


def _text(value):
    return " ".join(value) if isinstance(value, list) else value


def _documented(documentation, *path):
    node = yaml.safe_load(documentation)
    for key in path:
        node = node[key]
    return re.sub(r"\s+", " ", _text(node["description"]))


@pytest.mark.parametrize("documentation, path", [
    (incident.DOCUMENTATION, ("options", "determination")),
    (incident_info.DOCUMENTATION, ("options", "determination")),
])
def test_module_docs_use_graphs_names_and_the_messages_other_names(documentation, path):
    described = _documented(documentation, *path)
    assert OTHER_DETERMINATION_NAMES in described
    assert DETERMINATION.other_names() in described
    for old in ("compromisedUser", "clean", "insufficientData", "confirmedUserActivity"):
        assert "V(%s)" % old not in described, "%s is documented as an accepted other name only" % old


def test_incident_docs_list_every_determination_by_graphs_name():
    described = _documented(incident.DOCUMENTATION, "options", "determination")
    for name in GRAPH_DETERMINATIONS:
        assert "V(%s)" % name in described


def test_role_and_filter_docs_list_the_same_other_names():
    with open(os.path.join(COLLECTION, "plugins", "filter", "triage_plan.yml")) as handle:
        filter_doc = yaml.safe_load(handle)["DOCUMENTATION"]["options"]["rules"]["suboptions"]["match"]["suboptions"]
    with open(os.path.join(COLLECTION, "roles", "incident_triage", "meta", "argument_specs.yml")) as handle:
        role_doc = yaml.safe_load(handle)["argument_specs"]["main"]["options"]["incident_triage_rules"]["options"][
            "match"]["options"]
    for match in (filter_doc, role_doc):
        assert DETERMINATION.other_names() in re.sub(r"\s+", " ", _text(match["determination"]["description"]))
        assert SERVICE_SOURCE.other_names() in re.sub(r"\s+", " ", _text(match["service_source"]["description"]))
