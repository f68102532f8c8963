# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incident triage rules: checked before any request, matched on incident views, merged into incident updates."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.secops.m365_defender.plugins.module_utils._api import (
    CLASSIFICATION,
    DETERMINATION,
    SERVICE_SOURCE,
    SEVERITY,
    STATUS,
    owner,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._update import IncidentUpdate
from ansible_collections.secops.m365_defender.plugins.module_utils._incident_view import flavour_of, incident_view
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import (
    RELATIVE_TIME,
    IncidentQuery,
    parse_iso_time,
    parse_time_option,
    utcnow,
)

RULE_KEYS = ("name", "match", "set", "stop")
MATCH_ENUMS = {"severity": SEVERITY, "status": STATUS, "classification": CLASSIFICATION,
               "determination": DETERMINATION, "service_source": SERVICE_SOURCE}
MATCH_KEYS = tuple(MATCH_ENUMS) + ("title", "tags", "tags_absent", "assigned_to", "unassigned", "older_than",
                                   "newer_than", "idle_for")
SET_ENUMS = {"status": STATUS, "classification": CLASSIFICATION, "determination": DETERMINATION}
SET_KEYS = ("assigned_to", "status", "classification", "determination", "tags", "comment")
# The incident module's options that a rule replaces, in the order the changes are described.
SCALARS = ("status", "assigned_to", "classification", "determination")


class RuleError(InputError):
    """A rule that cannot be used; the message names the rule, the key, the value and what is allowed."""


def _error(where, message):
    return RuleError("%s: %s" % (where, message))


def _text(where, value):
    if not isinstance(value, str) or not value.strip():
        raise _error(where, "must be a non-empty string, got %r." % (value,))
    return value


def _texts(where, value):
    """A non-empty list of non-empty strings; a single string is a list of one."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not values:
        raise _error(where, "must be a non-empty list of strings, got %r." % (value,))
    return [_text(where, item) for item in values]


def _flag(where, value):
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise _error(where, "must be true or false, got %r." % (value,))


def _enum_value(where, enum, value, write=False):
    """Graph's spelling of a value that either API knows, in any case and separator."""
    key = enum.key(_text(where, value))
    if key is None:
        raise _error(where, "got '%s'; allowed: %s." % (value, enum.choices_text(write=write)))
    return enum.normal(value)


def _keys(where, value, allowed):
    if not isinstance(value, dict):
        raise _error(where, "must be a dictionary, got %r." % (value,))
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise _error(where, "unknown key(s) %s; allowed: %s." % (", ".join(unknown), ", ".join(allowed)))
    return value


# ----- conditions: each takes an incident's view (with its creation and update times parsed)


def _enum_condition(enum, key, values):
    wanted = set(enum.key(value) for value in values)
    if key == "service_source":
        return lambda view: any(enum.key(source) in wanted for source in view["service_sources"])
    return lambda view: view[key] is not None and enum.key(view[key]) in wanted


def _tags_condition(values, present):
    wanted = set(value.lower() for value in values)

    def condition(view):
        carried = set(tag.lower() for tag in view["tags"] + view["system_tags"])
        return bool(carried & wanted) == present
    return condition


def _time_condition(rule, key, value, now):
    if key == "idle_for" and not RELATIVE_TIME.match(str(value)):
        raise _error("%s match.%s" % (rule, key), "got '%s'; use an age such as 30m, 24h, 7d, 2w." % (value,))
    try:
        moment = parse_time_option("match." + key, value, now)
    except InputError as exc:
        raise _error(rule, exc.message)
    if key == "newer_than":
        return lambda view: view["created_at"] is not None and view["created_at"] > moment
    field = "updated_at" if key == "idle_for" else "created_at"
    return lambda view: view[field] is not None and view[field] <= moment


def _condition(rule, key, value, now):
    where = "%s match.%s" % (rule, key)
    if key in MATCH_ENUMS:
        values = [_enum_value(where, MATCH_ENUMS[key], item) for item in _texts(where, value)]
        return _enum_condition(MATCH_ENUMS[key], key, values)
    if key == "title":
        try:
            pattern = re.compile(_text(where, value), re.IGNORECASE)
        except re.error as exc:
            raise _error(where, "'%s' is not a valid regular expression: %s." % (value, exc))
        return lambda view: bool(pattern.search(view["title"]))
    if key in ("tags", "tags_absent"):
        return _tags_condition(_texts(where, value), key == "tags")
    if key == "assigned_to":
        user = _text(where, value).lower()
        return lambda view: (view["assigned_to"] or "").lower() == user
    if key == "unassigned":
        unassigned = _flag(where, value)
        return lambda view: (not view["assigned_to"]) == unassigned
    return _time_condition(rule, key, value, now)


# ----- rules


def _changes(where, value, stop):
    """A rule's `set`: checked without knowing the API yet (the plan checks the API's own spellings)."""
    _keys(where, value, SET_KEYS)
    if not value and not stop:
        raise _error(where, "is empty: set at least one of %s (an empty set is for rules with stop: true, "
                            "which leave the incidents they match alone)." % ", ".join(SET_KEYS))
    changes = {}
    for key, item in value.items():
        at = "%s.%s" % (where, key)
        if key in SET_ENUMS:
            changes[key] = _enum_value(at, SET_ENUMS[key], item, write=True)
        elif key == "tags":
            changes[key] = list(dict.fromkeys(_texts(at, item)))
        else:
            changes[key] = _text(at, item)
    try:
        # The incident module's own checks (redirected, classification and determination pairs), on Graph, which
        # knows every value above.
        IncidentUpdate(flavour_of("graph"), changes)
    except InputError as exc:
        raise _error(where, exc.message)
    return changes


