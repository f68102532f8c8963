"""Build and test driver of the secops.m365_defender collection: ``make demo``, ``make test`` and friends.

Sets up everything it needs by itself (idempotent, fast when done): two virtual environments under .venv/,
the collection where ansible-playbook and ansible-test can find it under .build/, ansible-test's pip
bootstrap script, and the sandbox (tests/sandbox/) for the demo and the integration tests.
docs/development.md explains the stages, the environments and the traps.

    python3 tests/run/suite.py setup|demo|build|docs|test [--only STAGE ...] [--core oldest|newest]
"""

import argparse
import glob
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
VENV_ROOT = os.path.join(ROOT, '.venv')
BUILD = os.path.join(ROOT, '.build')
LOGS = os.path.join(BUILD, 'logs')
NAMESPACE, NAME = 'secops', 'm365_defender'
GET_PIP = os.path.join(ROOT, 'tests', 'run', 'get_pip.py')
SANDBOX_CONTROL = os.path.join(ROOT, 'tests', 'sandbox', 'control.py')

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
COMMAND_TIMEOUT = 20 * 60
# Per ansible-test run, well above the normal (cold: sanity 2 min, units 10 s, integration 1-2 min), so that a
# hanging test fails its stage instead of the whole CI run (90 min).
STAGE_TIMEOUTS = {'sanity': 15 * 60, 'units': 5 * 60, 'integration': 25 * 60}
# The integration tests' sandbox runs its rate-limit windows and Retry-After 100 times faster (the demo's runs
# in real time); targets find the factor in m365d_sandbox.time_scale.
INTEGRATION_TIME_SCALE = float(os.environ.get('M365D_SANDBOX_TIME_SCALE', '0.01'))
STAGES = ('sanity', 'units', 'integration', 'changelog', 'sandbox', 'lint', 'ee', 'browser', 'eda', 'conformance',
          'docs', 'nox')
# The browser stage: Debian's Chromium (installed with apt-get when missing), driven by Playwright from noxfile.py's
# session browser (its own browser downloads are never used); the rendered report's screenshot is kept as an artifact.
CHROMIUM = '/usr/bin/chromium'
BROWSER_REQUIREMENTS = ('tests/browser/requirements.txt',)
BROWSER_SCREENSHOT = os.path.join(BUILD, 'artifacts', 'incident-report.png')
# The eda stage: the real ansible-rulebook from the session eda, with the collection's runtime requirements (its event
# sources import its module_utils in the rulebook's process); the rule engine runs in Java (Debian's openjdk-17 when
# missing).
EDA_REQUIREMENTS = ('requirements.txt', 'tests/eda/requirements.txt')
JAVA_MIN = 17  # ansible-rulebook refuses to start with an older Java
JAVA_PACKAGE = 'openjdk-17-jre-headless'
# The conformance stage: Microsoft's Graph SDK for Python and azure-identity, from the session conformance, against a
# sandbox.
CONFORMANCE_REQUIREMENTS = ('tests/conformance/requirements.txt',)
# The nox stage: the sessions of antsibull-nox.toml (noxfile.py) that pass, run by nox and antsibull-nox from .venv/nox;
# the sessions' own environments are kept in NOX_ENVDIR. Not docs-check: the session docs lints more (stage docs).
NOX_REQUIREMENTS = ('tests/nox/requirements.txt',)
NOX_SESSIONS = ('extra-checks', 'yamllint', 'codeqa', 'antsibull-nox-config', 'build-import-check')
NOX_ENVDIR = os.path.join(BUILD, 'nox')
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


class SetupError(Exception):
    """Something the suite needs could not be set up; the message says what and where the log is."""


def say(message=''):
    """Print a line at once (output is often piped)."""
    print(message, flush=True)


def tail(path, lines=60):
    """The last lines of a log file."""
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            return ''.join(handle.readlines()[-lines:])
    except OSError:
        return ''


