# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Event-Driven Ansible sources secops.m365_defender.incidents and alerts: their arguments, one poll of one
tenant (every page of the changes since the watermark less the overlap, oldest first, each classified and
de-duplicated), and the loop that puts the changes on ansible-rulebook's queue.

Microsoft Graph has no change notifications for incidents or alerts_v2, so the sources poll. Sign-in, HTTP,
paging and pacing are the modules' own (module_utils); only the watching is here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import datetime
import logging
import random

from ansible.errors import AnsibleError

from ansible_collections.secops.m365_defender.plugins.module_utils._api import alerts_of
from ansible_collections.secops.m365_defender.plugins.module_utils._alerts import AlertQuery
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import (
    ApiError,
    AuthenticationError,
    InputError,
    M365DefenderError,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import (
    RELATIVE_TIME,
    UNIT_SECONDS,
    IncidentQuery,
    list_items,
    parse_iso_time,
    parse_time_option,
    utcnow,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._module import AUTH_ARGUMENT_SPEC, Session
from ansible_collections.secops.m365_defender.plugins.plugin_utils._event_state import (
    Change,
    StateFile,
    TenantState,
    iso,
)
from ansible_collections.secops.m365_defender.plugins.plugin_utils._options import validated_options
from ansible_collections.secops.m365_defender.plugins.plugin_utils._tenants import listed_tenants, tenant_params

WATCH_OPTIONS = dict(
    tenants=dict(type="list", elements="raw"),
    interval=dict(type="int", default=60),
    jitter=dict(type="float", default=5.0),
    start=dict(type="str", default="latest"),
    lookback=dict(type="str", default="7d"),
    overlap=dict(type="int", default=300),
    state_file=dict(type="path"),
    max_backoff=dict(type="int", default=900),
    status=dict(type="list", elements="str"),
    severity=dict(type="list", elements="str"),
    service_source=dict(type="list", elements="str"),
)
ARGUMENT_SPEC = dict((name, spec) for name, spec in AUTH_ARGUMENT_SPEC.items() if name != "auth")
ARGUMENT_SPEC.update(WATCH_OPTIONS)
# Arguments ansible-rulebook adds or reads itself.
RULEBOOK_ARGUMENTS = ("eda_feedback_queue", "feedback")


class SourceStopped(Exception):
    """The source cannot go on (no tenant left that it may read); the message says why and what to do."""


def event(kind, change):
    """The event of one change, as rules match it: event.m365d.kind, .change, .tenant_id, .id, .last_update and
    the item under its kind (event.m365d.incident or event.m365d.alert)."""
    return {"m365d": {"kind": kind, "change": change.change, "tenant_id": change.tenant_id, "id": change.id,
                      "last_update": change.last_update, kind: change.item}}


def _age(option, value):
    """A duration such as 30m, 24h, 7d or 2w."""
    relative = RELATIVE_TIME.match(str(value))
    if not relative:
        raise InputError("Argument '%s' got %r: give an age such as 30m, 24h, 7d or 2w." % (option, value))
    amount, unit = relative.groups()
    return datetime.timedelta(seconds=int(amount) * UNIT_SECONDS[unit])


class Watch(object):
    """The checked arguments of one source: what it watches (kind, filters), where (tenants) and how often."""

    def __init__(self, kind, args):
        self.kind = kind
        # A rulebook passes an unset variable as null: null is "not given", so that the environment fallbacks apply.
        options = dict((name, value) for name, value in args.items()
                       if name not in RULEBOOK_ARGUMENTS and value is not None)
        try:
            params = validated_options(options, ARGUMENT_SPEC)
        except AnsibleError as exc:
            raise InputError("secops.m365_defender.%ss: %s" % (kind, exc))
        self.params = params
        self.interval = self._at_least("interval", params["interval"], 1)
        self.overlap = datetime.timedelta(seconds=self._at_least("overlap", params["overlap"], 0))
        self.max_backoff = self._at_least("max_backoff", params["max_backoff"], self.interval)
        if params["jitter"] < 0:
            raise InputError("Argument 'jitter' must be 0 or more seconds, got %s." % params["jitter"])
        self.jitter = params["jitter"]
        self.lookback = _age("lookback", params["lookback"])
        self.start = params["start"]
        if self.start not in ("latest", "all"):
            parse_time_option("start", self.start)  # an ISO-8601 time or an age, checked now
        if params.get("api") == "endpoint" or (kind == "alert" and params.get("api") == "defender"):
            raise InputError("Argument 'api' is '%s', but the %ss source reads %ss from Microsoft Graph%s: use api: "
                             "graph (the default)." % (params["api"], kind, kind,
                                                       "" if kind == "alert" else " or the Defender XDR API"))
        if kind == "incident" and params.get("service_source"):
            raise InputError("Argument 'service_source' is for secops.m365_defender.alerts: an incident has no "
                             "service source of its own (its alerts do).")
        self.filters = dict((name, params[name]) for name in ("status", "severity", "service_source")
                            if params.get(name))
        self.tenants = self._tenants(params)
        self.state_file = StateFile(params.get("state_file"), kind)

    @staticmethod
    def _at_least(name, value, lowest):
        if value < lowest:
            raise InputError("Argument '%s' must be %d or more seconds, got %d." % (name, lowest, value))
        return value

    @staticmethod
    def _tenants(params):
        """{tenant id: that tenant's options}: `tenants` (ids, or dicts with tenant_id and its own credentials),
        else tenant_id (see plugin_utils._tenants, shared with the inventory plugin)."""
        return dict((tenant_id, tenant_params(params, own)) for tenant_id, own in listed_tenants(params))


class TenantWatch(object):
    """One tenant: its session (sign-in renewed as needed), its state, and its back-off after failures."""

    def __init__(self, watch, tenant_id, options, state):
        self.watch = watch
        self.tenant_id = tenant_id
        self.session = Session(options)
        self.state = state
        self.failures = 0
        self.due = 0.0

    def resource(self):
        flavour = self.session.client.flavour
        return alerts_of(flavour) if self.watch.kind == "alert" else flavour

    def poll(self):
        """The tenant's changes since the last poll, oldest first, not yet delivered (see TenantState.classify)."""
        resource = self.resource()
        start = self.state.window_start(self.watch.overlap)
        params = dict(self.watch.filters, updated_after=iso(start) if start else None)
        query = (AlertQuery if self.watch.kind == "alert" else IncidentQuery)(resource, params)
        listing = list_items(self.session.client, resource, query)
        changes = []
        for item in listing.items:
            change = self._change(resource, item)
            if change is not None:
                changes.append(change)
        return sorted(changes, key=lambda change: (change.updated, change.id))

    def _change(self, resource, item):
        last_update = item.get(resource.fields["updated"])
        updated = parse_iso_time(last_update) if last_update else None
        if updated is None:
            logging.getLogger(__name__).warning("%s %s of tenant %s has no usable %s (%r); skipped.", resource.kind,
                                                item.get(resource.id_field), self.tenant_id,
                                                resource.fields["updated"], last_update)
            return None
        created_text = item.get(resource.fields["created"])
        created = parse_iso_time(created_text) if created_text else None
        item_id = str(item.get(resource.id_field))
        change = self.state.classify(item_id, updated, created, self.watch.overlap)
        if change is None:
            return None
        return Change(self.tenant_id, item_id, change, updated, last_update, item)

    def close(self):
        self.session.close()


class EventSource(object):
    """The tenants of one source with their states, read from and saved to the state file."""

    def __init__(self, kind, args, now=None):
        self.watch = Watch(kind, args)
        now = now or utcnow()
        saved = self.watch.state_file.load()
        self.warnings = []
        # Every tenant's state, also of a tenant dropped after a refusal: a restart takes it up where it stopped.
        self.states = dict((tenant_id, self._state(saved.get(tenant_id), now)) for tenant_id in self.watch.tenants)
        self.tenants = [TenantWatch(self.watch, tenant_id, options, self.states[tenant_id])
                        for tenant_id, options in self.watch.tenants.items()]

    def _state(self, saved, now):
        """The tenant's state to start from: the saved one, unless older than the look-back; else a new one that
        starts at the latest change, at every change within the look-back, or at the time given."""
        earliest = now - self.watch.lookback
        if saved is not None and (saved.watermark or saved.floor) is not None:
            if (saved.watermark or saved.floor) < earliest:
                self.warnings.append("The saved state of %s ends at %s, before the look-back (%s); changes between "
                                     "are not delivered." % (self.watch.kind, iso(saved.watermark or saved.floor),
                                                             self.watch.params["lookback"]))
                saved.floor = earliest
            return saved
        if self.watch.start == "latest":
            return TenantState(floor=now)
        if self.watch.start == "all":
            return TenantState(floor=earliest)
        return TenantState(floor=max(parse_time_option("start", self.watch.start, now), earliest))

    def event(self, change):
        return event(self.watch.kind, change)

    def save(self):
        self.watch.state_file.save(self.states)

    def close(self):
        for tenant in self.tenants:
            tenant.close()


def stops_the_tenant(exc):
    """Whether retrying cannot help: sign-in refused, or the API refused the app (401 after signing in again,
    403: a permission or consent missing)."""
    return isinstance(exc, (AuthenticationError, InputError)) or (
        isinstance(exc, ApiError) and exc.details.get("status") in (401, 403))


def backoff(watch, failures):
    """Seconds before the next poll of a tenant after `failures` failed polls in a row: the interval, doubled per
    failure, at most max_backoff."""
    return min(watch.interval * (2 ** failures), watch.max_backoff)


async def deliver(queue, feedback, source, tenant, changes):
    """Put each change on the queue (and, with a feedback queue, wait for ansible-rulebook to have taken it); the
    tenant's watermark advances once all of them are delivered."""
    for change in changes:
        await queue.put(source.event(change))
        if feedback is not None:
            await feedback.get()
        tenant.state.remember(change)
    tenant.state.advance(changes, source.watch.overlap)


async def poll_tenant(queue, feedback, source, tenant, loop):
    """One poll of one tenant; a failure that retrying can cure backs the tenant off, one that it cannot drops
    the tenant (logged, with what to do)."""
    log = logging.getLogger(__name__)
    try:
        changes = await loop.run_in_executor(None, tenant.poll)
    except M365DefenderError as exc:
        if stops_the_tenant(exc):
            log.error("secops.m365_defender.%ss stops watching tenant %s: %s", source.watch.kind, tenant.tenant_id,
                      exc)
            source.tenants.remove(tenant)
            tenant.close()
            if not source.tenants:
                raise SourceStopped("secops.m365_defender.%ss stopped: %s" % (source.watch.kind, exc))
            return
        tenant.failures += 1
        delay = backoff(source.watch, tenant.failures)
        log.warning("secops.m365_defender.%ss: polling tenant %s failed (%s); trying again in %d s.",
                    source.watch.kind, tenant.tenant_id, exc, delay)
        tenant.due = loop.time() + delay
        return
    tenant.failures = 0
    await deliver(queue, feedback, source, tenant, changes)
    source.save()
    tenant.due = loop.time() + source.watch.interval + random.uniform(0, source.watch.jitter)


async def run_source(queue, args, kind):
    """The source's life: poll each tenant when it is due, until cancelled (the state is saved on the way out)
    or until no tenant can be read (SourceStopped)."""
    source = EventSource(kind, args)
    log = logging.getLogger(__name__)
    for warning in source.warnings:
        log.warning("secops.m365_defender.%ss: %s", kind, warning)
    loop = asyncio.get_running_loop()
    feedback = args.get("eda_feedback_queue")
    try:
        while True:
            for tenant in [tenant for tenant in source.tenants if tenant.due <= loop.time()]:
                await poll_tenant(queue, feedback, source, tenant, loop)
            await asyncio.sleep(max(0.0, min(tenant.due for tenant in source.tenants) - loop.time()))
    finally:
        source.save()
        source.close()
