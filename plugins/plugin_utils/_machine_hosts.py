# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Defender for Endpoint devices as inventory hosts: one host name per device across every tenant read, and the
device's properties as host variables."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import re

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.dict_transformations import _camel_to_snake

from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import parse_iso_time

HOSTNAME_CHOICES = ("computer_dns_name", "short_name", "machine_id")
# ansible_host_source: the device property each choice reads.
ANSIBLE_HOST_FIELDS = {"computer_dns_name": "computerDnsName", "last_ip_address": "lastIpAddress",
                       "last_external_ip_address": "lastExternalIpAddress", "none": None}
DUPLICATE_CHOICES = ("suffix", "fail")
PREFIX = "m365d_"
# How many digits of its machine id a device's host name gets when another device has the same name.
SUFFIX_DIGITS = 8
# How many renamed devices a warning lists.
SHOWN = 10
NEVER = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
# What a host name may hold. A device's DNS name is its own host name, which whoever controls a Linux device can set
# to anything (Jinja2, or a leading "-" that ssh would take for an option): such a name names no host and is no
# ansible_host. The addresses are the device's word too: only an IP address is an ansible_host.
HOST_NAME = re.compile(r"^[^\W_][\w.-]*\Z", re.UNICODE)


class DeviceHost(object):
    """One device of one tenant, as the API answered it."""

    def __init__(self, tenant_id, device):
        self.tenant_id = tenant_id
        self.device = device
        self.machine_id = str(device.get("id") or "").lower()

    def usable_dns_name(self):
        """The device's DNS name when it can name a host: letters, digits, dots, hyphens and underscores, beginning
        with a letter or digit."""
        dns_name = self.device.get("computerDnsName")
        return dns_name if isinstance(dns_name, str) and HOST_NAME.match(dns_name) else None

    def base_name(self, hostname):
        """The host name the `hostname` option asks for; the machine id for a device without a usable DNS name."""
        dns_name = self.usable_dns_name()
        if hostname == "machine_id" or not dns_name:
            return self.machine_id
        return dns_name.split(".", 1)[0] if hostname == "short_name" else dns_name

    def last_seen(self):
        seen = self.device.get("lastSeen")
        return (seen and parse_iso_time(seen)) or NEVER

    def variables(self, ansible_host_source):
        """Every property of the device as m365d_<property in snake case> (its id as m365d_machine_id), the tenant
        as m365d_tenant_id, and ansible_host from the property ansible_host_source names, when the device has it.
        Values are as the API gave them (nested ones too)."""
        variables = {PREFIX + "tenant_id": self.tenant_id}
        for key, value in self.device.items():
            if not key.startswith("@"):
                variables[PREFIX + ("machine_id" if key == "id" else _camel_to_snake(key))] = value
        address = self.address(ansible_host_source)
        if address:
            variables["ansible_host"] = address
        return variables

    def address(self, ansible_host_source):
        """The ansible_host that ansible_host_source asks for: a usable DNS name, or an IP address; else None."""
        field = ANSIBLE_HOST_FIELDS[ansible_host_source]
        if field == "computerDnsName":
            return self.usable_dns_name()
        value = self.device.get(field) if field else None
        try:
            return str(ipaddress.ip_address(value)) if isinstance(value, str) else None
        except ValueError:
            return None


def named_hosts(hosts, hostname, duplicates):
    """[(host name, DeviceHost)] in the order given, and warnings naming the devices renamed.

    Several devices with one name (host names compared in any case, as DNS names are): the one seen last keeps it,
    each other one gets "_" and the first digits of its machine id appended; with duplicates=fail, an
    AnsibleParserError names them instead. A device listed twice (two entries of `tenants` for one tenant) is
    refused: its hosts would be one machine under two names.
    """
    _refuse_repeated_devices(hosts)
    shared = {}
    for host in hosts:
        shared.setdefault(host.base_name(hostname).lower(), []).append(host)
    clashes = [group for group in shared.values() if len(group) > 1]
    if clashes and duplicates == "fail":
        raise AnsibleParserError(
            "secops.m365_defender.machines: %s; with duplicate_hostnames: fail the inventory is not built. Set "
            "hostname: machine_id, narrow the devices with the filters (for example health_status: [Active]), or "
            "set duplicate_hostnames: suffix." % "; ".join(_clash(group, hostname) for group in clashes[:SHOWN]))
    taken = set(shared)
    names, renamed = {}, []
    for group in shared.values():
        ordered = sorted(group, key=lambda host: host.last_seen(), reverse=True)
        names[id(ordered[0])] = ordered[0].base_name(hostname)
        for host in ordered[1:]:
            name = _suffixed(host, hostname, taken)
            names[id(host)] = name
            renamed.append("%s (tenant %s)" % (name, host.tenant_id))
    unusable = ["%s (tenant %s)" % (host.machine_id, host.tenant_id) for host in hosts
                if hostname != "machine_id" and host.device.get("computerDnsName") and not host.usable_dns_name()]
    warnings = [warning for warning in (_renamed_warning(renamed), _unusable_warning(unusable)) if warning]
    return [(names[id(host)], host) for host in hosts], warnings


def _refuse_repeated_devices(hosts):
    first = {}
    for host in hosts:
        if host.machine_id in first:
            raise AnsibleParserError(
                "secops.m365_defender.machines: device %s was read from tenant %s and again from tenant %s: these are "
                "one tenant (a tenant id and one of its domains?); list it once in 'tenants'." % (
                    host.machine_id, first[host.machine_id].tenant_id, host.tenant_id))
        first[host.machine_id] = host


def _suffixed(host, hostname, taken):
    name = "%s_%s" % (host.base_name(hostname), host.machine_id[:SUFFIX_DIGITS])
    if name.lower() in taken:
        name = "%s_%s" % (host.base_name(hostname), host.machine_id)
    taken.add(name.lower())
    return name


def _clash(group, hostname):
    return "%d devices are named %s (%s)" % (len(group), group[0].base_name(hostname), ", ".join(
        "%s in tenant %s" % (host.machine_id, host.tenant_id) for host in group))


def _renamed_warning(renamed):
    if not renamed:
        return None
    return ("secops.m365_defender.machines: %d device(s) share their host name with another device; the device seen "
            "last keeps the name, each other one gets the first %d digits of its machine id appended: %s%s. Set "
            "hostname: machine_id for names that never change, or duplicate_hostnames: fail to refuse." % (
                len(renamed), SUFFIX_DIGITS, ", ".join(renamed[:SHOWN]),
                ", ..." if len(renamed) > SHOWN else ""))


def _unusable_warning(unusable):
    if not unusable:
        return None
    return ("secops.m365_defender.machines: %d device(s) have a DNS name with characters other than letters, digits, "
            "'.', '-' and '_', which no host is named by; they are named by their machine id: %s%s." % (
                len(unusable), ", ".join(unusable[:SHOWN]), ", ..." if len(unusable) > SHOWN else ""))
