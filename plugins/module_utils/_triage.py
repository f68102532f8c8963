# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incident triage rules: checked before any request, matched on incident views and their alerts, merged into
incident and alert updates."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.secops.m365_defender.plugins.module_utils._api import (
    ALERT_STATUS,
    CLASSIFICATION,
    DETECTION_SOURCE,
    DETERMINATION,
    FLAVOURS,
    SERVICE_SOURCE,
    SEVERITY,
    STATUS,
    canonical,
    owner,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._evidence import evidence_lists
from ansible_collections.secops.m365_defender.plugins.module_utils._update import AlertUpdate, IncidentUpdate
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
                                   "newer_than", "idle_for", "alerts")
SET_ENUMS = {"status": STATUS, "classification": CLASSIFICATION, "determination": DETERMINATION}
SET_KEYS = ("assigned_to", "status", "classification", "determination", "tags", "comment", "alerts")
# The incident module's options that a rule replaces, in the order the changes are described.
SCALARS = ("status", "assigned_to", "classification", "determination")

# match.alerts: conditions on one alert, and on the entities of its evidence.
ALERT_MATCH_ENUMS = {"service_source": SERVICE_SOURCE, "detection_source": DETECTION_SOURCE, "severity": SEVERITY,
                     "status": ALERT_STATUS}
ALERT_FIELDS = {"service_source": "serviceSource", "detection_source": "detectionSource", "severity": "severity",
                "status": "status"}
ALERT_MATCH_KEYS = tuple(ALERT_MATCH_ENUMS) + ("title", "category", "device_risk_score", "device", "user",
                                               "file_sha256", "file_sha1", "ip", "url", "verdict")
# Graph's deviceRiskScore and evidenceVerdict members (the Defender API capitalizes them; `_evidence` reads both).
DEVICE_RISK_SCORES = ("none", "informational", "low", "medium", "high")
VERDICTS = ("unknown", "suspicious", "malicious", "noThreatsFound")
HASH_LENGTHS = {"file_sha256": 64, "file_sha1": 40}
# set.alerts: the alert module's options.
ALERT_SET_ENUMS = {"status": ALERT_STATUS, "classification": CLASSIFICATION, "determination": DETERMINATION}
ALERT_SET_KEYS = ("status", "assigned_to", "classification", "determination", "comment")
ALERTS = FLAVOURS["graph"].alerts


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


def _regex(where, value):
    try:
        return re.compile(_text(where, value), re.IGNORECASE)
    except re.error as exc:
        raise _error(where, "'%s' is not a valid regular expression: %s." % (value, exc))


def _condition(rule, key, value, now):
    where = "%s match.%s" % (rule, key)
    if key == "alerts":
        return AlertMatch(where, value)
    if key in MATCH_ENUMS:
        values = [_enum_value(where, MATCH_ENUMS[key], item) for item in _texts(where, value)]
        return _enum_condition(MATCH_ENUMS[key], key, values)
    if key == "title":
        pattern = _regex(where, value)
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


# ----- alert conditions: each takes an AlertView


class AlertView(object):
    """One alert of an incident, either API's shape; its evidence is read only when a condition asks for it."""

    def __init__(self, alert, incident_id):
        self.alert = alert
        self.id = str(alert.get("id") or alert.get("alertId") or "")
        self.incident_id = incident_id
        self.title = str(alert.get("title") or "")
        self._evidence = None

    def value(self, key):
        return self.alert.get(ALERT_FIELDS[key])

    @property
    def evidence(self):
        if self._evidence is None:
            try:
                self._evidence = evidence_lists(self.alert)
            except InputError as exc:
                raise InputError("Alert %s of incident %s: %s" % (self.id, self.incident_id, exc.message))
        return self._evidence


def _choice(where, allowed, value):
    """Graph's spelling of one of `allowed`, given in any case and separator."""
    by_key = dict((canonical(item), item) for item in allowed)
    chosen = by_key.get(canonical(_text(where, value)))
    if chosen is None:
        raise _error(where, "got '%s'; allowed: %s (any case)." % (value, ", ".join(allowed)))
    return chosen


