# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory plugin secops.m365_defender.machines, from its configuration file to hosts, groups and variables,
against fake sign-in and Defender for Endpoint services of several tenants.

Ansible's own option layer (set_options from the documentation) needs the plugin loaded by FQCN; the integration
target inventory_machines runs it so. Here the configuration file is read with a real DataLoader and the options
get the documented defaults, which is what that layer hands the plugin."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
import yaml
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.parsing import vault
from ansible.parsing.vault import VaultLib, VaultSecret
from ansible.plugins.doc_fragments.constructed import ModuleDocFragment as ConstructedFragment
from ansible.plugins.doc_fragments.inventory_cache import ModuleDocFragment as CacheFragment

from ansible_collections.secops.m365_defender.plugins.doc_fragments.auth import ModuleDocFragment as AuthFragment
from ansible_collections.secops.m365_defender.plugins.doc_fragments.machine_filters import (
    ModuleDocFragment as FiltersFragment,
)
from ansible_collections.secops.m365_defender.plugins.inventory import machines
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import (
    CLIENT,
    DEFENDER,
    LOGIN,
    SECRET,
    TENANT_ID,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    FakeEntra,
    entra_error,
    make_jwt,
    make_response,
)

# Tenants by name: Contoso by its id (the shared one), Fabrikam and Northwind by domain.
CONTOSO = TENANT_ID
FABRIKAM = "fabrikam.example"
NORTHWIND = "northwind.example"
# A tenant's own app and secret (a `tenants` entry with credentials), beside the shared ones.
OTHER_CLIENT = "22222222-3333-4444-5555-666666666666"
OWN_SECRET = "Fabrikam-Own-Secret~456"
ENDPOINT_SCOPE = "https://api.securitycenter.microsoft.com/.default"


def device(number, name, **fields):
    machine = {"id": "%040x" % number, "computerDnsName": name, "osPlatform": "Windows11", "osVersion": "10.0",
               "healthStatus": "Active", "riskScore": "High", "exposureLevel": "Medium", "machineTags": ["VIP"],
               "lastIpAddress": "10.0.0.%d" % number, "lastExternalIpAddress": "203.0.113.%d" % number,
               "lastSeen": "2026-11-26T10:00:%02dZ" % number, "onboardingStatus": "Onboarded",
               "rbacGroupName": "Finance", "aadDeviceId": "a%07d-0000-0000-0000-000000000000" % number,
               "ipAddresses": [{"ipAddress": "10.0.0.%d" % number, "macAddress": "00AA%08d" % number}],
               "vmMetadata": None}
    machine.update(fields)
    return machine


DEVICES = {
    CONTOSO: [device(1, "ws-fin-001.contoso.example"),
              device(2, "srv-app-002.contoso.example", osPlatform="WindowsServer2022", riskScore="Low",
                     machineTags=[])],
    FABRIKAM: [device(3, "ws-hr-003.fabrikam.example", riskScore="Medium", machineTags=["Finance", "VIP"])],
    NORTHWIND: [device(4, "ws-004.northwind.example")],
}


def token_of(tenant):
    return make_jwt({"aud": "https://api.securitycenter.microsoft.com", "tid": tenant, "roles": ["Machine.Read.All"]})


class Entra(object):
    """The sign-in of several tenants on one host: each tenant's FakeEntra by the path's first segment."""

    def __init__(self, tenants, refused=None):
        self.tenants = dict((tenant, FakeEntra(LOGIN, tenant, access_token=token_of(tenant))) for tenant in tenants)
        for tenant, answer in (refused or {}).items():
            self.tenants[tenant].token_answer = answer

    def __call__(self, seen):
        return self.tenants[seen.path.split("/")[1]](seen)

    def token_requests(self, tenant):
        return self.tenants[tenant].token_requests


class MachinesApi(object):
    """GET /api/machines of several tenants, told apart by their token; `refuse` maps a tenant to its answer."""

    def __init__(self, devices, refuse=None):
        self.by_token = dict((token_of(tenant), (tenant, items)) for tenant, items in devices.items())
        self.refuse = dict(refuse or {})
        self.queries = []

    def __call__(self, seen):
        tenant, items = self.by_token[seen.headers["Authorization"].split(" ", 1)[1]]
        self.queries.append((tenant, seen.path, dict(seen.query)))
        if tenant in self.refuse:
            return self.refuse[tenant]
        return make_response(200, {"@odata.context": DEFENDER + "/api/$metadata#Machines", "value": items})

    def tenants_read(self):
        return [tenant for tenant, _path, _query in self.queries]


