# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The token action plugin: the device code flow on the controller, the module elsewhere, and no_log on success."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import os

import pytest
import yaml
from ansible import constants as C
from ansible.playbook.task import Task
from ansible.utils.display import color_to_log_level

from ansible_collections.secops.m365_defender.plugins.action import token as token_action
from ansible_collections.secops.m365_defender.plugins.action.token import ActionModule
from ansible_collections.secops.m365_defender.plugins.module_utils import _http, _module
from ansible_collections.secops.m365_defender.plugins.modules import token as token_module
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, LOGIN, TENANT, TENANT_ID
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    DEVICE_CODE_GRANT,
    FakeEntra,
    entra_error,
    make_jwt,
)

try:
    from unittest import mock
except ImportError:  # pragma: no cover
    import mock

TASK_NAME = "Sign in for the SOC playbooks"
CLAIMS = {"aud": "https://api.security.microsoft.com", "tid": TENANT_ID,
          "scp": "Incident.Read AdvancedHunting.Read", "upn": "analyst@contoso.example"}


class Display(object):
    """Stands in for the controller's display; also writes into the fake Entra ID's event log, for ordering."""

    def __init__(self, events):
        self.events = events
        self.shown = []
        self.warnings = []
        self.deprecations = []

    def display(self, message, color=None, **kwargs):  # pylint: disable=unused-argument
        self.shown.append((message, color))
        self.events.append(("display",))

    verbosity = 0

    def vvv(self, message, host=None):  # pylint: disable=unused-argument
        pass

    def warning(self, message):
        self.warnings.append(message)

    def deprecated(self, message, version=None, date=None, collection_name=None):
        self.deprecations.append((message, version, date, collection_name))


@pytest.fixture(autouse=True)
def waits(monkeypatch):
    """The plugin's Session builds HttpClient without a sleep argument; record the waits instead of waiting."""
    recorded = []
    monkeypatch.setattr(_module, "HttpClient", functools.partial(_http.HttpClient, sleep=recorded.append))
    return recorded


@pytest.fixture
def entra(transport):
    transport.handler = FakeEntra(LOGIN, TENANT, access_token=make_jwt(dict(CLAIMS, uti="secret-ish")), pending_polls=1)
    return transport.handler


def action(args, check_mode=False, transport="ssh"):
    """An ActionModule built the way ansible-core's own action plugin tests build theirs; by default for a task
    on a remote host, which takes the module path unless it signs in with a device code."""
    task = mock.MagicMock(Task)
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    task.diff = False
    task.environment = None
    task.action = "secops.m365_defender.token"
    task.get_name.return_value = TASK_NAME
    connection = mock.Mock()
    connection.transport = transport
    play_context = mock.Mock()
    play_context.check_mode = check_mode
    play_context.become = False
    plugin = ActionModule(task, connection, play_context, loader=None, templar=None, shared_loader_obj=None)
    plugin._execute_module = mock.Mock(return_value={"changed": False, "auth": {"access_token": "from-the-module"}})
    return plugin


def attach_display(plugin, entra):
    plugin._display = Display(entra.events)
    return plugin._display


def device_args(**extra):
    values = {"tenant_id": TENANT, "client_id": CLIENT, "auth_flow": "device_code", "login_url": LOGIN, "api": "defender"}
    values.update(extra)
    return values


def documented():
    return yaml.safe_load(token_module.RETURN)


# ----- the device code flow on the controller


