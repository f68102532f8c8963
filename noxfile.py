"""nox sessions of the secops.m365_defender collection, made by antsibull-nox: the checks of antsibull-nox.toml, and
ansible-test sanity and units on the two cores of tests/run/suite.py.

`make test` runs the checks in NOX_SESSIONS (stage nox of tests/run/suite.py), ansible-lint (stage lint) and the
ansible-test sessions (stages sanity and units) with nox and antsibull-nox from .venv/nox; by hand: .venv/nox/bin/nox
--list. docs/development.md, section "nox", says what runs here and what stays in suite.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import sys

import nox

try:
    import antsibull_nox
except ImportError:
    print('antsibull-nox must be installed beside nox: make test puts both into .venv/nox.')
    sys.exit(1)

# nox's own environments: under .build/ (ignored, and make clean removes them), kept from one run to the next.
nox.options.envdir = '.build/nox'
nox.options.reuse_venv = 'yes'

antsibull_nox.load_antsibull_nox_toml()

# ansible-test sanity and units, one session per test and core, with antsibull-nox's Python API: its TOML-declared
# ansible-test sessions take ansible-core from GitHub and run in containers, neither of which works here. The cores
# and Pythons are those of .venv/oldest and .venv/newest, found as tests/run/suite.py finds them.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'tests', 'run'))
import suite  # tests/run/suite.py

ANSIBLE_TEST_PARAMS = {'sanity': ['sanity', '--junit'], 'units': ['units']}


def keep_output(name):
    """Callbacks that give ansible-test, in antsibull-nox's copy of the collection, a tests/output that outlives the
    copy: suite.ansible_test_output(name). ansible-test writes its JUnit files there even when it fails (then
    antsibull-nox copies nothing back), and the Python environments it makes for units stay there for the next run.
    """
    outside = suite.ansible_test_output(name)

    def before():
        keep_only(outside, '.tmp')
        keep_only(os.path.join(outside, '.tmp'), 'delegation')
        os.makedirs(outside, exist_ok=True)
        shutil.rmtree(os.path.join('tests', 'output'), ignore_errors=True)
        os.symlink(outside, os.path.join('tests', 'output'))

    def after():
        os.remove(os.path.join('tests', 'output'))  # leaves antsibull-nox nothing to copy back into this tree

    return before, after


def keep_only(directory, kept):
    """Remove everything in a directory (if there is one) but the entry ``kept``."""
    for entry in os.listdir(directory) if os.path.isdir(directory) else ():
        if entry != kept:
            path = os.path.join(directory, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)


def add_ansible_test_sessions():
    """Sessions ansible-test-sanity-<core> and ansible-test-units-<core> for .venv/oldest's and .venv/newest's core
    (ansible-core from PyPI), each on that environment's base Python, with --venv --python of that Python."""
    for flavour in ('oldest', 'newest'):
        venv = suite.Venv.named(flavour)
        found = suite.probe_python(venv.base_python)
        if not found:
            continue
        core = suite.NOX_CORES[venv.core]
        for test, params in ANSIBLE_TEST_PARAMS.items():
            name = suite.nox_ansible_test_session(test, core)
            before, after = keep_output(name)
            antsibull_nox.add_ansible_test_session(
                name=name,
                description='ansible-test %s --venv on ansible-core %s, Python %d.%d' % ((test, core) + found[0]),
                ansible_test_params=params + ['--venv', '--python', '%d.%d' % found[0]],
                default=False,
                ansible_core_version=core,
                ansible_core_source='pypi',
                callback_before=before,
                callback_after=after,
            )
            # antsibull-nox lets nox pick any Python the core supports; the session runs on the one found above.
            nox.registry.get()[name].python = found[1]


add_ansible_test_sessions()
