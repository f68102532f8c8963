# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Devices of the Defender for Endpoint API (/api/machines): the resource, machine_info's filters, one device."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.secops.m365_defender.plugins.module_utils._api import Enum, Resource, entity
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError, InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import Limit
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import (
    Listing,
    Query,
    check_limit,
    get_item,
    list_items,
    odata_string,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._update import _read

# How many devices of one name a failure lists.
NAME_MATCHES_SHOWN = 10
# Microsoft documents 100 calls a minute and 1,500 an hour per tenant for the machine and machine action APIs.
ENDPOINT_RATE = (
    Limit("endpoint", 100, 60, "the Defender for Endpoint API", "calls"),
    Limit("endpoint-hour", 1500, 3600, "the Defender for Endpoint API", "calls"),
)

HEALTH_STATUS = Enum("health_status", endpoint=("Active", "Inactive", "ImpairedCommunication", "NoSensorData",
                                                "NoSensorDataImpairedCommunication", "Unknown"))
RISK_SCORE = Enum("risk_score", endpoint=("None", "Informational", "Low", "Medium", "High"))
EXPOSURE_LEVEL = Enum("exposure_level", endpoint=("None", "Low", "Medium", "High"))
ONBOARDING_STATUS = Enum("onboarding_status", endpoint=("Onboarded", "CanBeOnboarded", "Unsupported",
                                                        "InsufficientInfo"))


class Machines(Resource):
    """The Defender for Endpoint API's devices."""

    name = "endpoint"
    title = "the Defender for Endpoint API"
    kind = "device"
    id_option = "machine_id"
    path = "/machines"
    id_field = "id"
    max_page_size = 10000
    fields = {"health_status": "healthStatus", "risk_score": "riskScore", "exposure_level": "exposureLevel",
              "onboarding_status": "onboardingStatus", "os_platform": "osPlatform", "name": "computerDnsName",
              "last_seen": "lastSeen"}
    server_filters = frozenset(list(fields) + ["tag"])  # tag: machineTags/any(...), see MachineQuery
    list_rate = get_rate = update_rate = ENDPOINT_RATE

    def check_id(self, item_id):
        # A device id is 40 hexadecimal digits (a SHA-1); the API also takes a device's DNS name in its place.
        if not re.match(r"^[0-9A-Fa-f]{40}\Z", str(item_id)):
            raise InputError("Option 'machine_id' must be a device id of the Defender for Endpoint API: 40 "
                             "hexadecimal digits, got %r. To name a device by its DNS name, use 'name'." % (item_id,))
        return str(item_id).lower()


MACHINES = Machines()


class MachineQuery(Query):
    """machine_info's filters; the API applies them all."""

    ENUM_FILTERS = (("health_status", HEALTH_STATUS), ("risk_score", RISK_SCORE), ("exposure_level", EXPOSURE_LEVEL),
                    ("onboarding_status", ONBOARDING_STATUS))
    TEXT_FILTERS = ("os_platform", "name")
    TIME_FILTERS = (("last_seen", "last_seen_after"),)

    def __init__(self, resource, params, now=None):
        super(MachineQuery, self).__init__(resource, params, now)
        self.tags = [_tag(tag) for tag in params.get("tag") or []]

    @property
    def given(self):
        return super(MachineQuery, self).given + (["tag"] if self.tags else [])

    def server_filter(self):
        clauses = [super(MachineQuery, self).server_filter()]
        if self.tags:
            any_of = ["machineTags/any(tag: tag eq %s)" % odata_string(tag) for tag in self.tags]
            clauses.append(any_of[0] if len(any_of) == 1 else "(%s)" % " or ".join(any_of))
        return " and ".join(clause for clause in clauses if clause)


def _tag(tag):
    if not isinstance(tag, str) or not tag.strip():
        raise InputError("Option 'tag' must hold non-empty strings, got %r." % (tag,))
    return tag


def read_machines(client, params):
    """The devices machine_info's options ask for: a Listing (one device by id or by name, or a filtered list).
    A name that no device has as its DNS name is looked for as name_queries says, with the other filters."""
    query = MachineQuery(MACHINES, params)
    limit = check_limit(params.get("limit"))
    if params.get("machine_id"):
        machine = get_item(client, MACHINES, params["machine_id"])
        return Listing([machine] if machine else [])
    listing = list_items(client, MACHINES, query, limit=limit)
    for fallback in name_queries(params["name"])[1:] if params.get("name") and not listing.items else ():
        merged = dict(params, name=None)
        merged.update(fallback)
        listing = list_items(client, MACHINES, MachineQuery(MACHINES, merged), limit=limit)
        if listing.items:
            break
    return listing


def check_device_options(params):
    """Exactly one of machine_id and name, checked here so that both execution paths say the same."""
    machine_id, name = params.get("machine_id"), params.get("name")
    if machine_id is not None and name is not None:
        raise InputError("Options 'machine_id' and 'name' are mutually exclusive: name the device by its id or by its "
                         "DNS name, not both.")
    if machine_id is None and name is None:
        raise InputError("One of the options 'machine_id' (the device's id, 40 hexadecimal digits) or 'name' (its "
                         "DNS name) is required.")
    if name is not None:
        if not name.strip():
            raise InputError("Option 'name' must be a device's DNS name, got an empty string.")
        return None
    return MACHINES.check_id(machine_id)


def name_queries(name):
    """The listings that find a device by name, in order, until one finds it: the DNS name as given, in lower case
    (Defender for Endpoint shows DNS names in lower case), and for a host name without a domain, the DNS names
    that start with it and a dot."""
    queries = [{"name": name}]
    if name.lower() != name:
        queries.append({"name": name.lower()})
    if "." not in name:
        queries.append({"filter": "startswith(computerDnsName,%s)" % odata_string(name.lower() + ".")})
    return queries


def find_machine(client, params):
    """(machine id, device): by id (GET /api/machines/{id}) or by DNS name (a $filter listing)."""
    machine_id = check_device_options(params)
    if machine_id is not None:
        return machine_id, _read(client, MACHINES, machine_id)
    name = params["name"]
    devices = []
    for query in name_queries(name):
        devices = list_items(client, MACHINES, MachineQuery(MACHINES, query), limit=NAME_MATCHES_SHOWN).items
        if devices:
            break
    if not devices:
        raise ApiError("No device is named %s in tenant %s (%s API)%s." % (
            name, client.tenant, MACHINES.name, "" if "." in name else ", nor is any DNS name %s.<domain>" % name),
            status=404, tenant_id=client.tenant)
    if len(devices) > 1:
        raise ApiError("%s devices are named %s in tenant %s: %s. Name one by 'machine_id'." % (
            "At least %d" % len(devices) if len(devices) >= NAME_MATCHES_SHOWN else len(devices), name,
            client.tenant, ", ".join(str(device.get("id")) for device in devices)), tenant_id=client.tenant)
    device = devices[0]
    where = "GET %s" % client.absolute(MACHINES.path)
    entity(MACHINES, device, where, tenant=client.tenant)
    try:
        return MACHINES.check_id(device[MACHINES.id_field]), device
    except InputError:
        raise ApiError("%s answered device %r for name %s, whose id is not 40 hexadecimal digits; refusing to use "
                       "it in a request." % (where, device[MACHINES.id_field], name), tenant_id=client.tenant)
