# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The in-process path masks results as AnsibleModule does; its shortcut (no secret in the JSON text: nothing to
mask) must give exactly what ansible-core's remove_values gives, for every shape a result can take."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.secops.m365_defender.plugins.plugin_utils._in_process import holds_no_secret, masked

SECRET = "raE7Q~mMWo6IzodN8~mILGX0TQymzxeYp29ISuQ4"


def reference(result, secrets):
    """Masking without the shortcut: remove_values, with the top-level booleans and nulls kept."""
    kept = dict((key, value) for key, value in result.items() if value is None or isinstance(value, bool))
    masked_result = remove_values(result, secrets)
    masked_result.update(kept)
    return masked_result


INCIDENTS = {"changed": False, "count": 2, "incidents": [
    {"id": "1", "title": "Phishing", "tags": ["a", "b"], "alerts": [{"severity": "high", "score": 7.5}]},
    {"id": "2", "title": "Ransomware", "assignedTo": None, "redirected": False}]}


@pytest.mark.parametrize("result, secrets, shortcut", [
    (INCIDENTS, {SECRET}, True),
    (INCIDENTS, set(), True),
    (dict(INCIDENTS, note="sent with %s inside" % SECRET), {SECRET}, False),
    (dict(INCIDENTS, nested={"deep": [{"x": "pre" + SECRET}]}), {SECRET}, False),
    (dict(INCIDENTS, keyed={SECRET: 1}), {SECRET}, False),
    (dict(INCIDENTS, number=12345), {"12345"}, False),
    (dict(INCIDENTS, number=3.25), {"3.25"}, False),
    (dict(INCIDENTS, flag=True, inner={"flag": True}), {"True"}, False),
    (dict(INCIDENTS, inner={"nothing": None}), {"None"}, False),
    (dict(INCIDENTS, quoted='say "hi" to me'), {'"hi"'}, False),
    (dict(INCIDENTS, path="C:\\temp\\x"), {"\\temp"}, False),
    (dict(INCIDENTS, line="one\ntwo"), {"one\ntwo"}, False),
    (dict(INCIDENTS, unicode=u"caf\u00e9 secret"), {u"caf\u00e9"}, False),
    (dict(INCIDENTS, when=datetime.datetime(2026, 12, 6)), {SECRET}, False),
])
def test_the_shortcut_masks_exactly_as_remove_values(result, secrets, shortcut):
    assert holds_no_secret(result, secrets) is shortcut
    assert masked(result, secrets) == reference(result, secrets)


def test_a_masked_secret_leaves_no_trace():
    result = masked(dict(INCIDENTS, note="x%sy" % SECRET), {SECRET})
    assert result["note"] == "x********y" and result["changed"] is False
