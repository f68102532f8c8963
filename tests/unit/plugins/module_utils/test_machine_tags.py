# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Device tags: input checks before any request, the plan against the device, one POST per tag, check and diff
mode, a device by name, and failures part-way."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

import pytest
import requests

from ansible_collections.secops.m365_defender.plugins.module_utils._api import ApiClient
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError, InputError, TransportError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient
from ansible_collections.secops.m365_defender.plugins.module_utils._machine_tags import (
    MAX_TAG_LENGTH,
    TagRequest,
    machine_tag_result,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._machines import check_device_options
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import DEFENDER, DEVICE, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import FakeAuthenticator, make_response

OTHER = "2f6cd0e8f524eee8a13d3a43f529813c95e1dd18"
TAGS_PATH = "/api/machines/%s/tags" % DEVICE


class FakeMachines(object):
    """The Defender for Endpoint API's devices and their tag route, as Microsoft documents them: one tag a call,
    the device in the answer; adding a tag it has or removing one it has not changes nothing (case-sensitive,
    as the sandbox is). `refuse` maps a POST's (Action, Value) to the answer that replaces it."""

    def __init__(self, devices, refuse=None):
        self.devices = dict((device["id"], copy.deepcopy(device)) for device in devices)
        self.refuse = dict(refuse or {})
        self.posts = []
        self.queries = []

    def __call__(self, seen):
        parts = seen.path.split("/")  # '', 'api', 'machines', id?, 'tags'?
        if seen.method == "GET" and len(parts) == 3:
            self.queries.append(dict(seen.query))
            wanted = seen.query.get("$filter", "")
            found = [device for device in self.devices.values() if named(wanted, device.get("computerDnsName"))]
            return make_response(200, {"value": found})
        device = self.devices.get(parts[3])
        if device is None:
            return make_response(404, {"error": {"code": "ResourceNotFound", "message": "Machine was not found."}})
        if seen.method == "GET":
            return make_response(200, dict(device, **{"@odata.context": "ctx"}))
        body = json.loads(seen.body)
        self.posts.append((body["Action"], body["Value"]))
        refused = self.refuse.pop((body["Action"], body["Value"]), None)
        if refused is not None:
            return refused
        tags = device["machineTags"]
        if body["Action"] == "Add" and body["Value"] not in tags:
            tags.append(body["Value"])
        if body["Action"] == "Remove" and body["Value"] in tags:
            tags.remove(body["Value"])
        return make_response(200, dict(device, **{"@odata.context": "ctx"}))


class FakeModule(object):
    """What machine_tag_result uses of a module."""

    def __init__(self, client, check_mode=False, diff=False, **params):
        self.params = dict({"machine_id": None, "name": None, "tag": None, "state": "present", "purge": False},
                           **params)
        self.client = client
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, warning):
        self.warnings.append(warning)


def endpoint_client(retries=0, timeout=30):
    endpoints = resolve_endpoints(api="endpoint", defender_url=DEFENDER)
    http = HttpClient(retries=retries, timeout=timeout, sleep=lambda seconds: None)
    return ApiClient(endpoints, http, FakeAuthenticator(), TENANT)


def device(tags, machine_id=DEVICE, name="ws-fin-007.contoso.example"):
    return {"id": machine_id, "computerDnsName": name, "machineTags": list(tags)}


def named(wanted, name):
    """Whether a $filter on the DNS name (eq, or startswith as Microsoft's OData examples spell it) finds `name`."""
    prefix = re.match(r"^\(startswith\(computerDnsName,'(.*)'\)\)$", wanted)
    return wanted == "computerDnsName eq '%s'" % name or bool(prefix and name.startswith(prefix.group(1)))


def tag_task(transport, tags, devices=None, refuse=None, **params):
    """Run machine_tag_result against a fake API holding `devices` (by default one device with `tags`)."""
    server = FakeMachines(devices or [device(tags)], refuse)
    transport.handler = server
    params.setdefault("machine_id", DEVICE)
    module = FakeModule(endpoint_client(), **params)
    return server, module, machine_tag_result(module)


