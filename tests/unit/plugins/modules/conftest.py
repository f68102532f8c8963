# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils import _http, _module


@pytest.fixture(autouse=True)
def waits(monkeypatch):
    """Modules build their HttpClient without a sleep argument; record the waits instead of waiting."""
    recorded = []
    monkeypatch.setattr(_module, "HttpClient", functools.partial(_http.HttpClient, sleep=recorded.append))
    return recorded