def run_logged(command, log, cwd=ROOT, env=None, timeout=COMMAND_TIMEOUT, append=True):
    """Run a command with its output going to a log file; return the exit code (124 on timeout).

    The command gets a process group of its own, which is ended (by its id) on a timeout or when this
    process is interrupted, so that nothing it started runs on.
    """
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, 'a' if append else 'w', encoding='utf-8') as handle:
        handle.write('\n$ (cd %s && %s)\n' % (cwd, ' '.join(command)))
        handle.flush()
        try:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=handle,  # pylint: disable=consider-using-with
                                       stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as ex:
            handle.write('\n*** could not run: %s\n' % ex)
            return 127
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            end_group(process)
            handle.write('\n*** timed out after %d s\n' % timeout)
            return 124
        except BaseException:
            end_group(process)
            raise


def end_group(process):
    """SIGTERM to a child's process group, SIGKILL if it is still there 10 s later."""
    for signum, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, signum)
        except OSError:
            pass
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Lock:
    """An exclusive lock on a file under .build/, so parallel runs do not build the same thing at once."""

    def __init__(self, name):
        self.path = os.path.join(BUILD, 'locks', name + '.lock')
        self.handle = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.handle = open(self.path, 'w', encoding='utf-8')  # pylint: disable=consider-using-with
        if fcntl:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say('Waiting for another run in this tree to finish (%s) ...' % os.path.relpath(self.path, ROOT))
                fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.handle.close()


# ---------------------------------------------------------------------------------------------------------
# Pythons and virtual environments


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
            candidates.extend(sorted(found, key=lambda path: [int(part) for part in re.findall(r'\d+', path)], reverse=True))
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
                    raise SetupError('could not create .venv/%s with %s:\n%s' % (self.name, self.base_python, tail(self.log)))
            if os.path.exists(self.stamp_path):
                os.remove(self.stamp_path)
            command = [self.python, '-m', 'pip', 'install', '--disable-pip-version-check'] + ([self.core] if self.core else [])
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


# ---------------------------------------------------------------------------------------------------------
# The collection, where the tools can find it


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


# ---------------------------------------------------------------------------------------------------------
# The sandbox


class Sandbox:
    """Starts the sandbox (tests/sandbox/control.py) on entry and always stops it on exit."""

    def __init__(self, python, state_dir, log, time_scale=None):
        self.python = python
        self.state_dir = state_dir
        self.log = log
        self.time_scale = time_scale
        self.info = None

    def __enter__(self):
        if not os.path.exists(SANDBOX_CONTROL):
            raise SetupError('the sandbox is missing: %s' % os.path.relpath(SANDBOX_CONTROL, ROOT))
        shutil.rmtree(self.state_dir, ignore_errors=True)
        os.makedirs(self.state_dir)
        command = [self.python, SANDBOX_CONTROL, 'start', '--state-dir', self.state_dir]
        if self.time_scale is not None:
            command.extend(['--time-scale', str(self.time_scale)])
        code = run_logged(command, self.log, timeout=180)
        path = os.path.join(self.state_dir, 'sandbox.json')
        if os.path.exists(path):
            with open(path, encoding='utf-8') as handle:
                self.info = json.load(handle)
        if code != 0 or not self.info:
            self.__exit__(None, None, None)
            raise SetupError('the sandbox did not start (exit code %d):\n%s' % (code, tail(self.log)))
        return self.info

    def __exit__(self, *exc):
        if os.path.exists(os.path.join(self.state_dir, 'sandbox.json')):
            run_logged([self.python, SANDBOX_CONTROL, 'stop', '--state-dir', self.state_dir], self.log, timeout=60)
        pid = (self.info or {}).get('pid')
        if isinstance(pid, int) and pid > 1:
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid):  # control.py stop did not manage it: end the sandbox's own process, by its id
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass
        self.info = None


def alive(pid):
    """Whether a process exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid, encoding='utf-8') as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return True


def named(items, name):
    """The entry called ``name`` of sandbox.json's 'tenants' or 'apps'."""
    found = next((item for item in items or () if item.get('name') == name), None)
    if not found:
        raise SetupError('sandbox.json has no %r' % name)
    return found


DEMO_TENANTS = ('Contoso', 'Fabrikam', 'Northwind')  # soc-responder has no consent in Northwind


