# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

import pytest
import requests

from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import FakeClock, FakeTransport

try:
    from unittest import mock
except ImportError:  # pragma: no cover
    import mock

try:
    from msal.authority import Authority
except ImportError:  # pragma: no cover
    Authority = None


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No option of the collection may come from the machine's environment during a test."""
    for name in list(os.environ):
        if name.startswith(("AZURE_", "M365D_")) or name.upper() in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def fresh_user_realm_memory(monkeypatch):
    """MSAL stops asking a host for user realms, process-wide, once it answered 404; each test starts afresh."""
    if Authority is not None and hasattr(Authority, "_domains_without_user_realm_discovery"):
        monkeypatch.setattr(Authority, "_domains_without_user_realm_discovery", set())


@pytest.fixture
def transport():
    """A FakeTransport under every requests session: nothing leaves the process."""
    fake = FakeTransport()

    def send(adapter, request, **kwargs):  # pylint: disable=unused-argument
        return fake.send(request, **kwargs)

    with mock.patch.object(requests.adapters.HTTPAdapter, "send", send):
        yield fake


@pytest.fixture
def clock(monkeypatch):
    """A FakeClock behind time.time and time.sleep, for code (MSAL's device code polling) that waits on its own."""
    fake = FakeClock()
    monkeypatch.setattr(time, "time", fake.time)
    monkeypatch.setattr(time, "sleep", fake.sleep)
    return fake