class Services(object):
    """What the plugin reaches, by host; nothing else answers."""

    def __init__(self, transport, tenants=(CONTOSO, FABRIKAM), refused=None, refuse=None, devices=None):
        self.entra = Entra(tenants, refused)
        self.api = MachinesApi(devices or DEVICES, refuse)
        transport.handler = self

    def __call__(self, seen):
        return {"login.sandbox.test": self.entra, "defender.sandbox.test": self.api}[seen.host](seen)


class Display(object):
    def __init__(self, verbosity=0):
        self.verbosity = verbosity
        self.warnings = []
        self.shown = []
        self.on_stdout = []

    def warning(self, message):
        self.warnings.append(message)

    def display(self, message, color=None, stderr=False):  # pylint: disable=unused-argument
        self.shown.append(message)
        if not stderr:
            self.on_stdout.append(message)

    def vvv(self, message, host=None):  # pylint: disable=unused-argument
        self.shown.append(message)


def documented_defaults():
    """{option: default} of every option the plugin documents, its fragments' included."""
    options = {}
    for text in (ConstructedFragment.DOCUMENTATION, CacheFragment.DOCUMENTATION, AuthFragment.PLUGINS,
                 FiltersFragment.DOCUMENTATION, machines.DOCUMENTATION):
        for name, spec in yaml.safe_load(text)["options"].items():
            options[name] = spec.get("default")
    return options


class Harness(object):
    """Writes a configuration file and parses it as ansible-inventory would, with a cache that outlives a run."""

    def __init__(self, tmp_path, vault_password=None, verbosity=0):
        self.tmp_path = tmp_path
        self.cache = {}
        self.vault_password = vault_password
        self.verbosity = verbosity
        self.display = None

    def run(self, config, name="test.m365d_machines.yml", cache=True):
        path = self.tmp_path / name
        path.write_text(config if isinstance(config, str) else yaml.safe_dump(config), encoding="utf-8")
        plugin = machines.InventoryModule()
        plugin.ansible_name = plugin._load_name = plugin.NAME  # what the plugin loader sets
        plugin.display = self.display = Display(self.verbosity)
        plugin._cache = self.cache
        loader = DataLoader()
        if self.vault_password:
            loader.set_vault_secrets([("default", VaultSecret(self.vault_password))])

        def read_config_data(path):
            try:  # ansible-core 2.19 and later trust the configuration's templates (compose, keyed_groups)
                data = loader.load_from_file(path, cache="none", trusted_as_template=True)
            except TypeError:
                data = loader.load_from_file(path, cache="none")
            options = documented_defaults()  # ansible sets the documented options only
            plugin._options = dict((name, data.get(name, default)) for name, default in options.items())
            return data

        plugin._read_config_data = read_config_data
        inventory = InventoryData()
        plugin.parse(inventory, loader, str(path), cache=cache)
        return inventory


@pytest.fixture
def harness(tmp_path):
    return Harness(tmp_path)


def config(**options):
    base = {"plugin": "secops.m365_defender.machines", "tenants": [CONTOSO, FABRIKAM], "client_id": CLIENT,
            "client_secret": SECRET, "login_url": LOGIN, "defender_url": DEFENDER}
    base.update(options)
    return dict((name, value) for name, value in base.items() if value is not None)


def host_vars(inventory, name):
    return inventory.get_host(name).get_vars()


def group_hosts(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts()) if group in inventory.groups else []


# --- the file --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, taken", [
    ("contoso.m365d_machines.yml", True), ("m365d_machines.yaml", True), ("contoso.m365d_machines.yml.bak", False),
    ("machines.yml", False), ("inventory.yml", False),
])
def test_only_files_named_for_the_plugin_are_read(tmp_path, name, taken):
    path = tmp_path / name
    path.write_text(u"plugin: secops.m365_defender.machines\n", encoding="utf-8")
    assert machines.InventoryModule().verify_file(str(path)) is taken


# --- hosts and variables ---------------------------------------------------------------------------------------------

