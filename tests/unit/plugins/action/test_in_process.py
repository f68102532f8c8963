# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""API modules in-process on the controller: when that path is taken, and that it answers as the module does."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

import pytest
from ansible.errors import AnsibleError
from ansible.playbook.task import Task

from ansible_collections.secops.m365_defender.plugins.action.hunting_query import ActionModule as HuntingAction
from ansible_collections.secops.m365_defender.plugins.action.incident import ActionModule as IncidentAction
from ansible_collections.secops.m365_defender.plugins.action.incident_info import ActionModule as IncidentInfoAction
from ansible_collections.secops.m365_defender.plugins.modules import incident, incident_info
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, GRAPH, LOGIN, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import FakeEntra, IncidentApi, make_jwt
from ansible_collections.secops.m365_defender.tests.unit.plugins.modules.utils import run_module

try:
    from unittest import mock
except ImportError:  # pragma: no cover
    import mock


class Templar(object):
    def template(self, value):
        return value


class Display(object):
    def __init__(self, verbosity=0):
        self.verbosity = verbosity
        self.shown = []
        self.verbose = []

    def display(self, message, color=None, stderr=False):  # pylint: disable=unused-argument
        self.shown.append(message)

    def vvv(self, message, host=None):  # pylint: disable=unused-argument
        self.verbose.append(message)


def plugin(cls, args, transport="local", async_val=0, become=False, check_mode=False, diff=False, environment=None):
    task = mock.MagicMock(Task)
    task.args = args
    task.async_val = async_val
    task.check_mode = check_mode
    task.diff = diff
    task.environment = environment
    task.action = "secops.m365_defender.%s" % cls.__module__.rsplit(".", 1)[-1]
    task.get_name.return_value = "the task"
    connection = mock.Mock()
    connection.transport = transport
    connection.has_native_async = False
    play_context = mock.Mock()
    play_context.check_mode = check_mode
    play_context.become = become
    action = cls(task, connection, play_context, loader=None, templar=Templar(), shared_loader_obj=None)
    action._execute_module = mock.Mock(return_value={"changed": False, "from": "the module"})
    action._display = Display()
    return action


def held():
    return {"access_token": make_jwt({"aud": "x"}), "expires_on": int(time.time()) + 3600, "api": "graph",
            "cloud": "global", "tenant_id": TENANT, "client_id": CLIENT, "login_url": LOGIN,
            "api_url": GRAPH + "/v1.0"}


def graph_incidents(count):
    return [{"id": str(number), "severity": "high", "status": "active", "displayName": "Incident %d" % number}
            for number in range(1, count + 1)]


# ----- which path


@pytest.mark.parametrize("settings, reason", [
    ({}, None),
    ({"transport": "ssh"}, "reached over ssh"),
    ({"transport": "winrm"}, "reached over winrm"),
    ({"async_val": 30}, "async"),
    ({"become": True}, "become"),
])
def test_in_process_only_when_the_target_is_the_controller(transport, settings, reason):
    action = plugin(IncidentInfoAction, {"tenant_id": TENANT, "auth": held()}, **settings)
    found = action.module_path_reason({})
    if reason is None:
        assert found is None
    else:
        assert reason in found


@pytest.mark.parametrize("task_vars, env, module_path", [
    ({"m365d_execution": "module"}, None, True),
    ({"m365d_execution": "auto"}, "module", False),
    ({}, "module", True),
    ({}, "auto", False),
    ({}, None, False),
])
def test_the_switch_forces_the_module_path(monkeypatch, task_vars, env, module_path):
    if env is not None:
        monkeypatch.setenv("M365D_EXECUTION", env)
    action = plugin(IncidentInfoAction, {})
    assert bool(action.module_path_reason(task_vars)) is module_path


def test_a_wrong_switch_value_is_an_error_naming_the_choices():
    action = plugin(IncidentInfoAction, {})
    with pytest.raises(AnsibleError) as raised:
        action.module_path_reason({"m365d_execution": "remote"})
    assert "m365d_execution" in str(raised.value) and "auto, module" in str(raised.value)


