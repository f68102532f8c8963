# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Device response: the checks of an action's options, when the device needs none, sending once, waiting."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError, M365DefenderError
from ansible_collections.secops.m365_defender.plugins.module_utils._machine_actions import (
    ACTIONS,
    ActionRequest,
    already,
    respond,
    wait_for,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import DEVICE
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import make_response
from ansible_collections.secops.m365_defender.tests.unit.plugins.module_utils.test_machines import endpoint_client

SHA1 = "5f1e8acedc065031aad553b710838eb366cfee9a"


def request(action, **given):
    params = dict(action=action, comment="Incident 7", isolation_type=None, scan_type=None, sha1=None, wait=False,
                  wait_timeout=600, download_path=None)
    params.update(given)
    return ActionRequest(params)


def action(kind, status, created, **fields):
    return dict({"id": "%s-%s-%s" % (kind, status, created), "type": kind, "status": status,
                 "creationDateTimeUtc": "2026-12-06T10:%02d:00Z" % created, "machineId": DEVICE}, **fields)


@pytest.mark.parametrize("name, given, body", [
    ("isolate", {}, {"Comment": "Incident 7", "IsolationType": "Full"}),
    ("isolate", {"isolation_type": "selective"}, {"Comment": "Incident 7", "IsolationType": "Selective"}),
    ("av_scan", {}, {"Comment": "Incident 7", "ScanType": "Quick"}),
    ("av_scan", {"scan_type": "full"}, {"Comment": "Incident 7", "ScanType": "Full"}),
    ("release", {}, {"Comment": "Incident 7"}),
    ("stop_and_quarantine_file", {"sha1": SHA1.upper()}, {"Comment": "Incident 7", "Sha1": SHA1}),
])
def test_each_action_sends_the_body_the_api_documents(name, given, body):
    assert request(name, **given).body == body


@pytest.mark.parametrize("name, given, words", [
    ("isolate", {"comment": "  "}, ["'comment'", "must not be empty"]),
    ("av_scan", {"isolation_type": "full"}, ["'isolation_type'", "only for action 'isolate'"]),
    ("isolate", {"scan_type": "full"}, ["'scan_type'", "only for action 'av_scan'"]),
    ("stop_and_quarantine_file", {}, ["'sha1'", "40 hexadecimal digits"]),
    ("stop_and_quarantine_file", {"sha1": "abc"}, ["'sha1'", "40 hexadecimal digits"]),
    ("isolate", {"sha1": SHA1}, ["'sha1'", "only for action 'stop_and_quarantine_file'"]),
    ("av_scan", {"download_path": "/tmp/x.zip"}, ["'download_path'", "collect_investigation_package"]),
    ("isolate", {"wait_timeout": 0}, ["'wait_timeout'", "from 1 to 86400"]),
])
def test_options_that_do_not_fit_the_action_are_refused(name, given, words):
    with pytest.raises(InputError) as raised:
        request(name, **given)
    for word in words:
        assert word in raised.value.message


def test_a_download_path_implies_waiting():
    assert request("collect_investigation_package", download_path="/tmp/p.zip").wait is True


@pytest.mark.parametrize("name, actions, needless", [
    # An identical open action: not sent again.
    ("av_scan", [action("RunAntiVirusScan", "InProgress", 5, scope="Quick")], "RunAntiVirusScan-InProgress-5"),
    ("av_scan", [action("RunAntiVirusScan", "InProgress", 5, scope="Full")], None),
    ("av_scan", [action("RunAntiVirusScan", "Succeeded", 5, scope="Quick")], None),
    # Isolation follows the last isolation action that succeeded or is open.
    ("isolate", [action("Isolate", "Succeeded", 5, scope="Full")], "Isolate-Succeeded-5"),
    ("isolate", [action("Unisolate", "Succeeded", 6), action("Isolate", "Succeeded", 5)], None),
    ("isolate", [action("Isolate", "Failed", 6), action("Unisolate", "Succeeded", 5)], None),
    ("isolate", [], None),
    ("release", [action("Unisolate", "Succeeded", 6), action("Isolate", "Succeeded", 5)], "Unisolate-Succeeded-6"),
    ("release", [action("Isolate", "Succeeded", 5)], None),
    ("release", [], {}),
    ("remove_app_restriction", [action("Isolate", "Succeeded", 5)], {}),
    ("stop_and_quarantine_file", [action("StopAndQuarantineFile", "Pending", 5,
                                         relatedFileInfo={"fileIdentifier": SHA1})], "StopAndQuarantineFile-Pending-5"),
    ("stop_and_quarantine_file", [action("StopAndQuarantineFile", "Pending", 5,
                                         relatedFileInfo={"fileIdentifier": "0" * 40})], None),
])
def test_what_makes_an_action_needless(name, actions, needless):
    given = {"sha1": SHA1} if name == "stop_and_quarantine_file" else {}
    found = already(request(name, **given), actions)
    assert (found.get("id") if found else found) == needless


class FakeDevice(object):
    """The machine actions of one device: lists them, takes new ones, and moves each on a step per read."""

    def __init__(self, actions=(), ending="Succeeded", lose_answer=False):
        self.actions = list(actions)
        self.ending = ending
        self.lose_answer = lose_answer
        self.posts = []

    def __call__(self, seen):
        if seen.method == "POST":
            self.posts.append(json.loads(seen.body))
            kind = next(item.type for item in ACTIONS.values() if seen.path.endswith("/" + item.segment))
            created = action(kind, "Pending", 30 + len(self.posts))
            self.actions.insert(0, created)
            return make_response(500 if self.lose_answer else 201, {} if self.lose_answer else created)
        if seen.path.endswith("/machineactions"):
            return make_response(200, {"value": self.actions})
        current = next(item for item in self.actions if seen.path.endswith(item["id"]))
        following = {"Pending": "InProgress", "InProgress": self.ending}
        current["status"] = following.get(current["status"], current["status"])
        return make_response(200, current)


def test_an_action_is_sent_once_and_followed_until_it_succeeds(transport):
    device = FakeDevice()
    transport.handler = device
    client = endpoint_client()
    changed, done, warnings, size = respond(client, request("isolate", wait=True), DEVICE)
    assert changed and done["status"] == "Succeeded" and warnings == [] and size is None
    assert device.posts == [{"Comment": "Incident 7", "IsolationType": "Full"}]
    assert [seen.method for seen in transport.seen] == ["GET", "POST", "GET", "GET"]


def test_check_mode_reads_and_sends_nothing(transport):
    device = FakeDevice()
    transport.handler = device
    assert respond(endpoint_client(), request("isolate"), DEVICE, check_mode=True) == (True, None, [], None)
    assert device.posts == []


@pytest.mark.parametrize("ending", ["Failed", "Cancelled", "TimeOut"])
def test_an_action_that_ends_badly_fails_the_wait_saying_how(transport, ending):
    transport.handler = FakeDevice(ending=ending)
    with pytest.raises(M365DefenderError) as raised:
        respond(endpoint_client(), request("av_scan", wait=True), DEVICE)
    assert "ended %s" % ending in raised.value.message and raised.value.details["machine_action"]["status"] == ending
    assert raised.value.details["changed"] is True, "the action was sent"


def test_a_wait_that_runs_out_says_the_action_goes_on(transport):
    transport.handler = FakeDevice([action("Isolate", "Pending", 5)])
    ticks = [0.0, 0.0, 700.0]
    client = endpoint_client()
    with pytest.raises(M365DefenderError) as raised:
        wait_for(client, action("Isolate", "Pending", 5), 600, clock=lambda: ticks.pop(0) if len(ticks) > 1 else ticks[0])
    assert "still InProgress after 600 s" in raised.value.message and "goes on" in raised.value.message


def test_a_lost_answer_is_not_sent_again_and_the_action_found_is_taken(transport):
    device = FakeDevice(lose_answer=True)
    transport.handler = device
    client = endpoint_client()
    changed, done, warnings, size = respond(client, request("av_scan"), DEVICE)
    assert changed and done["type"] == "RunAntiVirusScan" and done["status"] == "Pending"
    assert len(device.posts) == 1, "never sent twice"
    assert len(warnings) == 1 and "not sent again" in warnings[0]


def test_the_package_is_saved_privately(transport, tmp_path):
    device = FakeDevice([action("CollectInvestigationPackage", "Succeeded", 5)])
    package = b"PK\x03\x04 investigation package"

    def handler(seen):
        if seen.path.endswith("/GetPackageUri"):
            return make_response(200, {"value": "https://blob.sandbox.test/p.zip?sig=x"})
        if seen.host == "blob.sandbox.test":
            assert "Authorization" not in seen.headers, "a pre-signed link gets no token"
            response = make_response(200, {})
            response._content = package
            return response
        return device(seen)
    transport.handler = handler
    target = str(tmp_path / "package.zip")
    result = respond(endpoint_client(), request("collect_investigation_package", download_path=target), DEVICE)
    assert result[3] == len(package) and open(target, "rb").read() == package
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert device.posts, "a new collection: the last one succeeded, but a collection runs again on every task"
