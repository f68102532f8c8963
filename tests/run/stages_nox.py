"""The nox stage: the checks of antsibull-nox.toml (NOX_SESSIONS) in one nox run, one result per session.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import time

from environments import Venv
from nox_runs import NOX_ENVDIR
from paths import LOGS, ROOT
from processes import SetupError, run_logged, tail


# The sessions of antsibull-nox.toml (noxfile.py) that pass, run by nox and antsibull-nox from .venv/nox. Not
# docs-check: the session docs lints more (stage docs).
NOX_SESSIONS = ('extra-checks', 'yamllint', 'codeqa', 'antsibull-nox-config', 'build-import-check')

# What antsibull-nox says when galaxy-importer passed the import but printed ERROR lines.
NOX_IMPORTER_ERRORS = 'Galaxy importer emitted the following non-fatal error'


def stage_nox(results):
    """The nox sessions NOX_SESSIONS with nox and antsibull-nox from .venv/nox, one result per session, from nox's
    JSON report; each session's part of the output goes to .build/logs/nox-<session>.log.

    The sessions' environments in NOX_ENVDIR are reused; their package installs are skipped too (nox -R) while
    antsibull-nox.toml and .venv/nox are what the last run that passed installed from."""
    log = os.path.join(LOGS, 'nox.log')
    report = os.path.join(LOGS, 'nox-report.json')
    started = time.monotonic()
    with open(log, 'w', encoding='utf-8'):
        pass
    if os.path.exists(report):
        os.remove(report)
    try:
        own = Venv.named('nox').ensure()
    except SetupError as ex:
        with open(log, 'a', encoding='utf-8') as handle:
            handle.write('*** %s\n' % ex)
        results.add('nox', 0, 1, 0, time.monotonic() - started, log)
        return
    stamp_path, stamp = os.path.join(NOX_ENVDIR, '.suite-stamp'), nox_stamp(own)
    installed = tail(stamp_path) == stamp
    command = [own.bin('nox'), '--noxfile', os.path.join(ROOT, 'noxfile.py'), '--envdir', NOX_ENVDIR,
               '--reuse-venv', 'yes', '--report', report] + (['-R'] if installed else []) + ['-s'] + list(NOX_SESSIONS)
    code = run_logged(command, log, env=own.env(NO_COLOR='1'))
    sessions = nox_report(report)
    if not sessions:
        results.add('nox', 0, 1, 0, time.monotonic() - started, log, '(no report from nox, exit code %d)' % code)
        return
    if record_nox_sessions(results, sessions, split_nox_log(log), log):
        os.makedirs(NOX_ENVDIR, exist_ok=True)
        with open(stamp_path, 'w', encoding='utf-8') as handle:
            handle.write(stamp)


def record_nox_sessions(results, sessions, logs, log):
    """One result per session of NOX_SESSIONS from nox's report (a session missing from it failed); whether all
    passed. build-import-check fails too when galaxy-importer printed errors but let the import pass."""
    passed_all = True
    for name in NOX_SESSIONS:
        entry = sessions.get(name, {})
        note = '' if entry else '(not run)'
        ok = entry.get('result') == 'success'
        if ok and name == 'build-import-check' and NOX_IMPORTER_ERRORS in tail(logs.get(name, log), 5000):
            ok, note = False, '(galaxy-importer reported errors)'
        passed_all = passed_all and ok
        results.add('nox-' + name, 1 if ok else 0, 0 if ok else 1, 0, entry.get('duration') or 0.0,
                    logs.get(name, log), note)
    return passed_all


def nox_stamp(venv):
    """What the sessions' environments are installed from: antsibull-nox.toml and .venv/nox's own stamp."""
    digest = hashlib.sha256()
    for path in (os.path.join(ROOT, 'antsibull-nox.toml'), venv.stamp_path):
        with open(path, 'rb') as handle:
            digest.update(handle.read())
    return digest.hexdigest() + '\n'


def nox_report(path):
    """The sessions of nox's --report file by name, or {} when there is none."""
    try:
        with open(path, encoding='utf-8') as handle:
            return dict((entry['name'], entry) for entry in json.load(handle).get('sessions', ()))
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def split_nox_log(log):
    """Write each session's part of nox's output to .build/logs/nox-<session>.log; {session: that log}."""
    parts, current = {}, None
    with open(log, encoding='utf-8', errors='replace') as handle:
        for line in handle:
            found = re.match(r'nox > Running session (\S+)$', line.rstrip())
            if found:
                current = found.group(1)
                parts.setdefault(current, [])
            if current:
                parts[current].append(line)
    logs = {}
    for name, lines in parts.items():
        logs[name] = os.path.join(LOGS, 'nox-%s.log' % name)
        with open(logs[name], 'w', encoding='utf-8') as handle:
            handle.writelines(lines)
    return logs
