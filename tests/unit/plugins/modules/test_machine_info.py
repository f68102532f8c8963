# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""machine_info: always the Defender for Endpoint API, its audience and its host, whatever `api` says."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.secops.m365_defender.plugins.modules import machine_info
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, DEFENDER, LOGIN, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    FakeEntra,
    IncidentApi,
    Router,
    make_jwt,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module

DEVICES = [{"id": "%040x" % number, "computerDnsName": "ws-%03d" % number} for number in range(3)]


def test_a_task_that_says_graph_still_signs_in_for_and_reads_the_endpoint_api(transport):
    entra = FakeEntra(LOGIN, TENANT)
    devices = IncidentApi("graph", DEVICES, DEFENDER + "/api")
    devices.max_top = 10000
    transport.handler = Router(**{"login.sandbox.test": entra, "defender.sandbox.test": devices})
    outcome, result = run_module(machine_info.main, {
        "api": "graph", "tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s", "login_url": LOGIN,
        "defender_url": DEFENDER, "health_status": ["active"]})
    assert outcome == "exit", result
    assert result["api"] == "endpoint" and result["machines"] == DEVICES and result["count"] == 3
    token_requests = [seen for seen in transport.seen if seen.host == "login.sandbox.test" and seen.method == "POST"]
    assert "api.securitycenter.microsoft.com%2F.default" in token_requests[0].body
    assert devices.queries[0]["$filter"] == "healthStatus eq 'Active'"


def test_a_token_for_another_api_is_not_used_and_the_task_says_why(transport):
    graph_token = {"access_token": make_jwt({"aud": "x"}), "expires_on": int(time.time()) + 3600, "api": "graph",
                   "cloud": "global", "tenant_id": TENANT, "client_id": CLIENT}
    outcome, result = run_module(machine_info.main, {"auth": graph_token})
    assert outcome == "fail"
    assert "its api is 'graph' but this task's is 'endpoint'" in result["msg"]
    assert transport.seen == []
