# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's version, sent in the User-Agent header (a unit test keeps it equal to galaxy.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

COLLECTION_VERSION = "1.0.0"
USER_AGENT = "secops.m365_defender/" + COLLECTION_VERSION
