# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""API modules run in-process on the controller: the base of their action plugins.

A module's own process costs a new Python interpreter that imports ansible-core, requests and msal again for
every task, and says nothing until it ends. When the task's target is the controller itself, the action plugin
instead validates the arguments with ansible-core's validator against the module's own argument spec and calls
the module's own run() here, with progress shown while it works. Everything else takes the module path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import re

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.secops.m365_defender.plugins.module_utils._auth import HAS_MSAL, MSAL_IMPORT_ERROR
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import redact
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HAS_REQUESTS, REQUESTS_IMPORT_ERROR
from ansible_collections.secops.m365_defender.plugins.module_utils._module import (
    AUTH_ARGUMENT_SPEC,
    TaskSessions,
    run_action,
)
from ansible_collections.secops.m365_defender.plugins.plugin_utils._options import ValidatedArguments

# The switch: `module` always runs the module in its own process (debugging, tests); `auto` runs in-process when
# the target is the controller.
EXECUTION_VARIABLE = "m365d_execution"
EXECUTION_ENV = "M365D_EXECUTION"
EXECUTION_CHOICES = ("auto", "module")


class ControllerTask(TaskSessions):
    """What a module's run() uses of DefenderModule, on the controller."""

    def __init__(self, params, check_mode, diff, display=None, progress=None, api=None):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []
        self.start_sessions(params, check_mode, display=display, progress=progress, api=api)

    def warn(self, warning):
        self.warnings.append(warning)


# A secret holding a character that JSON escapes may not appear verbatim in a result's JSON text; ansible-core's
# masking also compares the text of booleans and null as Python writes them.
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')
_PYTHON_WORDS = ("True", "False", "None")


def holds_no_secret(result, secrets):
    """True when no secret can occur in the result, judged from its JSON text, which holds every key, string and
    number verbatim: far cheaper than masking a large result (5,000 incidents: 0.05 s against 0.5 s)."""
    if any(_JSON_ESCAPED.search(secret) or any(secret in word for word in _PYTHON_WORDS) for secret in secrets):
        return False
    try:
        text = json.dumps(result, ensure_ascii=False)
    except (TypeError, ValueError):
        return False
    return not any(secret in text for secret in secrets)


def masked(result, secrets):
    """The result with every secret masked as AnsibleModule masks it; booleans (failed, changed) kept as they are."""
    if holds_no_secret(result, secrets):
        return result
    kept = dict((key, value) for key, value in result.items() if value is None or isinstance(value, bool))
    result = remove_values(result, secrets)
    result.update(kept)
    return result


