# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""README.md is the way in: it links every document, role README and playbook, and none of its links is broken.

The repository is found from this file's path, as in test_docs_stand_alone.py. The one link that may point to a
missing file is the rendered changelog (the output file named in changelogs/config.yaml, CHANGELOG.rst):
antsibull-changelog writes it from changelogs/changelog.yaml at the first release, so before that it is accepted as
missing only while changelogs/changelog.yaml, its source, exists.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir))
# What a reader must be able to reach from README.md.
LINKED_PATTERNS = ("docs/**/*.md", "roles/*/README.md", "playbooks/*.yml", "playbooks/*.yaml")
CHANGELOG_SOURCE = os.path.join("changelogs", "changelog.yaml")
CHANGELOG_CONFIG = os.path.join("changelogs", "config.yaml")
# A Markdown inline link or image: [text](target) or [text](target "title").
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)


def readme_targets(root):
    """The repository paths (relative, '/'-separated) that README.md links to, without #fragments."""
    with open(os.path.join(root, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    targets = []
    for target in LINK.findall(text):
        if EXTERNAL.match(target):
            continue
        path = os.path.normpath(target.split("#", 1)[0]).replace(os.sep, "/")
        if path not in targets:
            targets.append(path)
    return targets


def files_to_link(root):
    """Every file README.md must link, relative and '/'-separated."""
    found = set()
    for pattern in LINKED_PATTERNS:
        for path in glob.glob(os.path.join(root, pattern), recursive=True):
            found.add(os.path.relpath(path, root).replace(os.sep, "/"))
    return sorted(found)


def rendered_changelogs(root):
    """The files antsibull-changelog renders (changelogs/config.yaml's output), e.g. ['CHANGELOG.rst']."""
    with open(os.path.join(root, CHANGELOG_CONFIG), encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    outputs = config.get("output") or [{"file": "CHANGELOG.rst"}]
    return [entry["file"] for entry in outputs]


def unlinked_files(root):
    linked = set(readme_targets(root))
    return [path for path in files_to_link(root) if path not in linked]


def broken_links(root):
    """Links to paths that do not exist; the rendered changelog only counts while its source is missing too."""
    may_be_missing = set(rendered_changelogs(root)) if os.path.isfile(os.path.join(root, CHANGELOG_SOURCE)) else set()
    return [target for target in readme_targets(root)
            if not os.path.exists(os.path.join(root, target)) and target not in may_be_missing]


def test_the_repository_is_found():
    assert os.path.isfile(os.path.join(ROOT, "README.md")), ROOT
    assert files_to_link(ROOT), "no docs, role READMEs or playbooks under %s" % ROOT


def test_readme_links_every_doc_role_readme_and_playbook():
    missing = unlinked_files(ROOT)
    assert not missing, "README.md does not link: %s" % ", ".join(missing)


def test_readme_links_the_rendered_changelog():
    linked = readme_targets(ROOT)
    assert any(name in linked for name in rendered_changelogs(ROOT)), (
        "README.md links none of %s (changelogs/config.yaml's output)" % ", ".join(rendered_changelogs(ROOT)))


def test_no_relative_link_of_the_readme_is_broken():
    broken = broken_links(ROOT)
    assert not broken, "README.md links files that do not exist: %s" % ", ".join(broken)


def make_tree(root, readme, files=(), changelog_source=True):
    """A small repository: README.md, the given files (empty), changelogs/config.yaml and maybe changelog.yaml."""
    for name in list(files) + [CHANGELOG_CONFIG] + ([CHANGELOG_SOURCE] if changelog_source else []):
        path = os.path.join(str(root), name)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("output:\n- file: CHANGELOG.md\n  format: md\n" if name == CHANGELOG_CONFIG else "")
    with open(os.path.join(str(root), "README.md"), "w", encoding="utf-8") as handle:
        handle.write(readme)
    return str(root)


def test_a_doc_role_readme_or_playbook_left_out_is_found(tmp_path):
    root = make_tree(tmp_path, "[a](docs/a.md) and [r](./roles/r/README.md#variables)\n",
                     ["docs/a.md", "docs/guides/b.md", "roles/r/README.md", "playbooks/p.yml"])
    assert unlinked_files(root) == ["docs/guides/b.md", "playbooks/p.yml"]


def test_links_to_missing_files_are_found_and_others_are_not(tmp_path):
    readme = ("[ok](docs/a.md) [gone](docs/gone.md#x) ![img](img/x.png) [web](https://example.com/y.md) "
              "[anchor](#install) [mail](mailto:a@example.com) [log](CHANGELOG.md) [dir](docs/)\n")
    root = make_tree(tmp_path, readme, ["docs/a.md"])
    assert broken_links(root) == ["docs/gone.md", "img/x.png"]


def test_the_changelog_link_may_be_missing_only_with_its_source(tmp_path):
    root = make_tree(tmp_path, "[log](CHANGELOG.md) [other](CHANGELOG.rst)\n", changelog_source=False)
    assert broken_links(root) == ["CHANGELOG.md", "CHANGELOG.rst"]
    root = make_tree(tmp_path, "[log](CHANGELOG.md) [other](CHANGELOG.rst)\n")
    assert broken_links(root) == ["CHANGELOG.rst"]
    assert rendered_changelogs(root) == ["CHANGELOG.md"]
