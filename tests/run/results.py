"""The test stages' results: a line per stage as it ends, what failed from its log, counts from JUnit files, and
the totals of the closing line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import threading
import xml.etree.ElementTree as ET

from paths import ROOT
from processes import say, tail


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
            after = next((other for other in lines[index + 1:]
                          if other.startswith(('...ignoring', 'TASK [', 'PLAY RECAP', 'RUNNING '))), '')
            if after.startswith('...ignoring'):
                continue
        elif not re.match(r'(ERROR|FATAL):|FAILED (?!- RETRYING)|E   |\*\*\* |\S+\.\w+:\d+:\d+: ', line):
            continue
        keep.append(line if len(line) <= 300 else line[:300] + ' ...')
        if 'listed below' in line:  # ansible-test's list of failed tests or targets
            keep.extend(name for name in lines[index + 1:index + 60]
                        if re.fullmatch(r'[\w.-]+( --python [\d.]+)?', name))
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
