# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The token module's controller side: in-process like every API module (see plugin_utils/_in_process.py), and

- hides the successful result from callbacks (screen, logs, AWX events), since it holds the access token;
  the registered variable keeps it. Its warnings and deprecations are shown all the same: ansible-core 2.19 and
  later show them although the result is hidden, earlier versions drop them with the rest, so this plugin shows
  them itself there;
- always signs in with the device code flow here on the controller, even where other tasks would take the module
  path, because only here can the code and the sign-in URL be shown while the task waits for the user.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.release import __version__ as ANSIBLE_CORE_VERSION

from ansible_collections.secops.m365_defender.plugins.modules import token
from ansible_collections.secops.m365_defender.plugins.plugin_utils._in_process import ApiAction


# Whether ansible-core shows the warnings of a result hidden by no_log (2.19 and later do).
CORE_SHOWS_HIDDEN_WARNINGS = tuple(int(part) for part in ANSIBLE_CORE_VERSION.split(".")[:2]) >= (2, 19)


class ActionModule(ApiAction):

    MODULE = token
    SHOWS_SIGN_IN = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        if not result.get("failed"):
            self._show_warnings(result)
            result["_ansible_no_log"] = True
        return result

    def module_path_reason(self, task_vars):
        if self._wants_device_code():
            return None
        return super(ActionModule, self).module_path_reason(task_vars)

    def _wants_device_code(self):
        return (self._task.args.get("auth_flow") or os.environ.get("M365D_AUTH_FLOW")) == "device_code"

    def _show_warnings(self, result):
        """Show a result's warnings and deprecations, which ansible-core before 2.19 drops with a hidden result.

        They stay in the result, for the registered variable.
        """
        if CORE_SHOWS_HIDDEN_WARNINGS:
            return
        for warning in result.get("warnings") or []:
            self._display.warning(str(warning))
        for deprecation in result.get("deprecations") or []:
            if not isinstance(deprecation, dict):
                deprecation = {"msg": str(deprecation)}
            self._display.deprecated(deprecation.get("msg"), version=deprecation.get("version"),
                                     date=deprecation.get("date"), collection_name=deprecation.get("collection_name"))
