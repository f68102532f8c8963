"""The docs: noxfile.py's session docs, one step per run (tests/docs/md2rst.py, antsibull-docs' lint, the
docsite), for the docs stage and `make docs`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time

from nox_runs import nox_session
from paths import DOCS_SITE, LOGS, ROOT
from processes import Lock, tail


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
