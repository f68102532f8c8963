# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The event sources' memory on its own: the watermark, the de-duplication over the overlap, and the state file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import stat

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.plugin_utils._event_state import (
    Change,
    StateFile,
    TenantState,
    iso,
)

T0 = datetime.datetime(2026, 12, 6, 12, 0, 0, tzinfo=datetime.timezone.utc)
OVERLAP = datetime.timedelta(minutes=5)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def change(item_id, updated, kind="updated"):
    return Change("tenant", item_id, kind, updated, iso(updated), {"id": item_id})


def test_a_fresh_state_from_the_latest_change_starts_at_its_floor():
    state = TenantState(floor=T0)
    assert state.window_start(OVERLAP) == T0
    assert state.classify("1", at(-1), at(-10), OVERLAP) is None, "a change before the start is not delivered"
    assert state.classify("2", at(1), at(1), OVERLAP) == "created"
    assert state.classify("3", at(1), at(-3600), OVERLAP) == "updated", "an item older than the start was updated"


def test_after_a_poll_the_window_reaches_back_the_overlap_from_the_newest_change():
    state = TenantState(floor=T0)
    state.advance([change("2", at(30)), change("1", at(10))], OVERLAP)
    assert state.watermark == at(30)
    assert state.window_start(OVERLAP) == T0, "the floor still bounds the window"
    state.advance([change("3", at(900))], OVERLAP)
    assert state.window_start(OVERLAP) == at(600)


def test_a_change_already_delivered_is_not_delivered_again_but_a_later_one_is():
    state = TenantState(floor=T0)
    state.advance([change("7", at(30))], OVERLAP)
    assert state.classify("7", at(30), at(30), OVERLAP) is None
    assert state.classify("7", at(20), at(20), OVERLAP) is None, "an older version is no news"
    assert state.classify("7", at(31), at(30), OVERLAP) == "updated"


def test_an_item_created_inside_the_overlap_but_not_yet_seen_is_created():
    state = TenantState()
    state.advance([change("1", at(100))], OVERLAP)
    # Graph showed it late: created before the watermark, within the overlap.
    assert state.classify("2", at(90), at(90), OVERLAP) == "created"
    # Created before the window: an item this source never had in view.
    assert state.classify("3", at(110), at(-400), OVERLAP) == "updated"


def test_without_floor_or_watermark_every_change_is_new():
    assert TenantState().classify("1", at(0), None, OVERLAP) == "created"


def test_remembered_changes_are_kept_while_inside_the_overlap_and_never_beyond_the_cap():
    state = TenantState(max_recent=3)
    state.advance([change(str(n), at(n)) for n in range(5)], OVERLAP)
    assert sorted(state.recent) == ["2", "3", "4"], "the oldest are forgotten first"
    state.advance([change("9", at(1000))], OVERLAP)
    assert list(state.recent) == ["9"], "what fell out of the overlap is forgotten"


def test_remember_alone_does_not_move_the_watermark():
    state = TenantState(floor=T0)
    state.remember(change("1", at(50)))
    assert state.watermark is None
    assert state.classify("1", at(50), at(50), OVERLAP) is None


def test_the_state_file_round_trips_privately(tmp_path):
    path = str(tmp_path / "state.json")
    state = TenantState()
    state.advance([change("1", at(10)), change("2", at(20))], OVERLAP)
    StateFile(path, "incident").save({"t1": state})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = StateFile(path, "incident").load()
    assert loaded["t1"].watermark == at(20)
    assert loaded["t1"].recent == {"1": at(10), "2": at(20)}
    assert loaded["t1"].floor is None


def test_the_floor_is_saved_so_that_the_overlap_after_a_restart_does_not_reach_behind_the_start(tmp_path):
    path = str(tmp_path / "state.json")
    state = TenantState(floor=T0)
    state.advance([change("1", at(10))], OVERLAP)
    StateFile(path, "incident").save({"t1": state})
    loaded = StateFile(path, "incident").load()["t1"]
    assert loaded.floor == T0
    assert loaded.window_start(OVERLAP) == T0
    assert loaded.classify("0", at(-30), at(-30), OVERLAP) is None, "a change from before the start"


def test_no_state_file_is_an_empty_state(tmp_path):
    assert StateFile(str(tmp_path / "missing.json"), "alert").load() == {}
    assert StateFile(None, "alert").load() == {}


@pytest.mark.parametrize("content, reason", [
    ("{not json", "cannot be used"),
    (json.dumps({"version": 1, "kind": "alert", "tenants": {}}), "state of a alert source, not of a incident"),
    (json.dumps({"version": 9, "kind": "incident"}), "not a state file of version 1"),
    (json.dumps({"version": 1, "kind": "incident", "tenants": {"t": {"watermark": "yesterday"}}}),
     "tenants[t].watermark is not an ISO-8601 time"),
])
def test_a_state_file_that_cannot_be_used_is_refused_with_its_reason(tmp_path, content, reason):
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        StateFile(str(path), "incident").load()
    assert "Argument 'state_file' names %s" % path in str(caught.value)
    assert reason in str(caught.value)
