# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Devices of the Defender for Endpoint API: machine_info's filters, ids, paging; the APIs without incidents."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._api import FLAVOURS, ApiClient
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import IncidentQuery, get_incident
from ansible_collections.secops.m365_defender.plugins.module_utils._machines import (
    MACHINES,
    MachineQuery,
    read_machines,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._update import IncidentUpdate
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import DEVICE
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    FakeAuthenticator,
    IncidentApi,
    make_response,
)

NOW = datetime.datetime(2026, 11, 26, 10, 0, 0, tzinfo=datetime.timezone.utc)


def options(**given):
    names = ("machine_id", "name", "health_status", "risk_score", "exposure_level", "onboarding_status",
             "os_platform", "tag", "last_seen_after", "limit")
    return dict(dict((name, None) for name in names), **given)


def endpoint_client():
    endpoints = resolve_endpoints(api="endpoint", defender_url="https://defender.sandbox.test")
    return ApiClient(endpoints, HttpClient(retries=0, sleep=lambda seconds: None), FakeAuthenticator(), "contoso.example")


def test_every_filter_is_sent_in_the_apis_spelling():
    query = MachineQuery(MACHINES, options(health_status=["active", "impaired_communication"], risk_score=["HIGH"],
                                           exposure_level=["medium"], os_platform="Windows11",
                                           name="ws-fin-007.contoso.example", tag=["finance", "vip"],
                                           last_seen_after="7d"), NOW)
    assert query.server_filter() == (
        "(healthStatus eq 'Active' or healthStatus eq 'ImpairedCommunication') and riskScore eq 'High' and "
        "exposureLevel eq 'Medium' and computerDnsName eq 'ws-fin-007.contoso.example' and "
        "osPlatform eq 'Windows11' and lastSeen ge 2026-11-19T10:00:00Z and "
        "(machineTags/any(tag: tag eq 'finance') or machineTags/any(tag: tag eq 'vip'))")
    assert query.local_filters == []


@pytest.mark.parametrize("given, words", [
    ({"risk_score": ["critical"]}, ["'risk_score'", "got 'critical'", "High, Informational, Low, Medium, None"]),
    ({"health_status": ["sleeping"]}, ["'health_status'", "ImpairedCommunication"]),
    ({"tag": [""]}, ["'tag'", "non-empty"]),
    ({"last_seen_after": "last week"}, ["'last_seen_after'", "ISO-8601"]),
])
def test_bad_filters_are_refused_before_any_request(given, words):
    with pytest.raises(InputError) as raised:
        MachineQuery(MACHINES, options(**given))
    for word in words:
        assert word in raised.value.message


@pytest.mark.parametrize("machine_id", ["ws-fin-007", DEVICE[:-1], DEVICE + "0", DEVICE + "\n", "../" + DEVICE[3:]])
def test_a_device_id_is_forty_hexadecimal_digits(machine_id):
    with pytest.raises(InputError) as raised:
        MACHINES.check_id(machine_id)
    assert "'machine_id'" in raised.value.message and "'name'" in raised.value.message


def test_every_page_of_devices_is_read_from_the_endpoint_apis_path(transport, monkeypatch):
    monkeypatch.setattr(MACHINES, "max_page_size", 10)  # 10,000 in truth: a smaller page, to page over 25
    client = endpoint_client()
    devices = [{"id": "%040x" % number, "riskScore": "High"} for number in range(25)]
    server = IncidentApi("graph", devices, client.endpoints.api_url)  # follows $top and $skip, with a nextLink
    server.max_top = 10
    transport.handler = server
    listing = read_machines(client, options(risk_score=["high"], limit=None))
    assert [device["id"] for device in listing.items] == [device["id"] for device in devices]
    assert [seen.path for seen in transport.seen] == ["/api/machines"] * 3
    assert [query.get("$top") for query in server.queries] == ["10", "10", "10"]
    assert server.queries[0]["$filter"] == "riskScore eq 'High'"


def test_a_host_name_finds_its_device_in_any_domain_with_the_other_filters(transport):
    server = IncidentApi("graph", [], endpoint_client().endpoints.api_url)
    server.max_top = 10000
    transport.handler = server
    listing = read_machines(endpoint_client(), options(name="WS-FIN-007", risk_score=["high"]))
    assert listing.items == []
    assert [query["$filter"] for query in server.queries] == [
        "riskScore eq 'High' and computerDnsName eq 'WS-FIN-007'",
        "riskScore eq 'High' and computerDnsName eq 'ws-fin-007'",
        "(startswith(computerDnsName,'ws-fin-007.')) and riskScore eq 'High'",
    ]


def test_one_device_by_id(transport):
    transport.answer(make_response(200, {"id": DEVICE, "computerDnsName": "ws-fin-007"}))
    listing = read_machines(endpoint_client(), options(machine_id=DEVICE.upper()))
    assert listing.items == [{"id": DEVICE, "computerDnsName": "ws-fin-007"}]
    assert transport.seen[0].path == "/api/machines/" + DEVICE


def test_the_endpoint_api_has_no_incidents_and_says_which_apis_do(transport):
    endpoint = FLAVOURS["endpoint"]
    for attempt in (lambda: IncidentQuery(endpoint, {}), lambda: IncidentUpdate(endpoint, {}),
                    lambda: get_incident(endpoint_client(), "7"), lambda: endpoint.hunting_body("x", None)):
        with pytest.raises(InputError) as raised:
            attempt()
        assert "'endpoint'" in raised.value.message and "api: graph" in raised.value.message
    assert transport.seen == []
