# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""indicator and indicator_info through main(): the Defender for Endpoint API whatever `api` says, check and diff
mode, and the options checked before signing in."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.secops.m365_defender.plugins.modules import indicator, indicator_info
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, DEFENDER, LOGIN, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import FakeEntra, Router
from ansible_collections.secops.m365_defender.tests.unit.plugins.module_utils.test_indicators import (
    SHA256,
    FakeIndicators,
    existing,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module

FIELDS = {"action": "block", "title": "Feed", "description": "Weekly feed"}


def arguments(**extra):
    return dict({"api": "graph", "tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s", "login_url": LOGIN,
                 "defender_url": DEFENDER}, **extra)


def serve(transport, items=()):
    server = FakeIndicators(items)
    transport.handler = Router(**{"login.sandbox.test": FakeEntra(LOGIN, TENANT), "defender.sandbox.test": server})
    return server


def test_an_indicator_is_created_on_the_endpoint_api_with_a_token_for_it(transport):
    server = serve(transport)
    outcome, result = run_module(indicator.main, arguments(type="domain", value="Evil.Example", **FIELDS))
    assert outcome == "exit", result
    assert result["changed"] is True and result["api"] == "endpoint"
    assert result["created"] == [{"type": "domain", "value": "evil.example"}]
    assert result["indicators"][0]["indicatorValue"] == "evil.example"
    assert server.calls == ["GET /api/indicators", "POST /api/indicators"]
    token_request = [seen for seen in transport.seen if seen.host == "login.sandbox.test" and seen.method == "POST"][0]
    assert "api.securitycenter.microsoft.com%2F.default" in token_request.body


def test_check_mode_with_diff_sends_no_write(transport):
    server = serve(transport, [existing()])
    outcome, result = run_module(indicator.main, arguments(
        type="file_sha256", value=SHA256, action="warn", title="Feed", description="Weekly feed",
        _ansible_check_mode=True, _ansible_diff=True))
    assert outcome == "exit", result
    assert server.calls == ["GET /api/indicators"]
    key = "file_sha256:%s" % SHA256
    assert result["changed"] is True and result["diff"]["before"][key]["action"] == "Block"
    assert result["diff"]["after"][key]["action"] == "Warn"


def test_options_are_checked_before_signing_in(transport):
    for extra, words in (({"type": "ip", "value": "10.0.0.0/8"}, "Option 'value'"),
                         ({"type": "url", "value": "https://x.example", "action": "block_and_remediate"},
                          "Option 'action'"),
                         ({"type": "ip", "value": "10.0.0.1", "indicators": [{}]}, "mutually exclusive"),
                         ({"type": "ip"}, "Option 'value' is required")):
        params = dict(FIELDS)
        params.update(extra)
        outcome, result = run_module(indicator.main, arguments(**params))
        assert outcome == "fail" and words in result["msg"], result
    outcome, result = run_module(indicator.main, arguments(type="hash", value="x", **FIELDS))
    assert outcome == "fail" and "type" in result["msg"]
    assert transport.seen == []


def test_indicator_info_lists_with_server_filters(transport):
    serve(transport, [existing(), existing("evil.example", "DomainName", "8")])
    outcome, result = run_module(indicator_info.main, arguments(type=["domain"], action=["block"]))
    assert outcome == "exit", result
    assert result["count"] == 1 and result["indicators"][0]["id"] == "8" and result["api"] == "endpoint"
    listing = [seen for seen in transport.seen if seen.path == "/api/indicators"][0]
    assert listing.query["$filter"] == "indicatorType eq 'DomainName' and action eq 'Block'"
