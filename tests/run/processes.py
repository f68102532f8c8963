"""Running programs with their output in a log (their process group ended on a timeout or an interrupt), the
lines the harness prints, locks between parallel runs, and the private files and fresh directories it writes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import signal
import subprocess

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

from paths import BUILD, ROOT


# How long a command may run when its caller sets no limit of its own.
COMMAND_TIMEOUT = 20 * 60


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
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                start_new_session=True)
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


def fresh_dir(path):
    """Empty a directory (creating it)."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def write_vars(path, data):
    """Write variables as YAML (JSON is YAML), readable only by the owner: it holds a secret."""
    write_private(path, '---\n# Written by the test harness (tests/run/) from sandbox.json.\n%s\n'
                  % json.dumps(data, indent=2, sort_keys=True))


def write_private(path, content):
    """Write a file that only its owner may read (creating its directory)."""
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, 'w', encoding='utf-8') as handle:
        handle.write(content)
