"""The sandbox (tests/sandbox/control.py) as a process of the harness: started for the demo and the tests,
always stopped, and the tenants and apps its sandbox.json describes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import signal
import time

from paths import ROOT, SANDBOX_CONTROL
from processes import SetupError, run_logged, tail


# The integration tests' sandbox runs its rate-limit windows and Retry-After 100 times faster (the demo's runs
# in real time); targets find the factor in m365d_sandbox.time_scale.
INTEGRATION_TIME_SCALE = float(os.environ.get('M365D_SANDBOX_TIME_SCALE', '0.01'))


class Sandbox:
    """Starts the sandbox (tests/sandbox/control.py) on entry and always stops it on exit."""

    def __init__(self, python, state_dir, log, time_scale=None):
        self.python = python
        self.state_dir = state_dir
        self.log = log
        self.time_scale = time_scale
        self.info = None

    def __enter__(self):
        if not os.path.exists(SANDBOX_CONTROL):
            raise SetupError('the sandbox is missing: %s' % os.path.relpath(SANDBOX_CONTROL, ROOT))
        shutil.rmtree(self.state_dir, ignore_errors=True)
        os.makedirs(self.state_dir)
        command = [self.python, SANDBOX_CONTROL, 'start', '--state-dir', self.state_dir]
        if self.time_scale is not None:
            command.extend(['--time-scale', str(self.time_scale)])
        code = run_logged(command, self.log, timeout=180)
        path = os.path.join(self.state_dir, 'sandbox.json')
        if os.path.exists(path):
            with open(path, encoding='utf-8') as handle:
                self.info = json.load(handle)
        if code != 0 or not self.info:
            self.__exit__(None, None, None)
            raise SetupError('the sandbox did not start (exit code %d):\n%s' % (code, tail(self.log)))
        return self.info

    def __exit__(self, *exc):
        if os.path.exists(os.path.join(self.state_dir, 'sandbox.json')):
            run_logged([self.python, SANDBOX_CONTROL, 'stop', '--state-dir', self.state_dir], self.log, timeout=60)
        pid = (self.info or {}).get('pid')
        if isinstance(pid, int) and pid > 1:
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid):  # control.py stop did not manage it: end the sandbox's own process, by its id
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass
        self.info = None


def alive(pid):
    """Whether a process exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid, encoding='utf-8') as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return True


def named(items, name):
    """The entry called ``name`` of sandbox.json's 'tenants' or 'apps'."""
    found = next((item for item in items or () if item.get('name') == name), None)
    if not found:
        raise SetupError('sandbox.json has no %r' % name)
    return found