def test_device_code_shows_the_code_then_waits_and_hides_the_result(entra, clock):
    plugin = action(device_args())
    display = attach_display(plugin, entra)
    result = plugin.run(task_vars={"inventory_hostname": "localhost"})
    assert plugin._execute_module.call_count == 0, "signed in on the controller, no module"
    assert display.shown == [("[%s] To sign in, use a web browser to open the page %s/devicelogin and enter the code FAKE1001 to "
                              "authenticate." % (TASK_NAME, LOGIN), C.COLOR_CHANGED)]
    first_poll = entra.events.index(("token", DEVICE_CODE_GRANT))
    assert entra.events.index(("display",)) < first_poll, "the code is shown before the token is asked for"
    assert entra.events.count(("token", DEVICE_CODE_GRANT)) == 2
    assert result["_ansible_no_log"] is True
    assert "failed" not in result
    assert result["changed"] is False
    assert result["token_source"] == "identity_provider"
    assert result["claims"] == CLAIMS
    auth = result["auth"]
    assert sorted(auth) == sorted(documented()["auth"]["contains"])
    assert auth["access_token"] == entra.access_token
    assert (auth["api"], auth["tenant_id"], auth["client_id"], auth["login_url"]) == ("defender", TENANT, CLIENT, LOGIN)
    assert auth["scope"] == "https://api.security.microsoft.com/.default"
    assert set(result) - {"_ansible_no_log", "changed", "http", "invocation"} <= set(documented())


def test_the_colour_of_shown_lines_is_one_a_log_file_accepts(entra, clock):
    """With ANSIBLE_LOG_PATH, ansible-core fails on a colour it cannot map to a log level (and the run hangs)."""
    plugin = action(device_args())
    display = attach_display(plugin, entra)
    plugin.run(task_vars={})
    assert display.shown and all(color in color_to_log_level for dummy, color in display.shown)


def test_device_code_from_the_environment_variable(entra, clock, monkeypatch):
    monkeypatch.setenv("M365D_AUTH_FLOW", "device_code")
    args = device_args()
    del args["auth_flow"]
    plugin = action(args)
    display = attach_display(plugin, entra)
    result = plugin.run(task_vars={})
    assert plugin._execute_module.call_count == 0
    assert len(display.shown) == 1
    assert result["auth"]["access_token"] == entra.access_token and result["_ansible_no_log"] is True


def test_task_argument_wins_over_the_environment_variable(transport, monkeypatch):
    monkeypatch.setenv("M365D_AUTH_FLOW", "device_code")
    plugin = action({"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s", "auth_flow": "client_secret"})
    result = plugin.run(task_vars={"a": 1})
    plugin._execute_module.assert_called_once_with(task_vars={"a": 1}, wrap_async=0)
    assert result["auth"] == {"access_token": "from-the-module"}
    assert transport.seen == []


def test_device_code_sign_in_failure_is_a_failed_result_without_no_log(transport, clock):
    entra = transport.handler = FakeEntra(LOGIN, TENANT, device_outcome=entra_error(
        400, "authorization_declined", 65004, "User declined to consent to access the app."))
    plugin = action(device_args())
    display = attach_display(plugin, entra)
    result = plugin.run(task_vars={})
    assert result["failed"] is True
    assert "_ansible_no_log" not in result
    assert "AADSTS65004" in result["msg"]
    assert result["aadsts_code"] == 65004
    assert (result["tenant_id"], result["client_id"]) == (TENANT, CLIENT)
    assert len(display.shown) == 1
    assert "auth" not in result


@pytest.mark.parametrize("args, words", [
    (device_args(timeout="soon"), ["timeout"]),
    (device_args(api="exchange"), ["api", "exchange"]),
    (device_args(client_secrets="typo"), ["client_secrets"]),
    (device_args(auth={"access_token": "x"}), ["auth"]),
])
def test_bad_options_fail_before_any_request(transport, args, words):
    plugin = action(args)
    display = attach_display(plugin, FakeEntra(LOGIN, TENANT))
    result = plugin.run(task_vars={})
    assert result["failed"] is True
    assert "_ansible_no_log" not in result
    for word in words:
        assert word in result["msg"]
    assert transport.seen == [] and display.shown == []
    assert plugin._execute_module.call_count == 0


@pytest.mark.parametrize("args, words", [
    (device_args(tenant_id=None), ["'tenant_id' is required"]),
    (device_args(client_id=None), ["'device_code' needs", "client_id"]),
    (device_args(client_id="my-app"), ["'client_id' must be"]),
    (device_args(login_url="http://login.sandbox.test"), ["'login_url'", "https://"]),
])
def test_invalid_connection_settings_fail_before_any_request(transport, args, words):
    plugin = action(args)
    result = plugin.run(task_vars={})
    assert result["failed"] is True and "_ansible_no_log" not in result
    for word in words:
        assert word in result["msg"]
    assert transport.seen == []


