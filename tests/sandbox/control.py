"""Start and stop the sandbox from test harnesses, Makefiles and shells.

    python3 tests/sandbox/control.py start --state-dir DIR [--scenario FILE] [--time-scale X]
    python3 tests/sandbox/control.py stop --state-dir DIR

``start`` runs the server in the background (log: DIR/sandbox.log) and returns once it is ready; the
connection details are in DIR/sandbox.json. From Python::

    sys.path.insert(0, "tests/sandbox")
    import control
    info = control.start(state_dir)      # the parsed sandbox.json
    ...
    control.stop(info)
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import Optional

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py")
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

_children = {}  # pid -> Popen of the servers this process started, so that stop() can reap them


class SandboxError(RuntimeError):
    """The sandbox did not start or stop; the message includes its log."""


def start(state_dir: str, scenario: Optional[str] = None, time_scale: float = 1.0, python: str = sys.executable,
          detach: bool = False) -> dict:
    """Starts a sandbox on a free port and returns its sandbox.json once it is listening.

    ``detach`` puts the server in its own session, so it outlives this process and ignores this terminal's
    Ctrl-C; the CLI uses it. Raises SandboxError (with the server's log) if it is not ready within 20 s.
    """
    state_dir = os.path.abspath(state_dir)
    os.makedirs(state_dir, exist_ok=True)
    info_path = os.path.join(state_dir, "sandbox.json")
    _clear_stale_info(info_path)
    command = [python, SERVER, "--port", "0", "--state-dir", state_dir, "--time-scale", str(time_scale)]
    if scenario:
        command += ["--scenario", os.path.abspath(scenario)]
    log_path = os.path.join(state_dir, "sandbox.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=detach)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SandboxError(f"the sandbox exited with status {process.returncode}:\n{_read(log_path)}")
        info = read_info(state_dir)
        if info and info.get("pid") == process.pid:
            _children[process.pid] = process
            return info
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise SandboxError(f"the sandbox was not ready after {READY_TIMEOUT:.0f} s:\n{_read(log_path)}")


def stop(info: dict, timeout: float = STOP_TIMEOUT) -> Optional[int]:
    """Sends SIGTERM to the sandbox of ``info`` and waits for it to exit (SIGKILL after ``timeout``).

    Returns the exit status if this process started the sandbox (0 = clean shutdown), else None.
    """
    pid = info["pid"]
    process = _children.pop(pid, None)
    _signal(pid, signal.SIGTERM)
    if process is not None:
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            _remove_info(info)  # killed: it could not clean up after itself
            return process.wait()
    if not _wait_gone(pid, timeout):
        _signal(pid, signal.SIGKILL)
        _remove_info(info)
    return None


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _signal(pid, 0):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _remove_info(info: dict) -> None:
    try:
        os.remove(os.path.join(info["state_dir"], "sandbox.json"))
    except (KeyError, OSError):
        pass


def read_info(state_dir: str) -> Optional[dict]:
    """The parsed DIR/sandbox.json, or None if there is none (yet)."""
    try:
        with open(os.path.join(state_dir, "sandbox.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _clear_stale_info(info_path: str) -> None:
    """Refuses to start over a live sandbox; removes the sandbox.json of one that died without cleaning up."""
    info = read_info(os.path.dirname(info_path))
    if info is None:
        return
    if _signal(info.get("pid", 0), 0):
        raise SandboxError(f"a sandbox (pid {info['pid']}) already runs with {info_path}; stop it first")
    os.remove(info_path)


def _signal(pid: int, signum: int) -> bool:
    """Sends ``signum`` (0: just probe); False if there is no such process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Start or stop the M365 Defender sandbox in the background.")
    parser.add_argument("command", choices=("start", "stop"))
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--scenario")
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.command == "start":
        try:
            info = start(args.state_dir, args.scenario, args.time_scale, detach=True)
        except SandboxError as exc:
            print(f"sandbox: {exc}", file=sys.stderr)
            return 1
        print(f"sandbox ready at {info['base_url']} (pid {info['pid']}); details in "
              f"{os.path.join(os.path.abspath(args.state_dir), 'sandbox.json')}")
        return 0
    info = read_info(args.state_dir)
    if info is None:
        print(f"sandbox: none running in {args.state_dir}")
        return 0
    stop(info)
    print(f"sandbox stopped (pid {info['pid']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