@pytest.mark.parametrize("params, words", [
    ({"machine_id": DEVICE, "name": "ws-fin-007"}, ["'machine_id'", "'name'", "mutually exclusive"]),
    ({}, ["'machine_id'", "'name'", "required"]),
    ({"name": " "}, ["'name'", "empty"]),
    ({"machine_id": "ws-fin-007"}, ["'machine_id'", "40", "'name'"]),
    ({"machine_id": DEVICE, "tag": None}, ["'tag'", "required"]),
    ({"machine_id": DEVICE, "tag": ["ok", " "]}, ["'tag'", "item 2", "non-empty"]),
    ({"machine_id": DEVICE, "tag": ["x" * (MAX_TAG_LENGTH + 1)]}, ["'tag'", "201 characters", "at most 200"]),
    ({"machine_id": DEVICE, "tag": ["VIP", "PCI", "vip"]}, ["'tag'", "'VIP' (item 1)", "'vip' (item 3)", "case"]),
    ({"machine_id": DEVICE, "tag": ["VIP"], "state": "absent", "purge": True}, ["'purge'", "state=present"]),
    ({"machine_id": DEVICE, "tag": ["VIP"], "state": "gone"}, ["'state'", "present, absent", "'gone'"]),
])
def test_bad_input_is_refused_before_any_request(transport, params, words):
    params.setdefault("tag", ["VIP"])
    module = FakeModule(endpoint_client(), **params)
    with pytest.raises(InputError) as raised:
        machine_tag_result(module)
    for word in words:
        assert word in raised.value.message
    assert transport.seen == []


def test_a_tag_of_200_characters_is_accepted_and_the_id_is_normalised():
    assert TagRequest({"tag": ["x" * MAX_TAG_LENGTH]}).tags == ["x" * MAX_TAG_LENGTH]
    assert check_device_options({"machine_id": DEVICE.upper()}) == DEVICE
    assert check_device_options({"name": "ws-fin-007"}) is None


def test_two_tags_are_added_one_post_each_in_the_order_given(transport):
    server, module, result = tag_task(transport, ["VIP"], tag=["Pilot ring", "PCI"])
    assert server.posts == [("Add", "Pilot ring"), ("Add", "PCI")]
    assert [(seen.method, seen.path) for seen in transport.seen] == [
        ("GET", "/api/machines/" + DEVICE), ("POST", TAGS_PATH), ("POST", TAGS_PATH)]
    assert transport.seen[1].headers["Content-Type"].startswith("application/json")
    assert result["changed"] is True
    assert result["tags_added"] == ["Pilot ring", "PCI"] and result["tags_removed"] == []
    assert result["machine"] == device(["VIP", "Pilot ring", "PCI"])  # the last answer, without @odata.context
    assert result["api"] == "endpoint"
    assert "diff" not in result


def test_tags_the_device_has_in_any_case_send_nothing_but_the_read(transport):
    server, module, result = tag_task(transport, ["vip", "PCI"], tag=["VIP", "pci"])
    assert server.posts == [] and len(transport.seen) == 1
    assert result["changed"] is False and result["tags_added"] == [] and result["tags_removed"] == []
    assert result["machine"] == device(["vip", "PCI"])


def test_a_tag_is_removed_in_the_devices_own_spelling(transport):
    server, module, result = tag_task(transport, ["VIP", "Legacy"], tag=["vip", "Remote"], state="absent")
    assert server.posts == [("Remove", "VIP")]
    assert result["changed"] is True and result["tags_removed"] == ["VIP"] and result["tags_added"] == []
    assert result["machine"]["machineTags"] == ["Legacy"]


def test_absent_tags_that_the_device_does_not_have_change_nothing(transport):
    server, module, result = tag_task(transport, ["VIP"], tag=["Legacy"], state="absent")
    assert server.posts == [] and result["changed"] is False


def test_purge_adds_first_then_removes_the_others_in_the_devices_order(transport):
    server, module, result = tag_task(transport, ["VIP", "Legacy", "Finance"], tag=["finance", "PCI"], purge=True,
                                      diff=True)
    assert server.posts == [("Add", "PCI"), ("Remove", "VIP"), ("Remove", "Legacy")]
    assert result["tags_added"] == ["PCI"] and result["tags_removed"] == ["VIP", "Legacy"]
    assert result["machine"]["machineTags"] == ["Finance", "PCI"]
    assert result["diff"] == {"before": {"tags": ["VIP", "Legacy", "Finance"]}, "after": {"tags": ["Finance", "PCI"]}}