def demo_inventory(info):
    """The demo's inventory: the scenario's three tenants as hosts, as a partner's inventory lists customers."""
    hosts = dict((name.lower(), {'m365d_tenant_id': named(info.get('tenants'), name)['id']}) for name in DEMO_TENANTS)
    return {'all': {'hosts': hosts}}


def demo_vars(info, output_dir):
    """The demo's extra vars: the sandbox's endpoints and the multi-tenant app soc-responder with its valid secret."""
    app = named(info.get('apps'), 'soc-responder')
    secret = next((item['value'] for item in app.get('secrets') or () if not item.get('expired')), None)
    if not secret:
        raise SetupError('sandbox.json has no valid secret for soc-responder')
    return {
        'm365d_base_url': info['base_url'],
        'm365d_ca_path': info['ca_path'],
        'm365d_client_id': app['client_id'],
        'm365d_client_secret': secret,
        'incident_report_dir': output_dir,
    }


def run_demo_report(venv, info, workdir, output_dir, log=None):
    """Run the incident_report playbook (by its FQCN) over the demo's tenants; return ansible-playbook's code."""
    return run_demo_playbook(venv, info, workdir, 'incident_report', demo_vars(info, output_dir), log)


# The demo's second step: contain what the report found in one tenant, as a responder would after reading it.
DEMO_CONTAINMENT_TENANT = 'contoso'
DEMO_NEVER_ISOLATE_TAG = 'VIP'
DEMO_SERVER_PREFIXES = ('dc-', 'srv-')  # the scenario's domain controllers and application servers
DEMO_SEVERITY_ORDER = ('high', 'medium', 'low', 'informational', 'unknown')
DEMO_MAX_DEVICES = 5  # the role's default cap


def demo_containment_vars(report_json):
    """The containment step's variables, from the report's JSON: the open incidents of the demo's tenant that name
    devices, most severe and newest first, as many (at most two) as fit under the role's cap; servers and devices
    tagged VIP are never isolated, and the step does not wait for the isolations (the demo's sandbox runs in real
    time, where an isolation takes three minutes)."""
    with open(report_json, encoding='utf-8') as handle:
        report = json.load(handle)
    candidates = [incident for incident in report['incidents']
                  if incident['tenant'] == DEMO_CONTAINMENT_TENANT and incident['open'] and incident['devices']]
    candidates.sort(key=lambda incident: incident['created'], reverse=True)
    candidates.sort(key=lambda incident: DEMO_SEVERITY_ORDER.index(incident['severity']))
    picked, devices = [], set()
    for incident in candidates:
        if len(picked) == 2 or len(devices | set(incident['devices'])) > DEMO_MAX_DEVICES:
            break
        picked.append(incident)
        devices |= set(incident['devices'])
    servers = sorted(name for name in devices if name.startswith(DEMO_SERVER_PREFIXES))
    return {'m365d_hosts': DEMO_CONTAINMENT_TENANT, 'm365d_incident_ids': [incident['id'] for incident in picked],
            'device_containment_never_isolate': [DEMO_NEVER_ISOLATE_TAG] + servers,
            'device_containment_wait': False}


def run_demo_containment(venv, info, workdir, output_dir, log=None):
    """Run the device_containment playbook on the incidents the report's JSON points at; return its exit code."""
    extra = demo_containment_vars(os.path.join(output_dir, 'incident-report.json'))
    extra.update(demo_vars(info, output_dir))
    return run_demo_playbook(venv, info, workdir, 'device_containment', extra, log)


