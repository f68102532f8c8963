"""nox sessions of the secops.m365_defender collection: antsibull-nox makes them from antsibull-nox.toml.

`make test` runs those in NOX_SESSIONS (stage nox of tests/run/suite.py) with nox and antsibull-nox from .venv/nox;
by hand: .venv/nox/bin/nox --list. docs/development.md, section "nox", says what runs here and what stays in suite.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