def test_every_device_of_every_tenant_is_a_host_with_its_properties(transport, harness):
    services = Services(transport)
    inventory = harness.run(config(health_status=["active"], risk_score=["high", "medium"]))
    assert sorted(inventory.hosts) == ["srv-app-002.contoso.example", "ws-fin-001.contoso.example",
                                       "ws-hr-003.fabrikam.example"]
    variables = host_vars(inventory, "ws-fin-001.contoso.example")
    wanted = {"m365d_machine_id": "%040x" % 1, "m365d_tenant_id": CONTOSO,
              "m365d_computer_dns_name": "ws-fin-001.contoso.example", "m365d_os_platform": "Windows11",
              "m365d_os_version": "10.0", "m365d_health_status": "Active", "m365d_risk_score": "High",
              "m365d_exposure_level": "Medium", "m365d_machine_tags": ["VIP"], "m365d_last_ip_address": "10.0.0.1",
              "m365d_last_seen": "2026-11-26T10:00:01Z", "m365d_onboarding_status": "Onboarded",
              "m365d_rbac_group_name": "Finance", "m365d_aad_device_id": "a0000001-0000-0000-0000-000000000000",
              "m365d_last_external_ip_address": "203.0.113.1", "m365d_vm_metadata": None,
              "m365d_ip_addresses": [{"ipAddress": "10.0.0.1", "macAddress": "00AA00000001"}],
              "ansible_host": "ws-fin-001.contoso.example"}
    assert dict((name, variables[name]) for name in wanted) == wanted
    assert host_vars(inventory, "ws-hr-003.fabrikam.example")["m365d_tenant_id"] == FABRIKAM
    assert services.api.tenants_read() == [CONTOSO, FABRIKAM]
    assert set(path for _tenant, path, _query in services.api.queries) == {"/api/machines"}
    assert services.api.queries[0][2]["$filter"] == (
        "healthStatus eq 'Active' and (riskScore eq 'High' or riskScore eq 'Medium')")
    for tenant in (CONTOSO, FABRIKAM):
        [request] = services.entra.token_requests(tenant)
        assert request.form["scope"] == ENDPOINT_SCOPE and request.form["client_secret"] == SECRET
    assert harness.display.warnings == []


def test_keyed_groups_groups_and_compose_apply_to_the_device_variables(transport, harness):
    Services(transport)
    inventory = harness.run(config(
        keyed_groups=[{"key": "m365d_risk_score | lower", "prefix": "risk"},
                      {"key": "m365d_machine_tags | map('lower')", "prefix": "tag"}],
        groups={"servers": "m365d_os_platform is match('WindowsServer')"},
        compose={"ansible_host": "m365d_last_ip_address", "tenant_short": "m365d_tenant_id[:8]"}))
    assert group_hosts(inventory, "risk_high") == ["ws-fin-001.contoso.example"]
    assert group_hosts(inventory, "risk_medium") == ["ws-hr-003.fabrikam.example"]
    assert group_hosts(inventory, "tag_vip") == ["ws-fin-001.contoso.example", "ws-hr-003.fabrikam.example"]
    assert group_hosts(inventory, "tag_finance") == ["ws-hr-003.fabrikam.example"]
    assert group_hosts(inventory, "servers") == ["srv-app-002.contoso.example"]
    assert host_vars(inventory, "srv-app-002.contoso.example")["ansible_host"] == "10.0.0.2"
    assert host_vars(inventory, "ws-fin-001.contoso.example")["tenant_short"] == CONTOSO[:8]


def test_no_group_is_made_without_configuration(transport, harness):
    Services(transport)
    inventory = harness.run(config())
    assert sorted(inventory.groups) == ["all", "ungrouped"]


@pytest.mark.parametrize("hostname, names", [
    ("short_name", ["srv-app-002", "ws-fin-001", "ws-hr-003"]),
    ("machine_id", ["%040x" % 1, "%040x" % 2, "%040x" % 3]),
])
def test_the_host_name_option(transport, harness, hostname, names):
    Services(transport)
    inventory = harness.run(config(hostname=hostname))
    assert sorted(inventory.hosts) == names


@pytest.mark.parametrize("source, address", [
    ("last_ip_address", "10.0.0.1"), ("last_external_ip_address", "203.0.113.1"), ("none", None),
])
def test_ansible_host_comes_from_the_property_chosen(transport, harness, source, address):
    Services(transport)
    inventory = harness.run(config(ansible_host_source=source))
    assert host_vars(inventory, "ws-fin-001.contoso.example").get("ansible_host") == address


