# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Custom indicators: input checks before any request, identity, the plan against the tenant's indicators, single
POSTs for a few and imports of 500 for many (per-item failures reported), deletes, check and diff mode, listing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._api import ApiClient
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError, InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient
from ansible_collections.secops.m365_defender.plugins.module_utils._indicators import (
    IMPORT_BATCH,
    indicator_result,
    normal_value,
    read_indicators,
    wanted_indicators,
)
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import DEFENDER, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import FakeAuthenticator, make_response

SHA256 = "ab" * 32
FIELDS = {"action": "block", "title": "Feed", "description": "Weekly feed"}


class FakeIndicators(object):
    """The indicators API as Microsoft documents it: submit creates or updates by type and value, import answers a
    result per indicator, DELETE and BatchDelete answer 204. `refuse` lists values an import fails."""

    def __init__(self, items=(), refuse=()):
        self.items = dict((item["id"], copy.deepcopy(item)) for item in items)
        self.refuse = set(refuse)
        self.calls = []
        self.next_id = 100

    def __call__(self, seen):
        route = "%s %s" % (seen.method, seen.path)
        self.calls.append(route)
        if seen.method == "GET":
            return make_response(200, {"value": [item for item in self.items.values()
                                                 if matches(seen.query.get("$filter", ""), item)]})
        body = json.loads(seen.body) if seen.body else None
        if route == "POST /api/indicators":
            return make_response(200, dict(self.submit(body), **{"@odata.context": "ctx"}))
        if route == "POST /api/indicators/import":
            results = []
            for indicator in body["Indicators"]:
                if indicator["indicatorValue"] in self.refuse:
                    results.append({"id": None, "indicator": indicator["indicatorValue"], "isFailed": True,
                                    "failureReason": "refused"})
                else:
                    results.append({"id": self.submit(indicator)["id"], "indicator": indicator["indicatorValue"],
                                    "isFailed": False, "failureReason": None})
            return make_response(200, {"value": results})
        if route == "POST /api/indicators/BatchDelete":
            for item_id in body["IndicatorIds"]:
                self.items.pop(item_id, None)
            return make_response(204)
        item_id = seen.path.rsplit("/", 1)[1]
        if self.items.pop(item_id, None) is None:
            return make_response(404, {"error": {"code": "ResourceNotFound", "message": "not found"}})
        return make_response(204)

    def submit(self, body):
        found = [item for item in self.items.values()
                 if (item["indicatorType"], item["indicatorValue"]) == (body["indicatorType"], body["indicatorValue"])]
        if found:
            found[0].update((key, value) for key, value in body.items() if key != "application")
            return found[0]
        self.next_id += 1
        item = dict(body, id=str(self.next_id), createdBy="app")
        self.items[item["id"]] = item
        return item


def matches(text, item):
    """The $filters the module sends: alternatives (or) of conditions (and) on equality."""
    if not text:
        return True
    alternatives = text.replace("(", "").replace(")", "").split(" or ")
    return any(all(item.get(field) == value.replace("''", "'")
                   for field, value in re.findall(r"(\w+) eq '((?:[^']|'')*)'", alternative))
               for alternative in alternatives)


class FakeModule(object):
    def __init__(self, client, check_mode=False, diff=False, **params):
        self.params = dict(dict((key, None) for key in (
            "type", "value", "indicators", "action", "title", "description", "severity", "expiration",
            "recommended_actions", "rbac_group_names", "generate_alert", "application")))
        self.params.update(state="present", purge=False)
        self.params.update(params)
        self.client = client
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, warning):
        self.warnings.append(warning)


def endpoint_client():
    endpoints = resolve_endpoints(api="endpoint", defender_url=DEFENDER)
    return ApiClient(endpoints, HttpClient(retries=0, sleep=lambda seconds: None), FakeAuthenticator(), TENANT)


def run(transport, server, **params):
    transport.handler = server
    module = FakeModule(endpoint_client(), **params)
    return indicator_result(module)


def existing(value=SHA256, kind="FileSha256", item_id="7", **fields):
    item = {"id": item_id, "indicatorType": kind, "indicatorValue": value, "action": "Block", "title": "Feed",
            "description": "Weekly feed", "severity": "Informational"}
    item.update(fields)
    return item