def _hashes(where, key, value):
    length = HASH_LENGTHS[key]
    hashes = set()
    for item in _texts(where, value):
        if not re.match(r"^[0-9a-fA-F]{%d}\Z" % length, item.strip()):
            raise _error(where, "got '%s'; a %s is %d hexadecimal digits." % (item, key[5:].upper(), length))
        hashes.add(item.strip().lower())
    return hashes


def _networks(where, value):
    networks = []
    for item in _texts(where, value):
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise _error(where, "got '%s'; allowed: an IPv4 or IPv6 address, or a network such as 10.0.0.0/8." % item)
    return networks


def _in_networks(text, networks):
    try:
        address = ipaddress.ip_address(str(text).strip())
    except ValueError:
        return False
    return any(address.version == network.version and address in network for network in networks)


def _search(pattern, *values):
    return any(pattern.search(str(value)) for value in values if value)


def _device_condition(where, match):
    """`device` and `device_risk_score` hold for one and the same device of the alert's evidence."""
    checks = []
    if "device" in match:
        pattern = _regex(where + ".device", match["device"])
        checks.append(lambda device: _search(pattern, device["dns_name"], device["host_name"]))
    if "device_risk_score" in match:
        at = where + ".device_risk_score"
        scores = set(_choice(at, DEVICE_RISK_SCORES, item).lower() for item in _texts(at, match["device_risk_score"]))
        checks.append(lambda device: str(device["risk_score"] or "").lower() in scores)
    return lambda alert: any(all(check(device) for check in checks) for device in alert.evidence["devices"])


def _alert_condition(where, key, value):
    at = "%s.%s" % (where, key)
    if key in ALERT_MATCH_ENUMS:
        enum = ALERT_MATCH_ENUMS[key]
        wanted = set(enum.key(_enum_value(at, enum, item)) for item in _texts(at, value))
        return lambda alert: enum.key(str(alert.value(key) or "")) in wanted
    if key == "title":
        pattern = _regex(at, value)
        return lambda alert: bool(pattern.search(alert.title))
    if key == "category":
        wanted = set(canonical(item) for item in _texts(at, value))
        return lambda alert: canonical(alert.alert.get("category") or "") in wanted
    if key == "user":
        pattern = _regex(at, value)
        return lambda alert: any(_search(pattern, user["account_name"], user["user_principal_name"])
                                 for user in alert.evidence["users"])
    if key in HASH_LENGTHS:
        hashes, field = _hashes(at, key, value), key[5:]
        return lambda alert: any(str(entry[field] or "").lower() in hashes
                                 for entry in alert.evidence["files"] + alert.evidence["processes"])
    if key == "ip":
        networks = _networks(at, value)
        return lambda alert: any(_in_networks(entry["ip_address"], networks) for entry in alert.evidence["ips"])
    if key == "url":
        pattern = _regex(at, value)
        return lambda alert: any(_search(pattern, entry["url"]) for entry in alert.evidence["urls"])
    verdicts = set(canonical(_choice(at, VERDICTS, item)) for item in _texts(at, value))
    return lambda alert: any(canonical(entry["verdict"] or "") in verdicts
                             for entries in alert.evidence.values() for entry in entries)


class AlertMatch(object):
    """A rule's `match.alerts`: the incident matches when at least one of its alerts meets every condition."""

    def __init__(self, where, match):
        _keys(where, match, ALERT_MATCH_KEYS)
        if not match:
            raise _error(where, "is empty: give at least one of %s." % ", ".join(ALERT_MATCH_KEYS))
        self.conditions = [_alert_condition(where, key, value) for key, value in match.items()
                           if key not in ("device", "device_risk_score")]
        if "device" in match or "device_risk_score" in match:
            self.conditions.append(_device_condition(where, match))

    def alerts(self, view):
        return [alert for alert in view["alert_views"] if all(condition(alert) for condition in self.conditions)]

    def __call__(self, view):
        return bool(self.alerts(view))


# ----- rules


def _set_values(where, value, enums):
    changes = {}
    for key, item in value.items():
        at = "%s.%s" % (where, key)
        if key in enums:
            changes[key] = _enum_value(at, enums[key], item, write=True)
        elif key == "tags":
            changes[key] = list(dict.fromkeys(_texts(at, item)))
        else:
            changes[key] = _text(at, item)
    return changes


