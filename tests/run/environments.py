"""The virtual environments under .venv/ (oldest, newest and the tools' nox), the Pythons they are made from,
what goes into them and into noxfile.py's plain sessions, ansible-test's pip bootstrap script, and the link
under .build/ where ansible-playbook finds the collection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

from paths import BUILD, GET_PIP, LOGS, NAME, NAMESPACE, ROOT, VENV_ROOT
from processes import Lock, SetupError, run_logged, say, tail


# What goes into both environments, besides ansible-core; files that do not exist are left out.
REQUIREMENT_FILES = (
    'requirements.txt',
    'tests/unit/requirements.txt',
    'tests/run/requirements.txt',
    'tests/sandbox/requirements.txt',
)
OLDEST_CORE = 'ansible-core>=2.16,<2.17'
NEWEST_CORE = 'ansible-core>=2.21,<2.22'
FALLBACK_CORE = 'ansible-core<2.20'  # the newest core that still runs on Python 3.11
NEWEST_PYTHONS = ((3, 14), (3, 13), (3, 12))  # Pythons that ansible-core 2.21 supports as a controller

# The browser stage: Playwright, driving Debian's Chromium (system_packages.py) from noxfile.py's session browser.
BROWSER_REQUIREMENTS = ('tests/browser/requirements.txt',)

# The eda stage: the real ansible-rulebook from the session eda, with the collection's runtime requirements (its event
# sources import its module_utils in the rulebook's process); the rule engine runs in Java (system_packages.py).
EDA_REQUIREMENTS = ('requirements.txt', 'tests/eda/requirements.txt')

# The conformance stage: Microsoft's Graph SDK for Python and azure-identity, from the session conformance, against a
# sandbox.
CONFORMANCE_REQUIREMENTS = ('tests/conformance/requirements.txt',)

# The nox stage: nox and antsibull-nox in .venv/nox (stages_nox.py runs the sessions).
NOX_REQUIREMENTS = ('tests/nox/requirements.txt',)

# `make docs` and the docs stage: antsibull-docs, Sphinx and pandoc (tests/docs/), pinned, in the session docs.
DOCS_REQUIREMENTS = ('tests/docs/requirements.txt',)

# The environment of single commands, on python3, without ansible-core: .venv/nox.
TOOL_VENVS = {'nox': NOX_REQUIREMENTS}

# What noxfile.py's plain sessions install, by session (and stage): (ansible-core range or None, requirement files).
# changelog and sandbox ran in .venv/oldest before: sandbox installs what that holds, changelog the harness's file
# (antsibull-changelog). The eda session's ansible-core comes from its requirement file.
SESSION_REQUIREMENTS = {
    'changelog': (None, ('tests/run/requirements.txt',)),
    'sandbox': (OLDEST_CORE, REQUIREMENT_FILES),
    'conformance': (None, CONFORMANCE_REQUIREMENTS),
    'eda': (None, EDA_REQUIREMENTS),
    'browser': (None, BROWSER_REQUIREMENTS),
    'docs': (None, DOCS_REQUIREMENTS),
}


def probe_python(executable):
    """((major, minor), real path) of a Python that can create virtual environments, or None (e.g. a broken
    pyenv shim). The real path keys the environment, however the Python was reached (shim, symlink)."""
    probe = 'import os, sys, venv, ensurepip; print("%d.%d" % sys.version_info[:2], os.path.realpath(sys.executable))'
    try:
        result = subprocess.run([executable, '-c', probe], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.fullmatch(r'(\d+)\.(\d+) (.+)\n?', result.stdout) if result.returncode == 0 else None
    return ((int(match.group(1)), int(match.group(2))), match.group(3)) if match else None


def pyenv_roots():
    """Where pyenv may keep its Pythons: $PYENV_ROOT, `pyenv root`, beside the pyenv program, ~/.pyenv."""
    roots = [os.environ.get('PYENV_ROOT')]
    pyenv = shutil.which('pyenv')
    if pyenv:
        try:
            result = subprocess.run([pyenv, 'root'], capture_output=True, text=True, timeout=30, check=False)
            roots.append(result.stdout.strip() if result.returncode == 0 else None)
        except (OSError, subprocess.TimeoutExpired):
            pass
        roots.append(os.path.dirname(os.path.dirname(os.path.realpath(pyenv))))  # <root>/libexec/pyenv
    roots.append(os.path.expanduser('~/.pyenv'))
    unique = []
    for root in roots:
        if root and os.path.isdir(os.path.join(root, 'versions')) and root not in unique:
            unique.append(root)
    return unique


def find_newest_python():
    """The newest Python that ansible-core 2.21 supports, preferring real binaries over pyenv shims."""
    candidates = []
    for version in NEWEST_PYTHONS:
        name = 'python%d.%d' % version
        for root in pyenv_roots():
            found = glob.glob(os.path.join(root, 'versions', '%d.%d.*' % version, 'bin', name))
            candidates.extend(sorted(found, key=lambda path: [int(part) for part in re.findall(r'\d+', path)],
                                     reverse=True))
        for directory in ('/usr/local/bin', '/usr/bin'):
            candidates.append(os.path.join(directory, name))
        if shutil.which(name):
            candidates.append(shutil.which(name))
    for candidate in candidates:
        found = probe_python(candidate) if os.access(candidate, os.X_OK) else None
        if found and found[0] in NEWEST_PYTHONS:
            return found[1]
    return None


class Venv:
    """A virtual environment: a base Python, an ansible-core range (None: no ansible-core) and requirement files."""

    def __init__(self, name, python, core, requirements=REQUIREMENT_FILES):
        self.name = name
        self.base_python = python
        self.core = core
        self.requirements = requirements
        self.path = os.path.join(VENV_ROOT, name)
        self.stamp_path = os.path.join(self.path, '.suite-stamp')
        self.log = os.path.join(LOGS, 'setup-%s.log' % name)
        self._facts = None

    @classmethod
    def named(cls, name):
        """The 'oldest', 'newest', or a stage's own environment (TOOL_VENVS); the Pythons can be overridden for
        experiments."""
        python3 = shutil.which('python3') or sys.executable
        python3 = (probe_python(python3) or (None, python3))[1]
        if name in TOOL_VENVS:
            return cls(name, python3, None, TOOL_VENVS[name])
        if name == 'oldest':
            return cls(name, os.environ.get('M365D_OLDEST_PYTHON') or python3, OLDEST_CORE)
        python = os.environ.get('M365D_NEWEST_PYTHON') or find_newest_python()
        if python:
            return cls(name, python, NEWEST_CORE)
        return cls(name, python3, FALLBACK_CORE)

    def bin(self, program):
        """A program in the environment's bin directory."""
        return os.path.join(self.path, 'bin', program)

    @property
    def python(self):
        """The environment's Python."""
        return self.bin('python')

    def requirement_files(self):
        """The requirement files that exist, as absolute paths."""
        return [os.path.join(ROOT, name) for name in self.requirements if os.path.exists(os.path.join(ROOT, name))]

    def wanted_stamp(self):
        """A digest of everything that decides the environment's content."""
        digest = hashlib.sha256()
        digest.update(os.path.realpath(self.base_python).encode())
        digest.update((self.core or '').encode())
        for path in self.requirement_files():
            digest.update(os.path.relpath(path, ROOT).encode())
            with open(path, 'rb') as handle:
                digest.update(handle.read())
        return '%s %s\n' % (os.path.realpath(self.base_python), digest.hexdigest())

    def current_stamp(self):
        """What the environment was last built from, or ''."""
        try:
            with open(self.stamp_path, encoding='utf-8') as handle:
                return handle.read()
        except OSError:
            return ''

    def ensure(self):
        """Create or update the environment when its stamp does not match; quick when it does."""
        wanted = self.wanted_stamp()
        if self.current_stamp() == wanted and os.path.exists(self.python):
            return self
        with Lock('venv-' + self.name):
            current = self.current_stamp()
            if current == wanted and os.path.exists(self.python):
                return self
            started = time.monotonic()
            say('Setting up .venv/%s (%s on %s); log: %s'
                % (self.name, self.core or 'its requirement files', self.base_python, os.path.relpath(self.log, ROOT)))
            os.makedirs(LOGS, exist_ok=True)
            with open(self.log, 'w', encoding='utf-8'):
                pass
            if not probe_python(self.base_python):
                raise SetupError('%s cannot create virtual environments (for .venv/%s)' % (self.base_python, self.name))
            same_base = current.split(' ')[0] == wanted.split(' ')[0]
            if not (same_base and os.path.exists(self.python) and probe_python(self.python)):
                shutil.rmtree(self.path, ignore_errors=True)
                if run_logged([self.base_python, '-m', 'venv', self.path], self.log) != 0:
                    raise SetupError('could not create .venv/%s with %s:\n%s'
                                     % (self.name, self.base_python, tail(self.log)))
            if os.path.exists(self.stamp_path):
                os.remove(self.stamp_path)
            command = ([self.python, '-m', 'pip', 'install', '--disable-pip-version-check']
                       + ([self.core] if self.core else []))
            for path in self.requirement_files():
                command.extend(['-r', path])
            if run_logged(command, self.log) != 0:
                raise SetupError('pip could not install into .venv/%s:\n%s' % (self.name, tail(self.log)))
            with open(self.stamp_path, 'w', encoding='utf-8') as handle:
                handle.write(wanted)
            say('  .venv/%s ready in %.0f s' % (self.name, time.monotonic() - started))
        return self

    def facts(self):
        """Python version ('3.11'), ansible-core version and the pip version ansible-test bootstraps."""
        if self._facts is None:
            probe = r'''
import json, os, re, sys
import ansible.release
facts = {"python": "%d.%d" % sys.version_info[:2], "core": ansible.release.__version__, "pip": None}
try:
    from ansible_test._internal.python_requirements import get_venv_packages
    class Python:
        version = facts["python"]
    facts["pip"] = get_venv_packages(Python())["pip"]
except Exception:
    import ansible_test
    source = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    with open(source) as handle:
        found = re.search(r"\bpip='([0-9.]+)'", handle.read())
    facts["pip"] = found and found.group(1)
print(json.dumps(facts))
'''
            result = subprocess.run([self.python, '-c', probe], capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise SetupError('cannot read the versions in .venv/%s:\n%s' % (self.name, result.stderr))
            self._facts = json.loads(result.stdout)
        return self._facts

    @property
    def label(self):
        """E.g. 'core 2.16.19 / Python 3.11'."""
        facts = self.facts()
        return 'ansible-core %s, Python %s' % (facts['core'], facts['python'])

    @property
    def short(self):
        """E.g. '2.16'."""
        return '.'.join(self.facts()['core'].split('.')[:2])

    def env(self, **extra):
        """The environment for programs of this virtual environment (its bin first on PATH)."""
        env = dict(os.environ)
        env['PATH'] = os.path.join(self.path, 'bin') + os.pathsep + env.get('PATH', os.defpath)
        env['VIRTUAL_ENV'] = self.path
        env.pop('PYTHONPATH', None)
        env.update(extra)
        return env


def seed_get_pip(venv):
    """Install tests/run/get_pip.py where ansible-test --venv looks for its pip bootstrap script."""
    version = venv.facts()['pip']
    if not version:
        raise SetupError('cannot tell which pip version ansible-test in .venv/%s bootstraps' % venv.name)
    target = os.path.expanduser('~/.ansible/test/cache/get_pip_%s.py' % version.replace('.', '_'))
    with open(GET_PIP, encoding='utf-8') as handle:
        wanted = handle.read()
    try:
        with open(target, encoding='utf-8') as handle:
            current = handle.read()
    except OSError:
        current = None
    # A genuine get-pip.py that someone put there works too; only ours is kept up to date.
    if current is None or (current != wanted and 'secops.m365_defender get-pip stand-in' in current):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        temporary = target + '.suite'
        with open(temporary, 'w', encoding='utf-8') as handle:
            handle.write(wanted)
        os.replace(temporary, target)


def collection_link():
    """.build/collections/ansible_collections/secops/m365_defender -> the repository (for ansible-playbook)."""
    collections = os.path.join(BUILD, 'collections')
    link = os.path.join(collections, 'ansible_collections', NAMESPACE, NAME)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.islink(link) and os.readlink(link) == ROOT:
        return collections
    if os.path.islink(link) or os.path.isfile(link):
        os.remove(link)
    elif os.path.isdir(link):
        shutil.rmtree(link)
    os.symlink(ROOT, link)
    return collections