def run_demo_playbook(venv, info, workdir, playbook, extra_vars, log=None):
    """Run one of the collection's playbooks (by its FQCN) over the demo's tenants with the variables given (written
    to a private file: they hold a secret); return ansible-playbook's code."""
    vars_file = os.path.join(workdir, '%s_vars.yml' % playbook)
    inventory = os.path.join(workdir, 'tenants.yml')
    write_vars(vars_file, extra_vars)
    write_vars(inventory, demo_inventory(info))
    env = venv.env(ANSIBLE_COLLECTIONS_PATH=collection_link(), ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    command = [venv.bin('ansible-playbook'), '-i', inventory, 'secops.m365_defender.' + playbook,
               '-e', '@' + vars_file]
    output = open(log, 'a' if log else 'w', encoding='utf-8') if log else None
    try:
        return subprocess.run(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=output,
                              stderr=subprocess.STDOUT if output else None, check=False).returncode
    finally:
        if output:
            output.close()


def write_vars(path, data):
    """Write variables as YAML (JSON is YAML), readable only by the owner: it holds a secret."""
    write_private(path, '---\n# Written by tests/run/suite.py from sandbox.json.\n%s\n'
                  % json.dumps(data, indent=2, sort_keys=True))


def write_private(path, content):
    """Write a file that only its owner may read (creating its directory)."""
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, 'w', encoding='utf-8') as handle:
        handle.write(content)


# ---------------------------------------------------------------------------------------------------------
# Results


class Results:
    """Counts per stage, printed as they come, and the closing line."""

    def __init__(self):
        self.stages = []
        # Stages may end in parallel threads (integration): one stage's lines at a time.
        self.lock = threading.Lock()

    def add(self, stage, passed, failed, skipped=0, seconds=0.0, log=None, note=''):
        """Record a stage's counts and print its line (and the log's tail when it failed)."""
        with self.lock:
            self._add(stage, passed, failed, skipped, seconds, log, note)

    def _add(self, stage, passed, failed, skipped, seconds, log, note):
        self.stages.append((stage, passed, failed, skipped))
        line = '%-28s %3d passed, %d failed' % (stage, passed, failed)
        if skipped:
            line += ', %d skipped' % skipped
        line += '  (%.0f s)' % seconds
        if note:
            line += '  ' + note
        say(('FAIL ' if failed else 'ok   ') + line)
        if failed and log:
            say('---- from %s ----' % os.path.relpath(log, ROOT))
            say(failure_excerpt(log))
            say('----')

    def totals(self):
        """(passed, failed, skipped) over all stages."""
        return tuple(sum(stage[index] for stage in self.stages) for index in (1, 2, 3))


def failure_excerpt(log, limit=40):
    """The lines of a log that say what failed (ansible-test, pytest, ansible-playbook), else its last lines."""
    lines = tail(log, 5000).splitlines()
    keep = []
    for index, line in enumerate(lines):
        if line.startswith(('fatal: [', 'failed: [')):
            # ansible-playbook: a failure that the task expects is followed by "...ignoring" before the next task
            after = next((other for other in lines[index + 1:] if other.startswith(('...ignoring', 'TASK [', 'PLAY RECAP', 'RUNNING '))), '')
            if after.startswith('...ignoring'):
                continue
        elif not re.match(r'(ERROR|FATAL):|FAILED (?!- RETRYING)|E   |\*\*\* |\S+\.\w+:\d+:\d+: ', line):
            continue
        keep.append(line if len(line) <= 300 else line[:300] + ' ...')
        if 'listed below' in line:  # ansible-test's list of failed tests or targets
            keep.extend(name for name in lines[index + 1:index + 60] if re.fullmatch(r'[\w.-]+( --python [\d.]+)?', name))
    if not keep:
        return tail(log, limit).rstrip()
    if len(keep) > limit:
        keep = keep[:limit] + ['... %d more lines; see the log' % (len(keep) - limit)]
    return '\n'.join(keep)


def junit_counts(paths):
    """(passed, failed, skipped) from JUnit XML files."""
    passed = failed = skipped = 0
    for path in paths:
        try:
            cases = ET.parse(path).getroot().iter('testcase')
        except (ET.ParseError, OSError):
            failed += 1
            continue
        for case in cases:
            kinds = {child.tag for child in case}
            if kinds & {'failure', 'error'}:
                failed += 1
            elif 'skipped' in kinds:
                skipped += 1
            else:
                passed += 1
    return passed, failed, skipped