@pytest.mark.parametrize("kind, value, normal", [
    ("file_sha256", SHA256.upper(), SHA256),
    ("file_sha1", "A" * 40, "a" * 40),
    ("file_md5", "0F" * 16, "0f" * 16),
    ("certificate", "C" * 40, "c" * 40),
    ("ip", "2001:DB8:0:0::1", "2001:db8::1"),
    ("ip", "203.0.113.7", "203.0.113.7"),
    ("domain", "Evil.Example", "evil.example"),
    ("url", "https://Evil.example/Path?Q=1", "https://Evil.example/Path?Q=1"),
    ("url", "evil.example/login", "evil.example/login"),
])
def test_values_are_normalised_for_identity(kind, value, normal):
    assert normal_value(kind, value) == normal


@pytest.mark.parametrize("params, words", [
    ({"type": "file_sha256", "value": "ab" * 31}, ["'value'", "64 hexadecimal digits", "file_sha256"]),
    ({"type": "file_md5", "value": "xyz"}, ["'value'", "32 hexadecimal"]),
    ({"type": "ip", "value": "10.0.0.0/8"}, ["'value'", "CIDR"]),
    ({"type": "domain", "value": "https://evil.example"}, ["'value'", "domain name"]),
    ({"type": "url", "value": "ftp://evil.example"}, ["'value'", "http or https"]),
    ({"type": "url", "value": "https://evil example"}, ["'value'", "without spaces"]),
    ({"type": "domain", "value": " evil.example"}, ["'value'", "spaces"]),
    ({"type": None, "value": "x"}, ["'type'", "required", "file_sha1"]),
    ({"type": "hash", "value": "x"}, ["'type'", "'hash'", "allowed"]),
    ({"type": "url", "value": "https://evil.example", "action": "block_and_remediate"},
     ["'action'", "type url does not take", "allowed, audit, warn, block"]),
    ({"type": "ip", "value": "203.0.113.7", "title": None}, ["'title'", "required with state=present"]),
    ({"type": "ip", "value": "203.0.113.7", "severity": "critical"}, ["'severity'", "informational"]),
    ({"type": "ip", "value": "203.0.113.7", "expiration": "tomorrow"}, ["'expiration'", "ISO-8601"]),
    ({"type": "ip", "value": "203.0.113.7", "rbac_group_names": ["ok", ""]}, ["'rbac_group_names'"]),
    ({"type": "ip", "value": "1.2.3.4", "indicators": [{"type": "ip", "value": "1.2.3.5"}]},
     ["'indicators'", "mutually exclusive"]),
    ({"indicators": []}, ["'indicators'", "empty"]),
    ({"indicators": [{"type": "ip", "value": "1.2.3.4"}, {"type": "ip", "value": "1.2.3.04x"}]},
     ["'indicators', item 2, key 'value'"]),
    ({"indicators": [{"type": "ip", "value": "1.2.3.4", "colour": "red"}]}, ["item 1", "unknown keys: colour"]),
    ({"indicators": [{"type": "domain", "value": "a.example"}, {"type": "domain", "value": "A.example"}]},
     ["twice", "items 1 and 2"]),
    ({"indicators": ["a.example"]}, ["item 1 must be a dictionary"]),
])
def test_bad_input_is_refused_before_any_request(transport, params, words):
    base = dict(FIELDS)
    base.update(params)
    with pytest.raises(InputError) as raised:
        run(transport, FakeIndicators(), **base)
    for word in words:
        assert word in raised.value.message
    assert transport.seen == []


def test_absent_needs_no_fields_and_items_take_the_top_level_fields():
    state, wanted = wanted_indicators({"state": "absent", "type": "ip", "value": "203.0.113.7"})
    assert state == "absent" and wanted[0].fields == {}
    state, wanted = wanted_indicators(dict(FIELDS, indicators=[{"type": "ip", "value": "1.2.3.4", "action": "warn"}]))
    assert wanted[0].fields == {"action": "Warn", "title": "Feed", "description": "Weekly feed"}


def test_create_then_nothing_to_do(transport):
    server = FakeIndicators()
    result = run(transport, server, type="file_sha256", value=SHA256.upper(), severity="high", application="soc",
                 **FIELDS)
    assert result["changed"] is True
    assert result["created"] == [{"type": "file_sha256", "value": SHA256}] and result["updated"] == []
    assert result["indicators"][0]["id"] == "101" and result["indicators"][0]["severity"] == "High"
    assert server.calls == ["GET /api/indicators", "POST /api/indicators"]
    get = transport.seen[0]
    assert get.query["$filter"] == "(indicatorType eq 'FileSha256' and indicatorValue eq '%s')" % SHA256
    again = run(transport, server, type="file_sha256", value=SHA256, severity="high", **FIELDS)
    assert again["changed"] is False and again["created"] == [] and again["indicators"][0]["id"] == "101"
    assert server.calls[2:] == ["GET /api/indicators"]


