"""nox sessions of the secops.m365_defender collection: the checks of antsibull-nox.toml, ansible-test sanity, units
and integration on the two cores of tests/run/suite.py (made by antsibull-nox), and plain sessions for the stages
that run a tool in an environment of its own (changelog, sandbox, conformance, eda, browser).

`make test` runs the checks in NOX_SESSIONS (stage nox of tests/run/suite.py), ansible-lint (stage lint), the
ansible-test sessions (stages sanity, units and integration) and the plain sessions (their stages) with nox and
antsibull-nox from .venv/nox; by hand: .venv/nox/bin/nox --list. docs/development.md, section "nox", says what runs
here and what stays in suite.py.
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

# ansible-test sanity, units and integration, one session per test and core, with antsibull-nox's Python API: its
# TOML-declared ansible-test sessions take ansible-core from GitHub and run in containers, neither of which works
# here. The cores and Pythons are those of .venv/oldest and .venv/newest, found as tests/run/suite.py finds them.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'tests', 'run'))
import suite  # tests/run/suite.py

ANSIBLE_TEST_PARAMS = {
    'sanity': ['sanity', '--junit'],
    'units': ['units'],
    # Every target, the failing ones too; the sandbox's address and credentials come from place_integration_config.
    'integration': ['integration', '--continue-on-error'],
}


def keep_output(name, prepare=None, keep_environments=True):
    """Callbacks that give ansible-test, in antsibull-nox's copy of the collection, a tests/output that outlives the
    copy: suite.ansible_test_output(name). ansible-test writes its results there (JUnit, the integration targets that
    passed) even when it fails (then antsibull-nox copies nothing back). With ``keep_environments``, the Python
    environments it makes with --venv (.tmp/delegation) stay there for the next run. ``prepare()`` runs first, in the
    copy.
    """
    outside = suite.ansible_test_output(name)

    def before():
        if prepare:
            prepare()
        if keep_environments:
            keep_only(outside, '.tmp')
            keep_only(os.path.join(outside, '.tmp'), 'delegation')
        else:
            shutil.rmtree(outside, ignore_errors=True)
        os.makedirs(outside, exist_ok=True)
        shutil.rmtree(os.path.join('tests', 'output'), ignore_errors=True)
        os.symlink(outside, os.path.join('tests', 'output'))

    def after():
        os.remove(os.path.join('tests', 'output'))  # leaves antsibull-nox nothing to copy back into this tree

    return before, after


def place_integration_config():
    """Copy the file that $M365D_INTEGRATION_CONFIG names to the copy's tests/integration/integration_config.yml,
    which ansible-test passes to every target as extra vars: the running sandbox's addresses, CA and credentials.
    tests/run/suite.py starts a sandbox for each integration run and writes that file from its sandbox.json."""
    source = os.environ.get(suite.INTEGRATION_CONFIG_VARIABLE)
    if not source or not os.path.isfile(source):
        nox.logger.logger.error('The integration sessions need a running sandbox and $%s naming its'
                                ' integration_config.yml; run them with: python3 tests/run/suite.py test --only'
                                ' integration [--core oldest|newest] [--target NAME ...]'
                                % suite.INTEGRATION_CONFIG_VARIABLE)
        raise nox.command.CommandFailed('no integration_config.yml')
    with open(source, encoding='utf-8') as handle:
        content = handle.read()
    suite.write_private(os.path.join('tests', 'integration', 'integration_config.yml'), content)


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
    """Sessions ansible-test-sanity|units|integration-<core> for .venv/oldest's and .venv/newest's core (ansible-core
    from PyPI), each on that environment's base Python, with --venv --python of that Python."""
    for flavour in ('oldest', 'newest'):
        venv = suite.Venv.named(flavour)
        found = suite.probe_python(venv.base_python)
        if not found:
            continue
        core = suite.NOX_CORES[venv.core]
        for test, params in ANSIBLE_TEST_PARAMS.items():
            name = suite.nox_ansible_test_session(test, core)
            if test == 'integration':
                # Not the environment of the run before: its scripts' #! lines name that run's copy, which is gone
                # (ansible-runner, which targets run, would not start).
                before, after = keep_output(name, place_integration_config, keep_environments=False)
            else:
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


# Plain sessions for the stages of tests/run/suite.py that run a tool in an environment of its own. Each installs
# suite.SESSION_REQUIREMENTS[name], what suite.py installed for the stage before they were sessions, so versions do
# not drift; suite.py does what no session can (apt-get, Java, the results) and passes pytest's --junitxml after --.


def install_requirements(session, name):
    """Install suite.SESSION_REQUIREMENTS[name] (an ansible-core range or None, requirement files), unless the
    environment was last installed from the same: its stamp is suite.py's for .venv/ (Python, range, files' content)."""
    core, files = suite.SESSION_REQUIREMENTS[name]
    wanted = suite.Venv(name, os.path.join(session.bin, 'python'), core, files)
    stamp = os.path.join(session.virtualenv.location, '.suite-stamp')
    if suite.tail(stamp) == wanted.wanted_stamp():
        return
    if os.path.exists(stamp):
        os.remove(stamp)
    requirements = []
    for path in wanted.requirement_files():
        requirements.extend(['-r', path])
    session.install('--disable-pip-version-check', *(([core] if core else []) + requirements))
    with open(stamp, 'w', encoding='utf-8') as handle:
        handle.write(wanted.wanted_stamp())


def run_pytest(session, directory):
    """pytest on ``directory`` at the repository root, the session's arguments (suite.py: --junitxml FILE) first."""
    session.run('python', '-m', 'pytest', '-p', 'no:cacheprovider', '-q', *session.posargs, directory,
                env={'PYTHONDONTWRITEBYTECODE': '1'})


@nox.session(default=False)
def changelog(session):
    """antsibull-changelog lint on changelogs/ (stage changelog)."""
    install_requirements(session, 'changelog')
    session.run('antsibull-changelog', 'lint')


@nox.session(default=False)
def sandbox(session):
    """The sandbox's own tests, tests/sandbox (stage sandbox)."""
    install_requirements(session, 'sandbox')
    run_pytest(session, 'tests/sandbox')


@nox.session(default=False)
def conformance(session):
    """Microsoft's Graph SDK for Python and azure-identity against a sandbox, tests/conformance (stage conformance)."""
    install_requirements(session, 'conformance')
    run_pytest(session, 'tests/conformance')


@nox.session(default=False)
def eda(session):
    """The real ansible-rulebook with the collection's event sources, tests/eda (stage eda).

    Its rule engine needs Java 17 or later, at JAVA_HOME (suite.py finds or installs one) or on PATH."""
    install_requirements(session, 'eda')
    run_pytest(session, 'tests/eda')


@nox.session(default=False)
def browser(session):
    """The incident report of a sandbox run in headless Chromium, tests/browser (stage browser).

    Playwright drives Debian's /usr/bin/chromium (suite.py installs it), never its own browsers;
    M365D_CORE=oldest|newest picks whose ansible-playbook makes the report."""
    install_requirements(session, 'browser')
    run_pytest(session, 'tests/browser')