def fresh_dir(path):
    """Empty a directory (creating it)."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


# Sanity, units and integration run as the nox sessions noxfile.py makes with antsibull-nox's Python API, one per test
# and core; the ansible-core series antsibull-nox installs (from PyPI) for each of the environments' cores.
NOX_CORES = {OLDEST_CORE: '2.16', NEWEST_CORE: '2.21', FALLBACK_CORE: '2.19'}


def nox_ansible_test_session(test, core):
    """The name of noxfile.py's session for ansible-test ``test`` on ansible-core ``core`` ('2.16')."""
    return 'ansible-test-%s-%s' % (test, core)


def ansible_test_output(session):
    """ansible-test's tests/output in a session (noxfile.py links the copy's there): JUnit files, the integration
    targets that passed, and the Python environments of --venv (.tmp/delegation), which stay for the next run."""
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


def apt_install(package, what, find, log):
    """What ``find()`` finds, after installing Debian's ``package`` with apt-get when it finds nothing (as root, else
    with sudo -n; ``apt-get update`` and again only if the install fails). ``what`` names the missing thing."""
    found = find()
    if found:
        return found
    wanted = "Debian's %s package: as root, apt-get install %s" % (package, package)
    missing = 'apt-get' if not shutil.which('apt-get') else 'sudo' if os.geteuid() != 0 and not shutil.which('sudo') else None
    if missing:
        raise SetupError('%s is missing and there is no %s to install it; install %s' % (what, missing, wanted))
    say("Installing Debian's %s with apt-get; log: %s" % (package, os.path.relpath(log, ROOT)))
    apt = ([] if os.geteuid() == 0 else ['sudo', '-n']) + [
        'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', '-y', '-q', '-o', 'DPkg::Lock::Timeout=300']
    install = apt + ['install', '--no-install-recommends', package]
    if run_logged(install, log) != 0:  # the package lists may be missing or old
        run_logged(apt + ['update'], log)
        run_logged(install, log)
    found = find()
    if not found:
        raise SetupError('%s is missing and apt-get could not install it (see %s); install %s'
                         % (what, os.path.relpath(log, ROOT), wanted))
    return found


def ensure_chromium(log):
    """Debian's chromium at CHROMIUM."""
    apt_install('chromium', CHROMIUM, lambda: os.access(CHROMIUM, os.X_OK), log)


