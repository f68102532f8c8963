# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The `tenants` option of the controller-side plugins: its shapes, and each tenant's options."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.plugin_utils._tenants import listed_tenants, tenant_params

SHARED = {"tenant_id": "home.example", "client_id": "shared-app", "client_secret": "shared-secret",
          "client_certificate_path": None, "client_certificate_password": "shared-password",
          "federated_token_file": None, "timeout": 30}


def test_tenants_in_the_order_given_with_their_own_options_null_ones_dropped():
    params = {"tenant_id": "home.example", "tenants": [
        "contoso.example", {"tenant_id": "fabrikam.example", "client_id": "own-app", "client_secret": None}]}
    assert listed_tenants(params) == [("contoso.example", {"tenant_id": "contoso.example"}),
                                      ("fabrikam.example", {"tenant_id": "fabrikam.example", "client_id": "own-app"})]


def test_without_tenants_the_tenant_id_alone():
    assert listed_tenants({"tenant_id": "home.example", "tenants": None}) == [
        ("home.example", {"tenant_id": "home.example"})]


@pytest.mark.parametrize("params, words", [
    ({}, ["'tenant_id' (or 'tenants'"]),
    ({"tenants": [42]}, ["item 1", "got 42"]),
    ({"tenants": ["a.example", {"client_id": "x"}]}, ["item 2", "a dict with client_id"]),
    ({"tenants": [{"tenant_id": "a.example", "secret": "hidden-value"}]}, ["item 1", "secret, tenant_id"]),
    ({"tenants": ["a.example", "b.example", "A.Example"]}, ["A.Example twice (items 1 and 3)"]),
])
def test_entries_of_another_shape_are_refused_naming_the_item(params, words):
    with pytest.raises(InputError) as raised:
        listed_tenants(params)
    for word in words:
        assert word in str(raised.value)
    assert "hidden-value" not in str(raised.value)


def test_a_tenant_without_credentials_of_its_own_takes_the_shared_ones():
    own = {"tenant_id": "contoso.example", "client_id": "own-app"}
    options = tenant_params(dict(SHARED, tenants=["contoso.example"]), own)
    assert options == dict(SHARED, tenant_id="contoso.example", client_id="own-app", tenants=None)


@pytest.mark.parametrize("own", [{"client_secret": "own-secret"}, {"client_certificate_path": "/own.pem"},
                                 {"federated_token_file": "/own.token"}])
def test_a_tenant_with_a_credential_of_its_own_takes_none_of_the_shared_ones(own):
    options = tenant_params(SHARED, dict(own, tenant_id="contoso.example"))
    credentials = dict((name, options[name]) for name in ("client_secret", "client_certificate_path",
                                                          "client_certificate_password", "federated_token_file"))
    assert credentials == dict(dict.fromkeys(credentials), **own)
    assert (options["client_id"], options["timeout"]) == ("shared-app", 30)
