"""Running noxfile.py's sessions with nox from .venv/nox: any one session, and the ansible-test sessions (one per
test and core) with the place their results land.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

from environments import FALLBACK_CORE, NEWEST_CORE, OLDEST_CORE, Venv
from paths import BUILD, ROOT
from processes import COMMAND_TIMEOUT, SetupError, run_logged


# Per ansible-test run, well above the normal (sanity 1-2 min, units 35 s, an integration pass up to 7.5 min), so that a
# hanging test fails its stage instead of the whole CI run (90 min).
STAGE_TIMEOUTS = {'sanity': 15 * 60, 'units': 5 * 60, 'integration': 25 * 60}

# The nox sessions' own environments, kept from one run to the next.
NOX_ENVDIR = os.path.join(BUILD, 'nox')

# Sanity, units and integration run as the nox sessions noxfile.py makes with antsibull-nox's Python API, one per test
# and core; the ansible-core series antsibull-nox installs (from PyPI) for each of the environments' cores.
NOX_CORES = {OLDEST_CORE: '2.16', NEWEST_CORE: '2.21', FALLBACK_CORE: '2.19'}


def nox_ansible_test_session(test, core):
    """The name of noxfile.py's session for ansible-test ``test`` on ansible-core ``core`` ('2.16')."""
    return 'ansible-test-%s-%s' % (test, core)


def ansible_test_output(session):
    """ansible-test's tests/output in a session (noxfile.py links the copy's there): JUnit files, the integration
    targets that passed, and the Python environments of --venv (.tmp/delegation; kept for the next units run)."""
    return os.path.join(BUILD, 'ansible-test-output', session)


def nox_session(session, log, posargs=(), append=False, timeout=COMMAND_TIMEOUT, env=None):
    """Run one session of noxfile.py with nox from .venv/nox, its environment reused, ``posargs`` after ``--`` and
    ``env`` added to the session's environment (a fresh log unless ``append``); the exit code."""
    try:
        own = Venv.named('nox').ensure()
    except SetupError as ex:
        with open(log, 'a' if append else 'w', encoding='utf-8') as handle:
            handle.write('*** %s\n' % ex)
        return 1
    command = [own.bin('nox'), '--noxfile', os.path.join(ROOT, 'noxfile.py'), '--envdir', NOX_ENVDIR,
               '--reuse-venv', 'yes', '-s', session] + (['--'] + list(posargs) if posargs else [])
    return run_logged(command, log, env=own.env(NO_COLOR='1', **(env or {})), timeout=timeout, append=append)


def nox_ansible_test(venv, test, log, posargs=(), append=False, env=None):
    """Run noxfile.py's session for ansible-test ``test`` on ``venv``'s core, extra ansible-test arguments after ``--``
    (a fresh log unless ``append``); (exit code, the run's tests/output). The results of an earlier run are removed
    first, so that a session that fails before ansible-test runs leaves none to count."""
    output = ansible_test_output(nox_ansible_test_session(test, NOX_CORES[venv.core]))
    for kind in ('junit', 'data'):
        shutil.rmtree(os.path.join(output, kind), ignore_errors=True)
    code = nox_session(nox_ansible_test_session(test, NOX_CORES[venv.core]), log, posargs, append,
                       STAGE_TIMEOUTS[test], env)
    return code, output
