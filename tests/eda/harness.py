"""What the eda tests drive: ansible-rulebook as a process of its own, the events its rules print, and the sandbox's
admin API and credentials (used by conftest.py and the tests).

Events are recorded with the ``print_event`` action and read back from ansible-rulebook's stdout: the action prints
each event it fires on, in the rulebook's own process, as a banner followed by the event's Python repr, and flushes
stdout at once. That costs nothing per event and cannot fail on its own, where a ``run_playbook`` recorder (a playbook
appending ``ansible_eda.event`` to a file) costs an ansible-playbook run (about 1.6 s) per event and fails quietly: a
failed action does not change ansible-rulebook's exit code. Keep the default (sequential) execution strategy in a rulebook
that prints events and also runs playbooks, so that no other action writes to stdout in the middle of an event.
"""
from __future__ import annotations

import ast
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'run'))
# the harness's modules (standard library only): where the collection is linked, logs, write_vars
# pylint: disable=wrong-import-position
from environments import collection_link  # noqa: E402
from paths import BUILD, LOGS, ROOT  # noqa: E402
from processes import fresh_dir, tail, write_vars  # noqa: E402
from sandbox_process import named  # noqa: E402

# The nox session's bin: ansible-rulebook, and the ansible-galaxy it finds collections with.
BIN = os.path.dirname(sys.executable)
WORK = os.path.join(BUILD, 'eda')
POLL = 0.2
# print_event's banner (Display.banner in ansible_rulebook/terminal.py): a start line, the event, a closing rule.
EVENT_START = re.compile(r'^\*\* \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? \[event\] \*+$')
BANNER_END = re.compile(r'^\*+$')


def https_opener(info):
    """urllib that trusts the sandbox's CA and never goes through a proxy."""
    https = urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=info['ca_path']))
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), https)


def admin(info, method, path, body=None):
    """Call the sandbox's admin API (``path`` below /_sandbox, e.g. '/counters'); its JSON answer, or None."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(info['admin_url'] + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'} if data is not None else {})
    with https_opener(info).open(request, timeout=60) as response:
        answer = response.read()
    return json.loads(answer) if answer else None


def credentials(info, app='soc-responder', tenant='Contoso'):
    """What an event source needs to sign in to the sandbox as ``app`` in ``tenant``: base_url, ca_path, tenant_id,
    client_id and the app's valid client_secret."""
    found = named(info['apps'], app)
    secret = next(item['value'] for item in found['secrets'] if not item.get('expired'))
    return {'base_url': info['base_url'], 'ca_path': info['ca_path'], 'tenant_id': named(info['tenants'], tenant)['id'],
            'client_id': found['client_id'], 'client_secret': secret}


def token(info, app='soc-responder', tenant='Contoso', scope='https://graph.microsoft.com/.default'):
    """The token endpoint's JSON answer to a client-credentials request (HTTPError on refusal)."""
    given = credentials(info, app, tenant)
    form = urllib.parse.urlencode({'grant_type': 'client_credentials', 'client_id': given['client_id'],
                                   'client_secret': given['client_secret'], 'scope': scope}).encode()
    url = '%s/%s/oauth2/v2.0/token' % (info['base_url'], given['tenant_id'])
    with https_opener(info).open(urllib.request.Request(url, data=form, method='POST'), timeout=60) as response:
        return json.load(response)


