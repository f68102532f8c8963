# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every assert and conditional in the roles, playbooks and integration targets is a string.

An unquoted condition holding ": " (for example a regex such as 'host\\s+: .*failed=1') is a YAML mapping, not a
string. ansible-core 2.16 treats the mapping as true, so the assertion can never fail; 2.19 and later refuse it
with "Conditional expressions must be strings". Quote such conditions, or write the colon as [:] in a regex.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir))
PATTERNS = ("roles/**/*.yml", "playbooks/*.yml", "tests/integration/targets/**/*.yml")
CONDITION_KEYS = ("when", "failed_when", "changed_when", "until")
ASSERT_ACTIONS = ("ansible.builtin.assert", "assert")


def yaml_files():
    for pattern in PATTERNS:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True)):
            if os.sep + "output" + os.sep not in path:
                yield path


def as_list(value):
    return value if isinstance(value, list) else [value]


def not_strings(node):
    """Each condition under `node` that is neither a string nor a boolean."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ASSERT_ACTIONS and isinstance(value, dict):
                found.extend(item for item in as_list(value.get("that")) if not isinstance(item, (str, bool)))
            if key in CONDITION_KEYS:
                found.extend(item for item in as_list(value) if not isinstance(item, (str, bool)))
            found.extend(not_strings(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(not_strings(item))
    return found


def test_the_walk_finds_the_files():
    files = list(yaml_files())
    assert any(path.endswith(os.path.join("setup_m365d", "tasks", "reset.yml")) for path in files)
    assert len(files) > 30


def test_a_colon_in_a_condition_is_caught():
    tasks = yaml.safe_load("- ansible.builtin.assert:\n    that:\n      - out is search('host\\s+: .*failed=1')\n")
    assert not_strings(tasks) == [{"out is search('host\\s+": ".*failed=1')"}]


def test_every_condition_is_a_string():
    problems = []
    for path in yaml_files():
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        problems.extend("%s: %r" % (os.path.relpath(path, ROOT), item) for item in not_strings(data))
    assert problems == []
