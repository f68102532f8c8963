# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The token module's controller side.

- Hides the successful result from callbacks (screen, logs, AWX events), since it holds the access token;
  the registered variable keeps it. Its warnings and deprecations are shown all the same: ansible-core 2.19 and
  later show them although the result is hidden, earlier versions drop them with the rest, so this plugin shows
  them itself there.
- Signs in with the device code flow here on the controller, because only here can the code and the sign-in
  URL be shown while the task waits for the user (a module's output appears only when it ends).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import traceback

from ansible.errors import AnsibleError
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as ANSIBLE_CORE_VERSION

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import M365DefenderError, redact
from ansible_collections.secops.m365_defender.plugins.module_utils._module import (
    AUTH_ARGUMENT_SPEC,
    Session,
    token_result,
)
from ansible_collections.secops.m365_defender.plugins.plugin_utils._options import validated_options


# Whether ansible-core shows the warnings of a result hidden by no_log (2.19 and later do).
CORE_SHOWS_HIDDEN_WARNINGS = tuple(int(part) for part in ANSIBLE_CORE_VERSION.split(".")[:2]) >= (2, 19)


class ActionModule(ActionBase):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        if self._wants_device_code():
            result.update(self._device_code_sign_in())
        else:
            result.update(self._execute_module(task_vars=task_vars))
        if not result.get("failed"):
            self._show_warnings(result)
            result["_ansible_no_log"] = True
        return result

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
        session = Session(options, display=self._show, check_mode=self._task.check_mode)
        try:
            result = token_result(session, session.sign_in())
        except M365DefenderError as exc:
            result = dict(exc.details, failed=True, msg=str(exc), warnings=session.warnings())
        except Exception as exc:  # pylint: disable=broad-except
            result = {"failed": True, "msg": redact("Unexpected %s: %s" % (type(exc).__name__, exc)),
                      "exception": redact(traceback.format_exc()), "warnings": session.warnings()}
        else:
            result, warnings = session.report(result)
            result["warnings"] = warnings
        finally:
            session.close()
        if not result["warnings"]:
            del result["warnings"]
        # As AnsibleModule does: mask every secret, keep booleans (failed, changed) as they are.
        kept = dict((key, value) for key, value in result.items() if value is None or isinstance(value, bool))
        result = remove_values(result, self._secrets(options, session))
        result.update(kept)
        return result

    @staticmethod
    def _secrets(options, session):
        """What a module would hide: the no_log options (environment fallbacks included), and what the sign-in
        obtained or read, except the token returned on purpose."""
        secrets = set(session.secrets)
        secrets.update(options[name] for name, spec in AUTH_ARGUMENT_SPEC.items()
                       if spec.get("no_log") and isinstance(options.get(name), str) and options[name])
        secrets.add((options.get("auth") or {}).get("access_token"))
        return set(value for value in secrets if value) - session.handed_out
