# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: machines
short_description: Microsoft Defender for Endpoint devices as inventory hosts
version_added: 1.0.0
description:
  - Makes a host of every device of one or more tenants in the Defender for Endpoint API (C(/api/machines)),
    with the device's properties as host variables, and groups and variables from O(keyed_groups), O(groups) and
    O(compose).
  - Reads a YAML configuration file whose name ends with C(m365d_machines.yml) or C(m365d_machines.yaml).
  - Takes the modules' sign-in options and their environment variables (C(AZURE_TENANT_ID), C(AZURE_CLIENT_ID),
    C(AZURE_CLIENT_SECRET), C(M365D_*), ...), checked as the modules check them, so that the collection's AWX
    credential type serves an inventory source unchanged. Every option is checked before any request; an unknown
    option, a wrong value or missing credentials fail the source naming the option.
  - The filters are those of M(secops.m365_defender.machine_info) and are applied by the API. Every page is read,
    paced below Microsoft's 100 calls a minute and 1,500 an hour per tenant.
  - "Each device's properties become host variables named C(m365d_) and the property in snake case, its id
    C(m365d_machine_id), with C(m365d_tenant_id), the tenant it was read from as configured: for example
    C(m365d_computer_dns_name), C(m365d_os_platform), C(m365d_os_version), C(m365d_health_status),
    C(m365d_risk_score), C(m365d_exposure_level), C(m365d_machine_tags), C(m365d_last_ip_address),
    C(m365d_last_seen), C(m365d_onboarding_status), C(m365d_rbac_group_name), C(m365d_aad_device_id). Values
    are as the API gives them, nested ones too (C(m365d_ip_addresses))."
  - The plugin makes no group of its own; O(keyed_groups) and O(groups) make them from these variables (see the
    examples), so that every group name is one the configuration chose.
  - A tenant that cannot be read (no consent, a permission missing, sign-in refused, the API failing after its
    retries) is left out with a warning that names it and says why; the other tenants' devices are still hosts.
    With O(fail_on_tenant_error=true) the source fails instead. When no tenant could be read the source always
    fails, so that an empty answer never passes for a tenant without devices.
author:
  - secops.m365_defender contributors (@secops)
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - secops.m365_defender.auth.plugins
  - secops.m365_defender.machine_filters
options:
  plugin:
    description: The name of this plugin; the file is read only when it says so.
    required: true
    type: str
    choices: [secops.m365_defender.machines]
  tenant_id:
    description:
      - The directory (tenant) ID, a GUID, or a verified domain of the tenant to read devices from, when
        O(tenants) is not given. A value with spaces or a line break around it is refused.
    type: str
    env:
      - name: AZURE_TENANT_ID
      - name: AZURE_TENANT
  tenants:
    description:
      - Several tenants to read, in this order; each device gets C(m365d_tenant_id), the tenant as listed here.
      - Each item is a tenant id (a GUID or a verified domain), or a dictionary with C(tenant_id) and, for a tenant
        that signs in with credentials of its own (an app registration per customer), any of C(client_id),
        C(client_secret), C(client_certificate_path), C(client_certificate_password), C(federated_token_file).
        Options not given for a tenant are the shared ones; a tenant that gives a C(client_secret),
        C(client_certificate_path) or C(federated_token_file) of its own uses none of the shared credentials.
      - When given, O(tenant_id) (and E(AZURE_TENANT_ID)) is not used. A tenant listed twice is refused.
    type: list
    elements: raw
  cloud:
    description:
      - The national cloud, which decides the sign-in and Defender for Endpoint hosts and the token's scope.
      - If not set, V(global).
    type: str
    choices: [global, gcc, gcc_high, dod]
    env:
      - name: M365D_CLOUD
  name:
    description:
      - Only the device with this DNS name; when no device has it, it is looked for in lower case, and a host name
        without a domain finds the devices whose DNS name is that host name in any domain.
    type: str
  hostname:
    description:
      - What names a device's host.
      - V(computer_dns_name), the device's DNS name as Defender for Endpoint shows it, for example
        C(ws-fin-007.contoso.example).
      - V(short_name), the DNS name up to its first dot, C(ws-fin-007).
      - V(machine_id), the device's id (40 hexadecimal digits), which never changes and is unique everywhere.
      - A device without a DNS name, or whose DNS name holds other characters than letters, digits, C(.), C(-) and
        C(_) or does not begin with a letter or digit, is named by its machine id, with a warning. A Linux device's
        DNS name is the host name its owner set, which could hold Jinja2 or pass for an ssh option.
    type: str
    default: computer_dns_name
    choices: [computer_dns_name, short_name, machine_id]
  duplicate_hostnames:
    description:
      - What to do when several devices, of one tenant or of several, get the same host name (compared in any
        case) - a device onboarded again, or two customers' C(dc01).
      - V(suffix) keeps the name for the device seen last, and names each other one with C(_) and the first 8
        digits of its machine id appended (C(ws-fin-007_1e5bc9d7)), with a warning listing them. Their
        C(m365d_computer_dns_name) still holds the DNS name.
      - V(fail) makes the source fail, naming the devices.
      - Devices are never merged into one host.
    type: str
    default: suffix
    choices: [suffix, fail]
  ansible_host_source:
    description:
      - Which property of the device sets C(ansible_host), the address Ansible connects to.
      - V(computer_dns_name) (C(computerDnsName)), V(last_ip_address) (C(lastIpAddress), the address of the
        device's own network interface), V(last_external_ip_address) (C(lastExternalIpAddress), as the internet
        saw it), or V(none) for no C(ansible_host).
      - A device without that property gets no C(ansible_host), nor does one whose DNS name could not name a host
        (see O(hostname)) or whose address is not an IP address. O(compose) can set C(ansible_host) instead; it wins.
    type: str
    default: computer_dns_name
    choices: [computer_dns_name, last_ip_address, last_external_ip_address, none]
  fail_on_tenant_error:
    description:
      - Whether a tenant that cannot be read fails the whole source, rather than being left out with a warning.
      - Set it where a tenant's devices must not disappear from the inventory because its sign-in or the API
        failed once, for example an AWX inventory source that overwrites hosts.
    type: bool
    default: false
