"""Build and test driver of the secops.m365_defender collection: ``make demo``, ``make test`` and friends.

Sets up everything it needs by itself (idempotent, fast when done): two virtual environments under .venv/,
the collection where ansible-playbook and ansible-test can find it under .build/, ansible-test's pip
bootstrap script, and the sandbox (tests/sandbox/) for the demo and the integration tests.
docs/development.md explains the stages, the environments and the traps.

This file is the command line: its commands, and the test stages in their order. The other modules of tests/run/
hold the rest, one concern each (docs/development.md, "tests/run/: which file holds what").

    python3 tests/run/suite.py setup|demo|build|docs|test [--only STAGE ...] [--core oldest|newest]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

from demo import DEMO_TENANTS, run_demo_containment, run_demo_report
from environments import Venv, probe_python, seed_get_pip
from paths import BUILD, LOGS, ROOT, VENV_ROOT
from processes import Lock, SetupError, fresh_dir, run_logged, say, tail
from results import Results, failure_excerpt
from sandbox_process import Sandbox
from stages_ansible_test import stage_sanity, stage_units, stages_integration
from stages_docs import DOCS_STEPS, DOCS_WRITTEN, docs_index, docs_step, stage_docs
from stages_ee import stage_ee
from stages_lint import stage_lint
from stages_nox import stage_nox
from stages_sessions import stage_browser, stage_changelog, stage_conformance, stage_eda, stage_sandbox_tests

STAGES = ('sanity', 'units', 'integration', 'changelog', 'sandbox', 'lint', 'ee', 'browser', 'eda', 'conformance',
          'docs', 'nox')


def command_docs(args):
    """`make docs`: the steps of DOCS_STEPS, the first writing docs/docsite/rst/ from the Markdown guides, then
    antsibull-docs' lint and the docsite in .build/docs/; non-zero when a step failed (after the RST's, none runs)."""
    del args
    failures = 0
    for name, posargs in DOCS_STEPS:
        posargs = ('rst',) if name == 'docs-rst' else posargs
        log = os.path.join(LOGS, name + '.log')
        say('nox -s docs -- %s (log: %s)' % (' '.join(posargs), os.path.relpath(log, ROOT)))
        code, failed = docs_step(name, posargs, log)
        if name == 'docs-rst':
            say('\n'.join(DOCS_WRITTEN.findall(tail(log, 200))) or 'docs/docsite/rst/ is up to date with the guides.')
        if code != 0:
            say(failure_excerpt(log))
            if name == 'docs-rst':
                return 1
        failures += failed
    if docs_index():
        say('The docsite: %s (open it in a browser: file://%s)' % (os.path.relpath(docs_index(), ROOT), docs_index()))
    return 1 if failures else 0


def selected_venvs(choice):
    """The environments a command works on."""
    names = ('oldest', 'newest') if choice == 'both' else (choice,)
    return [Venv.named(name) for name in names]


def command_setup(args):
    """Create or update the environments and show what they hold."""
    for venv in selected_venvs(args.core):
        venv.ensure()
        seed_get_pip(venv)
        say('.venv/%s: %s (%s)' % (venv.name, venv.label, venv.base_python))
    return 0


# Said before the playbook runs, so that the one red task of the run reads as the scenario, not as a crash.
DEMO_EXPECTED_FAILURE = (
    'One tenant fails on purpose: Northwind has not consented to the app soc-responder (AADSTS700016), like a\n'
    'customer whose admin has not granted consent yet. Its host shows one red, ignored task ("not read") and\n'
    'ignored=1 in the recap; the report lists it under "Tenants not read" with the admin consent URL, and the\n'
    'run still succeeds. Contoso and Fabrikam are read in full.')
DEMO_CONTAINMENT_STORY = (
    'Then a responder contains what the report found: secops.m365_defender.device_containment isolates the devices\n'
    'of Contoso\'s most severe open incidents that name devices (never a server, never a device tagged VIP), records\n'
    'on each incident what was done and prints a summary. The isolations are sent, not waited for (the demo\'s\n'
    'sandbox runs in real time, where an isolation takes three minutes).')


def command_demo(args):
    """Start the sandbox, run the incident_report playbook on three tenants, then the device_containment playbook on
    what the report found in Contoso; stop the sandbox; print the report's files."""
    venv = Venv.named(args.core if args.core != 'both' else 'newest').ensure()
    demo = os.path.join(BUILD, 'demo')
    output_dir = os.path.join(demo, 'output')
    fresh_dir(output_dir)
    say('Starting the sandbox (state in %s)' % os.path.relpath(os.path.join(demo, 'sandbox'), ROOT))
    with Sandbox(venv.python, os.path.join(demo, 'sandbox'), os.path.join(LOGS, 'demo-sandbox.log')) as info:
        say('Sandbox at %s; running secops.m365_defender.incident_report on %s with %s'
            % (info['base_url'], ', '.join(DEMO_TENANTS), venv.label))
        say(DEMO_EXPECTED_FAILURE)
        code = run_demo_report(venv, info, demo, output_dir)
        if code == 0:
            say(DEMO_CONTAINMENT_STORY)
            code = run_demo_containment(venv, info, demo, output_dir)
    say('Sandbox stopped.')
    files = sorted(glob.glob(os.path.join(output_dir, 'incident-report.*')))
    if files:
        say('The incident report (%s):' % ', '.join(os.path.splitext(path)[1][1:].upper() for path in files))
        for path in files:
            say('  ' + path)
    else:
        say('No report in %s.' % os.path.relpath(output_dir, ROOT))
    return code


