# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The event sources' arguments, polls and delivery, without ansible-rulebook (tests/eda runs the real one)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import datetime

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._api import GraphFlavour
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import (
    ApiError,
    AuthenticationError,
    InputError,
    TransportError,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import Listing
from ansible_collections.secops.m365_defender.plugins.plugin_utils import _event_source
from ansible_collections.secops.m365_defender.plugins.plugin_utils._event_source import (
    EventSource,
    SourceStopped,
    Watch,
    backoff,
    deliver,
    event,
    poll_tenant,
)
from ansible_collections.secops.m365_defender.plugins.plugin_utils._event_state import TenantState, iso
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, OTHER_TENANT_ID, TENANT_ID

NOW = datetime.datetime(2026, 12, 6, 12, 0, 0, tzinfo=datetime.timezone.utc)
BASE = {"tenant_id": TENANT_ID, "client_id": CLIENT, "client_secret": "s3cret-value-for-tests"}


def at(seconds):
    return NOW + datetime.timedelta(seconds=seconds)


def incident(item_id, updated, created):
    return {"id": item_id, "lastUpdateDateTime": iso(updated), "createdDateTime": iso(created)}


@pytest.fixture(autouse=True)
def no_environment(monkeypatch):
    for name in ("AZURE_TENANT_ID", "AZURE_TENANT", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_SECRET",
                 "M365D_API"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("args, message", [
    ({"client_id": CLIENT}, "Option 'tenant_id' (or 'tenants'"),
    (dict(BASE, tenants=[TENANT_ID, {"tenant_id": OTHER_TENANT_ID, "region": "eu"}]),
     "'tenants' item 2 must be a tenant id"),
    (dict(BASE, tenants=[42]), "'tenants' item 1"),
    (dict(BASE, interval=0), "Argument 'interval' must be 1 or more seconds, got 0"),
    (dict(BASE, overlap=-1), "Argument 'overlap' must be 0 or more seconds"),
    (dict(BASE, jitter=-2), "Argument 'jitter' must be 0 or more seconds"),
    (dict(BASE, lookback="forever"), "Argument 'lookback' got 'forever'"),
    (dict(BASE, start="yesterday"), "Option 'start' got 'yesterday'"),
    (dict(BASE, service_source=["microsoftDefenderForEndpoint"]), "'service_source' is for secops.m365_defender.alerts"),
    (dict(BASE, colour="red"), "colour"),
    (dict(BASE, api="endpoint"), "Argument 'api' is 'endpoint', but the incidents source reads incidents from"),
])
def test_arguments_that_do_not_fit_are_refused_before_any_request(args, message):
    with pytest.raises(InputError) as caught:
        Watch("incident", args)
    assert message in str(caught.value)


def test_the_alerts_source_refuses_the_defender_api_before_any_request():
    with pytest.raises(InputError, match="the alerts source reads alerts from Microsoft Graph: use api: graph"):
        Watch("alert", dict(BASE, api="defender"))


def test_null_arguments_are_not_given_so_the_environment_applies(monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    watch = Watch("incident", dict(BASE, client_id=None, api=None,
                                   tenants=[{"tenant_id": OTHER_TENANT_ID, "client_id": None}]))
    assert watch.params["client_id"] == CLIENT and watch.params["api"] is None
    assert watch.tenants[OTHER_TENANT_ID]["client_id"] == CLIENT


def test_tenants_may_carry_their_own_credentials_and_the_rulebook_arguments_are_ignored():
    own = {"tenant_id": OTHER_TENANT_ID, "client_secret": "other-secret-value"}
    watch = Watch("alert", dict(BASE, tenants=[TENANT_ID, own],
                                feedback=True, eda_feedback_queue=object(), service_source=["x"]))
    assert sorted(watch.tenants) == sorted([TENANT_ID, OTHER_TENANT_ID])
    assert watch.tenants[OTHER_TENANT_ID]["client_secret"] == "other-secret-value"
    assert watch.tenants[TENANT_ID]["client_secret"] == BASE["client_secret"]
    assert watch.filters == {"service_source": ["x"]}


def test_the_connection_options_come_from_the_environment_like_the_modules(monkeypatch):
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT_ID)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    watch = Watch("incident", {})
    assert list(watch.tenants) == [TENANT_ID]
    assert watch.params["client_id"] == CLIENT


def test_where_a_new_source_starts(tmp_path):
    assert EventSource("incident", BASE, now=NOW).tenants[0].state.floor == NOW
    everything = EventSource("incident", dict(BASE, start="all", lookback="2d"), now=NOW)
    assert everything.tenants[0].state.floor == NOW - datetime.timedelta(days=2)
    since = EventSource("incident", dict(BASE, start="2026-12-06T10:00:00Z"), now=NOW)
    assert since.tenants[0].state.floor == at(-7200)
    capped = EventSource("incident", dict(BASE, start="30d", lookback="1d"), now=NOW)
    assert capped.tenants[0].state.floor == NOW - datetime.timedelta(days=1)


def test_a_saved_state_is_taken_up_and_a_stale_one_is_cut_to_the_lookback(tmp_path):
    path = str(tmp_path / "state.json")
    source = EventSource("incident", dict(BASE, state_file=path), now=NOW)
    state = source.tenants[0].state
    state.watermark, state.floor = at(-60), at(-120)
    source.save()
    resumed = EventSource("incident", dict(BASE, state_file=path), now=NOW)
    assert resumed.tenants[0].state.watermark == at(-60) and resumed.tenants[0].state.floor == at(-120)
    assert resumed.warnings == []
    late = EventSource("incident", dict(BASE, state_file=path, lookback="30s"), now=NOW)
    assert late.tenants[0].state.floor == at(-30)
    assert "before the look-back (30s)" in late.warnings[0]


def test_a_source_stopped_before_its_first_change_resumes_from_its_start(tmp_path):
    path = str(tmp_path / "state.json")
    EventSource("incident", dict(BASE, state_file=path), now=at(-60)).save()
    resumed = EventSource("incident", dict(BASE, state_file=path), now=NOW)
    assert resumed.tenants[0].state.floor == at(-60), "not the time of the restart: nothing between is lost"


def test_a_dropped_tenants_state_is_still_saved(tmp_path):
    path = str(tmp_path / "state.json")
    source = EventSource("incident", dict(BASE, tenants=[TENANT_ID, OTHER_TENANT_ID], state_file=path), now=NOW)
    first, second = source.tenants
    first.state.watermark = at(-10)
    run_poll(source, first, ApiError("Forbidden", status=403))
    assert source.tenants == [second]
    source.save()
    resumed = EventSource("incident", dict(BASE, tenants=[TENANT_ID, OTHER_TENANT_ID], state_file=path), now=NOW)
    assert resumed.states[TENANT_ID].watermark == at(-10)


def test_an_incidents_source_does_not_take_an_alerts_state(tmp_path):
    path = str(tmp_path / "state.json")
    EventSource("alert", dict(BASE, state_file=path), now=NOW).save()
    with pytest.raises(InputError, match="state of a alert source"):
        EventSource("incident", dict(BASE, state_file=path), now=NOW)


def test_a_poll_asks_from_the_window_start_and_returns_new_changes_oldest_first(monkeypatch):
    source = EventSource("incident", dict(BASE, overlap=60, severity=["high"]), now=NOW)
    tenant = source.tenants[0]
    tenant.state = TenantState(watermark=at(100))
    tenant.state.remember(_event_source.Change(TENANT_ID, "5", "created", at(90), iso(at(90)), {}))
    asked = {}

    def listing(client, resource, query):
        asked["filter"] = query.server_filter()
        return Listing([incident("7", at(120), at(-9000)), incident("5", at(90), at(90)),
                        incident("6", at(95), at(95)), {"id": "8", "lastUpdateDateTime": "garbage"}])

    monkeypatch.setattr(_event_source, "list_items", listing)
    monkeypatch.setattr(tenant, "resource", GraphFlavour)
    changes = tenant.poll()
    assert asked["filter"] == "severity eq 'high' and lastUpdateDateTime ge 2026-12-06T12:00:40Z"
    assert [(change.id, change.change) for change in changes] == [("6", "created"), ("7", "updated")]
    assert event("incident", changes[0]) == {"m365d": {
        "kind": "incident", "change": "created", "tenant_id": TENANT_ID, "id": "6",
        "last_update": iso(at(95)), "incident": incident("6", at(95), at(95))}}


class Queue(object):
    def __init__(self):
        self.items = []

    async def put(self, item):
        self.items.append(item)


class Feedback(object):
    """A feedback queue that answers after each event and records when the watermark was looked at."""

    def __init__(self, state):
        self.state = state
        self.watermarks = []

    async def get(self):
        self.watermarks.append(self.state.watermark)


def test_the_watermark_moves_only_once_every_change_is_delivered_and_acknowledged():
    source = EventSource("incident", BASE, now=NOW)
    tenant = source.tenants[0]
    changes = [_event_source.Change(TENANT_ID, str(n), "created", at(n), iso(at(n)), {}) for n in (1, 2, 3)]
    queue, feedback = Queue(), Feedback(tenant.state)
    asyncio.run(deliver(queue, feedback, source, tenant, changes))
    assert [item["m365d"]["id"] for item in queue.items] == ["1", "2", "3"]
    assert feedback.watermarks == [None, None, None]
    assert tenant.state.watermark == at(3)


def run_poll(source, tenant, failure):
    def fail():
        raise failure

    tenant.poll = fail

    async def once():
        await poll_tenant(Queue(), None, source, tenant, asyncio.get_running_loop())

    asyncio.run(once())


def test_a_failure_that_retrying_may_cure_backs_the_tenant_off():
    source = EventSource("incident", dict(BASE, interval=10, max_backoff=60), now=NOW)
    tenant = source.tenants[0]
    for expected in (20, 40, 60, 60):
        run_poll(source, tenant, TransportError("connection reset"))
        assert backoff(source.watch, tenant.failures) == expected
    assert tenant.failures == 4 and source.tenants == [tenant]


@pytest.mark.parametrize("failure", [
    ApiError("Forbidden: the app lacks SecurityIncident.Read.All", status=403),
    ApiError("Unauthorized", status=401),
    AuthenticationError("AADSTS700016: application not found in the directory"),
])
def test_a_refusal_drops_the_tenant_and_the_last_one_stops_the_source(failure):
    source = EventSource("incident", dict(BASE, tenants=[TENANT_ID, OTHER_TENANT_ID]), now=NOW)
    first, second = source.tenants
    run_poll(source, first, failure)
    assert source.tenants == [second]
    with pytest.raises(SourceStopped) as caught:
        run_poll(source, second, failure)
    assert str(caught.value).startswith("secops.m365_defender.incidents stopped: ")
    assert failure.message in str(caught.value)