def test_purge_with_no_tags_removes_every_tag(transport):
    server, module, result = tag_task(transport, ["VIP", "Legacy"], tag=[], purge=True)
    assert server.posts == [("Remove", "VIP"), ("Remove", "Legacy")]
    assert result["machine"]["machineTags"] == []


def test_check_mode_reads_predicts_and_writes_nothing(transport):
    server, module, result = tag_task(transport, ["VIP", "Legacy"], tag=["PCI", "legacy"], purge=True,
                                      check_mode=True, diff=True)
    assert server.posts == [] and [seen.method for seen in transport.seen] == ["GET"]
    assert result["changed"] is True
    assert result["tags_added"] == ["PCI"] and result["tags_removed"] == ["VIP"]
    assert result["machine"] == device(["Legacy", "PCI"])
    assert server.devices[DEVICE]["machineTags"] == ["VIP", "Legacy"]
    assert result["diff"] == {"before": {"tags": ["VIP", "Legacy"]}, "after": {"tags": ["Legacy", "PCI"]}}


def test_check_mode_predicts_what_a_real_run_then_does(transport):
    params = dict(tag=["PCI", "legacy"], purge=True, diff=True)
    checked = tag_task(transport, ["VIP", "Legacy"], check_mode=True, **params)[2]
    done = tag_task(transport, ["VIP", "Legacy"], **params)[2]
    for key in ("changed", "machine", "tags_added", "tags_removed", "diff"):
        assert checked[key] == done[key], key


def test_a_device_by_name_is_found_with_a_filter_and_tagged_by_its_id(transport):
    devices = [device([], name="ws-fin-007.contoso.example"), device([], OTHER, "ws-hr-001.contoso.example")]
    server, module, result = tag_task(transport, None, devices=devices, machine_id=None,
                                      name="ws-hr-001.contoso.example", tag=["HR"])
    assert server.queries[0]["$filter"] == "computerDnsName eq 'ws-hr-001.contoso.example'"
    assert [(seen.method, seen.path) for seen in transport.seen] == [
        ("GET", "/api/machines"), ("POST", "/api/machines/%s/tags" % OTHER)]
    assert result["machine"]["id"] == OTHER and result["machine"]["machineTags"] == ["HR"]


@pytest.mark.parametrize("name, filters", [
    ("WS-HR-001.contoso.example", ["computerDnsName eq 'WS-HR-001.contoso.example'",
                                   "computerDnsName eq 'ws-hr-001.contoso.example'"]),
    ("ws-hr-001", ["computerDnsName eq 'ws-hr-001'", "(startswith(computerDnsName,'ws-hr-001.'))"]),
    ("WS-HR-001", ["computerDnsName eq 'WS-HR-001'", "computerDnsName eq 'ws-hr-001'",
                   "(startswith(computerDnsName,'ws-hr-001.'))"]),
])
def test_a_name_in_upper_case_or_without_its_domain_finds_the_device(transport, name, filters):
    devices = [device([], name="ws-hr-001.contoso.example"), device([], OTHER, "ws-hr-0011.contoso.example")]
    server, module, result = tag_task(transport, None, devices=devices, machine_id=None, name=name, tag=["HR"])
    assert [query["$filter"] for query in server.queries] == filters
    assert result["machine"]["id"] == DEVICE


def test_a_name_with_no_device_or_several_fails_before_any_change(transport):
    devices = [device([], name="dup.contoso.example"), device([], OTHER, "dup.contoso.example")]
    for name, words in (("nobody.contoso.example", ["No device is named nobody.contoso.example", TENANT]),
                        ("dup.contoso.example", ["2 devices are named dup.contoso.example", DEVICE, OTHER,
                                                 "'machine_id'"])):
        with pytest.raises(ApiError) as raised:
            tag_task(transport, None, devices=devices, machine_id=None, name=name, tag=["HR"])
        for word in words:
            assert word in raised.value.message
    assert [seen.method for seen in transport.seen] == ["GET", "GET"]
    with pytest.raises(ApiError) as raised:
        tag_task(transport, None, devices=devices, machine_id=None, name="nobody", tag=["HR"])
    assert "No device is named nobody in tenant %s (endpoint API), nor is any DNS name nobody.<domain>." % TENANT \
        in raised.value.message