notes:
  - Needs the Defender for Endpoint application permission C(Machine.Read.All) (or C(Machine.ReadWrite.All)) of
    the C(WindowsDefenderATP) application in every tenant, as M(secops.m365_defender.machine_info) does.
  - Options are taken from the configuration file as written; Jinja2 in them is not templated.
  - An inventory source that fails is reported by Ansible as a warning ("Failed to parse ...") and gives no hosts;
    set E(ANSIBLE_INVENTORY_UNPARSED_FAILED=true) to make C(ansible-playbook) and C(ansible-inventory) stop instead.
  - With O(cache=true) the devices of each tenant read are kept by the cache plugin, and a later run within
    O(cache_timeout) makes no request for them. A cache written for other tenants, filters or endpoints is not
    used. A tenant that could not be read is not cached; the next run asks again.
seealso:
  - module: secops.m365_defender.machine_info
  - module: secops.m365_defender.machine_action
"""

EXAMPLES = r"""
# contoso.m365d_machines.yml: credentials from AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET
plugin: secops.m365_defender.machines
health_status: [Active]
keyed_groups:
  - key: m365d_risk_score | lower
    prefix: risk
  - key: m365d_os_platform | lower
    prefix: os
  - key: m365d_machine_tags | map('lower')
    prefix: tag

# Another file, customers.m365d_machines.yml: several tenants, one with an app of its own, short host names
# plugin: secops.m365_defender.machines
# client_id: 61be00bb-993c-413b-b642-7b204fca020c
# tenants:
#   - contoso.onmicrosoft.com
#   - tenant_id: fabrikam.onmicrosoft.com
#     client_id: 0d3a7c55-1c2e-4f57-9a0b-2b9f0c8e4d11
#     client_certificate_path: /etc/ansible/certs/fabrikam.pem
# hostname: short_name
# last_seen_after: 7d
# keyed_groups:
#   - key: m365d_tenant_id
#     prefix: tenant
# groups:
#   servers: m365d_os_platform is match('WindowsServer')
# compose:
#   ansible_host: m365d_last_ip_address
#   ansible_connection: "'winrm' if m365d_os_platform is match('Windows') else 'ssh'"