def java_home(java):
    """The java.home of a java program that is JAVA_MIN or newer, else None."""
    try:
        result = subprocess.run([java, '-XshowSettings:properties', '-version'], capture_output=True, text=True,
                                timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    settings = dict(re.findall(r'^\s*(java\.home|java\.specification\.version) = (.*)$', result.stderr, re.M))
    version = settings.get('java.specification.version', '')
    return settings.get('java.home') if version.isdigit() and int(version) >= JAVA_MIN else None


def find_java_home():
    """The home of the first Java JAVA_MIN+ of $JAVA_HOME, PATH and Debian's openjdk-17 (which apt-get may install
    without making it the default java), or None."""
    candidates = [os.path.join(os.environ['JAVA_HOME'], 'bin', 'java')] if os.environ.get('JAVA_HOME') else []
    candidates.append(shutil.which('java'))
    candidates.extend(sorted(glob.glob('/usr/lib/jvm/java-%d-openjdk-*/bin/java' % JAVA_MIN)))
    return next((home for home in (java_home(java) for java in candidates if java and os.access(java, os.X_OK)) if home),
                None)


def ensure_java(log):
    """A Java JAVA_MIN+ for ansible-rulebook (JAVA_PACKAGE installed when there is none); its JAVA_HOME for the stage."""
    return {'JAVA_HOME': apt_install(JAVA_PACKAGE, 'Java %d or later' % JAVA_MIN, find_java_home, log)}


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


def requirement_names(path):
    """The project names in a pip requirements file, lower case."""
    with open(path, encoding='utf-8') as handle:
        lines = [line.split('#', 1)[0].strip() for line in handle]
    return sorted(re.match(r'[A-Za-z0-9._-]+', line).group(0).lower() for line in lines if line)


def stage_ee(results, venv):
    """ansible-builder, no container runtime: introspect reads the collection's meta/execution-environment.yml and
    must find requirements.txt's packages; create turns the execution environment (extensions/awx/) and the
    decision environment (extensions/eda/) into build contexts in .build/ee and .build/de."""
    log = os.path.join(LOGS, 'ee.log')
    with open(log, 'w', encoding='utf-8'):
        pass
    started = time.monotonic()
    builder = venv.bin('ansible-builder')
    deps = os.path.join(BUILD, 'ee-introspect.txt')
    if os.path.exists(deps):
        os.remove(deps)
    code = run_logged([builder, 'introspect', '--sanitize', '--write-pip', deps, collection_link()], log, env=venv.env())
    wanted = requirement_names(os.path.join(ROOT, 'requirements.txt'))
    got = requirement_names(deps) if code == 0 and os.path.exists(deps) else []
    if code == 0 and got != wanted:
        with open(log, 'a', encoding='utf-8') as handle:
            handle.write('*** introspect found %s, requirements.txt has %s\n' % (got, wanted))
    ok = code == 0 and got == wanted
    results.add('ee-introspect', 1 if ok else 0, 0 if ok else 1, 0, time.monotonic() - started, log)
    for stage, definition, context, wanted in BUILDER_DEFINITIONS:
        builder_create(results, builder, venv, stage, definition, os.path.join(BUILD, context), wanted, log)
    check_tarball(results, venv, log)


# What a Galaxy user gets: the plugins ansible-doc must read from the installed tarball, and an inventory source
# whose only fault is an unknown option, which the inventory plugin itself must name (so it was loaded and ran).
TARBALL_DOCS = (('inventory', 'secops.m365_defender.machines'), ('module', 'secops.m365_defender.indicator'),
                ('module', 'secops.m365_defender.machine_action'), ('filter', 'secops.m365_defender.evidence'))
TARBALL_INVENTORY = 'plugin: secops.m365_defender.machines\ntenant_id: contoso.example\ncolour: red\n'
TARBALL_INVENTORY_ANSWER = 'secops.m365_defender.machines: unknown option(s) colour'


def check_tarball(results, venv, log):
    """ansible-galaxy collection build, install of the tarball into .build/tarball, then ansible-doc for
    TARBALL_DOCS and ansible-inventory on TARBALL_INVENTORY from there (not from this tree)."""
    started = time.monotonic()
    place = os.path.join(BUILD, 'tarball')
    shutil.rmtree(place, ignore_errors=True)
    dist, installed = os.path.join(place, 'dist'), os.path.join(place, 'collections')
    os.makedirs(dist)
    galaxy = venv.bin('ansible-galaxy')
    code = run_logged([galaxy, 'collection', 'build', '--output-path', dist, ROOT], log, env=venv.env())
    tarballs = glob.glob(os.path.join(dist, '*.tar.gz'))
    if code == 0 and len(tarballs) == 1:
        code = run_logged([galaxy, 'collection', 'install', '--offline', '--no-deps', '-p', installed, tarballs[0]],
                          log, env=venv.env())
    env = venv.env(ANSIBLE_COLLECTIONS_PATH=installed, ANSIBLE_INVENTORY_UNPARSED_FAILED='true')
    failures = [] if code == 0 and len(tarballs) == 1 else ['build and install']
    for kind, name in TARBALL_DOCS if not failures else ():
        if run_logged([venv.bin('ansible-doc'), '-t', kind, name], log, cwd=place, env=env) != 0:
            failures.append('ansible-doc -t %s %s' % (kind, name))
    if not failures:
        source = os.path.join(place, 'faulty.m365d_machines.yml')
        with open(source, 'w', encoding='utf-8') as handle:
            handle.write(TARBALL_INVENTORY)
        before = os.path.getsize(log)
        run_logged([venv.bin('ansible-inventory'), '-i', source, '--list'], log, cwd=place, env=env)
        with open(log, encoding='utf-8', errors='replace') as handle:
            handle.seek(before)
            if TARBALL_INVENTORY_ANSWER not in handle.read():
                failures.append('ansible-inventory naming the fault through the inventory plugin')
    if failures:
        with open(log, 'a', encoding='utf-8') as handle:
            handle.write('*** from the tarball, these failed: %s\n' % ', '.join(failures))
    results.add('tarball', 0 if failures else 1, 1 if failures else 0, 0, time.monotonic() - started, log)


# ansible-builder definitions turned into build contexts: (stage, definition, context below .build, {file in the
# context: text it must hold, '' for none}).
BUILDER_DEFINITIONS = (
    ('ee-create', os.path.join('extensions', 'awx', 'execution-environment.yml'), 'ee',
     {'Containerfile': '', os.path.join('_build', 'requirements.yml'): ''}),
    ('de-create', os.path.join('extensions', 'eda', 'decision-environment.yml'), 'de',
     {'Containerfile': '', os.path.join('_build', 'requirements.yml'): '',
      os.path.join('_build', 'bindep.txt'): 'java-17-openjdk-headless',
      os.path.join('_build', 'requirements.txt'): 'ansible-rulebook'}),
)


def builder_create(results, builder, venv, stage, definition, context, wanted, log):
    """ansible-builder create of one definition; it passes when the context holds every file wanted, each with the
    text it must hold."""
    started = time.monotonic()
    shutil.rmtree(context, ignore_errors=True)
    code = run_logged([builder, 'create', '--file', os.path.join(ROOT, definition), '--context', context,
                       '--output-filename', 'Containerfile'], log, env=venv.env())
    missing = []
    for name, text in sorted(wanted.items()):
        path = os.path.join(context, name)
        if os.path.exists(path):
            with open(path, encoding='utf-8') as handle:
                if text in handle.read():
                    continue
        missing.append(name + (' with %s' % text if text else ''))
    if code == 0 and missing:
        with open(log, 'a', encoding='utf-8') as handle:
            handle.write('*** create of %s did not write %s\n' % (definition, ', '.join(missing)))
    ok = code == 0 and not missing
    results.add(stage, 1 if ok else 0, 0 if ok else 1, 0, time.monotonic() - started, log)


# ---------------------------------------------------------------------------------------------------------
# The docs: noxfile.py's session docs, one step per run (tests/docs/md2rst.py, antsibull-docs' lint, the docsite)

DOCS_SITE = os.path.join(BUILD, 'docs')  # where the step site puts the HTML
# Each step's result, and the session's arguments for it (`make docs` writes the RST instead of --check).
DOCS_STEPS = (('docs-rst', ('rst', '--check')), ('docs-lint', ('lint',)), ('docs-site', ('site',)))
DOCS_FINDING = re.compile(r'^\S+:\d+:\d+: .*$', re.M)  # antsibull-docs lint-collection-docs: PATH:LINE:COLUMN: TEXT
DOCS_WRITTEN = re.compile(r'^docs/docsite/rst/\S+: .*$', re.M)  # what tests/docs/md2rst.py wrote or removed


def docs_step(name, posargs, log):
    """One step of the session docs, a fresh log; (exit code, failures: one per antsibull-docs finding for the lint,
    else one when the session failed)."""
    code = nox_session('docs', log, posargs)
    if code == 0:
        return code, 0
    findings = DOCS_FINDING.findall(tail(log, 5000)) if name == 'docs-lint' else ()
    return code, len(findings) or 1


def docs_index():
    """The docsite's index.html, if the step site made one."""
    index = os.path.join(DOCS_SITE, 'index.html')
    return index if os.path.exists(index) else None


def stage_docs(results):
    """The docs, one result per step of DOCS_STEPS: docs-rst (docs/docsite/rst/ is what the Markdown guides give),
    docs-lint (one failure per finding of antsibull-docs' lint) and docs-site (the docsite builds, with every guide,
    and Sphinx warns only about what it cannot reach offline)."""
    with Lock('docs'):  # `make docs` writes the same site
        for name, posargs in DOCS_STEPS:
            log = os.path.join(LOGS, name + '.log')
            started = time.monotonic()
            failed = docs_step(name, posargs, log)[1]
            note = os.path.relpath(docs_index(), ROOT) if name == 'docs-site' and docs_index() else ''
            results.add(name, 0 if failed else 1, failed, 0, time.monotonic() - started, log, note)


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


# ---------------------------------------------------------------------------------------------------------
# Commands


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