def test_an_unknown_device_fails_naming_the_tenant(transport):
    with pytest.raises(ApiError) as raised:
        tag_task(transport, None, devices=[device([], OTHER)], tag=["VIP"])
    assert raised.value.status == 404
    assert "Device %s does not exist in tenant %s" % (DEVICE, TENANT) in raised.value.message
    assert len(transport.seen) == 1


def test_a_refused_first_post_applies_nothing_and_says_why(transport):
    forbidden = make_response(403, {"error": {"code": "Forbidden", "message": "The application does not have any of "
                                              "the required application permissions (Machine.ReadWrite.All)."}})
    with pytest.raises(ApiError) as raised:
        tag_task(transport, [], tag=["A", "B"], refuse={("Add", "A"): forbidden})
    error = raised.value
    assert "Machine.ReadWrite.All" in error.message
    assert "applied: nothing" in error.message and "not applied: add 'A', add 'B'" in error.message
    assert error.details["changed"] is False
    assert error.details["not_applied"] == ["add 'A'", "add 'B'"]
    assert error.details["tags_added"] == [] and error.details["tags_removed"] == []


def test_a_failure_part_way_says_which_tags_were_applied(transport):
    refused = make_response(400, {"error": {"code": "InvalidInput", "message": "No."}})
    with pytest.raises(ApiError) as raised:
        tag_task(transport, ["Old"], tag=["A", "B"], purge=True, refuse={("Add", "B"): refused})
    error = raised.value
    assert error.details["changed"] is True
    assert error.details["applied"] == ["add 'A'"] and error.details["tags_added"] == ["A"]
    assert error.details["not_applied"] == ["add 'B'", "remove 'Old'"]
    assert error.details["unconfirmed"] == []
    assert "The update of device %s stopped" % DEVICE in error.message


def test_a_lost_answer_is_retried_since_a_tag_post_is_safe_to_repeat(transport):
    server = FakeMachines([device([])])
    transport.answer(server, requests.exceptions.ConnectionError("reset by peer"))
    transport.handler = server
    module = FakeModule(endpoint_client(retries=1), machine_id=DEVICE, tag=["A"])
    result = machine_tag_result(module)
    assert [seen.method for seen in transport.seen] == ["GET", "POST", "POST"]
    assert result["changed"] is True and result["machine"]["machineTags"] == ["A"]


def test_a_lost_answer_that_landed_is_confirmed_by_reading_the_device_again(transport):
    server = FakeMachines([device([])])

    def landed_but_lost(seen):
        server(seen)
        raise requests.exceptions.ConnectionError("reset by peer")

    transport.answer(server, landed_but_lost)
    transport.handler = server
    module = FakeModule(endpoint_client(), machine_id=DEVICE, tag=["A", "B"])
    result = machine_tag_result(module)
    assert [seen.method for seen in transport.seen] == ["GET", "POST", "GET", "POST"]
    assert result["machine"]["machineTags"] == ["A", "B"]
    assert len(module.warnings) == 1 and "carried out (add 'A')" in module.warnings[0]


def test_a_lost_answer_that_never_shows_is_unconfirmed(transport):
    server = FakeMachines([device(["Old"])])
    transport.answer(server, requests.exceptions.ConnectionError("reset by peer"))
    transport.handler = server
    module = FakeModule(endpoint_client(timeout=2), machine_id=DEVICE, tag=["A", "B"])
    with pytest.raises(TransportError) as raised:
        machine_tag_result(module)
    error = raised.value
    assert error.details["unconfirmed"] == ["add 'A'"] and error.details["not_applied"] == ["add 'B'"]
    assert error.details["applied"] == [] and error.details["changed"] is True
    assert server.posts == []  # the lost POST never reached the fake, and it was not sent again
    assert [seen.method for seen in transport.seen].count("POST") == 1


def test_a_device_whose_tags_are_not_strings_is_refused(transport):
    bad = dict(device([]), machineTags="VIP")
    with pytest.raises(ApiError) as raised:
        tag_task(transport, None, devices=[bad], tag=["VIP"])
    assert "'machineTags'" in raised.value.message and "list of strings" in raised.value.message