# Another file, kept for an hour by the jsonfile cache plugin: a second run within the hour makes no request
# plugin: secops.m365_defender.machines
# tenant_id: contoso.onmicrosoft.com
# cache: true
# cache_plugin: ansible.builtin.jsonfile
# cache_connection: ~/.cache/m365d-inventory
# cache_timeout: 3600
"""

import hashlib
import json

from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.secops.m365_defender.plugins.module_utils._auth import no_credentials_error, select_flow
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import M365DefenderError, redact
from ansible_collections.secops.m365_defender.plugins.module_utils._machines import (
    MACHINES,
    MachineQuery,
    read_machines,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._module import (
    AUTH_ARGUMENT_SPEC,
    INSECURE_WARNING,
    Session,
)
from ansible_collections.secops.m365_defender.plugins.modules import machine_info
from ansible_collections.secops.m365_defender.plugins.plugin_utils._machine_hosts import (
    ANSIBLE_HOST_FIELDS,
    DUPLICATE_CHOICES,
    HOSTNAME_CHOICES,
    DeviceHost,
    named_hosts,
)
from ansible_collections.secops.m365_defender.plugins.plugin_utils._options import validated_options
from ansible_collections.secops.m365_defender.plugins.plugin_utils._tenants import listed_tenants, tenant_params

try:
    from ansible.template import trust_as_template  # noqa: F401  pylint: disable=unused-import
except ImportError:  # ansible-core before 2.19 templates any string that is not marked unsafe
    from ansible.utils.unsafe_proxy import wrap_var as untrusted
else:  # ansible-core 2.19 and later template only what is marked trusted, which the API's text is not
    def untrusted(value):
        return value

try:
    from ansible.parsing.vault import EncryptedString as VAULTED  # ansible-core 2.19 and later
except ImportError:
    from ansible.parsing.yaml.objects import AnsibleVaultEncryptedUnicode as VAULTED

# The device filters of machine_info (not machine_id or limit: an inventory lists every device that matches).
FILTERS = ("health_status", "risk_score", "exposure_level", "onboarding_status", "os_platform", "tag",
           "last_seen_after", "name")
# The modules' options this plugin does without: it always reads the Defender for Endpoint API, signs in itself
# rather than take a token from secops.m365_defender.token, and cannot show a device code.
NOT_TAKEN = ("api", "auth", "graph_url", "device_code_timeout")
API = machine_info.API
ARGUMENT_SPEC = dict((name, spec) for name, spec in AUTH_ARGUMENT_SPEC.items() if name not in NOT_TAKEN)
ARGUMENT_SPEC.update((name, machine_info.ARGUMENT_SPEC[name]) for name in FILTERS)
ARGUMENT_SPEC.update(
    tenants=dict(type="list", elements="raw"),
    hostname=dict(type="str", default="computer_dns_name", choices=list(HOSTNAME_CHOICES)),
    duplicate_hostnames=dict(type="str", default="suffix", choices=list(DUPLICATE_CHOICES)),
    ansible_host_source=dict(type="str", default="computer_dns_name", choices=sorted(ANSIBLE_HOST_FIELDS)),
    fail_on_tenant_error=dict(type="bool", default=False),
)
# What a cached answer depends on, besides the tenants; a cache written with other values is not used.
CACHE_KEYED_OPTIONS = FILTERS + ("cloud", "login_url", "defender_url", "region")
CACHE_FORMAT = 1


class TenantFailed(Exception):
    """A tenant could not be read; the message names it and says why."""


def _plain(value):
    """The configuration's value with inline-vaulted strings decrypted, as the modules' options get them."""
    if isinstance(value, VAULTED):
        return to_text(value)
    if isinstance(value, dict):
        return dict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "secops.m365_defender.machines"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(
            ("m365d_machines.yml", "m365d_machines.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        config = self._read_config_data(path)
        self.secrets = set()
        params = self._options_from(config, path)
        tenants = self._tenant_sessions(params)
        if params["validate_certs"] is False:
            self.display.warning(INSECURE_WARNING)
        devices = self._devices(tenants, params, path, cache)
        self._add_hosts(devices, params)

    def _options_from(self, config, path):
        """The options as the modules check them (environment fallbacks included), from the file as written."""
        unknown = sorted(str(name) for name in config if name not in self._options)
        if unknown:
            raise AnsibleParserError("%s: unknown option(s) %s in %s; ansible-doc -t inventory %s lists the options."
                                     % (self.NAME, ", ".join(unknown), path, self.NAME))
        args = dict((name, _plain(value)) for name, value in config.items() if name in ARGUMENT_SPEC)
        try:
            params = validated_options(args, ARGUMENT_SPEC)
        except AnsibleError as exc:
            raise AnsibleParserError("%s: %s" % (self.NAME, to_text(exc.message)))
        self.secrets.update(self._no_log_values(params))
        return params

    def _no_log_values(self, params):
        return set(params.get(name) for name, spec in ARGUMENT_SPEC.items() if spec.get("no_log") and params.get(name))

    def _tenant_sessions(self, params):
        """[(tenant id, its Session)]; every tenant's options checked before any request."""
        try:
            self.query_params = dict((name, params[name]) for name in FILTERS)
            MachineQuery(MACHINES, self.query_params)
            sessions = []
            for tenant_id, own in listed_tenants(params):
                session = Session(dict(self._tenant_params(params, tenant_id, own), api=API),
                                  progress=self._progress(tenant_id))
                if select_flow(session.connection.options) is None:
                    raise no_credentials_error()
                sessions.append((tenant_id, session))
            return sessions
        except M365DefenderError as exc:
            raise AnsibleParserError("%s: %s" % (self.NAME, self._shown(exc)))

    def _tenant_params(self, params, tenant_id, own):
        """The tenant's options; its own credentials checked as the shared ones are."""
        try:
            own = validated_options(own, dict((name, ARGUMENT_SPEC[name]) for name in own))
        except AnsibleError as exc:
            raise AnsibleParserError("%s: tenant %s in 'tenants': %s" % (self.NAME, tenant_id, to_text(exc.message)))
        self.secrets.update(self._no_log_values(own))
        return tenant_params(params, own)

    def _progress(self, tenant_id):
        """Waits (rate limits, Retry-After) at default verbosity, pages from -v on; on stderr, since
        ansible-inventory writes the inventory to stdout."""
        def show(message, verbose=False):
            if verbose and self.display.verbosity < 1:
                return
            self.display.display("%s: tenant %s: %s" % (self.NAME, tenant_id, self._shown(message)),
                                 color=C.COLOR_VERBOSE, stderr=True)
        return show

    def _shown(self, text):
        return remove_values(redact(to_text(text)), self.secrets)

    def _devices(self, tenants, params, path, cache):
        """[DeviceHost] of every tenant that could be read: from the cache when it holds the tenant's, else from
        the API (then cached, when caching is on)."""
        use_cache = self.get_option("cache")
        cache_key = self.get_cache_key(path)
        fingerprint = self._fingerprint(params)
        cached = self._cached(cache_key, fingerprint) if use_cache and cache else {}
        read = {}
        try:
            for tenant_id, session in tenants:
                if tenant_id in cached:
                    session.progress("%d device(s) from the cache" % len(cached[tenant_id]), True)
                    read[tenant_id] = cached[tenant_id]
                    continue
                try:
                    read[tenant_id] = self._read_tenant(tenant_id, session)
                except TenantFailed as exc:
                    if params["fail_on_tenant_error"]:
                        raise AnsibleParserError("%s: %s (fail_on_tenant_error is true)" % (self.NAME, exc))
                    self.display.warning("%s: %s; its devices are left out." % (self.NAME, exc))
        finally:
            for _tenant_id, session in tenants:
                session.close()
        if not read:
            raise AnsibleParserError("%s: no tenant could be read (see the warnings above); no hosts." % self.NAME)
        if use_cache and read != cached:
            self._cache[cache_key] = {"format": CACHE_FORMAT, "fingerprint": fingerprint, "tenants": read}
        return [DeviceHost(tenant_id, device) for tenant_id, _session in tenants
                for device in read.get(tenant_id, ())]

    def _read_tenant(self, tenant_id, session):
        try:
            devices = read_machines(session.client, self.query_params).items
        except M365DefenderError as exc:
            raise TenantFailed("tenant %s could not be read: %s" % (tenant_id, self._shown(exc)))
        except Exception as exc:  # pylint: disable=broad-except
            raise AnsibleParserError(self._shown("%s: unexpected %s while reading tenant %s: %s" % (
                self.NAME, type(exc).__name__, tenant_id, exc)))
        finally:
            self.secrets.update(session.secrets)
            for warning in session.warnings():
                if warning != INSECURE_WARNING:
                    self.display.warning("%s: tenant %s: %s" % (self.NAME, tenant_id, self._shown(warning)))
        session.progress("%d device(s) in %d page(s)" % (len(devices), session.client.pages_read), True)
        return devices

    @staticmethod
    def _fingerprint(params):
        keyed = dict((name, params.get(name)) for name in CACHE_KEYED_OPTIONS)
        keyed["tenants"] = [tenant_id.lower() for tenant_id, _own in listed_tenants(params)]
        return hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode("utf-8")).hexdigest()

    def _cached(self, cache_key, fingerprint):
        """{tenant id: devices} from the cache, when it was written with the same options."""
        try:
            entry = self._cache[cache_key]
        except KeyError:
            return {}
        if not isinstance(entry, dict) or entry.get("format") != CACHE_FORMAT or entry.get("fingerprint") != fingerprint:
            return {}
        return entry.get("tenants") or {}

    def _add_hosts(self, devices, params):
        named, warnings = named_hosts(devices, params["hostname"], params["duplicate_hostnames"])
        for warning in warnings:
            self.display.warning(warning)
        strict = self.get_option("strict")
        for name, host in named:
            name = self.inventory.add_host(name)
            for variable, value in host.variables(params["ansible_host_source"]).items():
                self.inventory.set_variable(name, variable, untrusted(value))
            variables = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(self.get_option("compose"), variables, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), variables, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, name, strict=strict)