class ApiAction(ActionBase):
    """The action plugin of an API module: in-process on the controller, or the module path.

    Subclasses set MODULE, the module's Python module (its ARGUMENT_SPEC and run()).
    """

    MODULE = None
    # Only the token module signs in with a device code, as on the module path, where no other module can show it.
    SHOWS_SIGN_IN = False
    _host = ""
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ApiAction, self).run(tmp, task_vars)
        del tmp  # no longer has any effect
        task_vars = task_vars or {}
        self._host = task_vars.get("inventory_hostname", "")
        reason = self.module_path_reason(task_vars)
        if reason:
            self._display.vvv("%s runs as a module in its own process: %s." % (self._task.action, reason),
                              host=self._host)
            return merge_hash(result, self.run_module(task_vars))
        return merge_hash(result, self.run_in_process())

    def module_path_reason(self, task_vars):
        """Why this task must run the module in its own process; None when it can run here."""
        execution = self._execution_switch(task_vars)
        if execution == "module":
            return "%s is 'module'" % EXECUTION_VARIABLE
        if self._connection.transport != "local":
            return "the task runs on or is delegated to a host reached over %s" % self._connection.transport
        if self._task.async_val:
            return "the task is async"
        if self._play_context.become:
            return "the task uses become"
        return None

    def _execution_switch(self, task_vars):
        value = task_vars.get(EXECUTION_VARIABLE)
        value = self._templar.template(value) if value is not None else os.environ.get(EXECUTION_ENV, "auto")
        if value not in EXECUTION_CHOICES:
            raise AnsibleError("%s (or the %s environment variable) must be one of %s, got %r." % (
                EXECUTION_VARIABLE, EXECUTION_ENV, ", ".join(EXECUTION_CHOICES), value))
        return value

    def run_module(self, task_vars):
        """The module in its own process, as ansible.builtin.normal runs it."""
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = self._execute_module(task_vars=task_vars, wrap_async=wrap_async)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def argument_spec(self):
        spec = dict(AUTH_ARGUMENT_SPEC)
        spec.update(getattr(self.MODULE, "ARGUMENT_SPEC", None) or {})
        return spec

    def run_in_process(self):
        for library, present, error in (("requests", HAS_REQUESTS, REQUESTS_IMPORT_ERROR),
                                        ("msal", HAS_MSAL, MSAL_IMPORT_ERROR)):
            if not present:
                return {"failed": True, "msg": missing_required_lib(library), "exception": error}
        with self.task_environment():
            # Inside: environment fallbacks read the task's `environment:` as a module's process would.
            arguments = ValidatedArguments(self.argument_spec(), self._task.args)
            error = arguments.module_error(self._task.action.split(".")[-1])
            if error:
                return {"failed": True, "msg": error}
            task = ControllerTask(arguments.params, bool(self._task.check_mode), bool(self._task.diff),
                                  display=self.show if self.SHOWS_SIGN_IN else None, progress=self.show_progress,
                                  api=getattr(self.MODULE, "API", None))
            result, warnings = run_action(task, self.action)
        return self.finish(result, task, arguments, warnings)

    def action(self, task):
        return self.MODULE.run(task)

    def finish(self, result, task, arguments, warnings):
        """The result as the module path returns it: warnings, deprecations, invocation, every secret masked."""
        # As DefenderModule.warn: warnings may repeat server text, so tokens in them are redacted.
        warnings = [redact(warning) for warning in arguments.warnings + task.warnings + warnings]
        if warnings:
            result["warnings"] = warnings
        if arguments.deprecations:
            result["deprecations"] = arguments.deprecations
        result["invocation"] = {"module_args": arguments.params}
        return masked(result, self.secrets(task, arguments))

    @staticmethod
    def secrets(task, arguments):
        """What a module would hide: the no_log options' values (environment fallbacks included) and what the
        sign-in obtained or read, except a token returned on purpose."""
        secrets = arguments.no_log_values | task.session_secrets()
        secrets.add((arguments.params.get("auth") or {}).get("access_token"))
        return set(value for value in secrets if value) - task.session.handed_out

    @contextlib.contextmanager
    def task_environment(self):
        """The task's `environment:` applied as a module's process would see it, for the run's duration.

        The action plugin runs in a worker process of its own, forked for this task and host, so nothing leaks
        to other tasks; the environment is put back all the same.
        """
        environment = {}
        self._compute_environment_string(raw_environment_out=environment)
        saved = dict(os.environ)
        os.environ.update(dict((str(key), str(value)) for key, value in environment.items()))
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def show(self, message):
        # stderr: ansible-core does not flush stdout after each line, so when the output goes to a file or a
        # pipe (CI logs, `| tee`, AWX) the message would only appear after the task ends; stderr is line-buffered.
        # The colour must be one of the configured ones: with a log file (ANSIBLE_LOG_PATH) ansible-core maps it
        # to a log level and fails on any other, which stops the whole run.
        self._display.display("[%s] %s" % (self._task.get_name(), message), color=C.COLOR_CHANGED, stderr=True)

    def show_progress(self, message, verbose=False):
        """Waits at default verbosity, page progress from -v on."""
        if verbose and self._display.verbosity < 1:
            return
        self.show("%s: %s" % (self._host, message))
