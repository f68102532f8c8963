# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sign-in options of plugins other than modules: the modules' own text, with their environment variables.

A doc fragment holds literal strings only (ansible-test's yamllint reads them without running the code), so the
PLUGINS variant repeats the modules' text; these tests keep the two the same."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import yaml

from ansible_collections.secops.m365_defender.plugins.doc_fragments.auth import ModuleDocFragment
from ansible_collections.secops.m365_defender.plugins.module_utils._module import AUTH_ARGUMENT_SPEC

MODULE_ONLY = ("api", "cloud", "tenant_id", "auth", "graph_url")


def _fragment(name):
    return yaml.safe_load(getattr(ModuleDocFragment, name))


def test_plugins_take_the_modules_options_and_text_less_the_module_only_ones():
    modules = _fragment("DOCUMENTATION")["options"]
    plugins = _fragment("PLUGINS")["options"]
    assert list(plugins) == [name for name in modules if name not in MODULE_ONLY]
    for name, documented in plugins.items():
        assert dict((key, value) for key, value in documented.items() if key != "env") == modules[name], name
    assert _fragment("PLUGINS")["requirements"] == _fragment("DOCUMENTATION")["requirements"]
    assert _fragment("PLUGINS")["notes"] == _fragment("DOCUMENTATION")["notes"][:1]


def test_the_plugins_options_refer_to_no_option_they_lack():
    plugins = _fragment("PLUGINS")["options"]
    referred = set(re.findall(r"O\(([a-z_]+)[=)]", ModuleDocFragment.PLUGINS))
    assert referred and referred <= set(plugins)


def test_each_environment_variable_is_the_modules_fallback_in_the_same_order():
    for name, documented in _fragment("PLUGINS")["options"].items():
        fallback = AUTH_ARGUMENT_SPEC[name].get("fallback")
        names = [entry["name"] for entry in documented.get("env", [])]
        assert names == (list(fallback[1]) if fallback else []), name
