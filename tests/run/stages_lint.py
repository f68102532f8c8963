"""The lint stage: ansible-lint (noxfile.py's session) on roles, playbooks and metadata, then on the modules' and
filters' EXAMPLES.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess
import time

from nox_runs import nox_session
from paths import BUILD, LOGS, ROOT
from processes import say, tail


# ansible-lint runs as antsibull-nox's session (antsibull-nox.toml): ansible-lint --offline on the repository, with
# secops.m365_defender.* resolved to antsibull-nox's copy of the collection, and these arguments after ``--``.
ANSIBLE_LINT_ARGS = ('--nocolor', '--format', 'pep8', '--profile', 'production')


def run_ansible_lint(results, name, paths=()):
    """noxfile.py's session ansible-lint, production profile, over `paths` (none: what .ansible-lint covers), one
    result per finding."""
    log = os.path.join(LOGS, name + '.log')
    started = time.monotonic()
    code = nox_session('ansible-lint', log, ANSIBLE_LINT_ARGS + tuple(paths))
    found = re.search(r'^(?:Failed|Passed): (\d+) failure\(s\)', tail(log, 5000), re.M)
    failed = int(found.group(1)) if found else 0
    if code != 0 and not failed:
        failed = 1
    results.add(name, 0 if failed else 1, failed, 0, time.monotonic() - started, log)


def stage_lint(results, venv):
    """ansible-lint on roles, playbooks and metadata (.ansible-lint), then on every module's and filter's EXAMPLES,
    turned into playbooks in .build/lint-examples/ by tests/run/lint_examples.py (with ``venv``'s Python); ansible-lint
    lints those by their absolute paths, outside the copy of the collection."""
    run_ansible_lint(results, 'ansible-lint')
    examples_dir = os.path.join(BUILD, 'lint-examples')
    written = subprocess.run([venv.python, os.path.join(ROOT, 'tests', 'run', 'lint_examples.py'), ROOT, examples_dir],
                             capture_output=True, text=True, check=False)
    if written.returncode != 0 or not written.stdout.split():
        say(written.stderr)
        results.add('ansible-lint-examples', 0, 1, 0, 0.0, None, '(no examples written)')
        return
    run_ansible_lint(results, 'ansible-lint-examples', written.stdout.split())
