# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared auth documentation: device_code_timeout is described as used only where it is used."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
import yaml

from ansible_collections.secops.m365_defender.plugins.doc_fragments.auth import ModuleDocFragment
from ansible_collections.secops.m365_defender.plugins.module_utils._module import AUTH_ARGUMENT_SPEC
from ansible_collections.secops.m365_defender.plugins.modules import (
    app_registration_info,
    hunting_query,
    incident,
    incident_info,
    token,
)

# Only the token module (its action plugin, on the controller) can show a device code and wait for the sign-in.
WAITS_FOR_DEVICE_CODE = {token: True, app_registration_info: False, hunting_query: False, incident: False,
                         incident_info: False}


def _fragment(name):
    return yaml.safe_load(getattr(ModuleDocFragment, name))["options"]


def test_the_shared_fragment_leaves_device_code_timeout_to_the_split_ones():
    assert "device_code_timeout" not in _fragment("DOCUMENTATION")
    assert "device_code_timeout" in AUTH_ARGUMENT_SPEC  # every module accepts it, for module_defaults groups
    for name in ("DEVICE_CODE", "NO_DEVICE_CODE"):
        assert _fragment(name)["device_code_timeout"]["default"] == AUTH_ARGUMENT_SPEC["device_code_timeout"]["default"]
    assert "Not used by this module" in " ".join(_fragment("NO_DEVICE_CODE")["device_code_timeout"]["description"])


@pytest.mark.parametrize("module", sorted(WAITS_FOR_DEVICE_CODE, key=lambda module: module.__name__))
def test_each_module_documents_device_code_timeout_as_it_uses_it(module):
    fragments = yaml.safe_load(module.DOCUMENTATION)["extends_documentation_fragment"]
    wanted = "DEVICE_CODE" if WAITS_FOR_DEVICE_CODE[module] else "NO_DEVICE_CODE"
    assert "secops.m365_defender.auth.%s" % wanted in fragments
    assert len([fragment for fragment in fragments if fragment.endswith("DEVICE_CODE")]) == 1
