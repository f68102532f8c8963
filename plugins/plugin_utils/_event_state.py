# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an event source remembers per tenant: the watermark (the newest change delivered) and the recent changes
(id -> last update delivered), so that the overlap re-read at each poll neither repeats nor loses a change; and the
state file that carries both across restarts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
from collections import namedtuple

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._files import write_private
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import parse_iso_time

STATE_VERSION = 1
# More recent changes than this are not remembered: the oldest are forgotten first (a change forgotten while its
# item is still inside the overlap can be delivered a second time; docs/eda.md says so).
MAX_RECENT = 10000

# One change of an item: 'created' or 'updated', when, and the item as the API answered it.
Change = namedtuple("Change", ["tenant_id", "id", "change", "updated", "last_update", "item"])


def _time(text, where):
    moment = parse_iso_time(text) if text else None
    if moment is None:
        raise ValueError("%s is not an ISO-8601 time: %r" % (where, text))
    return moment


def iso(moment):
    """UTC ISO-8601 with microseconds, the state file's spelling of a time."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TenantState(object):
    """One tenant's watermark and recent changes.

    `floor`: changes older than this are never delivered (the start of a source that starts from the latest
    change, or from a time, or the look-back's limit); it is saved with the state, since the overlap re-read after
    a restart reaches back past the first change delivered.
    """

    def __init__(self, watermark=None, recent=None, floor=None, max_recent=MAX_RECENT):
        self.watermark = watermark
        self.recent = dict(recent or {})
        self.floor = floor
        self.max_recent = max_recent

    def window_start(self, overlap):
        """The earliest last-update time the next poll asks for: the watermark less the overlap, else the floor."""
        if self.watermark is not None:
            start = self.watermark - overlap
            return max(start, self.floor) if self.floor is not None else start
        return self.floor

    def classify(self, item_id, updated, created, overlap):
        """'created', 'updated', or None for a change already delivered (or older than the floor).

        An item is 'created' when this source has not delivered it and it was created after the previous window
        began: it cannot be an item the source saw before. Anything else it had not seen is an update."""
        if self.floor is not None and updated < self.floor:
            return None
        delivered = self.recent.get(item_id)
        if delivered is not None and delivered >= updated:
            return None
        window = self.window_start(overlap)
        if delivered is None and (window is None or (created is not None and created >= window)):
            return "created"
        return "updated"

    def remember(self, change):
        """A change was delivered: it is not delivered again, whatever happens to the rest of its poll."""
        if self.recent.get(change.id) is None or self.recent[change.id] < change.updated:
            self.recent[change.id] = change.updated

    def advance(self, changes, overlap):
        """Every change of a poll was delivered: the watermark moves to the newest; what fell out of the overlap,
        and the oldest beyond max_recent, are forgotten."""
        for change in changes:
            self.remember(change)
            if self.watermark is None or change.updated > self.watermark:
                self.watermark = change.updated
        if self.watermark is None:
            return
        horizon = self.watermark - overlap
        kept = sorted(((when, item_id) for item_id, when in self.recent.items() if when >= horizon), reverse=True)
        self.recent = dict((item_id, when) for when, item_id in kept[:self.max_recent])

    def as_dict(self):
        return {"watermark": iso(self.watermark) if self.watermark else None,
                "floor": iso(self.floor) if self.floor else None,
                "recent": dict((item_id, iso(when)) for item_id, when in sorted(self.recent.items()))}

    @classmethod
    def from_dict(cls, data, where):
        if not isinstance(data, dict) or not isinstance(data.get("recent", {}), dict):
            raise ValueError("%s is not a tenant's state" % where)
        watermark = _time(data["watermark"], where + ".watermark") if data.get("watermark") else None
        floor = _time(data["floor"], where + ".floor") if data.get("floor") else None
        recent = dict((str(item_id), _time(when, "%s.recent[%s]" % (where, item_id)))
                      for item_id, when in data.get("recent", {}).items())
        return cls(watermark, recent, floor)


class StateFile(object):
    """The source's state on disk (JSON, mode 0600, replaced atomically): per tenant, its TenantState.

    The file names the kind it belongs to, so that an incidents source and an alerts source cannot share one by
    mistake."""

    def __init__(self, path, kind):
        self.path = path
        self.kind = kind

    def load(self):
        """{tenant id: TenantState} from the file; {} when there is none. InputError for a file that cannot be used."""
        if not self.path or not os.path.exists(self.path):
            return {}
        try:
            with open(self.path) as handle:
                data = json.load(handle)
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                raise ValueError("not a state file of version %d" % STATE_VERSION)
            if data.get("kind") != self.kind:
                raise ValueError("it is the state of a %s source, not of a %s source" % (data.get("kind"), self.kind))
            return dict((str(tenant), TenantState.from_dict(state, "tenants[%s]" % tenant))
                        for tenant, state in (data.get("tenants") or {}).items())
        except (OSError, ValueError) as exc:
            raise InputError("Argument 'state_file' names %s, which cannot be used: %s. Move it away to start "
                             "afresh (see 'start' and 'lookback')." % (self.path, exc))

    def save(self, tenants):
        if not self.path:
            return
        data = {"version": STATE_VERSION, "kind": self.kind,
                "tenants": dict((tenant, state.as_dict()) for tenant, state in sorted(tenants.items()))}
        write_private(self.path, lambda stream: json.dump(data, stream, indent=1, sort_keys=True))
