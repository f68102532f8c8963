# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tags of Defender for Endpoint devices (POST /api/machines/{id}/tags): the device the options name, what differs
from the tags wanted, and the requests that apply it, one tag at a time."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.secops.m365_defender.plugins.module_utils._api import entity
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import (
    ApiError,
    InputError,
    M365DefenderError,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._machines import (
    MACHINES,
    check_device_options,
    find_machine,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._update import (
    Outcome,
    Write,
    apply_writes,
)

TAGS_FIELD = "machineTags"
# "The maximum number of characters that can be set in a tag is 200" (Microsoft's "Create and manage device tags").
MAX_TAG_LENGTH = 200
STATES = ("present", "absent")


def tag_key(tag):
    """How two spellings of a tag compare: without regard to case. Microsoft documents no case rule for device tags,
    and two tags that differ only in case would be a trap in device groups and filters, so the module never makes
    them; the device's own spelling is kept."""
    return tag.casefold()


def check_tags(tags):
    """The tags as given: non-empty strings of at most 200 characters, none twice in any case."""
    if tags is None:
        raise InputError("Option 'tag' is required: the tags to add or remove (a list; [] with purge=true removes "
                         "every tag).")
    seen = {}
    for index, tag in enumerate(tags, 1):
        if not isinstance(tag, str) or not tag.strip():
            raise InputError("Option 'tag' must hold non-empty strings; item %d is %r." % (index, tag))
        if len(tag) > MAX_TAG_LENGTH:
            raise InputError("Option 'tag': item %d has %d characters; a device tag has at most %d." % (
                index, len(tag), MAX_TAG_LENGTH))
        key = tag_key(tag)
        if key in seen:
            raise InputError("Option 'tag' names one tag twice: %r (item %d) and %r (item %d); tags are compared "
                             "without regard to case." % (seen[key][1], seen[key][0], tag, index))
        seen[key] = (index, tag)
    return list(tags)


class TagRequest(object):
    """machine_tag's tag options, checked before any request."""

    resource = MACHINES

    def __init__(self, params):
        self.tags = check_tags(params.get("tag"))
        self.state = params.get("state") or "present"
        if self.state not in STATES:
            raise InputError("Option 'state' must be one of %s, got %r." % (", ".join(STATES), self.state))
        self.purge = bool(params.get("purge"))
        if self.purge and self.state == "absent":
            raise InputError("Option 'purge' goes with state=present only (it removes the tags not in 'tag'); with "
                             "state=absent the tags in 'tag' are removed and no others.")

    def plan(self, machine):
        """What must change on this device: the tags to add (as given) and to remove (as the device spells them)."""
        current = current_tags(machine)
        wanted = set(tag_key(tag) for tag in self.tags)
        held = set(tag_key(tag) for tag in current)
        if self.state == "absent":
            return TagPlan(self, current, [], [tag for tag in current if tag_key(tag) in wanted])
        add = [tag for tag in self.tags if tag_key(tag) not in held]
        remove = [tag for tag in current if tag_key(tag) not in wanted] if self.purge else []
        return TagPlan(self, current, add, remove)


class TagPlan(object):
    """The tag changes one device needs; shaped like _update.Plan so that _update.confirm can check them."""

    def __init__(self, update, before, add, remove):
        self.update = update
        self.before = before
        self.add = add
        self.remove = remove

    @property
    def changed(self):
        return bool(self.add or self.remove)

    @property
    def after(self):
        """The device's tags once the plan is carried out (an added tag goes last, as the API puts it)."""
        removed = set(tag_key(tag) for tag in self.remove)
        return [tag for tag in self.before if tag_key(tag) not in removed] + list(self.add)

    @property
    def options(self):
        """One label per change, for what was applied and what was not."""
        return [change_label("Add", tag) for tag in self.add] + [change_label("Remove", tag) for tag in self.remove]

    def tags_in(self, labels, action):
        """The tags of this plan that `action` (Add or Remove) changes and whose label is in `labels`."""
        tags = self.add if action == "Add" else self.remove
        return [tag for tag in tags if change_label(action, tag) in labels]

    def missing(self, machine):
        """The changes of this plan that the device does not show yet."""
        return self.update.plan(machine).options

    def writes(self, machine_id):
        """One POST per tag: the additions first (in the order given), then the removals (in the device's order),
        so that a device never lacks a tag it keeps in the end. Each is safe to repeat."""
        path = "%s/tags" % MACHINES.item_path(machine_id)
        changes = [("Add", tag) for tag in self.add] + [("Remove", tag) for tag in self.remove]
        return [Write("POST", path, {"Value": tag, "Action": action}, [change_label(action, tag)], True)
                for action, tag in changes]


def change_label(action, tag):
    return "%s %r" % (action.lower(), tag)


def current_tags(machine):
    tags = machine.get(TAGS_FIELD) or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ApiError("Device %s has '%s' that is not a list of strings; refusing to use it as data." % (
            machine.get("id"), TAGS_FIELD))
    return list(tags)


def predicted(machine, plan):
    """The device as it will be after the plan, for check mode."""
    after = copy.deepcopy(machine)
    after[TAGS_FIELD] = plan.after
    return after


def apply_tags(client, machine_id, plan, machine):
    """Send the plan's POSTs in order (see _update.apply_writes); an Outcome with the device as the last answer
    shows it. A stopped update's error also names the tags added and removed before it stopped."""
    try:
        return apply_writes(client, MACHINES, machine_id, plan, machine, plan.writes(machine_id), _merge_device)
    except M365DefenderError as exc:
        applied = exc.details.get("applied") or []
        exc.details.update(tags_added=plan.tags_in(applied, "Add"), tags_removed=plan.tags_in(applied, "Remove"))
        raise


def _merge_device(client, resource, write, answer, machine):
    """The device after a tag POST: the POST's answer (checked: an unusable answer is an unknown outcome)."""
    device = entity(resource, answer, "%s %s" % (write.method, client.absolute(write.path)), tenant=client.tenant)
    device.pop("@odata.context", None)
    return device


def machine_tag_result(module):
    """machine_tag's result: the device after, the tags added and removed, and before/after in diff mode."""
    check_device_options(module.params)
    request = TagRequest(module.params)
    client = module.client
    machine_id, machine = find_machine(client, module.params)
    plan = request.plan(machine)
    if module.check_mode or not plan.changed:
        outcome = Outcome(predicted(machine, plan) if plan.changed else machine)
    else:
        outcome = apply_tags(client, machine_id, plan, machine)
    for warning in outcome.warnings:
        module.warn(warning)
    result = {"changed": plan.changed, "machine": outcome.item, "tags_added": list(plan.add),
              "tags_removed": list(plan.remove), "api": MACHINES.name}
    if module._diff:
        result["diff"] = {"before": {"tags": plan.before}, "after": {"tags": current_tags(outcome.item)}}
    return result