class Rule(object):
    """One checked rule: its conditions (all must hold), the fields it sets, and whether it stops the rules after it."""

    def __init__(self, index, rule, now):
        label = rule.get("name") if isinstance(rule, dict) else None
        where = "Rule %d%s" % (index, " ('%s')" % label if isinstance(label, str) else "")
        _keys(where, rule, RULE_KEYS)
        self.name = _text(where + " name", rule.get("name"))
        match = rule.get("match") or {}
        _keys(where + " match", match, MATCH_KEYS)
        self.conditions = [_condition(where, key, value, now) for key, value in match.items()]
        self.stop = rule.get("stop") is not None and _flag(where + " stop", rule["stop"])
        if rule.get("set") is None:
            raise _error(where, "has no 'set': say what the rule changes (%s)." % ", ".join(SET_KEYS))
        self.changes = _changes(where + " set", rule["set"], self.stop)

    def matches(self, view):
        return all(condition(view) for condition in self.conditions)


def parse_rules(rules, now=None):
    """Checked rules, in order; RuleError for the first problem, before anything is read or sent."""
    if rules is None:
        rules = []
    if not isinstance(rules, (list, tuple)):
        raise RuleError("The rules must be a list, got %s." % type(rules).__name__)
    now = now or utcnow()
    parsed = [Rule(index, rule, now) for index, rule in enumerate(rules, 1)]
    names = [rule.name for rule in parsed]
    duplicates = sorted(set(name for name in names if names.count(name) > 1))
    if duplicates:
        raise RuleError("Rule names must be unique, so that reports can name them: %s." % ", ".join(duplicates))
    return parsed


def desired(rules, view):
    """The names of the rules that apply to an incident, and what they set together.

    Rules apply in order: a later rule overrides an earlier one's status, assignee, classification,
    determination and comment; tags accumulate; a matching rule with `stop` ends the list.
    """
    names, wanted = [], {}
    for rule in rules:
        if not rule.matches(view):
            continue
        names.append(rule.name)
        for key, value in rule.changes.items():
            wanted[key] = list(dict.fromkeys(wanted.get(key, []) + value)) if key == "tags" else value
        if rule.stop:
            break
    return names, wanted


# ----- the plan


def _shown(option, value):
    if option == "assigned_to" and owner(value) is None:
        return "none"
    if value is None or value == "":
        return "none"
    return SET_ENUMS[option].normal(value) if option in SET_ENUMS else value


def _describe(plan):
    """What an incident update changes, one human-readable line per option."""
    lines = ["%s: %s -> %s" % (option, _shown(option, plan.before[option]), _shown(option, plan.after[option]))
             for option in SCALARS if option in plan.before]
    if "tags" in plan.before:
        added = [tag for tag in plan.after["tags"] if tag not in plan.before["tags"]]
        lines.append("tags: + %s" % ", ".join(added))
    if plan.comment is not None:
        lines.append("comment: + %s" % plan.comment)
    return lines


def _options(wanted, plan):
    """The incident module's options for what differs."""
    options = dict((option, wanted[option]) for option in SCALARS + ("tags",) if option in plan.before)
    if plan.comment is not None:
        options["comment"] = plan.comment
    return options


def incident_plan(flavour, rules, incident, view):
    """The change one incident needs, or None when the rules change nothing on it."""
    view = dict(view, created_at=parse_iso_time(view["created"]) if view["created"] else None,
                updated_at=parse_iso_time(view["updated"]) if view["updated"] else None)
    names, wanted = desired(rules, view)
    if not wanted:
        return None
    try:
        plan = IncidentUpdate(flavour, dict(wanted, purge_tags=False)).plan(incident)
    except InputError as exc:
        rules_named = ", ".join("'%s'" % name for name in names)
        raise RuleError("Incident %s (rules %s): %s" % (view["id"], rules_named, exc.message))
    if not plan.changed:
        return None
    return {"incident_id": view["id"], "title": view["title"], "url": view["url"], "rules": names,
            "set": _options(wanted, plan), "changes": _describe(plan)}


def check_read_options(status=None, created_after=None, now=None):
    """The status and created_after that the incidents will be read with, checked as incident_info checks them
    (on Graph, which knows every status), so that the role can refuse them before it signs in."""
    statuses = [status] if isinstance(status, str) else status
    if statuses is not None and not isinstance(statuses, (list, tuple)):
        raise InputError("Option 'status' must be a list of statuses, got %s." % type(status).__name__)
    IncidentQuery(flavour_of("graph"), {"status": statuses, "created_after": created_after}, now)


def triage_plan(incidents, rules, api="graph", tenant_id=None, cloud="global", now=None, status=None,
                created_after=None):
    """For each incident (the API's own objects) that the rules would change: what, why and how."""
    now = now or utcnow()
    parsed = parse_rules(rules, now)
    check_read_options(status, created_after, now)
    flavour = flavour_of(api)
    if not isinstance(incidents, (list, tuple)) or not all(isinstance(item, dict) for item in incidents):
        raise InputError("The incidents must be a list of incident objects, as incident_info returns them.")
    plans = []
    for incident in incidents:
        entry = incident_plan(flavour, parsed, incident, incident_view(api, incident, tenant_id, cloud, now))
        if entry:
            plans.append(entry)
    return plans
