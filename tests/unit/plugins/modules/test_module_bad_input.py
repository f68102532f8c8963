# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input to every module, through main(): a clear failure naming the option, and not a single request.

The integration target bad_input_matrix runs a broader list through ansible-playbook against the sandbox; these
cases pin the checks added for issue 11 (values Ansible would turn into their Python text, ids with a line break,
out-of-range numbers and times, timespans, credentials that cannot be used).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

import pytest

from ansible_collections.secops.m365_defender.plugins.modules import (
    alert,
    alert_info,
    app_registration_info,
    hunting_query,
    incident,
    incident_info,
    token,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, GRAPH, LOGIN, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import make_jwt
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module


MODULES = {"token": token, "app_registration_info": app_registration_info, "incident_info": incident_info,
           "incident": incident, "hunting_query": hunting_query, "alert_info": alert_info, "alert": alert}


def held(api="graph"):
    return {"access_token": make_jwt({"aud": "x"}), "expires_on": int(time.time()) + 3600, "api": api,
            "cloud": "global", "tenant_id": TENANT, "client_id": CLIENT, "login_url": LOGIN,
            "api_url": GRAPH + "/v1.0" if api == "graph" else "https://defender.sandbox.test/api"}


def credentials(**extra):
    return dict({"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s3cr3t", "login_url": LOGIN,
                 "graph_url": GRAPH}, **extra)


# (module, arguments besides a usable token, words the message must hold)
CASES = [
    # Values that Ansible would silently turn into their Python text.
    ("incident", {"incident_id": "7", "tags": [{"team": "soc"}]}, ["'tags'", "item 1 is a dictionary"]),
    ("incident", {"incident_id": "7", "tags": ["ok", True]}, ["'tags'", "item 2 is a boolean"]),
    ("incident", {"incident_id": "7", "tags": [1.10]}, ["'tags'", "item 1 is a number with a fraction"]),
    ("incident", {"incident_id": "7", "tags": [["nested"]]}, ["'tags'", "item 1 is a list"]),
    ("incident", {"incident_id": "7", "assigned_to": {"upn": "a@contoso.example"}}, ["'assigned_to'", "dictionary"]),
    ("incident", {"incident_id": "7", "comment": ["one", "two"]}, ["'comment'", "must be a string, got a list"]),
    ("hunting_query", {"query": ["DeviceEvents"]}, ["'query'", "must be a string"]),
    ("incident_info", {"status": [{"active": True}]}, ["'status'", "item 1 is a dictionary"]),
    # Empty tags.
    ("incident", {"incident_id": "7", "tags": [""]}, ["'tags'", "non-empty strings", "item 1"]),
    ("incident", {"incident_id": "7", "tags": ["ok", "  "]}, ["'tags'", "non-empty strings", "item 2"]),
    # Ids with a line break or spaces around them.
    ("incident", {"incident_id": "7\n", "status": "active"}, ["'incident_id'", "digits only"]),
    ("incident_info", {"incident_id": " 7"}, ["'incident_id'", "digits only"]),
    # Times out of range.
    ("incident_info", {"created_after": "999999999w"}, ["'created_after'", "out of range", "1970-01-01"]),
    ("incident_info", {"updated_after": "0001-01-01T00:00:00+01:00"}, ["'updated_after'", "out of range"]),
    ("incident_info", {"created_after": "0001-01-01"}, ["'created_after'", "out of range"]),
    ("incident_info", {"created_after": "9999-12-31T23:59:59-05:00"}, ["'created_after'", "out of range"]),
    # Timespans Graph does not take.
    ("hunting_query", {"query": "AlertInfo", "timespan": "garbage"}, ["'timespan'", "ISO-8601 duration"]),
    ("hunting_query", {"query": "AlertInfo", "timespan": "P1D/P2D"}, ["'timespan'", "start/end"]),
    ("hunting_query", {"query": "AlertInfo", "timespan": ""}, ["'timespan'", "ISO-8601 duration"]),
    ("hunting_query", {"query": "AlertInfo", "timespan": "2026-11-02/2026-11-01"}, ["'timespan'", "ends before"]),
    # Numbers out of range.
    ("app_registration_info", {"expiry_warning_days": -1}, ["'expiry_warning_days'", "from 0 to 3650", "got -1"]),
    ("incident_info", {"timeout": 0}, ["'timeout'", "from 1 to 3600"]),
    ("incident_info", {"retries": -1}, ["'retries'", "from 0 to 20"]),
    # Alerts: ids, enums of alerts (not incidents), the one API that has them, filters Graph cannot apply here.
    ("alert", {"alert_id": "da6375/../../incidents", "status": "resolved"}, ["'alert_id'", "no spaces, slashes"]),
    ("alert", {"alert_id": "da1", "status": "active"}, ["'status'", "got 'active'", "inProgress, new, resolved"]),
    ("alert", {"alert_id": "da1", "status": "unknown"}, ["'status'", "cannot be 'unknown'"]),
    ("alert", {"alert_id": "da1", "classification": "falsePositive", "determination": "malware"},
     ["Determination 'malware' does not go with classification 'falsePositive'", "notMalicious"]),
    ("alert", {"alert_id": "da1", "comment": "  "}, ["'comment'", "must not be empty"]),
    ("alert", {"alert_id": "da1", "status": "new", "api": "defender"}, ["no alerts endpoint", "api: graph"]),
    ("alert_info", {"api": "defender"}, ["Defender XDR API has no alerts endpoint", "SecurityAlert.Read.All"]),
    ("alert_info", {"detection_source": ["edr", "laser"]}, ["'detection_source'", "got 'laser'", "antivirus"]),
    ("alert_info", {"service_source": ["defenderForToasters"]}, ["'service_source'", "microsoftSentinel"]),
    ("alert_info", {"status": ["awaitingAction"]}, ["'status'", "got 'awaitingAction'", "new"]),
    ("alert_info", {"incident_id": "7", "filter": "severity eq 'high'"}, ["'incident_id' and 'filter'"]),
    ("alert_info", {"incident_id": "seven"}, ["'incident_id'", "digits only"]),
    ("alert_info", {"limit": 0}, ["'limit'", "1 or more"]),
    ("alert_info", {"filter": "status eq 'new')"}, ["'filter'", "closes a parenthesis"]),
]


@pytest.mark.parametrize("name, args, words", CASES, ids=["%s-%s" % (case[0], sorted(case[1])[-1]) for case in CASES])
def test_module_options_fail_clearly_before_any_request(transport, name, args, words):
    outcome, result = run_module(MODULES[name].main, dict(args, auth=held(args.get("api", "graph"))))
    assert outcome == "fail", result
    for word in words:
        assert word in result["msg"]
    assert "Unexpected" not in result["msg"] and "exception" not in result
    assert transport.seen == [], "not a single request"


def test_the_python_text_of_a_secret_is_not_shown(transport):
    outcome, result = run_module(token.main, credentials(client_secret={"value": "hunter2"}))
    assert outcome == "fail" and "'client_secret' must be a string" in result["msg"]
    assert "hunter2" not in str(result)
    assert transport.seen == []


# (arguments that replace the usable credentials', words the message must hold)
SIGN_IN_CASES = [
    ({"tenant_id": TENANT + "\n"}, ["'tenant_id'", "line break"]),
    ({"tenant_id": " " + TENANT}, ["'tenant_id'", "line break"]),
    ({"client_id": CLIENT + "\n"}, ["'client_id'", "line break"]),
    ({"client_secret": None, "auth_flow": "managed_identity", "managed_identity_client_id": CLIENT + "\n"},
     ["'managed_identity_client_id'", "line break"]),
    ({"client_secret": None, "auth_flow": "managed_identity", "managed_identity_client_id": "vm-identity"},
     ["'managed_identity_client_id'", "GUID"]),
    ({"client_certificate_path": "NOT_PEM"}, ["client_certificate_path and client_secret", "auth_flow"]),
    ({"auth_flow": "device_code", "device_code_timeout": -5}, ["'device_code_timeout'", "from 1 to 3600"]),
    ({"ca_path": "/nonexistent/ca.pem"}, ["'ca_path'", "/nonexistent/ca.pem", "does not exist"]),
    ({"ca_path": "NOT_PEM"}, ["'ca_path'", "not-pem.txt", "no usable PEM CA certificate"]),
]


@pytest.mark.parametrize("args, words", SIGN_IN_CASES, ids=[sorted(case[0])[-1] for case in SIGN_IN_CASES])
def test_sign_in_options_fail_clearly_before_any_request(transport, tmp_path, args, words):
    not_pem = tmp_path / "not-pem.txt"
    not_pem.write_text("not a certificate\n")
    given = dict((key, str(not_pem) if value == "NOT_PEM" else value) for key, value in credentials(**args).items()
                 if value is not None)
    outcome, result = run_module(token.main, given)
    assert outcome == "fail", result
    for word in words:
        assert word in result["msg"]
    assert "Unexpected" not in result["msg"]
    assert transport.seen == [], "not even a sign-in"