def localhost_inventory():
    """An inventory of localhost only, run with this environment's Python (run_playbook actions would otherwise
    discover whatever python3 the machine has)."""
    return {'all': {'hosts': {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}


def printed_events(text):
    """The events print_event printed in ``text``, in order; a banner still being written is left out."""
    events, lines = [], text.splitlines()
    for index, line in enumerate(lines):
        if not EVENT_START.match(line):
            continue
        end = next((at for at in range(index + 1, len(lines)) if BANNER_END.match(lines[at])), None)
        if end is not None:
            events.append(ast.literal_eval('\n'.join(lines[index + 1:end])))
    return events


def read(path):
    """A log's text so far ('' before it exists)."""
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            return handle.read()
    except OSError:
        return ''


class Rulebook:
    """One ansible-rulebook process: ``ansible-rulebook --rulebook FILE -i INVENTORY --vars VARS``, run in the
    rulebook's directory (so that run_playbook finds playbooks beside it) with the session's programs first on PATH and
    ANSIBLE_COLLECTIONS_PATH at the collection's link (secops.m365_defender.* is this tree). stdout goes to
    .build/logs/eda-NAME.log (print_event's events), stderr to eda-NAME.stderr.log (ansible-rulebook's log, warnings
    and errors by default). ``variables`` and ``inventory`` are dicts, written under .build/eda/NAME/ (0600)."""

    def __init__(self, name, path, variables=None, inventory=None, args=(), env=None):
        self.name = name
        self.path = os.path.abspath(path)
        self.workdir = os.path.join(WORK, name)
        self.stdout_log = os.path.join(LOGS, 'eda-%s.log' % name)
        self.stderr_log = os.path.join(LOGS, 'eda-%s.stderr.log' % name)
        fresh_dir(self.workdir)
        inventory_file = os.path.join(self.workdir, 'inventory.yml')
        write_vars(inventory_file, inventory if inventory is not None else localhost_inventory())
        self.command = [os.path.join(BIN, 'ansible-rulebook'), '--rulebook', self.path, '-i', inventory_file]
        if variables is not None:
            vars_file = os.path.join(self.workdir, 'vars.yml')
            write_vars(vars_file, variables)
            self.command += ['--vars', vars_file]
        self.command += list(args)
        self.env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', os.defpath),
                        ANSIBLE_COLLECTIONS_PATH=collection_link(), PYTHONIOENCODING='utf-8', NO_COLOR='1',
                        ANSIBLE_NOCOLOR='1', **(env or {}))
        self.env.pop('PYTHONPATH', None)
        self.process = None

    def start(self):
        """Start ansible-rulebook (in a process group of its own) and return self."""
        os.makedirs(LOGS, exist_ok=True)
        with open(self.stdout_log, 'w', encoding='utf-8') as out, open(self.stderr_log, 'w', encoding='utf-8') as err:
            self.process = subprocess.Popen(self.command, cwd=os.path.dirname(self.path), env=self.env,  # pylint: disable=consider-using-with
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        return self

    @property
    def returncode(self):
        """The exit code, or None while it runs."""
        return self.process.poll() if self.process else None

    def stdout(self):
        return read(self.stdout_log)

    def stderr(self):
        return read(self.stderr_log)

    def events(self):
        """The events the rules printed so far (print_event), as dicts, in order."""
        return printed_events(self.stdout())

    def report(self):
        """The command, exit code and the logs' tails, for a failing assertion."""
        return '%s\nexit code: %s\n---- stdout (%s) ----\n%s\n---- stderr (%s) ----\n%s' % (
            ' '.join(self.command), self.returncode, os.path.relpath(self.stdout_log, ROOT),
            tail(self.stdout_log, 40), os.path.relpath(self.stderr_log, ROOT), tail(self.stderr_log, 40))

    def wait_until(self, found, what, timeout=60):
        """Poll until ``found()`` gives something true and return it; AssertionError (with the logs) when ``timeout``
        seconds pass or ansible-rulebook has ended without it."""
        deadline = time.monotonic() + timeout
        while True:
            ended = self.returncode is not None
            result = found()
            if result:
                return result
            if ended:
                raise AssertionError('ansible-rulebook ended before %s:\n%s' % (what, self.report()))
            if time.monotonic() > deadline:
                raise AssertionError('no %s after %d s:\n%s' % (what, timeout, self.report()))
            time.sleep(POLL)

    def wait_for_events(self, count, timeout=60):
        """The printed events, once there are at least ``count`` (1 or more)."""
        def enough():
            events = self.events()
            return events if len(events) >= count else None
        return self.wait_until(enough, '%d printed events' % count, timeout)

    def wait_for_line(self, pattern, timeout=60, stream='stdout'):
        """The first match of the regular expression ``pattern`` (multi-line) in stdout or stderr."""
        text = self.stdout if stream == 'stdout' else self.stderr
        return self.wait_until(lambda: re.search(pattern, text(), re.M), '%r in %s' % (pattern, stream), timeout)

    def wait(self, timeout=60):
        """Wait for ansible-rulebook to end by itself and return its exit code; stopped, and AssertionError, if it has
        not ended after ``timeout`` seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError('ansible-rulebook still ran after %d s:\n%s' % (timeout, self.report())) from None

    def stop(self, timeout=15):
        """End ansible-rulebook as Ctrl-C does (SIGINT), then its process group with SIGTERM and SIGKILL, each after
        ``timeout`` seconds; its exit code."""
        if self.process is None:
            return None
        for signum, target in ((signal.SIGINT, 'process'), (signal.SIGTERM, 'group'), (signal.SIGKILL, 'group')):
            if self.process.poll() is not None:
                break
            try:
                if target == 'process':
                    os.kill(self.process.pid, signum)
                else:
                    os.killpg(self.process.pid, signum)
            except OSError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        return self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
