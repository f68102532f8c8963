# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""machine_tag through main(): the Defender for Endpoint API whatever `api` says, check and diff mode, and the
device options checked before signing in."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.secops.m365_defender.plugins.modules import machine_tag
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import (
    CLIENT,
    DEFENDER,
    DEVICE,
    LOGIN,
    TENANT,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import FakeEntra, Router
from ansible_collections.secops.m365_defender.tests.unit.plugins.module_utils.test_machine_tags import (
    FakeMachines,
    device,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module


def arguments(**extra):
    return dict({"api": "graph", "tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s", "login_url": LOGIN,
                 "defender_url": DEFENDER}, **extra)


def serve(transport, tags):
    machines = FakeMachines([device(tags)])
    transport.handler = Router(**{"login.sandbox.test": FakeEntra(LOGIN, TENANT), "defender.sandbox.test": machines})
    return machines


def test_tags_are_added_on_the_endpoint_api_with_a_token_for_it(transport):
    machines = serve(transport, ["VIP"])
    outcome, result = run_module(machine_tag.main, arguments(machine_id=DEVICE, tag=["PCI"]))
    assert outcome == "exit", result
    assert result["changed"] is True and result["api"] == "endpoint"
    assert result["machine"]["machineTags"] == ["VIP", "PCI"] and result["tags_added"] == ["PCI"]
    assert machines.posts == [("Add", "PCI")]
    token_request = [seen for seen in transport.seen if seen.host == "login.sandbox.test" and seen.method == "POST"][0]
    assert "api.securitycenter.microsoft.com%2F.default" in token_request.body
    assert result["http"]["requests"] >= 3


def test_check_mode_with_diff_sends_no_post(transport):
    machines = serve(transport, ["VIP", "Legacy"])
    outcome, result = run_module(machine_tag.main, arguments(
        machine_id=DEVICE, tag=["vip"], purge=True, _ansible_check_mode=True, _ansible_diff=True))
    assert outcome == "exit", result
    assert machines.posts == []
    assert result["changed"] is True and result["tags_removed"] == ["Legacy"]
    assert result["diff"] == {"before": {"tags": ["VIP", "Legacy"]}, "after": {"tags": ["VIP"]}}


def test_device_options_are_checked_before_signing_in(transport):
    for extra, words in (({"machine_id": DEVICE, "name": "ws"}, "mutually exclusive"),
                         ({}, "One of the options 'machine_id'"),
                         ({"machine_id": DEVICE, "tag": ["a", "A"]}, "names one tag twice")):
        extra.setdefault("tag", ["VIP"])
        outcome, result = run_module(machine_tag.main, arguments(**extra))
        assert outcome == "fail" and words in result["msg"], result
    assert transport.seen == []
