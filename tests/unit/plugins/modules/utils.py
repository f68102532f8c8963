# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running a module's main() in a unit test: module args in, exit_json / fail_json results out."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:
    from unittest import mock
except ImportError:  # pragma: no cover
    import mock

try:
    # ansible-core 2.19+: the old _ANSIBLE_ARGS patch fails with "No serialization profile was specified".
    from ansible.module_utils.testing import patch_module_args
except ImportError:
    patch_module_args = None


class AnsibleExitJson(Exception):
    """exit_json was called; `result` holds its keyword arguments."""

    def __init__(self, result):
        super(AnsibleExitJson, self).__init__(result)
        self.result = result


class AnsibleFailJson(Exception):
    """fail_json was called; `result` holds its keyword arguments."""

    def __init__(self, result):
        super(AnsibleFailJson, self).__init__(result)
        self.result = result


def exit_json(*args, **kwargs):  # pylint: disable=unused-argument
    kwargs.setdefault("changed", False)
    raise AnsibleExitJson(kwargs)


def fail_json(*args, **kwargs):  # pylint: disable=unused-argument
    kwargs["failed"] = True
    raise AnsibleFailJson(kwargs)


@contextlib.contextmanager
def set_module_args(args):
    """Expose `args` to AnsibleModule instances created inside the block, on every supported ansible-core."""
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    args = dict(args)
    args.setdefault("_ansible_remote_tmp", "/tmp")
    args.setdefault("_ansible_keep_remote_files", False)
    with mock.patch.object(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))):
        yield


def run_module(main, args):
    """Run main() with these args; return ('exit' or 'fail', result). module.warn() calls go to result['warnings']."""
    warnings = []

    def warn(self, warning):  # pylint: disable=unused-argument
        warnings.append(warning)

    outcome = result = None
    with set_module_args(args):
        with mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json, warn=warn):
            try:
                main()
            except AnsibleExitJson as done:
                outcome, result = "exit", done.result
            except AnsibleFailJson as failed:
                outcome, result = "fail", failed.result
    if outcome is None:
        raise AssertionError("the module returned without calling exit_json or fail_json")
    if warnings:
        result["warnings"] = warnings
    return outcome, result