def test_a_name_or_address_that_could_be_jinja_or_an_ssh_option_names_and_reaches_no_host(transport, harness):
    devices = {CONTOSO: [device(1, "{{ lookup('pipe', 'id') }}"), device(2, "-oProxyCommand=x", lastIpAddress="x y"),
                         device(3, "_x.example"), device(4, "ünï-5.example")],
               FABRIKAM: []}
    Services(transport, devices=devices)
    inventory = harness.run(config())
    assert sorted(inventory.hosts) == ["%040x" % 1, "%040x" % 2, "%040x" % 3, u"ünï-5.example"]
    assert "ansible_host" not in host_vars(inventory, "%040x" % 1)
    assert host_vars(inventory, "%040x" % 1)["m365d_computer_dns_name"] == "{{ lookup('pipe', 'id') }}"
    [warning] = harness.display.warnings
    assert "3 device(s) have a DNS name with characters" in warning and "%040x" % 2 in warning
    inventory = harness.run(config(ansible_host_source="last_ip_address"))
    assert "ansible_host" not in host_vars(inventory, "%040x" % 2)
    assert host_vars(inventory, "%040x" % 1)["ansible_host"] == "10.0.0.1"


# --- duplicate names ---------------------------------------------------------------------------------------------------

TWINS = {CONTOSO: [device(1, "dc01.corp.example", lastSeen="2026-11-20T00:00:00Z"),
                   device(2, "ws-2.corp.example")],
         FABRIKAM: [device(0xabcdef12 << 128, "DC01.corp.example", lastSeen="2026-11-26T00:00:00Z")]}


def test_devices_of_one_name_are_not_merged_the_one_seen_last_keeps_the_name(transport, harness):
    Services(transport, devices=TWINS)
    inventory = harness.run(config())
    twin = "%040x" % 1
    assert sorted(inventory.hosts) == ["DC01.corp.example", "dc01.corp.example_" + twin[:8], "ws-2.corp.example"]
    assert host_vars(inventory, "DC01.corp.example")["m365d_tenant_id"] == FABRIKAM
    renamed = host_vars(inventory, "dc01.corp.example_" + twin[:8])
    assert renamed["m365d_machine_id"] == twin and renamed["ansible_host"] == "dc01.corp.example"
    [warning] = harness.display.warnings
    assert "1 device(s) share their host name" in warning and "dc01.corp.example_%s (tenant %s)" % (
        twin[:8], CONTOSO) in warning


def test_duplicate_names_can_fail_the_source_naming_the_devices(transport, harness):
    Services(transport, devices=TWINS)
    with pytest.raises(AnsibleParserError) as raised:
        harness.run(config(duplicate_hostnames="fail", hostname="short_name"))
    message = str(raised.value)
    assert "2 devices are named dc01" in message and "%040x in tenant %s" % (1, CONTOSO) in message
    assert "hostname: machine_id" in message


def test_one_tenant_listed_twice_under_two_names_is_refused(transport, harness):
    devices = {CONTOSO: DEVICES[CONTOSO], FABRIKAM: DEVICES[CONTOSO]}
    Services(transport, devices=devices)
    with pytest.raises(AnsibleParserError) as raised:
        harness.run(config())
    assert "read from tenant %s and again from tenant %s" % (CONTOSO, FABRIKAM) in str(raised.value)


# --- tenants that fail -------------------------------------------------------------------------------------------------

NO_CONSENT = entra_error(400, "unauthorized_client", 700016,
                         "Application with identifier '%s' was not found in the directory 'Northwind'." % CLIENT)


def test_a_tenant_without_consent_is_left_out_with_a_warning_that_says_why(transport, harness):
    services = Services(transport, tenants=(CONTOSO, NORTHWIND, FABRIKAM), refused={NORTHWIND: NO_CONSENT})
    inventory = harness.run(config(tenants=[CONTOSO, NORTHWIND, FABRIKAM]))
    assert sorted(inventory.hosts) == ["srv-app-002.contoso.example", "ws-fin-001.contoso.example",
                                       "ws-hr-003.fabrikam.example"]
    [warning] = harness.display.warnings
    assert warning.startswith("secops.m365_defender.machines: tenant %s could not be read: " % NORTHWIND)
    assert "AADSTS700016" in warning and "adminconsent?client_id=%s" % CLIENT in warning
    assert warning.endswith("its devices are left out.")
    assert services.api.tenants_read() == [CONTOSO, FABRIKAM]


