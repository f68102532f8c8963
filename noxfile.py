"""nox sessions of the secops.m365_defender collection: the checks of antsibull-nox.toml, ansible-test sanity, units
and integration on the two cores of tests/run/suite.py (made by antsibull-nox), and plain sessions for the stages
that run a tool in an environment of its own (changelog, sandbox, conformance, eda, browser, docs).

`make test` runs the checks in NOX_SESSIONS (stage nox of tests/run/suite.py), ansible-lint (stage lint), the
ansible-test sessions (stages sanity, units and integration) and the plain sessions (their stages) with nox and
antsibull-nox from .venv/nox; by hand: .venv/nox/bin/nox --list. docs/development.md, section "nox", says what runs
here and what stays in the harness (tests/run/).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import sys

import nox

try:
    import antsibull_nox
    from antsibull_nox.sessions import prepare_collections
except ImportError:
    print('antsibull-nox must be installed beside nox: make test puts both into .venv/nox.')
    sys.exit(1)

# nox's own environments: under .build/ (ignored, and make clean removes them), kept from one run to the next.
nox.options.envdir = '.build/nox'
nox.options.reuse_venv = 'yes'

antsibull_nox.load_antsibull_nox_toml()

# ansible-test sanity, units and integration, one session per test and core, with antsibull-nox's Python API: its
# TOML-declared ansible-test sessions take ansible-core from GitHub and run in containers, neither of which works
# here. The cores and Pythons are those of .venv/oldest and .venv/newest, found as tests/run/environments.py finds
# them.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'tests', 'run'))
# the harness's modules in tests/run/ (standard library only)
from environments import SESSION_REQUIREMENTS, Venv, probe_python  # noqa: E402
from nox_runs import NOX_CORES, ansible_test_output, nox_ansible_test_session  # noqa: E402
from paths import BUILD, DOCS_SITE, NAME, NAMESPACE, ROOT  # noqa: E402
from processes import fresh_dir, tail, write_private  # noqa: E402
from stages_ansible_test import INTEGRATION_CONFIG_VARIABLE  # noqa: E402

ANSIBLE_TEST_PARAMS = {
    'sanity': ['sanity', '--junit'],
    'units': ['units'],
    # Every target, the failing ones too; the sandbox's address and credentials come from place_integration_config.
    'integration': ['integration', '--continue-on-error'],
}


def keep_output(name, prepare=None, keep_environments=True):
    """Callbacks that give ansible-test, in antsibull-nox's copy of the collection, a tests/output that outlives the
    copy: ansible_test_output(name). ansible-test writes its results there (JUnit, the integration targets that
    passed) even when it fails (then antsibull-nox copies nothing back). With ``keep_environments``, the Python
    environments it makes with --venv (.tmp/delegation) stay there for the next run. ``prepare()`` runs first, in the
    copy.
    """
    outside = ansible_test_output(name)

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
    tests/run/stages_ansible_test.py starts a sandbox for each integration run and writes that file from its
    sandbox.json."""
    source = os.environ.get(INTEGRATION_CONFIG_VARIABLE)
    if not source or not os.path.isfile(source):
        nox.logger.logger.error('The integration sessions need a running sandbox and $%s naming its'
                                ' integration_config.yml; run them with: python3 tests/run/suite.py test --only'
                                ' integration [--core oldest|newest] [--target NAME ...]'
                                % INTEGRATION_CONFIG_VARIABLE)
        raise nox.command.CommandFailed('no integration_config.yml')
    with open(source, encoding='utf-8') as handle:
        content = handle.read()
    write_private(os.path.join('tests', 'integration', 'integration_config.yml'), content)


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
        venv = Venv.named(flavour)
        found = probe_python(venv.base_python)
        if not found:
            continue
        core = NOX_CORES[venv.core]
        for test, params in ANSIBLE_TEST_PARAMS.items():
            name = nox_ansible_test_session(test, core)
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
# SESSION_REQUIREMENTS[name] (tests/run/environments.py), what suite.py installed for the stage before they were
# sessions, so versions do not drift; the harness does what no session can (apt-get, Java, the results) and passes
# pytest's --junitxml after --.


