# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The option adapter: controller-side plugins validate options exactly as the modules do."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.secops.m365_defender.plugins.module_utils._module import text_type_errors


class ValidatedArguments(object):
    """Arguments checked by ansible-core's validator against an argument spec, as AnsibleModule checks them
    (defaults, environment fallbacks, no_log values), plus the collection's own type checks of text options."""

    def __init__(self, argument_spec, args):
        self._validation = ArgumentSpecValidator(argument_spec).validate(dict(args))
        self.params = self._validation.validated_parameters
        self.no_log_values = set(self._validation._no_log_values)
        self.warnings = ["Both option %s and its alias %s are set." % (item["option"], item["alias"])
                         for item in self._validation._warnings]
        self.deprecations = list(self._validation._deprecations)
        self.type_errors = text_type_errors(argument_spec, args)

    @property
    def validation_errors(self):
        return list(self._validation.error_messages)

    def module_error(self, module_name):
        """The failure message AnsibleModule would give (its first problem only), or None."""
        validation = self._validation
        if validation.error_messages:
            message = validation.errors.msg
            if isinstance(validation.errors[0], UnsupportedError):
                message = "Unsupported parameters for (%s) module: %s" % (module_name, message)
            return message
        return " ".join(self.type_errors) or None


def validated_options(args, argument_spec):
    """The options with defaults and environment fallbacks applied; AnsibleError listing what is wrong."""
    arguments = ValidatedArguments(argument_spec, args)
    if arguments.validation_errors:
        raise AnsibleError("; ".join(arguments.validation_errors))
    if arguments.type_errors:
        raise AnsibleError(" ".join(arguments.type_errors))
    return arguments.params
