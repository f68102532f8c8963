"""The ansible-test stages: sanity, units and integration (against sandboxes, the two cores side by side), each
as noxfile.py's session, counted from ansible-test's results.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import itertools
import json
import os
import re
import threading
import time

from nox_runs import nox_ansible_test
from paths import BUILD, LOGS, ROOT
from processes import SetupError, say, tail, write_vars
from results import junit_counts
from sandbox_process import INTEGRATION_TIME_SCALE, Sandbox


def ansible_test_junit(output):
    """(passed, failed, skipped) from the JUnit files of an ansible-test run."""
    return junit_counts(sorted(glob.glob(os.path.join(output, 'junit', '*.xml'))))


def stage_sanity(results, venv):
    """ansible-test sanity, every test, one result per test (from its --junit files); --failure-ok makes ansible-test
    end with 0 when tests fail, so that the session ends normally."""
    stage = 'sanity-%s' % venv.short
    log = os.path.join(LOGS, stage + '.log')
    started = time.monotonic()
    code, output = nox_ansible_test(venv, 'sanity', log, ['--failure-ok'])
    passed, failed, skipped = ansible_test_junit(output)
    if code != 0 and not failed:
        failed = 1  # ansible-test failed outside any one test (set-up, bootstrap, ...)
    results.add(stage, passed, failed, skipped, time.monotonic() - started, log)


# ansible-test units runs its test contexts in this order and stops at the first that fails.
UNIT_CONTEXTS = (
    ('modules', ['tests/unit/plugins/modules/']),
    ('module_utils', ['tests/unit/plugins/module_utils/']),
    ('controller', ['--exclude', 'tests/unit/plugins/modules/', '--exclude', 'tests/unit/plugins/module_utils/']),
)


def stage_units(results, venv):
    """ansible-test units, one result per test case (from pytest's JUnit files).

    When a test context fails, ansible-test does not run the contexts after it; those are run on their own,
    so that the counts cover every test.
    """
    stage = 'units-%s' % venv.short
    log = os.path.join(LOGS, stage + '.log')
    started = time.monotonic()
    code, output = nox_ansible_test(venv, 'units', log)
    counts = ansible_test_junit(output)
    if code != 0:
        ran = re.findall(r'^Unit test (\w+) with Python', tail(log, 100000), re.M)
        names = [context[0] for context in UNIT_CONTEXTS]
        if ran and ran[-1] in names:
            for name, selection in UNIT_CONTEXTS[names.index(ran[-1]) + 1:]:
                if selection[0].startswith('--') or os.path.isdir(os.path.join(ROOT, selection[0])):
                    more = ansible_test_junit(nox_ansible_test(venv, 'units', log, selection, append=True)[1])
                    counts = tuple(total + extra for total, extra in zip(counts, more))
    passed, failed, skipped = counts
    note = ''
    if code != 0 and not failed:
        failed = 1
    elif code == 0 and not passed + failed + skipped:
        note = '(no unit tests found)'
    results.add(stage, passed, failed, skipped, time.monotonic() - started, log, note)


# noxfile.py's integration sessions copy the file this variable names into their copy of the collection.
INTEGRATION_CONFIG_VARIABLE = 'M365D_INTEGRATION_CONFIG'


def integration_config(venv, info, execution):
    """Write the integration_config.yml of one integration run (ansible-test passes it to every target as extra vars)
    from the sandbox's sandbox.json; its path, for $M365D_INTEGRATION_CONFIG."""
    path = os.path.join(BUILD, 'integration', 'integration_config-%s-%s.yml' % (venv.name, execution))
    write_vars(path, {
        'm365d_base_url': info['base_url'],
        'm365d_admin_url': info['admin_url'],
        'm365d_ca_path': info['ca_path'],
        'm365d_sandbox': info,
        'm365d_execution': execution,
    })
    return path


# The targets that also run with every API task as a module in its own process: those with the alias module_path
# in their `aliases` (ansible-test matches an alias as a group, with a trailing slash).
MODULE_PATH_ALIAS = 'module_path/'
TARGETS_DIR = os.path.join(ROOT, 'tests', 'integration', 'targets')


def module_path_targets(venv, venvs):
    """The module_path targets this core runs on the module path: all of them when it is the only core; with two,
    a share each (balanced by the number of tasks), so that every target passes the module path once and the two
    cores' runs take about as long. Both cores run every target in-process, the default path."""
    names = sorted(name for name in os.listdir(TARGETS_DIR)
                   if MODULE_PATH_ALIAS.rstrip('/') in target_aliases(name))
    if len(venvs) < 2:
        return names
    shares = dict((each.name, []) for each in venvs)
    loads = dict((each.name, 0) for each in venvs)
    for name in sorted(names, key=lambda name: (-target_tasks(name), name)):
        lightest = min(venvs, key=lambda each: loads[each.name]).name
        shares[lightest].append(name)
        loads[lightest] += target_tasks(name)
    return sorted(shares[venv.name])


def target_aliases(name):
    """A target's aliases (none for a role that targets only include, such as setup_m365d)."""
    path = os.path.join(TARGETS_DIR, name, 'aliases')
    if not os.path.exists(path):
        return []
    with open(path, encoding='utf-8') as handle:
        return handle.read().split()


def target_tasks(name):
    """How many tasks a target's task files hold (its weight when sharing targets out)."""
    count = 0
    for path in glob.glob(os.path.join(TARGETS_DIR, name, 'tasks', '*.yml')):
        with open(path, encoding='utf-8') as handle:
            count += sum(1 for line in handle if re.match(r'\s*- name: ', line))
    return count


def stage_integration(results, venv, info, targets=(), execution='auto'):
    """ansible-test integration against the running sandbox, noxfile.py's session, one result per target.

    execution 'auto' runs API tasks in-process on the controller (the default path); 'module' forces the module
    path, for the targets named (by default all with the module_path alias).
    """
    stage = 'integration-%s%s' % (venv.short, '' if execution == 'auto' else '-' + execution)
    log = os.path.join(LOGS, stage + '.log')
    started = time.monotonic()
    config = integration_config(venv, info, execution)
    code, output = nox_ansible_test(venv, 'integration', log, list(targets),
                                    env={INTEGRATION_CONFIG_VARIABLE: config})
    passed = len(integration_passed(output))
    failed = len(integration_failed(log))
    if code != 0 and not failed:
        failed = 1  # the session failed outside any one target (set-up, the copy, ansible-test itself)
    note = '(no targets)' if code == 0 and not passed else ''
    results.add(stage, passed, failed, 0, time.monotonic() - started, log, note)


def integration_passed(output):
    """The targets that passed, from the record ansible-test integration writes at its end (tests/output/data)."""
    passed = set()
    for path in glob.glob(os.path.join(output, 'data', 'integration-*.json')):
        with open(path, encoding='utf-8') as handle:
            passed.update(json.load(handle).get('targets', {}))
    return passed


def integration_failed(log):
    """The targets that failed: ansible-test records only those that passed, and names the others in its closing
    error, one a line after "The N integration test(s) listed below (out of M) failed"."""
    lines = tail(log, 100000).splitlines()
    for index, line in enumerate(lines):
        if re.search(r'The \d+ integration test\(s\) listed below \(out of \d+\) failed', line):
            return set(itertools.takewhile(lambda name: re.fullmatch(r'[\w.-]+', name), lines[index + 1:]))
    return set()


def stages_integration(results, venvs, targets):
    """Each core's integration runs, in-process then the module path, against a sandbox of its own; the cores side by
    side, because one run keeps about one CPU core busy (one host, one task at a time) and CI has two."""
    def run(venv):
        state_dir = os.path.join(BUILD, 'integration', 'sandbox-%s' % venv.name)
        try:
            with Sandbox(venvs[0].python, state_dir, os.path.join(LOGS, 'integration-sandbox-%s.log' % venv.short),
                         time_scale=INTEGRATION_TIME_SCALE) as info:
                stage_integration(results, venv, info, targets, 'auto')
                stage_integration(results, venv, info, targets or module_path_targets(venv, venvs), 'module')
        except SetupError as ex:
            say(str(ex))
            results.add('integration-%s (sandbox)' % venv.short, 0, 1, 0, 0, None)

    threads = [threading.Thread(target=run, args=(venv,), name=venv.name, daemon=True) for venv in venvs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