def test_the_module_path_runs_the_module(transport):
    action = plugin(IncidentInfoAction, {"tenant_id": TENANT}, transport="ssh")
    result = action.run(task_vars={"inventory_hostname": "remote"})
    action._execute_module.assert_called_once_with(task_vars={"inventory_hostname": "remote"}, wrap_async=0)
    assert result["from"] == "the module"
    assert transport.seen == []
    assert "ssh" in action._display.verbose[0]


def test_async_is_left_to_the_module(transport):
    action = plugin(IncidentInfoAction, {"tenant_id": TENANT}, async_val=45)
    action.run(task_vars={})
    action._execute_module.assert_called_once_with(task_vars={}, wrap_async=True)


# ----- the same answers as the module


def module_and_plugin(transport, main, cls, args, **settings):
    """The module's result and the in-process result for the same arguments and the same fake service."""
    outcome, by_module = run_module(main, args)
    sent_by_module = len(transport.seen)
    by_plugin = plugin(cls, args, **settings).run(task_vars={"inventory_hostname": "contoso"})
    assert by_plugin.pop("_ansible_no_log", None) is None
    return outcome, by_module, by_plugin, sent_by_module


def test_a_listing_is_the_same_on_both_paths(transport):
    transport.handler = IncidentApi("graph", graph_incidents(120), GRAPH + "/v1.0")
    args = {"tenant_id": TENANT, "auth": held(), "severity": ["high"], "limit": 70}
    outcome, by_module, by_plugin, sent = module_and_plugin(transport, incident_info.main, IncidentInfoAction, args)
    assert outcome == "exit"
    by_plugin.pop("invocation")
    assert by_plugin == by_module
    assert by_plugin["count"] == 70 and by_plugin["pages"] == 2
    assert len(transport.seen) == 2 * sent


@pytest.mark.parametrize("args", [
    {"tenant_id": TENANT, "auth": held(), "bogus": 1},
    {"tenant_id": TENANT, "auth": held(), "limit": "many"},
    {"tenant_id": TENANT, "auth": held(), "limit": 0},
    {"tenant_id": TENANT, "auth": held(), "severity": ["critical"]},
    {"tenant_id": TENANT, "auth": held(), "status": "active", "assigned_to": {"upn": "x"}},
    {"tenant_id": "not a tenant", "client_id": CLIENT, "client_secret": "s3cr3t-value-here"},
])
def test_bad_input_fails_with_the_module_s_message_before_any_request(transport, args):
    outcome, by_module, by_plugin, dummy = module_and_plugin(transport, incident_info.main, IncidentInfoAction, args)
    assert outcome == "fail" and by_plugin["failed"] is True
    # A module in a unit test takes its name from the test runner's script.
    assert by_plugin["msg"] == by_module["msg"].replace("(basic.py)", "(incident_info)")
    assert transport.seen == []


@pytest.mark.parametrize("check_mode, diff", [(False, False), (True, False), (False, True), (True, True)])
def test_check_and_diff_mode_reach_run(transport, monkeypatch, check_mode, diff):
    seen = []
    monkeypatch.setattr(incident, "run", lambda task: seen.append((task.check_mode, task._diff)) or {"changed": True})
    result = plugin(IncidentAction, {"tenant_id": TENANT, "auth": held(), "incident_id": "1", "status": "resolved"},
                    check_mode=check_mode, diff=diff).run(task_vars={})
    assert result["changed"] is True
    assert seen == [(check_mode, diff)]