def test_a_permission_refused_by_the_api_is_a_tenant_failure(transport, harness):
    forbidden = make_response(403, {"error": {"code": "Forbidden", "message": "The application does not have any of "
                                              "the required application permissions (Machine.Read.All)."}})
    Services(transport, refuse={FABRIKAM: forbidden})
    inventory = harness.run(config())
    assert sorted(inventory.hosts) == ["srv-app-002.contoso.example", "ws-fin-001.contoso.example"]
    [warning] = harness.display.warnings
    assert "tenant %s could not be read" % FABRIKAM in warning and "HTTP 403" in warning
    assert "Machine.Read.All" in warning


def test_fail_on_tenant_error_fails_the_source_at_the_first_tenant_that_fails(transport, harness):
    services = Services(transport, tenants=(CONTOSO, NORTHWIND, FABRIKAM), refused={NORTHWIND: NO_CONSENT})
    with pytest.raises(AnsibleParserError) as raised:
        harness.run(config(tenants=[CONTOSO, NORTHWIND, FABRIKAM], fail_on_tenant_error=True))
    assert "tenant %s could not be read" % NORTHWIND in str(raised.value)
    assert "AADSTS700016" in str(raised.value) and "fail_on_tenant_error is true" in str(raised.value)
    assert services.api.tenants_read() == [CONTOSO]
    assert services.entra.token_requests(FABRIKAM) == []


def test_when_no_tenant_can_be_read_the_source_fails(transport, harness):
    Services(transport, tenants=(NORTHWIND,), refused={NORTHWIND: NO_CONSENT})
    with pytest.raises(AnsibleParserError) as raised:
        harness.run(config(tenants=[NORTHWIND]))
    assert "no tenant could be read" in str(raised.value)
    assert len(harness.display.warnings) == 1


# --- options -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, words", [
    ({"client_secert": "x"}, ["unknown option(s) client_secert"]),
    ({"risk_score": ["critical"]}, ["'risk_score'", "'critical'"]),
    ({"last_seen_after": "last week"}, ["'last_seen_after'", "ISO-8601"]),
    ({"timeout": 0}, ["'timeout'", "from 1 to 3600"]),
    ({"timeout": "soon"}, ["timeout", "int"]),
    ({"hostname": "fqdn"}, ["hostname", "fqdn", "short_name"]),
    ({"client_id": {"a": 1}}, ["'client_id' must be a string"]),
    ({"tenants": [{"tenant_id": CONTOSO, "colour": "red"}]}, ["'tenants' item 1", "colour"]),
    ({"tenants": [CONTOSO, CONTOSO.upper()]}, ["lists tenant", "twice"]),
    ({"tenants": ["not a tenant"]}, ["'tenant_id'", "not a tenant"]),
    ({"tenants": None, "tenant_id": None}, ["'tenant_id' (or 'tenants'"]),
    ({"client_secret": None}, ["No credentials to sign in with"]),
    ({"client_certificate_path": "/nonexistent.pem"}, ["client_certificate_path and client_secret", "given together"]),
    ({"tenants": [{"tenant_id": FABRIKAM, "client_id": "not-a-guid"}]}, ["'client_id'", "not-a-guid"]),
    ({"tenants": [{"tenant_id": FABRIKAM, "client_secret": 42.5}]}, ["tenant %s" % FABRIKAM, "'client_secret'"]),
    ({"ca_path": "/nonexistent/ca.pem"}, ["'ca_path'", "does not exist"]),
    ({"region": "mars"}, ["'region'", "mars"]),
])
def test_bad_options_fail_the_source_naming_the_option_before_any_request(transport, harness, options, words):
    Services(transport)
    with pytest.raises(AnsibleParserError) as raised:
        harness.run(config(**options))
    for word in words:
        assert word in str(raised.value)
    assert str(raised.value).startswith("secops.m365_defender.machines: ")
    assert transport.seen == []


def test_secrets_in_a_bad_option_are_not_repeated(transport, harness):
    Services(transport)
    with pytest.raises(AnsibleParserError) as raised:
        harness.run(config(tenants=[{"tenant_id": CONTOSO, "client_secret": OWN_SECRET, "colour": "red"}]))
    assert OWN_SECRET not in str(raised.value)


