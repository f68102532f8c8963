# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Custom indicators of the Defender for Endpoint API (/api/indicators): the options checked before any request,
what differs from the tenant's indicators, and the requests that apply it (one POST each for a few, imports of up
to 500 for many, deletes by id or in batches)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import re

from ansible.module_utils.six.moves.urllib.parse import urlparse

from ansible_collections.secops.m365_defender.plugins.module_utils._api import Enum, Resource, entity, objects
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import (
    ApiError,
    InputError,
    M365DefenderError,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import (
    Query,
    check_limit,
    list_items,
    odata_string,
    odata_time,
    parse_iso_time,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._machines import ENDPOINT_RATE

# The option's spelling of each type, and the API's.
TYPES = {"file_sha1": "FileSha1", "file_sha256": "FileSha256", "file_md5": "FileMd5", "ip": "IpAddress",
         "url": "Url", "domain": "DomainName", "certificate": "CertificateThumbprint"}
ACTIONS = {"alert": "Alert", "warn": "Warn", "block": "Block", "audit": "Audit", "allowed": "Allowed",
           "alert_and_block": "AlertAndBlock", "block_and_remediate": "BlockAndRemediate"}
SEVERITIES = {"informational": "Informational", "low": "Low", "medium": "Medium", "high": "High"}
# Which actions each type takes (Microsoft's indicator pages); alert and alert_and_block are the older names of
# audit with an alert and block with an alert, which the API still takes for every type.
_LEGACY = ("alert", "alert_and_block")
_FILE_ACTIONS = ("allowed", "audit", "warn", "block", "block_and_remediate") + _LEGACY
_NETWORK_ACTIONS = ("allowed", "audit", "warn", "block") + _LEGACY
ACTIONS_BY_TYPE = {"file_sha1": _FILE_ACTIONS, "file_sha256": _FILE_ACTIONS, "file_md5": _FILE_ACTIONS,
                   "certificate": ("allowed", "audit", "block", "block_and_remediate") + _LEGACY,
                   "ip": _NETWORK_ACTIONS, "url": _NETWORK_ACTIONS, "domain": _NETWORK_ACTIONS}
HEX_LENGTHS = {"file_sha1": 40, "file_sha256": 64, "file_md5": 32, "certificate": 40}
DOMAIN = re.compile(r"^(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")
MAX_URL_LENGTH = 2048

# Each field an indicator's options set: option -> the API's field. Type and value name the indicator.
FIELDS = (("action", "action"), ("title", "title"), ("description", "description"), ("severity", "severity"),
          ("expiration", "expirationTime"), ("recommended_actions", "recommendedActions"),
          ("rbac_group_names", "rbacGroupNames"), ("generate_alert", "generateAlert"),
          ("application", "application"))
ITEM_KEYS = ("type", "value") + tuple(option for option, field in FIELDS)
REQUIRED_TO_SUBMIT = ("action", "title", "description")
# `application` counts only when an indicator is created (Microsoft's submit page), so it is never compared.
COMPARED = tuple((option, field) for option, field in FIELDS if option != "application")

IMPORT_BATCH = 500  # the most indicators one import or BatchDelete call takes
SINGLE_POSTS = 3  # up to this many changes go one POST each (each answers the indicator); more go by import

TYPE = Enum("type", endpoint=tuple(TYPES.values()),
            aliases={"ip": "IpAddress", "domain": "DomainName", "certificate": "CertificateThumbprint"})
ACTION = Enum("action", endpoint=tuple(ACTIONS.values()))
SEVERITY = Enum("severity", endpoint=tuple(SEVERITIES.values()))


class Indicators(Resource):
    """The Defender for Endpoint API's custom indicators."""

    name = "endpoint"
    title = "the Defender for Endpoint API"
    kind = "indicator"
    id_option = "indicator_id"
    path = "/indicators"
    id_field = "id"
    max_page_size = 10000
    fields = {"type": "indicatorType", "value": "indicatorValue", "action": "action", "severity": "severity"}
    server_filters = frozenset(fields)
    list_rate = get_rate = update_rate = ENDPOINT_RATE

    def check_id(self, item_id):
        if not re.match(r"^[A-Za-z0-9_-]{1,128}\Z", str(item_id)):
            raise InputError("An indicator id must be letters, digits, '_' or '-', got %r." % (item_id,))
        return str(item_id)


INDICATORS = Indicators()


# --- checking the options ------------------------------------------------------------------------------------------

def _where(index, key):
    """How a message names an option: 'value' itself, or a key of an item of 'indicators'."""
    return "Option '%s'" % key if index is None else "Option 'indicators', item %d, key '%s'" % (index, key)


def normal_value(kind, value, index=None):
    """The value as the indicator's identity: hashes and domains in lower case, IP addresses in their short form;
    InputError naming the option when it is not a value of that type."""
    where = _where(index, "value")
    if not isinstance(value, str) or not value.strip():
        raise InputError("%s is required: the indicator's value, a non-empty string." % where)
    if value != value.strip():
        raise InputError("%s has spaces or a line break around it (%r): remove them." % (where, value))
    if kind in HEX_LENGTHS:
        if not re.match(r"^[0-9A-Fa-f]{%d}\Z" % HEX_LENGTHS[kind], value):
            raise InputError("%s must be %d hexadecimal digits for type %s, got %r (%d characters)." % (
                where, HEX_LENGTHS[kind], kind, value, len(value)))
        return value.lower()
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise InputError("%s must be one IPv4 or IPv6 address for type ip (no CIDR ranges: the API takes none), "
                             "got %r." % (where, value))
    if kind == "domain":
        domain = value.lower()
        if not DOMAIN.match(domain):
            raise InputError("%s must be a domain name such as evil.example for type domain (no scheme, path or "
                             "port), got %r." % (where, value))
        return domain
    return _url(value, where)


def _url(value, where):
    if len(value) > MAX_URL_LENGTH or any(char.isspace() for char in value):
        raise InputError("%s must be a URL of at most %d characters without spaces for type url, got %r." % (
            where, MAX_URL_LENGTH, value[:100]))
    parsed = urlparse(value if "://" in value else "http://" + value)
    host = (parsed.hostname or "").lower()
    if parsed.scheme.lower() not in ("http", "https") or not (DOMAIN.match(host) or _is_ip(host)):
        raise InputError("%s must be an http or https URL with a host, such as https://evil.example/path, for type "
                         "url, got %r." % (where, value))
    return value


def _is_ip(text):
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False


def _choice(index, key, value, choices):
    if value not in choices:
        raise InputError("%s got %r; allowed: %s." % (_where(index, key), value, ", ".join(choices)))
    return value


class Identity(object):
    """An indicator's identity: its type (the option's spelling) and normalised value. Alone, one the tenant has
    that the task does not name (purge)."""

    def __init__(self, key):
        self.type, self.value = key

    @property
    def key(self):
        return (self.type, self.value)

    @property
    def label(self):
        return {"type": self.type, "value": self.value}


class Wanted(Identity):
    """One indicator as the options describe it: its identity and the fields given (in the API's names)."""

    def __init__(self, params, state, index=None):
        unknown = sorted(set(params) - set(ITEM_KEYS)) if index is not None else []
        if unknown:
            raise InputError("Option 'indicators', item %d has unknown keys: %s; allowed: %s." % (
                index, ", ".join(unknown), ", ".join(ITEM_KEYS)))
        if params.get("type") is None:
            raise InputError("%s is required: one of %s." % (_where(index, "type"), ", ".join(TYPES)))
        kind = _choice(index, "type", params["type"], list(TYPES))
        super(Wanted, self).__init__((kind, normal_value(kind, params.get("value"), index)))
        self.fields = {}
        if state == "present":
            self._check_fields(params, index)

    def _check_fields(self, params, index):
        for key in REQUIRED_TO_SUBMIT:
            if params.get(key) is None:
                raise InputError("%s is required with state=present (the API needs it to submit an indicator)." %
                                 _where(index, key))
        action = _choice(index, "action", params["action"], list(ACTIONS))
        if action not in ACTIONS_BY_TYPE[self.type]:
            raise InputError("%s got %r, which type %s does not take; allowed for %s: %s." % (
                _where(index, "action"), action, self.type, self.type, ", ".join(ACTIONS_BY_TYPE[self.type])))
        self.fields["action"] = ACTIONS[action]
        for key in ("title", "description", "recommended_actions", "application"):
            text = params.get(key)
            if text is not None and (not isinstance(text, str) or not text.strip()):
                raise InputError("%s must be a non-empty string, got %r." % (_where(index, key), text))
        if params.get("severity") is not None:
            self.fields["severity"] = SEVERITIES[_choice(index, "severity", params["severity"], list(SEVERITIES))]
        if params.get("expiration") is not None:
            moment = parse_iso_time(params["expiration"])
            if moment is None:
                raise InputError("%s must be an ISO-8601 date and time such as 2027-01-31T00:00:00Z, got %r." % (
                    _where(index, "expiration"), params["expiration"]))
            self.fields["expirationTime"] = odata_time(moment)
        groups = params.get("rbac_group_names")
        if groups is not None and (not isinstance(groups, list) or
                                   not all(isinstance(group, str) and group.strip() for group in groups)):
            raise InputError("%s must be a list of device group names (non-empty strings), got %r." % (
                _where(index, "rbac_group_names"), groups))
        if params.get("generate_alert") is not None and not isinstance(params["generate_alert"], bool):
            raise InputError("%s must be true or false, got %r." % (_where(index, "generate_alert"),
                                                                    params["generate_alert"]))
        for option, field in FIELDS:
            if option not in ("action", "severity", "expiration") and params.get(option) is not None:
                self.fields[field] = params[option]


def _check_purge(params, state):
    """The application whose indicators `purge` may delete, or None without purge."""
    if not params.get("purge"):
        return None
    if state != "present":
        raise InputError("Option 'purge' works with state=present only: it deletes the indicators of the "
                         "application that the task no longer names.")
    application = params.get("application")
    if not isinstance(application, str) or not application.strip():
        raise InputError("Option 'purge' needs option 'application': the mark of the indicators this list owns "
                         "(only indicators created with it are deleted).")
    for index, item in enumerate(params.get("indicators") or [], 1):
        if isinstance(item, dict) and item.get("application") not in (None, application):
            raise InputError("Option 'indicators', item %d, key 'application' is %r, but with 'purge' every "
                             "indicator belongs to the top-level application %r." % (
                                 index, item["application"], application))
    return application


def wanted_indicators(params):
    """The indicators the options name: `indicators` (each item over the top-level fields), or type and value."""
    state = params.get("state") or "present"
    _choice(None, "state", state, ["present", "absent"])
    items = params.get("indicators")
    if items is not None and (params.get("type") is not None or params.get("value") is not None):
        raise InputError("Options 'indicators' and 'type'/'value' are mutually exclusive: name one indicator by "
                         "'type' and 'value', or several in 'indicators'.")
    purge = _check_purge(params, state)
    if items is None:
        if purge is not None and params.get("type") is None and params.get("value") is None:
            return state, []
        return state, [Wanted(params, state)]
    if not items and purge is None:
        raise InputError("Option 'indicators' is empty: give at least one indicator, or leave it out.")
    defaults = dict((option, params.get(option)) for option, field in FIELDS if params.get(option) is not None)
    wanted, seen = [], {}
    for index, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise InputError("Option 'indicators', item %d must be a dictionary, got %r." % (index, item))
        merged = dict(defaults)
        merged.update((key, value) for key, value in item.items() if value is not None)
        indicator = Wanted(merged, state, index)
        if indicator.key in seen:
            raise InputError("Option 'indicators' names %s %s twice (items %d and %d)." % (
                indicator.type, indicator.value, seen[indicator.key], index))
        seen[indicator.key] = index
        wanted.append(indicator)
    return state, wanted


# --- reading the tenant's indicators -------------------------------------------------------------------------------

def identity(item):
    """(type option, normalised value) of an indicator as the API gives it, or None for a type this does not know."""
    kinds = dict((api, option) for option, api in TYPES.items())
    kind = kinds.get(item.get("indicatorType"))
    if kind is None or not isinstance(item.get("indicatorValue"), str):
        return None
    try:
        return kind, normal_value(kind, item["indicatorValue"])
    except InputError:
        return kind, item["indicatorValue"]


class _Filter(Query):
    """A listing by a raw $filter only."""

    TEXT_FILTERS = ()
    TIME_FILTERS = ()


def current_indicators(client, wanted, purge=None):
    """The tenant's indicators of the wanted ones, by identity: one $filter on type and value for one indicator,
    else a listing of the types involved (the tenant holds at most 15,000, so a page or two); with `purge`, those
    of that application too."""
    clauses = []
    if len(wanted) == 1:
        clauses.append("indicatorType eq %s and indicatorValue eq %s" % (odata_string(TYPES[wanted[0].type]),
                                                                         odata_string(wanted[0].value)))
    else:
        kinds = sorted(set(TYPES[indicator.type] for indicator in wanted))
        clauses.extend("indicatorType eq %s" % odata_string(kind) for kind in kinds)
    if purge is not None:
        clauses.append("application eq %s" % odata_string(purge))
    text = " or ".join("(%s)" % clause if " and " in clause and len(clauses) > 1 else clause for clause in clauses)
    items = list_items(client, INDICATORS, _Filter(INDICATORS, {"filter": text})).items
    found = {}
    for item in items:
        entity(INDICATORS, item, "GET %s" % client.absolute(INDICATORS.path), tenant=client.tenant)
        found.setdefault(identity(item), item)
    return found


# --- the plan --------------------------------------------------------------------------------------------------

class Change(object):
    """One indicator to submit (create or update) or delete: before (None when new), the body, after."""

    def __init__(self, wanted, before, body=None):
        self.wanted = wanted
        self.before = before
        self.body = body

    @property
    def after(self):
        if self.body is None:
            return None
        after = copy.deepcopy(self.before) if self.before else {"id": None}
        after.update((field, value) for field, value in self.body.items()
                     if not (self.before and field == "application"))
        return after


def differs(wanted, existing):
    """The fields given that the indicator does not have (times compared as instants, group lists as sets)."""
    changed = []
    for option, field in COMPARED:
        if field not in wanted.fields:
            continue
        mine, theirs = wanted.fields[field], existing.get(field)
        if field == "expirationTime":
            same = theirs is not None and parse_iso_time(theirs) == parse_iso_time(mine)
        elif field == "rbacGroupNames":
            same = sorted(mine) == sorted(theirs or [])
        elif field == "generateAlert":
            same = bool(theirs) == mine
        else:
            same = mine == theirs
        if not same:
            changed.append(option)
    return changed


def submit_body(wanted, existing):
    """The POST body: the fields given over the indicator's own (a submit replaces the indicator's fields)."""
    body = {"indicatorValue": wanted.value, "indicatorType": TYPES[wanted.type]}
    for option, field in COMPARED:
        value = wanted.fields.get(field, (existing or {}).get(field))
        if value is not None:
            body[field] = value
    if existing is None and wanted.fields.get("application") is not None:
        body["application"] = wanted.fields["application"]
    return body


class IndicatorPlan(object):
    """What the run changes: indicators to create, to update (fields differ) and to delete; the rest stay."""

    def __init__(self, state, wanted, current, purge=None):
        self.state = state
        self.creates, self.updates, self.deletes, self.kept = [], [], [], []
        for indicator in wanted:
            existing = current.get(indicator.key)
            if state == "absent":
                (self.deletes if existing else self.kept).append(Change(indicator, existing))
            elif existing is None:
                self.creates.append(Change(indicator, None, submit_body(indicator, None)))
            elif differs(indicator, existing):
                self.updates.append(Change(indicator, existing, submit_body(indicator, existing)))
            else:
                self.kept.append(Change(indicator, existing))
        self.order = [indicator.key for indicator in wanted]
        if purge is not None:
            named = set(self.order)
            left = sorted((key, item) for key, item in current.items()
                          if key is not None and key not in named and item.get("application") == purge)
            self.deletes.extend(Change(Identity(key), item) for key, item in left)

    @property
    def changed(self):
        return bool(self.creates or self.updates or self.deletes)

    @property
    def submits(self):
        return self.creates + self.updates


# --- applying it ---------------------------------------------------------------------------------------------

class Progress(object):
    """What has been carried out so far, for the result and for the error of a run that stopped."""

    def __init__(self):
        self.after = {}
        self.created, self.updated, self.deleted, self.failed = [], [], [], []

    def details(self):
        return dict(changed=bool(self.created or self.updated or self.deleted), created=list(self.created),
                    updated=list(self.updated), deleted=list(self.deleted), failed=list(self.failed))


def _submitted(progress, change, item):
    progress.after[change.wanted.key] = item
    (progress.updated if change.before else progress.created).append(change.wanted.label)


def _post_each(client, changes, progress):
    for change in changes:
        path = INDICATORS.path
        answer = client.call("POST", path, body=change.body, rate=INDICATORS.update_rate, idempotent=True)
        item = entity(INDICATORS, answer, "POST %s" % client.absolute(path), tenant=client.tenant)
        item.pop("@odata.context", None)
        _submitted(progress, change, item)


def _import(client, changes, progress):
    """Imports of up to 500; an indicator the API refuses is reported in `failed` with the API's reason."""
    path = "%s/import" % INDICATORS.path
    for start in range(0, len(changes), IMPORT_BATCH):
        chunk = changes[start:start + IMPORT_BATCH]
        answer = client.call("POST", path, body={"Indicators": [change.body for change in chunk]},
                             rate=INDICATORS.update_rate, idempotent=True)
        results = objects(answer, "value", "POST %s" % client.absolute(path), tenant=client.tenant)
        if len(results) != len(chunk):
            raise ApiError("POST %s answered %d results for %d indicators; cannot tell which were imported." % (
                client.absolute(path), len(results), len(chunk)), tenant_id=client.tenant)
        for change, result in zip(chunk, results):
            if result.get("isFailed"):
                progress.failed.append(dict(change.wanted.label, reason=str(result.get("failureReason"))))
                continue
            item = change.after
            item["id"] = result.get("id")
            _submitted(progress, change, item)


def _delete(client, changes, progress):
    """One DELETE for one indicator, BatchDelete calls of up to 500 for more; an id already gone is no error."""
    if len(changes) == 1:
        _no_content(client, "DELETE", INDICATORS.item_path(INDICATORS.check_id(changes[0].before["id"])), None,
                    gone_ok=True)
        progress.deleted.append(changes[0].wanted.label)
        return
    for start in range(0, len(changes), IMPORT_BATCH):
        chunk = changes[start:start + IMPORT_BATCH]
        _no_content(client, "POST", "%s/BatchDelete" % INDICATORS.path,
                    {"IndicatorIds": [str(change.before["id"]) for change in chunk]})
        progress.deleted.extend(change.wanted.label for change in chunk)


def _no_content(client, method, path, body, gone_ok=False):
    """A call whose success has no body (HTTP 204); with gone_ok, an id already gone (404) is no error."""
    try:
        client.call(method, path, body=body, rate=INDICATORS.update_rate, idempotent=True)
    except ApiError as exc:
        if not (gone_ok and exc.status == 404):
            raise


def apply_plan(client, plan):
    """Carry the plan out; Progress. A request that fails stops the run with what was done in the error."""
    progress = Progress()
    try:
        if len(plan.submits) <= SINGLE_POSTS:
            _post_each(client, plan.submits, progress)
        else:
            _import(client, plan.submits, progress)
        if plan.deletes:
            _delete(client, plan.deletes, progress)
    except M365DefenderError as exc:
        exc.message = "The indicator changes stopped (created %d, updated %d, deleted %d before it): %s" % (
            len(progress.created), len(progress.updated), len(progress.deleted), exc.message)
        exc.details.update(progress.details())
        raise
    if progress.failed:
        shown = "; ".join("%s %s: %s" % (failure["type"], failure["value"], failure["reason"])
                          for failure in progress.failed[:10])
        raise ApiError("The API refused %d of %d indicators (%s%s). The others were created or updated." % (
            len(progress.failed), len(plan.submits), shown, "; ..." if len(progress.failed) > 10 else ""),
            tenant_id=client.tenant, **progress.details())
    return progress


# --- the modules' results ----------------------------------------------------------------------------------------

def _diff_view(item):
    if item is None:
        return None
    return dict((option, item.get(field)) for option, field in COMPARED)


def _label_text(change):
    return "%s:%s" % change.wanted.key


def indicator_result(module):
    """The indicator module's result: the indicators after, what was created, updated and deleted, and the diff."""
    state, wanted = wanted_indicators(module.params)
    purge = _check_purge(module.params, state)
    client = module.client
    plan = IndicatorPlan(state, wanted, current_indicators(client, wanted, purge), purge)
    if module.check_mode or not plan.changed:
        progress = Progress()
        for change in plan.submits:
            _submitted(progress, change, change.after)
        progress.deleted = [change.wanted.label for change in plan.deletes]
    else:
        progress = apply_plan(client, plan)
    after = dict((change.wanted.key, change.before) for change in plan.kept if change.before)
    after.update(progress.after)
    result = {"changed": plan.changed, "api": INDICATORS.name,
              "indicators": [after[key] for key in plan.order if key in after],
              "created": progress.created, "updated": progress.updated, "deleted": progress.deleted}
    if module._diff:
        changes = plan.submits + plan.deletes
        result["diff"] = {"before": dict((_label_text(change), _diff_view(change.before)) for change in changes),
                          "after": dict((_label_text(change), _diff_view(change.after)) for change in changes)}
    return result


class IndicatorQuery(Query):
    """indicator_info's filters; the API applies them all."""

    ENUM_FILTERS = (("type", TYPE), ("action", ACTION), ("severity", SEVERITY))
    TEXT_FILTERS = ("value",)
    TIME_FILTERS = ()

    def __init__(self, resource, params, now=None):
        params = dict(params)
        for option, table in (("type", TYPES), ("action", ACTIONS), ("severity", SEVERITIES)):
            for value in params.get(option) or []:
                _choice(None, option, value, list(table))
        kinds = params.get("type") or []
        if params.get("value") is not None:
            params["value"] = normal_value(kinds[0], params["value"]) if len(kinds) == 1 else params["value"]
        super(IndicatorQuery, self).__init__(resource, params, now)


def read_indicators(client, params):
    """The indicators indicator_info's options ask for."""
    query = IndicatorQuery(INDICATORS, params)
    return list_items(client, INDICATORS, query, limit=check_limit(params.get("limit")))