def test_secrets_are_masked_in_results_and_warnings(transport, monkeypatch):
    secret = "client-secret-value-42"

    def echo(task):
        task.warn("bad " + secret)
        return {"changed": False, "echo": "x%sy" % secret}

    monkeypatch.setattr(incident_info, "run", echo)
    args = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": secret}
    result = plugin(IncidentInfoAction, args).run(task_vars={})
    text = json.dumps(result)
    assert secret not in text
    assert result["echo"] == "x********y" and result["warnings"] == ["bad ********"]
    assert result["invocation"]["module_args"]["client_secret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_an_unexpected_error_is_a_clean_failure(transport, monkeypatch):
    def explode(task):
        raise KeyError("boom")

    monkeypatch.setattr(incident_info, "run", explode)
    result = plugin(IncidentInfoAction, {"tenant_id": TENANT, "auth": held()}).run(task_vars={})
    assert result["failed"] is True and result["msg"] == "Unexpected KeyError: 'boom'"
    assert "Traceback" in result["exception"]


# ----- the task's environment


def test_the_task_environment_feeds_the_fallbacks_and_is_put_back(transport, monkeypatch):
    monkeypatch.setenv("M365D_GRAPH_URL", "https://wrong.sandbox.test")
    transport.handler = IncidentApi("graph", graph_incidents(3), GRAPH + "/v1.0")
    auth = dict(held(), api_url=None)
    action = plugin(IncidentInfoAction, {"tenant_id": TENANT, "auth": auth},
                    environment=[{"M365D_GRAPH_URL": GRAPH, "M365D_TIMEOUT_UNUSED": 5}])
    action._compute_environment_string = lambda raw_environment_out: raw_environment_out.update(
        {"M365D_GRAPH_URL": GRAPH, "M365D_TIMEOUT_UNUSED": 5})
    result = action.run(task_vars={})
    assert result["count"] == 3
    assert {seen.host for seen in transport.seen} == {"graph.sandbox.test"}
    assert os.environ["M365D_GRAPH_URL"] == "https://wrong.sandbox.test"
    assert "M365D_TIMEOUT_UNUSED" not in os.environ


# ----- progress


def test_progress_waits_always_pages_from_v(transport):
    action = plugin(HuntingAction, {})
    action._host = "contoso"
    action.show_progress("waiting 58 s: the Defender API allows 50 list calls a minute")
    action.show_progress("page 2 of GET /security/incidents: 100 item(s) so far", verbose=True)
    assert action._display.shown == ["[the task] contoso: waiting 58 s: the Defender API allows 50 list calls a minute"]
    action._display.verbosity = 1
    action.show_progress("page 3", verbose=True)
    assert action._display.shown[-1] == "[the task] contoso: page 3"


def test_a_token_in_a_warning_is_redacted_as_the_module_redacts_it(transport, monkeypatch):
    jwt = make_jwt({"aud": "y"})

    def warn(task):
        task.warn("the server said: Bearer %s" % jwt)
        return {"changed": False}

    monkeypatch.setattr(incident_info, "run", warn)
    result = plugin(IncidentInfoAction, {"tenant_id": TENANT, "auth": held()}).run(task_vars={})
    assert jwt not in json.dumps(result)
    assert result["warnings"] == ["the server said: Bearer <redacted>"]


def test_only_the_token_module_signs_in_with_a_device_code(transport):
    """As on the module path: another module cannot show the code, and says to use the token module."""
    entra = transport.handler = FakeEntra(LOGIN, TENANT)
    args = {"tenant_id": TENANT, "client_id": CLIENT, "auth_flow": "device_code", "login_url": LOGIN}
    outcome, by_module, by_plugin, dummy = module_and_plugin(transport, incident_info.main, IncidentInfoAction, args)
    assert outcome == "fail" and by_plugin["failed"] is True
    assert "Run secops.m365_defender.token with auth_flow device_code" in by_plugin["msg"]
    assert by_plugin["msg"] == by_module["msg"]
    assert entra.device_requests == []


def test_every_api_module_has_its_action_plugin_and_is_in_the_action_group():
    import importlib

    import yaml

    root = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
    modules = sorted(name[:-3] for name in os.listdir(os.path.join(root, "plugins", "modules"))
                     if name.endswith(".py") and not name.startswith("_"))
    with open(os.path.join(root, "meta", "runtime.yml")) as handle:
        group = yaml.safe_load(handle)["action_groups"]["m365_defender"]
    assert "alert_info" in modules and "alert" in modules
    assert sorted(group) == modules
    for name in modules:
        action = importlib.import_module("ansible_collections.secops.m365_defender.plugins.action." + name)
        assert action.ActionModule.MODULE.__name__.endswith(".modules." + name)
