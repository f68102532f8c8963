"""The stages that are one plain session of noxfile.py each: changelog, and the pytest suites sandbox, browser,
eda and conformance (one result per test).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import time

from nox_runs import nox_session
from paths import BROWSER_SCREENSHOT, BUILD, LOGS, ROOT
from processes import SetupError, say, tail
from results import junit_counts
from system_packages import ensure_chromium, ensure_java


def stage_changelog(results):
    """antsibull-changelog lint on changelogs/, noxfile.py's session changelog."""
    log = os.path.join(LOGS, 'changelog.log')
    if not os.path.exists(os.path.join(ROOT, 'changelogs', 'config.yaml')):
        results.add('changelog', 0, 1, 0, 0, log, '(changelogs/config.yaml is missing)')
        return
    started = time.monotonic()
    with open(log, 'w', encoding='utf-8'):
        pass
    code = nox_session('changelog', log, append=True)
    output = tail(log, 200)
    ok = code == 0 and not re.search(r'^\S+:\d+:\d+: ', output, re.M)
    results.add('changelog', 1 if ok else 0, 0 if ok else 1, 0, time.monotonic() - started, log)


def stage_sandbox_tests(results):
    """The sandbox's own pytest suite, noxfile.py's session sandbox, one result per test."""
    tests = [path for path in glob.glob(os.path.join(ROOT, 'tests', 'sandbox', '**', '*.py'), recursive=True)
             if re.match(r'(test_.*|.*_test)\.py$', os.path.basename(path))]
    if not tests:
        say('skip sandbox-pytest                 (no tests under tests/sandbox/)')
        return
    stage_nox_pytest(results, 'sandbox', 'sandbox-pytest')


def stage_nox_pytest(results, session, stage=None, prepare=(), note=None, **env):
    """noxfile.py's pytest session ``session`` as the stage ``stage`` (default: the session's name), one result per
    test from pytest's JUnit file .build/junit/<stage>.xml, the log .build/logs/<stage>.log. Set-up that fails
    (``prepare``, nox) is one failure with its reason in the log; a ``prepare`` step may return variables for the
    session's environment. ``note()`` adds a word to the stage's line."""
    stage = stage or session
    log = os.path.join(LOGS, stage + '.log')
    junit = os.path.join(BUILD, 'junit', stage + '.xml')
    with open(log, 'w', encoding='utf-8'):
        pass
    if os.path.exists(junit):
        os.remove(junit)
    started = time.monotonic()
    try:
        for step in prepare:
            env.update(step(log) or {})
    except SetupError as ex:
        with open(log, 'a', encoding='utf-8') as handle:
            handle.write('*** %s\n' % ex)
        results.add(stage, 0, 1, 0, time.monotonic() - started, log)
        return
    code = nox_session(session, log, ['--junitxml', junit], append=True, env=env)
    passed, failed, skipped = junit_counts([junit] if os.path.exists(junit) else [])
    if code != 0 and not failed:  # nox or the session's install failed, or pytest collected no test
        failed = 1
    results.add(stage, passed, failed, skipped, time.monotonic() - started, log, note() if note else '')


def screenshot_note():
    shot = os.path.relpath(BROWSER_SCREENSHOT, ROOT)
    return 'screenshot: %s' % shot if os.path.exists(BROWSER_SCREENSHOT) else '(no screenshot: %s)' % shot


def stage_browser(results, venv):
    """tests/browser, noxfile.py's session browser: the incident report of a sandbox run (made with ``venv``'s
    ansible-playbook) in headless Chromium, one result per test; the page's screenshot is BROWSER_SCREENSHOT."""
    stage_nox_pytest(results, 'browser', prepare=[ensure_chromium], note=screenshot_note, M365D_CORE=venv.name)


def stage_eda(results):
    """tests/eda, noxfile.py's session eda: the real ansible-rulebook (Java found or installed, its JAVA_HOME passed to
    the session) running rulebooks with the collection's event sources against a sandbox that its conftest starts, one
    result per test."""
    stage_nox_pytest(results, 'eda', prepare=[ensure_java])


def stage_conformance(results):
    """tests/conformance, noxfile.py's session conformance: Microsoft's Graph SDK for Python and azure-identity against
    a sandbox that its conftest starts, one result per test."""
    stage_nox_pytest(results, 'conformance')
