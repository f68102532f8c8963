# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Listings of incidents and alerts: options to a server-side $filter plus the filters an API cannot apply itself;
reading one item."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.secops.m365_defender.plugins.module_utils._api import (
    CLASSIFICATION,
    DETERMINATION,
    SEVERITY,
    STATUS,
    entity,
    require_items,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError, InputError, M365DefenderError

RELATIVE_TIME = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
ISO_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$")

ENUM_FILTERS = (("status", STATUS), ("severity", SEVERITY), ("classification", CLASSIFICATION),
                ("determination", DETERMINATION))
TIME_FILTERS = (("created", "created_after"), ("updated", "updated_after"))
# The earliest time a filter may name: Defender XDR has nothing older, and OData writes years below 1000 oddly.
EARLIEST_TIME = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def utcnow():
    return datetime.datetime.now(tz=datetime.timezone.utc)


def parse_iso_time(text):
    """A timezone-aware datetime from ISO-8601 (any fraction length, Z or offset; no zone = UTC), or None."""
    match = ISO_TIME.match(str(text).strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        tzinfo = datetime.timezone.utc
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        return datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                                 int(second or 0), microsecond, tzinfo=tzinfo)
    except ValueError:
        return None


def parse_time_option(option, value, now=None):
    """A point in time from ISO-8601 or a relative age such as 24h, 7d, 30m, 2w (that long ago), from 1970 on."""
    relative = RELATIVE_TIME.match(str(value))
    try:
        if relative:
            amount, unit = relative.groups()
            parsed = (now or utcnow()) - datetime.timedelta(seconds=int(amount) * UNIT_SECONDS[unit])
        else:
            parsed = parse_iso_time(value)
        in_range = parsed is None or parsed.astimezone(datetime.timezone.utc) >= EARLIEST_TIME
    except OverflowError:
        in_range = False
    if not in_range:
        raise InputError("Option '%s' got '%s', which is out of range: give a time from 1970-01-01 on, or an age "
                         "that reaches no further back." % (option, value))
    if parsed is None:
        raise InputError("Option '%s' got '%s': use ISO-8601 (2024-05-01T00:00:00Z) or an age such as "
                         "30m, 24h, 7d, 2w." % (option, value))
    return parsed


