"""Stand-in for the pip bootstrap script that ``ansible-test --venv`` downloads (get-pip.py).

That download comes from a host this network cannot reach, so tests/run/suite.py copies this file to
``~/.ansible/test/cache/get_pip_<pip version>.py``, where ansible-test looks first. ansible-test runs it
with the new virtual environment's Python and pip's arguments, e.g.
``--disable-pip-version-check pip==25.2 --no-setuptools --no-wheel``.

ensurepip runs as a subprocess: run in-process it sets PIP_CONFIG_FILE=/dev/null, and pip would lose the
machine's own settings (CA bundle, mirrors) for the install that follows.
"""

import subprocess
import sys

MARKER = 'secops.m365_defender get-pip stand-in'


def main():
    """Install pip with ensurepip, then bring it to the version ansible-test asked for."""
    args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)


if __name__ == '__main__':
    main()
