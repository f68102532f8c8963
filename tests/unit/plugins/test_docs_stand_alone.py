# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""No doc, comment or test cites a document that is not in the repository.

A maintainer who clones the repository must be able to follow every citation: facts about Microsoft's APIs are
cited from docs/microsoft-apis.md or from Microsoft's own pages, never from design notes or a reference kept
outside the repository. The repository is found from this file's path (unit tests also run from a copy under
ansible_collections/secops/m365_defender/), so the test needs no git.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir))
SCANNED = ("plugins", "roles", "docs", "tests", "extensions", "playbooks", "bench", "meta", "changelogs", "README.md")
# ansible-test's results and the build's environments hold copies and third-party files, not the project's own text.
SKIPPED_PATHS = frozenset((os.path.join("tests", "output"),))
SKIPPED_NAMES = frozenset((".build", ".venv", ".git", "__pycache__", ".pytest_cache"))
# Files every checkout has; if they are missing, the walk started in the wrong place and proves nothing.
EXPECTED_FILES = ("README.md", os.path.join("docs", "microsoft-apis.md"), os.path.join("docs", "architecture.md"))

# The design notes the project started from, an outside reference's sections ("reference" followed by a section
# sign or "section" and a number), and paths out of the repository. Written so that this file does not match.
OUTSIDE_CITATION = re.compile(r"DESIGN\.md|\breference,?\s*(?:\u00a7|section\s+\d)|\.\./shared|/work/share[d]",
                              re.IGNORECASE)


def skipped(directory, name):
    return name in SKIPPED_NAMES or os.path.relpath(os.path.join(directory, name), ROOT) in SKIPPED_PATHS


def scanned_files():
    for top in SCANNED:
        path = os.path.join(ROOT, top)
        if os.path.isfile(path):
            yield path
        for directory, subdirectories, files in os.walk(path):
            subdirectories[:] = sorted(name for name in subdirectories if not skipped(directory, name))
            for name in sorted(files):
                yield os.path.join(directory, name)


def text_lines(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if b"\0" in data:
        return []
    return data.decode("utf-8", "replace").splitlines()


def outside_citations(paths):
    found = []
    for path in paths:
        for number, line in enumerate(text_lines(path), 1):
            if OUTSIDE_CITATION.search(line):
                found.append("%s:%d: %s" % (os.path.relpath(path, ROOT), number, line.strip()))
    return found


def test_the_walk_starts_at_the_repository():
    missing = [name for name in EXPECTED_FILES if not os.path.isfile(os.path.join(ROOT, name))]
    assert not missing, "not found under %s: %s" % (ROOT, ", ".join(missing))


def test_no_citation_points_outside_the_repository():
    found = outside_citations(scanned_files())
    assert not found, ("Cite docs/microsoft-apis.md (§N) or Microsoft's page instead of a document outside the "
                       "repository:\n" + "\n".join(found))


def test_the_check_sees_each_kind_of_outside_citation(tmp_path):
    cited = tmp_path / "cited.md"
    outside = ["See DESIGN" + ".md.", u"(reference \u00a74)", "# Reference" + ", section 5.", ".." + "/shared/x",
               "/work" + "/shared/y"]
    cited.write_text(u"\n".join(outside + [u"docs/microsoft-apis.md \u00a74", u"the API reference page"]) + u"\n",
                     encoding="utf-8")
    found = outside_citations([str(cited)])
    assert [line.split(": ", 1)[1] for line in found] == outside