def test_device_code_reuses_the_cached_sign_in_without_showing_a_code(entra, clock, tmp_path):
    cache = str(tmp_path / "cache.json")
    first = action(device_args(token_cache_path=cache))
    attach_display(first, entra)
    first.run(task_vars={})
    second = action(device_args(token_cache_path=cache))
    display = attach_display(second, entra)
    result = second.run(task_vars={})
    assert display.shown == []
    assert result["token_source"] == "cache" and result["_ansible_no_log"] is True
    assert len(entra.device_requests) == 1


@pytest.fixture(params=[False, True], ids=["core-2.16", "core-2.19"])
def core_shows_hidden_warnings(request, monkeypatch):
    monkeypatch.setattr(token_action, "CORE_SHOWS_HIDDEN_WARNINGS", request.param)
    return request.param


def test_sign_in_warnings_are_shown_although_the_result_is_hidden(entra, clock, tmp_path, core_shows_hidden_warnings):
    cache = tmp_path / "cache.json"
    cache.write_text("{}")
    os.chmod(str(cache), 0o644)
    plugin = action(device_args(token_cache_path=str(cache), validate_certs=False))
    display = attach_display(plugin, entra)
    result = plugin.run(task_vars={})
    assert "failed" not in result and result["_ansible_no_log"] is True
    assert len(result["warnings"]) == 2, "kept for the registered variable"
    assert "was readable by others" in result["warnings"][0]
    assert "validate_certs is false" in result["warnings"][1]
    # Shown by the plugin only where ansible-core drops them with the hidden result: never twice.
    assert display.warnings == ([] if core_shows_hidden_warnings else result["warnings"])


def test_no_warnings_without_a_reason(entra, clock):
    plugin = action(device_args())
    display = attach_display(plugin, entra)
    assert "warnings" not in plugin.run(task_vars={})
    assert display.warnings == []


def test_module_warnings_and_deprecations_are_shown_although_the_result_is_hidden(transport, monkeypatch):
    """ansible-core 2.16 drops them with the rest of a no_log result: the password flow's deprecation, a cache fixed."""
    monkeypatch.setattr(token_action, "CORE_SHOWS_HIDDEN_WARNINGS", False)
    plugin = action({"tenant_id": TENANT, "client_id": CLIENT, "username": "u", "password": "p"})
    display = attach_display(plugin, FakeEntra(LOGIN, TENANT))
    deprecation = {"msg": "going", "version": "2.0.0", "collection_name": "secops.m365_defender"}
    plugin._execute_module.return_value = {"changed": False, "auth": {"access_token": "a.b.c"},
                                           "warnings": ["auth_flow 'password' (ROPC) is deprecated"],
                                           "deprecations": [deprecation]}
    result = plugin.run(task_vars={})
    assert result["_ansible_no_log"] is True and result["auth"] == {"access_token": "a.b.c"}
    assert display.warnings == ["auth_flow 'password' (ROPC) is deprecated"]
    assert display.deprecations == [("going", "2.0.0", None, "secops.m365_defender")]
    assert result["warnings"] == ["auth_flow 'password' (ROPC) is deprecated"]
    assert result["deprecations"] == [deprecation]


def test_the_core_version_decides_who_shows_the_warnings():
    from ansible.release import __version__

    assert token_action.CORE_SHOWS_HIDDEN_WARNINGS is (tuple(int(part) for part in __version__.split(".")[:2]) >= (2, 19))