def _alert_changes(where, value):
    """A rule's `set.alerts`, checked as the alert module checks its options (on Graph, the only API with alerts)."""
    _keys(where, value, ALERT_SET_KEYS)
    if not value:
        raise _error(where, "is empty: set at least one of %s." % ", ".join(ALERT_SET_KEYS))
    changes = _set_values(where, value, ALERT_SET_ENUMS)
    try:
        AlertUpdate(ALERTS, changes)
    except InputError as exc:
        raise _error(where, exc.message)
    return changes


def _changes(where, value, stop):
    """A rule's `set`: checked without knowing the API yet (the plan checks the API's own spellings)."""
    _keys(where, value, SET_KEYS)
    if not value and not stop:
        raise _error(where, "is empty: set at least one of %s (an empty set is for rules with stop: true, "
                            "which leave the incidents they match alone)." % ", ".join(SET_KEYS))
    changes = _set_values(where, dict((key, item) for key, item in value.items() if key != "alerts"), SET_ENUMS)
    try:
        # The incident module's own checks (redirected, classification and determination pairs), on Graph, which
        # knows every value above.
        IncidentUpdate(flavour_of("graph"), changes)
    except InputError as exc:
        raise _error(where, exc.message)
    return changes


class Rule(object):
    """One checked rule: its conditions (all must hold), the fields it sets on incidents and on their alerts, and
    whether it stops the rules after it."""

    def __init__(self, index, rule, now):
        label = rule.get("name") if isinstance(rule, dict) else None
        self.where = where = "Rule %d%s" % (index, " ('%s')" % label if isinstance(label, str) else "")
        _keys(where, rule, RULE_KEYS)
        self.name = _text(where + " name", rule.get("name"))
        match = rule.get("match") or {}
        _keys(where + " match", match, MATCH_KEYS)
        self.conditions = [_condition(where, key, value, now) for key, value in match.items()]
        self.alert_match = next((condition for condition in self.conditions if isinstance(condition, AlertMatch)),
                                None)
        self.stop = rule.get("stop") is not None and _flag(where + " stop", rule["stop"])
        if rule.get("set") is None:
            raise _error(where, "has no 'set': say what the rule changes (%s)." % ", ".join(SET_KEYS))
        self.changes = _changes(where + " set", rule["set"], self.stop)
        alerts = rule["set"].get("alerts")
        self.alert_changes = _alert_changes(where + " set.alerts", alerts) if alerts is not None else {}

    def matches(self, view):
        return all(condition(view) for condition in self.conditions)

    def alerts(self, view):
        """The alerts that the rule's set.alerts applies to: those that matched match.alerts, else all of them."""
        return self.alert_match.alerts(view) if self.alert_match else list(view["alert_views"])


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


def _merge(wanted, changes):
    for key, value in changes.items():
        wanted[key] = list(dict.fromkeys(wanted.get(key, []) + value)) if key == "tags" else value


def desired(rules, view):
    """The names of the rules that apply to an incident, what they set together on it, and on its alerts
    ({alert id: (rule names, what they set)}).

    Rules apply in order: a later rule overrides an earlier one's status, assignee, classification,
    determination and comment; tags accumulate; a matching rule with `stop` ends the list.
    """
    names, wanted, alerts = [], {}, {}
    for rule in rules:
        if not rule.matches(view):
            continue
        names.append(rule.name)
        _merge(wanted, rule.changes)
        if rule.alert_changes:
            for alert in rule.alerts(view):
                alert_names, alert_wanted = alerts.setdefault(alert.id, ([], {}))
                alert_names.append(rule.name)
                _merge(alert_wanted, rule.alert_changes)
        if rule.stop:
            break
    return names, wanted, alerts


# ----- the plan


def _shown(option, value, enums):
    if option == "assigned_to" and owner(value) is None:
        return "none"
    if value is None or value == "":
        return "none"
    return enums[option].normal(value) if option in enums else value


def _describe(plan, enums):
    """What an update changes, one human-readable line per option."""
    lines = ["%s: %s -> %s" % (option, _shown(option, plan.before[option], enums),
                               _shown(option, plan.after[option], enums))
             for option in SCALARS if option in plan.before]
    if "tags" in plan.before:
        added = [tag for tag in plan.after["tags"] if tag not in plan.before["tags"]]
        lines.append("tags: + %s" % ", ".join(added))
    if plan.comment is not None:
        lines.append("comment: + %s" % plan.comment)
    return lines


