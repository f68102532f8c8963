# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The option adapter: controller-side plugins validate the shared options exactly as the modules do."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.secops.m365_defender.plugins.module_utils._module import text_type_errors


def validated_options(args, argument_spec):
    """The options with defaults and environment fallbacks applied; AnsibleError listing what is wrong."""
    result = ArgumentSpecValidator(argument_spec).validate(dict(args))
    if result.error_messages:
        raise AnsibleError("; ".join(result.error_messages))
    errors = text_type_errors(argument_spec, args)
    if errors:
        raise AnsibleError(" ".join(errors))
    return result.validated_parameters