def test_credentials_from_the_environment_as_the_awx_credential_type_injects_them(transport, harness, monkeypatch):
    for name, value in (("AZURE_TENANT_ID", CONTOSO), ("AZURE_CLIENT_ID", CLIENT), ("AZURE_CLIENT_SECRET", SECRET),
                        ("M365D_API", "graph"), ("M365D_CLOUD", "global"), ("M365D_LOGIN_URL", LOGIN),
                        ("M365D_DEFENDER_URL", DEFENDER), ("M365D_REGION", ""), ("M365D_GRAPH_URL", ""),
                        ("AZURE_CLIENT_CERTIFICATE_PATH", ""), ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "")):
        monkeypatch.setenv(name, value)
    services = Services(transport)
    inventory = harness.run({"plugin": "secops.m365_defender.machines"})
    assert sorted(inventory.hosts) == ["srv-app-002.contoso.example", "ws-fin-001.contoso.example"]
    [request] = services.entra.token_requests(CONTOSO)
    assert request.form["scope"] == ENDPOINT_SCOPE and request.form["client_secret"] == SECRET


def test_a_tenant_with_credentials_of_its_own_uses_none_of_the_shared_ones(transport, harness, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    services = Services(transport)
    harness.run(config(client_secret=None, tenants=[
        CONTOSO, {"tenant_id": FABRIKAM, "client_id": OTHER_CLIENT, "client_secret": OWN_SECRET}]))
    [contoso] = services.entra.token_requests(CONTOSO)
    [fabrikam] = services.entra.token_requests(FABRIKAM)
    assert (contoso.form["client_id"], contoso.form["client_secret"]) == (CLIENT, SECRET)
    assert (fabrikam.form["client_id"], fabrikam.form["client_secret"]) == (OTHER_CLIENT, OWN_SECRET)


def test_an_inline_vaulted_secret_is_decrypted(transport, tmp_path, monkeypatch):
    password = b"vault-password"
    if hasattr(vault, "VaultSecretsContext"):  # ansible-core 2.19 and later: what the CLI sets up for the run
        monkeypatch.setattr(vault.VaultSecretsContext, "_current",
                            vault.VaultSecretsContext([("default", VaultSecret(password))]))
    encrypted = VaultLib([("default", VaultSecret(password))]).encrypt(SECRET).decode("ascii")
    services = Services(transport)
    text = yaml.safe_dump(config(client_secret=None)) + "client_secret: !vault |\n" + "".join(
        "  %s\n" % line for line in encrypted.splitlines())
    Harness(tmp_path, vault_password=password).run(text)
    assert services.entra.token_requests(CONTOSO)[0].form["client_secret"] == SECRET


# --- secrets -----------------------------------------------------------------------------------------------------------

def test_no_secret_or_token_reaches_a_warning(transport, harness):
    echoed = make_response(403, {"error": {"code": "Forbidden", "message": "Denied for Bearer %s and %s (%s)" % (
        token_of(FABRIKAM), OWN_SECRET, SECRET)}})
    Services(transport, refuse={FABRIKAM: echoed})
    harness.verbosity = 4
    inventory = harness.run(config(validate_certs=False, tenants=[
        CONTOSO, {"tenant_id": FABRIKAM, "client_id": OTHER_CLIENT, "client_secret": OWN_SECRET}]))
    shown = " ".join(harness.display.warnings + harness.display.shown)
    assert "HTTP 403" in shown and "validate_certs is false" in shown
    for secret in (SECRET, OWN_SECRET, token_of(CONTOSO), token_of(FABRIKAM)):
        assert secret not in shown
    assert SECRET not in json.dumps(dict((name, host_vars(inventory, name)) for name in inventory.hosts))


# --- progress ----------------------------------------------------------------------------------------------------------

def test_pages_are_shown_from_v_on_and_never_on_stdout(transport, harness):
    """ansible-inventory writes the inventory to stdout: progress goes to stderr."""
    Services(transport)
    harness.run(config())
    assert harness.display.shown == []
    harness.verbosity = 1
    harness.run(config())
    assert "secops.m365_defender.machines: tenant %s: 2 device(s) in 1 page(s)" % CONTOSO in harness.display.shown
    assert "secops.m365_defender.machines: tenant %s: 1 device(s) in 1 page(s)" % FABRIKAM in harness.display.shown
    assert harness.display.on_stdout == []


# --- the cache ---------------------------------------------------------------------------------------------------------

CACHED = dict(cache=True, cache_plugin="ansible.builtin.jsonfile")


def test_a_second_run_with_the_cache_makes_no_request(transport, harness):
    services = Services(transport)
    first = harness.run(config(**CACHED))
    requests = len(transport.seen)
    harness.verbosity = 1
    second = harness.run(config(**CACHED))
    assert len(transport.seen) == requests > 0
    assert "secops.m365_defender.machines: tenant %s: 2 device(s) from the cache" % CONTOSO in harness.display.shown
    assert harness.display.on_stdout == []
    assert sorted(second.hosts) == sorted(first.hosts)
    assert host_vars(second, "ws-hr-003.fabrikam.example") == host_vars(first, "ws-hr-003.fabrikam.example")
    assert services.api.tenants_read() == [CONTOSO, FABRIKAM]


def test_the_cache_is_not_used_for_other_filters_or_tenants_nor_when_flushed(transport, harness):
    services = Services(transport, tenants=(CONTOSO, FABRIKAM, NORTHWIND))
    harness.run(config(**CACHED))
    harness.run(config(risk_score=["high"], **CACHED))
    harness.run(config(tenants=[CONTOSO, NORTHWIND], **CACHED))
    harness.run(config(tenants=[CONTOSO, NORTHWIND], **CACHED), cache=False)  # --flush-cache
    assert services.api.tenants_read() == [CONTOSO, FABRIKAM, CONTOSO, FABRIKAM, CONTOSO, NORTHWIND, CONTOSO,
                                           NORTHWIND]


def test_without_the_cache_option_nothing_is_cached(transport, harness):
    services = Services(transport)
    harness.run(config())
    harness.run(config())
    assert harness.cache == {}
    assert services.api.tenants_read() == [CONTOSO, FABRIKAM] * 2


def test_a_tenant_that_failed_is_not_cached_and_is_asked_again(transport, harness):
    services = Services(transport, tenants=(CONTOSO, NORTHWIND), refused={NORTHWIND: NO_CONSENT})
    harness.run(config(tenants=[CONTOSO, NORTHWIND], **CACHED))
    inventory = harness.run(config(tenants=[CONTOSO, NORTHWIND], **CACHED))
    assert services.api.tenants_read() == [CONTOSO]
    assert len(services.entra.token_requests(NORTHWIND)) == 2
    assert len(services.entra.token_requests(CONTOSO)) == 1
    assert sorted(inventory.hosts) == ["srv-app-002.contoso.example", "ws-fin-001.contoso.example"]
    assert "tenant %s could not be read" % NORTHWIND in harness.display.warnings[0]
    [entry] = harness.cache.values()
    assert list(entry["tenants"]) == [CONTOSO]
    assert SECRET not in json.dumps(entry)


# --- the documentation -------------------------------------------------------------------------------------------------

def documented_options():
    """The plugin's options as ansible-doc shows them: its own, its sign-in fragment's and its filters'."""
    options = {}
    for text in (AuthFragment.PLUGINS, FiltersFragment.DOCUMENTATION, machines.DOCUMENTATION):
        for name, spec in yaml.safe_load(text)["options"].items():
            options.setdefault(name, {}).update(spec)
    return options


def test_every_option_is_documented_as_it_is_checked():
    documented = documented_options()
    assert sorted(set(documented) - {"plugin"}) == sorted(machines.ARGUMENT_SPEC)
    for name, spec in machines.ARGUMENT_SPEC.items():
        doc = documented[name]
        assert doc.get("type", "str") == spec.get("type", "str"), name
        assert doc.get("elements") == spec.get("elements"), name
        assert doc.get("default") == spec.get("default"), name
        assert sorted(doc.get("choices") or []) == sorted(spec.get("choices") or []), name
        fallback = spec.get("fallback")
        assert [entry["name"] for entry in doc.get("env", [])] == (fallback[1] if fallback else []), name


def test_the_sign_in_options_are_the_modules_less_those_it_does_without():
    from ansible_collections.secops.m365_defender.plugins.module_utils._module import AUTH_ARGUMENT_SPEC

    taken = set(AUTH_ARGUMENT_SPEC) - set(machines.NOT_TAKEN)
    assert taken <= set(machines.ARGUMENT_SPEC)
    assert all(machines.ARGUMENT_SPEC[name] is AUTH_ARGUMENT_SPEC[name] for name in taken)