def test_failed_module_result_keeps_its_warnings_for_the_callback(transport):
    plugin = action({"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s"})
    display = attach_display(plugin, FakeEntra(LOGIN, TENANT))
    plugin._execute_module.return_value = {"failed": True, "msg": "no", "warnings": ["w"]}
    result = plugin.run(task_vars={})
    assert result["warnings"] == ["w"] and display.warnings == []


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_session_is_closed(transport, clock, monkeypatch, outcome):
    closed = []

    def close(client):
        closed.append(client)

    monkeypatch.setattr(_http.HttpClient, "close", close)
    entra = transport.handler = FakeEntra(LOGIN, TENANT, device_outcome=None if outcome == "success" else entra_error(
        400, "expired_token", 70019, "Verification code expired."))
    plugin = action(device_args())
    attach_display(plugin, entra)
    result = plugin.run(task_vars={})
    assert bool(result.get("failed")) is (outcome == "failure")
    assert len(closed) == 1


def test_check_mode_signs_in_too(entra, clock):
    plugin = action(device_args(), check_mode=True)
    attach_display(plugin, entra)
    result = plugin.run(task_vars={})
    assert result["auth"]["access_token"] == entra.access_token


def test_the_secret_is_not_shown(entra, clock):
    plugin = action(device_args())
    display = attach_display(plugin, entra)
    result = plugin.run(task_vars={})
    assert entra.access_token not in json.dumps(display.shown)
    assert entra.access_token not in json.dumps(result["claims"])


# ----- the module elsewhere


@pytest.mark.parametrize("answer, hidden", [
    ({"changed": False, "auth": {"access_token": "a.b.c"}, "claims": {}}, True),
    ({"failed": True, "msg": "Sign-in to tenant contoso.example failed: AADSTS7000215"}, False),
    ({"failed": False, "changed": False}, True),
])
def test_module_result_is_hidden_only_on_success(transport, answer, hidden):
    plugin = action({"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s"})
    plugin._execute_module.return_value = dict(answer)
    task_vars = {"ansible_host": "localhost"}
    result = plugin.run(task_vars=task_vars)
    plugin._execute_module.assert_called_once_with(task_vars=task_vars, wrap_async=0)
    for key, value in answer.items():
        assert result[key] == value
    assert ("_ansible_no_log" in result) is hidden
    if hidden:
        assert result["_ansible_no_log"] is True
    assert transport.seen == [], "the controller sent nothing itself"


@pytest.mark.parametrize("flow", [None, "auto", "client_secret", "password", "managed_identity"])
def test_other_flows_run_the_module(transport, flow):
    args = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s"}
    if flow:
        args["auth_flow"] = flow
    plugin = action(args)
    plugin.run(task_vars={})
    assert plugin._execute_module.call_count == 1
    assert transport.seen == []


# ----- secrets on the controller: masked as a module would, server text redacted


def test_a_failure_that_echoes_a_credential_or_a_token_hides_both(transport, clock):
    jwt = make_jwt({"aud": "x"})
    entra = transport.handler = FakeEntra(LOGIN, TENANT, device_outcome=entra_error(
        400, "authorization_declined", 65004, "Declined device-code-1 (bearer %s)." % jwt))
    plugin = action(device_args())
    attach_display(plugin, entra)
    result = plugin.run(task_vars={})
    assert result["failed"] is True and "AADSTS65004" in result["msg"]
    assert "device-code-1" not in json.dumps(result), "the device code it sent is a no_log value"
    assert jwt not in json.dumps(result)
    assert "Declined ******** (bearer <redacted>)." in result["msg"]


def test_an_unexpected_error_is_a_clean_redacted_failure(entra, clock, monkeypatch):
    jwt = make_jwt({"aud": "x"})

    def explode(session):
        raise KeyError("Authorization: Bearer %s" % jwt)

    monkeypatch.setattr(_module.Session, "sign_in", explode)
    plugin = action(device_args())
    attach_display(plugin, entra)
    result = plugin.run(task_vars={})
    assert result["failed"] is True and result["msg"].startswith("Unexpected KeyError")
    assert jwt not in json.dumps(result)


def test_check_mode_creates_no_token_cache_on_the_controller(entra, clock, tmp_path):
    plugin = action(device_args(token_cache_path=str(tmp_path / "cache.json")), check_mode=True)
    attach_display(plugin, entra)
    result = plugin.run(task_vars={})
    assert result["auth"]["access_token"] == entra.access_token
    assert os.listdir(str(tmp_path)) == []
