# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The `tenants` option of the controller-side plugins that read several tenants in one run: a list of tenant ids,
or of dicts with tenant_id and that tenant's own credentials (an app registration per customer)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError

# Credentials a tenant of `tenants` may set for itself; every other option is shared by all tenants.
TENANT_OPTIONS = ("tenant_id", "client_id", "client_secret", "client_certificate_path",
                  "client_certificate_password", "federated_token_file")
# A tenant that gives one of these signs in with it alone: the shared credentials are not used for it.
OWN_CREDENTIALS = ("client_secret", "client_certificate_path", "federated_token_file")
SHARED_CREDENTIALS = OWN_CREDENTIALS + ("client_certificate_password",)


def listed_tenants(params):
    """[(tenant id, that tenant's own options)] in the order given: from `tenants`, else `tenant_id` alone
    (then with no options of its own). Options left null in a tenant's dict are not its own: the shared ones apply.
    Raises InputError for an entry of another shape, an unknown key, or a tenant listed twice."""
    listed = params.get("tenants") or ([params["tenant_id"]] if params.get("tenant_id") else [])
    if not listed:
        raise InputError("Option 'tenant_id' (or 'tenants', a list of tenant ids or of dicts with tenant_id "
                         "and that tenant's credentials) is required.")
    tenants, seen = [], {}
    for index, entry in enumerate(listed, 1):
        own = _own_options(index, entry)
        tenant_id = str(own["tenant_id"])
        if tenant_id.lower() in seen:
            raise InputError("Option 'tenants' lists tenant %s twice (items %d and %d): list each tenant once."
                             % (tenant_id, seen[tenant_id.lower()], index))
        seen[tenant_id.lower()] = index
        tenants.append((tenant_id, own))
    return tenants


def tenant_params(params, own):
    """One tenant's options: the shared ones with the tenant's own on top. A tenant with a credential of its own
    takes none of the shared ones (say a client secret from AZURE_CLIENT_SECRET beside its own certificate)."""
    options = dict(params, tenants=None)
    if any(own.get(name) for name in OWN_CREDENTIALS):
        options.update((name, None) for name in SHARED_CREDENTIALS)
    options.update(own)
    return options


def _own_options(index, entry):
    own = {"tenant_id": entry} if isinstance(entry, str) else entry
    if isinstance(own, dict):
        own = dict((name, value) for name, value in own.items() if value is not None)
    unknown = sorted(set(own) - set(TENANT_OPTIONS)) if isinstance(own, dict) else None
    if not isinstance(own, dict) or unknown or not own.get("tenant_id"):
        raise InputError("Option 'tenants' item %d must be a tenant id or a dict with tenant_id and optionally %s; "
                         "got %s." % (index, ", ".join(TENANT_OPTIONS[1:]), _shown(own)))
    return own


def _shown(own):
    """What an entry holds, without its values (they may be secrets): the keys of a dict, else the value."""
    if isinstance(own, dict):
        return "a dict with %s" % (", ".join(sorted(str(key) for key in own)) or "no keys")
    return repr(own)