def install_requirements(session, name):
    """Install SESSION_REQUIREMENTS[name] (an ansible-core range or None, requirement files), unless the
    environment was last installed from the same: its stamp is that of .venv/ (environments.py: Python, range, files'
    content)."""
    core, files = SESSION_REQUIREMENTS[name]
    wanted = Venv(name, os.path.join(session.bin, 'python'), core, files)
    stamp = os.path.join(session.virtualenv.location, '.suite-stamp')
    if tail(stamp) == wanted.wanted_stamp():
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

    Its rule engine needs Java 17 or later, at JAVA_HOME (system_packages.py finds or installs one) or on PATH."""
    install_requirements(session, 'eda')
    run_pytest(session, 'tests/eda')


@nox.session(default=False)
def browser(session):
    """The incident report of a sandbox run in headless Chromium, tests/browser (stage browser).

    Playwright drives Debian's /usr/bin/chromium (system_packages.py installs it), never its own browsers;
    M365D_CORE=oldest|newest picks whose ansible-playbook makes the report."""
    install_requirements(session, 'browser')
    run_pytest(session, 'tests/browser')


# The docs (stage docs, `make docs`): one session, so that one environment holds tests/docs/requirements.txt (pinned:
# the lint's verdict and the RST written from the guides must not change with a release), and one step per run,
# named after --. antsibull-nox's own docs-check session ([sessions.docs_check] of antsibull-nox.toml) cannot run
# DOCS_LINT: it always passes --skip-rstcheck, and it has no --disallow-unknown-collection-refs.

# The strictest lint that works offline: the plugins' and roles' documentation, the extra docs (docs/docsite/), rstcheck
# on all the RST they give, and every reference checked against this collection and ansible.builtin (its only
# dependency), a reference to any other collection being an error. antsibull-docs documents what ansible-doc does: the
# EDA event sources (extensions/eda/) are not among them.
DOCS_LINT = ('lint-collection-docs', '--plugin-docs', '--validate-collection-refs', 'dependent',
             '--disallow-unknown-collection-refs', '--check-extra-docs-refs')
DOCS_FQCN = NAMESPACE + '.' + NAME
DOCS_SPHINX = os.path.join(BUILD, 'docs-sphinx')  # the Sphinx project of sphinx-init; its HTML goes to DOCS_SITE
# --lenient: offline, intersphinx reaches neither docs.ansible.com nor docs.python.org, and Sphinx -W fails on that.
DOCS_SPHINX_INIT = ('sphinx-init', '--use-current', '--lenient', '--squash-hierarchy', '--project', DOCS_FQCN,
                    '--title', DOCS_FQCN, '--copyright', DOCS_FQCN + ' contributors')
# What the site's Sphinx warns about offline, all from intersphinx: inventories it cannot fetch, and references to
# ansible-core's own documentation (labels, ANSIBLE_* variables) that only those inventories resolve.
DOCS_OFFLINE_WARNINGS = re.compile(r"failed to reach any of the inventories|undefined label: '(?!ansible_collections\.)"
                                   r"|'envvar' reference target not found: ANSIBLE_")


def docs_rst(session, args):
    """tests/docs/md2rst.py: docs/docsite/rst/ written from the Markdown guides, or with --check only compared."""
    session.run('python', os.path.join('tests', 'docs', 'md2rst.py'), '.', *args)


def docs_collection(session):
    """antsibull-nox's copy of the collection (a physical .../ansible_collections/secops/m365_defender, which
    antsibull-docs wants) in a temporary directory; (its path, the environment that makes ansible-doc find it)."""
    collections = prepare_collections(session, install_in_site_packages=False, install_out_of_tree=True)
    return collections.current_path, {'ANSIBLE_COLLECTIONS_PATH': str(collections.current_place)}


def docs_lint(session, args):
    """antsibull-docs lint-collection-docs (DOCS_LINT) in the copy; each finding is a line PATH:LINE:COLUMN: TEXT."""
    path, env = docs_collection(session)
    with session.chdir(path):
        session.run('antsibull-docs', *(DOCS_LINT + tuple(args) + ('.',)), env=env)


def docs_site(session, args):
    """antsibull-docs sphinx-init and its build.sh on the copy, the HTML copied to DOCS_SITE; fails, with a line
    '*** ...' each, on a Sphinx warning that is not one of DOCS_OFFLINE_WARNINGS and on a guide missing from the
    site."""
    _path, env = docs_collection(session)
    fresh_dir(DOCS_SPHINX)
    os.chmod(DOCS_SPHINX, 0o755)  # sphinx-init writes only into a directory that no one else may write to
    shutil.rmtree(DOCS_SITE, ignore_errors=True)
    session.run('antsibull-docs', *(DOCS_SPHINX_INIT + tuple(args) + ('--dest-dir', DOCS_SPHINX, DOCS_FQCN)), env=env)
    output = session.run('bash', os.path.join(DOCS_SPHINX, 'build.sh'), env=env, silent=True, external=True)
    print(output, flush=True)
    shutil.copytree(os.path.join(DOCS_SPHINX, 'build', 'html'), DOCS_SITE)
    problems = ['Sphinx: ' + line for line in output.splitlines()
                if 'WARNING:' in line and not DOCS_OFFLINE_WARNINGS.search(line)]
    problems.extend('not in the docsite: ' + os.path.relpath(page, ROOT) for page in docs_guide_pages()
                    if not os.path.exists(page))
    print(''.join('*** %s\n' % problem for problem in problems), end='', flush=True)
    if problems:
        session.error('%d problem(s) with the docsite' % len(problems))


def docs_guide_pages():
    """The HTML page of every guide that docs/docsite/extra-docs.yml lists (where the docsite must have it)."""
    with open(os.path.join('docs', 'docsite', 'extra-docs.yml'), encoding='utf-8') as handle:
        refs = re.findall(r'^\s*-\s+(?:ref:\s*)?([\w./-]+)\s*$', handle.read(), re.M)
    return [os.path.join(DOCS_SITE, 'docsite', ref + '.html') for ref in refs]


DOCS_STEPS = {'rst': docs_rst, 'lint': docs_lint, 'site': docs_site}


@nox.session(default=False)
def docs(session):
    """The docs (stage docs, make docs), one step: -- rst [--check] (docs/docsite/rst/ from the Markdown guides),
    -- lint (antsibull-docs' lint), -- site (the docsite, into .build/docs/); more arguments go to the step's tool."""
    if not session.posargs or session.posargs[0] not in DOCS_STEPS:
        session.error('name a step after --: %s' % ', '.join(DOCS_STEPS))
    install_requirements(session, 'docs')
    DOCS_STEPS[session.posargs[0]](session, session.posargs[1:])
