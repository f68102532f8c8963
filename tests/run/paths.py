"""Where things are: the repository, .venv/ and .build/ (logs, artifacts), the collection's name, and the
files of the harness that other programs run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
VENV_ROOT = os.path.join(ROOT, '.venv')
BUILD = os.path.join(ROOT, '.build')
LOGS = os.path.join(BUILD, 'logs')
NAMESPACE, NAME = 'secops', 'm365_defender'
GET_PIP = os.path.join(ROOT, 'tests', 'run', 'get_pip.py')
SANDBOX_CONTROL = os.path.join(ROOT, 'tests', 'sandbox', 'control.py')

# The browser stage's artifact: the rendered incident report's screenshot.
BROWSER_SCREENSHOT = os.path.join(BUILD, 'artifacts', 'incident-report.png')
DOCS_SITE = os.path.join(BUILD, 'docs')  # where the docs' step site puts the HTML
