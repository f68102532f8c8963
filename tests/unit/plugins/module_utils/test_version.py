# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

from ansible_collections.secops.m365_defender.plugins.module_utils._version import COLLECTION_VERSION, USER_AGENT

GALAXY_YML = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "galaxy.yml")


def galaxy():
    with open(GALAXY_YML) as handle:
        return yaml.safe_load(handle)


def test_collection_version_equals_galaxy_yml():
    assert COLLECTION_VERSION == str(galaxy()["version"])


def test_user_agent_names_the_collection_and_its_version():
    data = galaxy()
    assert USER_AGENT == "%s.%s/%s" % (data["namespace"], data["name"], data["version"])