def command_build(args):
    """ansible-galaxy collection build into .build/dist/.

    Building needs ansible-galaxy and nothing else, and the cores the suite uses build the same tarball: an
    environment in .venv/ that runs is used as it is, even when its requirement files changed since it was made.
    Only when there is none at all is one made, with ansible-core alone (seconds, not the whole environment); its
    stamp names its base Python and no digest, so the next `make setup` or `make test` installs the rest into it
    instead of making it again. An environment that is there but does not run is set up as usual.
    """
    names = ('oldest', 'newest') if args.core == 'both' else (args.core,)
    usable = [name for name in names if os.access(os.path.join(VENV_ROOT, name, 'bin', 'ansible-galaxy'), os.X_OK)
              and probe_python(os.path.join(VENV_ROOT, name, 'bin', 'python'))]
    venv = Venv.named(usable[0] if usable else names[0])
    if not usable and os.path.exists(venv.path):
        venv.ensure()
    elif not usable:
        with Lock('venv-' + venv.name):  # another run may be making it: then it is there once the lock is ours
            if not os.path.exists(venv.path):
                say('Setting up .venv/%s with %s only, to build (make setup adds the rest); log: %s'
                    % (venv.name, venv.core, os.path.relpath(venv.log, ROOT)))
                pip = [venv.python, '-m', 'pip', 'install', '--disable-pip-version-check', venv.core]
                if run_logged([venv.base_python, '-m', 'venv', venv.path], venv.log) or run_logged(pip, venv.log):
                    shutil.rmtree(venv.path, ignore_errors=True)
                    raise SetupError('could not set up .venv/%s to build:\n%s' % (venv.name, tail(venv.log)))
                with open(venv.stamp_path, 'w', encoding='utf-8') as handle:
                    handle.write('%s ansible-core-only\n' % os.path.realpath(venv.base_python))
    dist = os.path.join(BUILD, 'dist')
    os.makedirs(dist, exist_ok=True)
    command = [venv.bin('ansible-galaxy'), 'collection', 'build', '--force', '--output-path', dist, ROOT]
    return subprocess.run(command, cwd=ROOT, env=venv.env(), stdin=subprocess.DEVNULL, check=False).returncode


def command_test(args):
    """Every stage in order; one summary line at the end; non-zero when anything failed or nothing ran."""
    stages = args.only or list(STAGES)
    results = Results()
    started = time.monotonic()
    os.makedirs(LOGS, exist_ok=True)
    venvs = []
    for venv in selected_venvs(args.core):
        try:
            venv.ensure()
            seed_get_pip(venv)
            venvs.append(venv)
            say('%s: %s' % (venv.name, venv.label))
        except SetupError as ex:
            say(str(ex))
            results.add('setup-%s' % venv.name, 0, 1, 0, 0, None)

    if 'sanity' in stages:
        for venv in venvs:
            stage_sanity(results, venv)
    if 'units' in stages:
        for venv in venvs:
            stage_units(results, venv)
    if 'integration' in stages and venvs:
        stages_integration(results, venvs, args.target or ())
    if 'changelog' in stages:
        stage_changelog(results)
    if 'sandbox' in stages:
        stage_sandbox_tests(results)
    if 'lint' in stages and venvs:
        stage_lint(results, venvs[0])
    if 'ee' in stages and venvs:
        stage_ee(results, venvs[0])
    if 'browser' in stages and venvs:
        stage_browser(results, venvs[-1])  # the demo's environment: newest, unless --core says otherwise
    if 'eda' in stages:
        stage_eda(results)
    if 'conformance' in stages:
        stage_conformance(results)
    if 'docs' in stages:
        stage_docs(results)
    if 'nox' in stages:
        stage_nox(results)

    passed, failed, skipped = results.totals()
    say('')
    say('Total %.0f s; logs in %s%s' % (time.monotonic() - started, os.path.relpath(LOGS, ROOT),
                                        '; %d skipped' % skipped if skipped else ''))
    line = '%d passed, %d failed' % (passed, failed)
    with open(os.path.join(LOGS, 'summary.txt'), 'w', encoding='utf-8') as handle:
        handle.write(line + '\n')
    say(line)
    return 1 if failed or not passed else 0


def stop_on_signal(signum, _frame):
    """Turn SIGTERM/SIGHUP into an exception, so that the sandbox is stopped on the way out."""
    say('Stopped by signal %d.' % signum)
    raise SystemExit(128 + signum)


def main():
    """Parse the command line and run a command."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('command', choices=('setup', 'demo', 'build', 'test', 'docs'))
    parser.add_argument('--core', choices=('oldest', 'newest', 'both'), default='both',
                        help='which environment(s): oldest = ansible-core 2.16, newest = 2.21 (default: both)')
    parser.add_argument('--only', action='append', choices=STAGES, help='run only this test stage (repeatable)')
    parser.add_argument('--target', action='append', help='integration: run only this target (repeatable)')
    args = parser.parse_args()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop_on_signal)
    commands = {'setup': command_setup, 'demo': command_demo, 'build': command_build, 'test': command_test,
                'docs': command_docs}
    try:
        # One demo and one test run at a time in a working tree: they share .build/ (copies, sandbox state).
        with Lock(args.command):
            return commands[args.command](args)
    except SetupError as ex:
        say('ERROR: %s' % ex)
        if args.command == 'test':
            say('0 passed, 1 failed')
        return 1
    except KeyboardInterrupt:
        say('Interrupted.')
        return 130


if __name__ == '__main__':
    sys.exit(main())