def test_a_field_that_differs_updates_and_keeps_the_others(transport):
    server = FakeIndicators([existing(severity="High", recommendedActions="Isolate")])
    result = run(transport, server, type="file_sha256", value=SHA256, action="audit", title="Feed",
                 description="Weekly feed", diff=True)
    assert result["changed"] is True and result["updated"] == [{"type": "file_sha256", "value": SHA256}]
    body = json.loads(transport.seen[-1].body)
    assert body["action"] == "Audit" and body["severity"] == "High" and body["recommendedActions"] == "Isolate"
    key = "file_sha256:%s" % SHA256
    assert result["diff"]["before"][key]["action"] == "Block" and result["diff"]["after"][key]["action"] == "Audit"


def test_expiration_is_compared_as_an_instant(transport):
    server = FakeIndicators([existing(expirationTime="2027-01-31T00:00:00Z")])
    result = run(transport, server, type="file_sha256", value=SHA256, expiration="2027-01-31T01:00:00+01:00",
                 **FIELDS)
    assert result["changed"] is False


def test_check_mode_predicts_without_writing(transport):
    server = FakeIndicators([existing()])
    result = run(transport, server, check_mode=True, diff=True,
                 indicators=[{"type": "file_sha256", "value": SHA256, "action": "warn"},
                             {"type": "domain", "value": "evil.example"}], **FIELDS)
    assert server.calls == ["GET /api/indicators"]
    assert transport.seen[0].query["$filter"] == "(indicatorType eq 'DomainName' or indicatorType eq 'FileSha256')"
    assert result["changed"] is True
    assert result["updated"] == [{"type": "file_sha256", "value": SHA256}]
    assert result["created"] == [{"type": "domain", "value": "evil.example"}]
    assert [item["id"] for item in result["indicators"]] == ["7", None]
    assert result["diff"]["before"]["domain:evil.example"] is None


