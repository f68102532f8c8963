# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""secops.m365_defender.indicator_info runs in-process on the controller when its target is the controller
(see plugin_utils/_in_process.py); otherwise as a module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.secops.m365_defender.plugins.modules import indicator_info
from ansible_collections.secops.m365_defender.plugins.plugin_utils._in_process import ApiAction


class ActionModule(ApiAction):

    MODULE = indicator_info