def _options(wanted, plan):
    """The module's options for what differs."""
    options = dict((option, wanted[option]) for option in SCALARS + ("tags",) if option in plan.before)
    if plan.comment is not None:
        options["comment"] = plan.comment
    return options


def _rules_named(names):
    return ", ".join("'%s'" % name for name in names)


def _alert_plans(view, alerts):
    """The alert updates the rules ask for, in the order of the incident's alerts, those that change something."""
    entries = []
    for alert in view["alert_views"]:
        if alert.id not in alerts:
            continue
        names, wanted = alerts[alert.id]
        try:
            plan = AlertUpdate(ALERTS, wanted).plan(alert.alert)
        except InputError as exc:
            raise RuleError("Alert %s of incident %s (rules %s): %s" % (
                alert.id, view["id"], _rules_named(names), exc.message))
        if plan.changed:
            entries.append({"alert_id": alert.id, "incident_id": view["id"], "title": alert.title, "rules": names,
                            "set": _options(wanted, plan), "changes": _describe(plan, ALERT_SET_ENUMS)})
    return entries


def _alert_views(incident, incident_id):
    return [AlertView(alert, incident_id) for alert in incident.get("alerts") or [] if isinstance(alert, dict)]


def incident_plan(flavour, rules, incident, view):
    """The changes one incident and its alerts need, or None when the rules change nothing on them."""
    view = dict(view, created_at=parse_iso_time(view["created"]) if view["created"] else None,
                updated_at=parse_iso_time(view["updated"]) if view["updated"] else None,
                alert_views=_alert_views(incident, view["id"]))
    names, wanted, alerts = desired(rules, view)
    entry = {"incident_id": view["id"], "title": view["title"], "url": view["url"], "rules": names, "set": {},
             "changes": [], "alerts": _alert_plans(view, alerts)}
    if wanted:
        try:
            plan = IncidentUpdate(flavour, dict(wanted, purge_tags=False)).plan(incident)
        except InputError as exc:
            raise RuleError("Incident %s (rules %s): %s" % (view["id"], _rules_named(names), exc.message))
        if plan.changed:
            entry.update(set=_options(wanted, plan), changes=_describe(plan, SET_ENUMS))
    return entry if entry["set"] or entry["alerts"] else None


def check_read_options(status=None, created_after=None, now=None):
    """The status and created_after that the incidents will be read with, checked as incident_info checks them
    (on Graph, which knows every status), so that the role can refuse them before it signs in."""
    statuses = [status] if isinstance(status, str) else status
    if statuses is not None and not isinstance(statuses, (list, tuple)):
        raise InputError("Option 'status' must be a list of statuses, got %s." % type(status).__name__)
    IncidentQuery(flavour_of("graph"), {"status": statuses, "created_after": created_after}, now)


def refuse_alert_updates(flavour, rules):
    """Only Graph updates alerts: on another API a rule with set.alerts is refused before anything is changed."""
    if flavour.alerts is not None:
        return
    for rule in rules:
        if rule.alert_changes:
            raise RuleError(
                "%s set.alerts: alerts can only be updated through Microsoft Graph (alerts_v2); the %s API has no "
                "alerts endpoint. Run the rules with api: graph (the default), or remove set.alerts from the rule."
                % (rule.where, flavour.name))


def triage_plan(incidents, rules, api="graph", tenant_id=None, cloud="global", now=None, status=None,
                created_after=None):
    """For each incident (the API's own objects) that the rules would change, on it or on its alerts: what, why and
    how."""
    now = now or utcnow()
    parsed = parse_rules(rules, now)
    check_read_options(status, created_after, now)
    flavour = flavour_of(api)
    refuse_alert_updates(flavour, parsed)
    if not isinstance(incidents, (list, tuple)) or not all(isinstance(item, dict) for item in incidents):
        raise InputError("The incidents must be a list of incident objects, as incident_info returns them.")
    plans = []
    for incident in incidents:
        entry = incident_plan(flavour, parsed, incident, incident_view(api, incident, tenant_id, cloud, now))
        if entry:
            plans.append(entry)
    return plans