def test_many_go_by_import_in_calls_of_500(transport):
    server = FakeIndicators()
    items = [{"type": "ip", "value": "10.0.%d.%d" % (index // 256, index % 256)} for index in range(600)]
    result = run(transport, server, indicators=items, **FIELDS)
    assert server.calls == ["GET /api/indicators"] + ["POST /api/indicators/import"] * 2
    sizes = [len(json.loads(seen.body)["Indicators"]) for seen in transport.seen[1:]]
    assert sizes == [IMPORT_BATCH, 100]
    assert len(result["created"]) == 600 and len(result["indicators"]) == 600
    assert all(item["id"] for item in result["indicators"])


def test_an_import_failure_is_reported_not_hidden(transport):
    server = FakeIndicators(refuse=["10.0.0.2"])
    items = [{"type": "ip", "value": "10.0.0.%d" % index} for index in range(5)]
    with pytest.raises(ApiError) as raised:
        run(transport, server, indicators=items, **FIELDS)
    error = raised.value
    assert "refused 1 of 5" in error.message and "10.0.0.2: refused" in error.message
    assert error.details["failed"] == [{"type": "ip", "value": "10.0.0.2", "reason": "refused"}]
    assert len(error.details["created"]) == 4 and error.details["changed"] is True


def test_absent_deletes_one_by_id_and_many_in_a_batch(transport):
    server = FakeIndicators([existing(), existing("evil.example", "DomainName", "8"), existing("a.example",
                                                                                               "DomainName", "9")])
    one = run(transport, server, type="file_sha256", value=SHA256, state="absent", diff=True)
    assert one["changed"] is True and one["deleted"] == [{"type": "file_sha256", "value": SHA256}]
    assert server.calls[-1] == "DELETE /api/indicators/7" and one["indicators"] == []
    assert one["diff"]["after"] == {"file_sha256:%s" % SHA256: None}
    many = run(transport, server, state="absent", indicators=[
        {"type": "domain", "value": "evil.example"}, {"type": "domain", "value": "a.example"},
        {"type": "domain", "value": "never.example"}])
    assert server.calls[-1] == "POST /api/indicators/BatchDelete"
    assert json.loads(transport.seen[-1].body) == {"IndicatorIds": ["8", "9"]}
    assert len(many["deleted"]) == 2 and server.items == {}
    again = run(transport, server, type="domain", value="evil.example", state="absent")
    assert again["changed"] is False and again["deleted"] == []


def test_a_refused_write_names_what_was_done(transport):
    server = FakeIndicators()
    transport.handler = server
    transport.answer(make_response(200, {"value": []}),
                     make_response(403, {"error": {"code": "Forbidden", "message": "The application does not have "
                                                   "any of the required application permissions (Ti.ReadWrite, "
                                                   "Ti.ReadWrite.All)"}}))
    module = FakeModule(endpoint_client(), type="ip", value="203.0.113.7", **FIELDS)
    with pytest.raises(ApiError) as raised:
        indicator_result(module)
    assert "Ti.ReadWrite.All" in raised.value.message and raised.value.details["changed"] is False


def test_listing_filters_on_the_server(transport):
    server = FakeIndicators([existing(), existing("evil.example", "DomainName", "8")])
    transport.handler = server
    listing = read_indicators(endpoint_client(), {"type": ["domain"], "value": "EVIL.example", "action": ["block"]})
    assert [item["id"] for item in listing.items] == ["8"]
    query = transport.seen[0].query
    assert "indicatorType eq 'DomainName'" in query["$filter"] and "indicatorValue eq 'evil.example'" in \
        query["$filter"] and "action eq 'Block'" in query["$filter"]
    with pytest.raises(InputError) as raised:
        read_indicators(endpoint_client(), {"type": ["sha"]})
    assert "'type'" in raised.value.message


def test_purge_deletes_the_applications_indicators_the_task_no_longer_names(transport):
    server = FakeIndicators([
        existing("gone.example", "DomainName", "8", application="feed"),
        existing("kept.example", "DomainName", "9", application="feed"),
        existing("portal.example", "DomainName", "10"),
        existing("other.example", "DomainName", "11", application="another-feed"),
        existing(application="feed")])
    items = [{"type": "domain", "value": "Kept.Example"}, {"type": "domain", "value": "new.example"}]
    planned = run(transport, server, check_mode=True, diff=True, indicators=items, application="feed", purge=True,
                  **FIELDS)
    assert transport.seen[0].query["$filter"] == "(indicatorType eq 'DomainName' or application eq 'feed')"
    assert planned["created"] == [{"type": "domain", "value": "new.example"}] and planned["updated"] == []
    assert planned["deleted"] == [{"type": "domain", "value": "gone.example"},
                                  {"type": "file_sha256", "value": SHA256}]
    assert planned["diff"]["after"]["domain:gone.example"] is None
    assert planned["diff"]["before"]["domain:gone.example"]["title"] == "Feed"
    assert server.calls == ["GET /api/indicators"]
    done = run(transport, server, indicators=items, application="feed", purge=True, **FIELDS)
    assert done["deleted"] == planned["deleted"] and done["created"] == planned["created"]
    assert server.calls[-1] == "POST /api/indicators/BatchDelete"
    assert json.loads(transport.seen[-1].body) == {"IndicatorIds": ["8", "7"]}
    assert sorted(item["indicatorValue"] for item in server.items.values()) == [
        "kept.example", "new.example", "other.example", "portal.example"]
    again = run(transport, server, indicators=items, application="feed", purge=True, **FIELDS)
    assert again["changed"] is False and again["deleted"] == []


def test_purge_of_one_indicator_or_of_none(transport):
    server = FakeIndicators([existing("gone.example", "DomainName", "8", application="feed")])
    one = run(transport, server, type="domain", value="new.example", application="feed", purge=True, **FIELDS)
    assert transport.seen[0].query["$filter"] == (
        "((indicatorType eq 'DomainName' and indicatorValue eq 'new.example') or application eq 'feed')")
    assert one["deleted"] == [{"type": "domain", "value": "gone.example"}]
    assert server.calls[1:] == ["POST /api/indicators", "DELETE /api/indicators/8"]
    emptied = run(transport, server, indicators=[], application="feed", purge=True)
    assert transport.seen[-2].query["$filter"] == "(application eq 'feed')"
    assert emptied["deleted"] == [{"type": "domain", "value": "new.example"}] and server.items == {}


@pytest.mark.parametrize("params, words", [
    (dict(purge=True, state="absent", type="domain", value="a.example", application="feed"), "state=present only"),
    (dict(purge=True, indicators=[{"type": "domain", "value": "a.example"}]), "needs option 'application'"),
    (dict(purge=True, application="feed", indicators=[{"type": "domain", "value": "a.example",
                                                       "application": "other"}]), "item 1, key 'application'"),
])
def test_purge_is_checked_before_any_request(transport, params, words):
    server = FakeIndicators()
    fields = {} if params.get("state") == "absent" else FIELDS
    with pytest.raises(InputError) as raised:
        run(transport, server, **dict(fields, **params))
    assert words in raised.value.message
    assert server.calls == []