def odata_time(moment):
    """UTC, unquoted as OData wants it, with a fraction only when there is one."""
    moment = moment.astimezone(datetime.timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += (".%06d" % moment.microsecond).rstrip("0")
    return text + "Z"


def odata_string(value):
    return "'%s'" % str(value).replace("'", "''")


def check_limit(limit):
    """A listing's limit: None (no limit) or 1 or more."""
    if limit is not None and limit < 1:
        raise InputError("Option 'limit' must be 1 or more, got %d." % limit)
    return limit


def check_raw_filter(text):
    """A raw $filter that stays inside the parentheses it is wrapped in: balanced outside string literals.

    Otherwise "x) or (y" would close the wrapping and turn the other options' clauses into alternatives.
    """
    depth, quoted = 0, False
    for position, char in enumerate(text):
        if char == "'":
            quoted = not quoted  # '' inside a literal closes and reopens it: the state comes out right
        elif char == "(" and not quoted:
            depth += 1
        elif char == ")" and not quoted:
            depth -= 1
            if depth < 0:
                raise InputError("Option 'filter' closes a parenthesis it did not open (character %d of '%s'); "
                                 "parentheses must be balanced outside string literals." % (position + 1, text))
    if quoted:
        raise InputError("Option 'filter' has a string literal without its closing quote: '%s'. Write a quote "
                         "inside a literal twice ('O''Brien')." % text)
    if depth:
        raise InputError("Option 'filter' leaves %d parenthesis(es) open: '%s'; parentheses must be balanced "
                         "outside string literals." % (depth, text))
    return text


class Query(object):
    """A listing's filters, checked and spelled for one resource (incidents or alerts of one API); which ones the
    server applies. Subclasses name their enum filters and their text filters (matched exactly, in any case)."""

    ENUM_FILTERS = ()
    TEXT_FILTERS = ("assigned_to",)
    TIME_FILTERS = TIME_FILTERS

    def __init__(self, resource, params, now=None):
        self.resource = require_items(resource)
        self.raw_filter = check_raw_filter(params["filter"]) if params.get("filter") else None
        self.enums = {}
        for name, enum in self.ENUM_FILTERS:
            values = params.get(name) or []
            if values:
                self.enums[name] = [enum.to_api(resource.name, value) for value in values]
        self.texts = dict((name, str(params[name])) for name in self.TEXT_FILTERS if params.get(name))
        self.times = {}
        for name, option in self.TIME_FILTERS:
            if params.get(option):
                self.times[name] = parse_time_option(option, params[option], now)

    @property
    def given(self):
        """The filters given, by the names of the resource's fields table."""
        return list(self.enums) + list(self.texts) + list(self.times)

    @property
    def local_filters(self):
        """Filters this API cannot apply server-side, applied to each item here instead."""
        return sorted(name for name in self.given if name not in self.resource.server_filters)

    def server_filter(self):
        clauses = ["(%s)" % self.raw_filter] if self.raw_filter else []
        fields = self.resource.fields
        server = self.resource.server_filters
        for name, values in self.enums.items():
            if name in server:
                alternatives = ["%s eq %s" % (fields[name], odata_string(value)) for value in values]
                clauses.append(alternatives[0] if len(alternatives) == 1 else "(%s)" % " or ".join(alternatives))
        for name, value in sorted(self.texts.items()):
            if name in server:
                clauses.append("%s eq %s" % (fields[name], odata_string(value)))
        for name, moment in sorted(self.times.items()):
            if name in server:
                clauses.append("%s ge %s" % (fields[name], odata_time(moment)))
        return " and ".join(clauses)

    def matches(self, item, names=None):
        """Whether an item passes the filters the server did not apply (or those named)."""
        fields = self.resource.fields
        for name in self.local_filters if names is None else names:
            value = item.get(fields[name])
            if name in self.enums:
                enum = dict(self.ENUM_FILTERS)[name]
                if enum.key(value or "") not in set(enum.key(wanted) for wanted in self.enums[name]):
                    return False
            elif name in self.texts:
                if str(value if value is not None else "").lower() != self.texts[name].lower():
                    return False
            else:
                moment = parse_iso_time(value) if value else None
                if moment is None or moment < self.times[name]:
                    return False
        return True


class IncidentQuery(Query):
    """incident_info's filters."""

    ENUM_FILTERS = ENUM_FILTERS


class Listing(object):
    """What a listing read: the items, whether every page was read, and why not."""

    def __init__(self, items, complete=True, error=None):
        self.items = items
        self.complete = complete
        self.error = error


def list_items(client, resource, query, limit=None, alerts=False, allow_partial=False, project=None):
    """Items matching the query, following every page at the resource's largest page size (or the limit).

    `project` (a _properties.Projection) reduces each matching item as it is read, after the local filters
    have seen all of it, so that only what was chosen is ever held and returned.
    When a page fails after retries, the task fails, saying how far it got; with allow_partial the
    items read so far are returned, marked incomplete. Nothing read (sign-in or first page failed) fails.
    """
    page_size = resource.page_size(None if query.local_filters else limit)
    params = resource.list_params(query.server_filter(), page_size, alerts)
    items = []
    try:
        for item in client.iterate(resource.path, params, page_size, resource):
            if query.matches(item):
                items.append(project(item) if project else item)
                if limit and len(items) >= limit:
                    break
    except M365DefenderError as exc:
        if not (allow_partial and client.pages_read):
            if client.pages_read:
                exc.message = "Listing %ss stopped after %d page(s): %s" % (
                    resource.kind, client.pages_read, exc.message)
            raise
        return Listing(items, complete=False, error=str(exc))
    return Listing(items)


def listing_result(module, listing, filters_applied_locally, key):
    """The result of a module that lists items (incident_info, alert_info), the items under `key`."""
    client = module.client
    if not listing.complete:
        module.warn("Returning %d %s(s) read before paging failed: %s" % (len(listing.items), key[:-1], listing.error))
    result = {
        "changed": False,
        key: listing.items,
        "count": len(listing.items),
        "complete": listing.complete,
        "filters_applied_locally": filters_applied_locally,
        "pages": client.pages_read,
        "api": client.flavour.name,
    }
    if listing.error:
        result["error"] = listing.error
    return result


def list_incidents(client, query, limit=None, alerts=False, allow_partial=False, project=None):
    """Incidents matching the query (list_items over the API's incidents)."""
    return list_items(client, client.flavour, query, limit, alerts, allow_partial, project)


def get_item(client, resource, item_id, params=None):
    """One item, or None when the API does not know the id."""
    path = require_items(resource).item_path(resource.check_id(item_id))
    try:
        item = client.get(path, params or None, rate=resource.get_rate)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    entity(resource, item, "GET %s" % client.absolute(path), tenant=client.tenant)
    item.pop("@odata.context", None)
    return item


def get_incident(client, incident_id, alerts=False):
    """One incident, or None when the API does not know the id."""
    return get_item(client, client.flavour, incident_id, client.flavour.get_params(alerts))
