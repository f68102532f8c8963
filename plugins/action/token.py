# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The token module's controller side.

- Hides the successful result from callbacks (screen, logs, AWX events), since it holds the access token;
  the registered variable keeps it.
- Signs in with the device code flow here on the controller, because only here can the code and the sign-in
  URL be shown while the task waits for the user (a module's output appears only when it ends).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import M365DefenderError
from ansible_collections.secops.m365_defender.plugins.module_utils._module import (
    AUTH_ARGUMENT_SPEC,
    Session,
    token_result,
)
from ansible_collections.secops.m365_defender.plugins.plugin_utils._options import validated_options


class ActionModule(ActionBase):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        if self._wants_device_code():
            result.update(self._device_code_sign_in())
        else:
            result.update(self._execute_module(task_vars=task_vars))
        if not result.get("failed"):
            result["_ansible_no_log"] = True
        return result

    def _wants_device_code(self):
        return (self._task.args.get("auth_flow") or os.environ.get("M365D_AUTH_FLOW")) == "device_code"

    def _show(self, message):
        # stderr: ansible-core does not flush stdout after each line, so when the output goes to a file or a
        # pipe (CI logs, `| tee`) the code would only appear after the task ends; stderr is line-buffered.
        self._display.display("[%s] %s" % (self._task.get_name(), message), color="bright yellow", stderr=True)

    def _device_code_sign_in(self):
        try:
            options = validated_options(self._task.args, AUTH_ARGUMENT_SPEC)
        except AnsibleError as exc:
            return {"failed": True, "msg": str(exc)}
        session = Session(options, display=self._show)
        try:
            result = token_result(session, session.sign_in())
        except M365DefenderError as exc:
            return dict(exc.details, failed=True, msg=str(exc))
        finally:
            session.close()
        result, warnings = session.report(result)
        if warnings:
            result["warnings"] = warnings
        return result
