# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""validated_options: the controller side checks the shared options exactly as a module does."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from ansible.errors import AnsibleError

from ansible_collections.secops.m365_defender.plugins.module_utils._module import AUTH_ARGUMENT_SPEC, DefenderModule
from ansible_collections.secops.m365_defender.plugins.plugin_utils._options import validated_options
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import set_module_args


def module_params(args):
    with set_module_args(args):
        module = DefenderModule(argument_spec={})
    module.session.close()
    return module.params


@pytest.mark.parametrize("args", [
    {"tenant_id": TENANT, "client_id": CLIENT, "auth_flow": "device_code"},
    {"tenant_id": TENANT, "client_id": CLIENT, "auth_flow": "device_code", "timeout": "45", "validate_certs": "no",
     "device_code_timeout": "120", "token_cache_path": "~/m365d/cache.json"},
    {"auth": {"access_token": "a.b.c", "expires_on": "1764151200", "api": "defender", "cloud": "gcc", "tenant_id": TENANT}},
])
def test_same_values_as_a_module_gets(args):
    assert validated_options(args, AUTH_ARGUMENT_SPEC) == module_params(args)


def test_defaults_conversions_and_paths():
    options = validated_options({"tenant_id": TENANT, "timeout": "45", "validate_certs": "false",
                                 "token_cache_path": "~/cache.json"}, AUTH_ARGUMENT_SPEC)
    assert options["timeout"] == 45 and options["validate_certs"] is False
    assert (options["retries"], options["device_code_timeout"], options["auth_flow"], options["api"]) == (3, 300, "auto", None)
    assert options["token_cache_path"] == os.path.expanduser("~/cache.json")
    assert options["client_secret"] is None


def test_environment_fallbacks(monkeypatch):
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("M365D_AUTH_FLOW", "device_code")
    monkeypatch.setenv("M365D_TOKEN_CACHE", "/var/cache/m365d.json")
    options = validated_options({"api": "defender"}, AUTH_ARGUMENT_SPEC)
    assert (options["tenant_id"], options["client_id"], options["auth_flow"]) == (TENANT, CLIENT, "device_code")
    assert options["token_cache_path"] == "/var/cache/m365d.json"


def test_the_args_are_not_changed():
    args = {"tenant_id": TENANT, "timeout": "45"}
    validated_options(args, AUTH_ARGUMENT_SPEC)
    assert args == {"tenant_id": TENANT, "timeout": "45"}


@pytest.mark.parametrize("args, words", [
    ({"timeout": "soon"}, ["timeout", "int"]),
    ({"auth_flow": "browser"}, ["auth_flow", "browser", "device_code"]),
    ({"client_secrets": "typo", "tenant": "x"}, ["client_secrets", "tenant"]),
    ({"auth": {"access_token": "a.b.c"}}, ["expires_on", "api", "cloud", "tenant_id"]),
])
def test_every_problem_is_named(args, words):
    with pytest.raises(AnsibleError) as raised:
        validated_options(args, AUTH_ARGUMENT_SPEC)
    for word in words:
        assert word in str(raised.value)


def test_problems_are_all_listed_at_once():
    with pytest.raises(AnsibleError) as raised:
        validated_options({"timeout": "soon", "auth_flow": "browser"}, AUTH_ARGUMENT_SPEC)
    message = str(raised.value)
    assert "timeout" in message and "browser" in message
    assert "; " in message


def test_the_controller_side_checks_the_same_way():
    with pytest.raises(AnsibleError) as raised:
        validated_options({"tenant_id": TENANT, "client_id": {"id": CLIENT}}, AUTH_ARGUMENT_SPEC)
    assert "Option 'client_id' must be a string, got a dictionary" in str(raised.value)
