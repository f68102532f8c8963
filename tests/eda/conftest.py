"""Fixtures of the eda tests: a sandbox for the whole run and the real ansible-rulebook running rulebooks against it
(harness.py has the process, the sandbox's admin API and credentials).

`python3 tests/run/suite.py test --only eda` finds or installs Java 17+ and runs these tests in noxfile.py's session
eda; by hand: `.venv/nox/bin/nox -s eda` (ansible-rulebook finds java on PATH, or set JAVA_HOME).
"""
from __future__ import annotations

import os
import re
import sys

import pytest

import harness
from paths import LOGS  # tests/run/, on sys.path since harness
from sandbox_process import INTEGRATION_TIME_SCALE, Sandbox
RULEBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'rulebooks')


@pytest.fixture(scope='session')
def sandbox():
    """sandbox.json of a sandbox of the default scenario for the whole run: base_url, admin_url, ca_path, tenants,
    apps with their secrets, ... Rate-limit windows and Retry-After run at the integration tests' time scale."""
    state_dir = os.path.join(harness.WORK, 'sandbox')
    with Sandbox(sys.executable, state_dir, os.path.join(LOGS, 'eda-sandbox.log'),
                 time_scale=INTEGRATION_TIME_SCALE) as info:
        yield info


@pytest.fixture
def rulebook(request):
    """rulebook(path, variables=None, inventory=None, args=(), env=None, name=None): a started harness.Rulebook
    (ansible-rulebook on ``path``, relative to tests/eda/rulebooks/ unless absolute); every one is stopped after the
    test. Logs: .build/logs/eda-NAME.log and eda-NAME.stderr.log, NAME the test's name unless given."""
    started = []

    def start(path, variables=None, inventory=None, args=(), env=None, name=None):
        name = name or re.sub(r'[^\w.-]+', '_', request.node.name) + ('-%d' % (len(started) + 1) if started else '')
        started.append(harness.Rulebook(name, os.path.join(RULEBOOKS, path), variables, inventory, args, env).start())
        return started[-1]

    yield start
    for process in started:
        process.stop()
