# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._api import (
    CLASSIFICATION,
    DETERMINATION,
    FLAVOURS,
    SEVERITY,
    STATUS,
    ApiClient,
    canonical,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError, InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient, Limit
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import (
    FakeAuthenticator,
    IncidentApi,
    make_response,
)

# Ports of their own (not the shared constants.GRAPH and DEFENDER): next links and redirects are compared
# with the port written out or implied.
GRAPH_URL = "https://graph.sandbox.test:8443"
DEFENDER_URL = "https://defender.sandbox.test:8443"

# (enum, graph spelling, defender spelling), from docs/microsoft-apis.md §4; None = that API has no such value.
PAIRS = [
    (STATUS, "active", "Active"),
    (STATUS, "inProgress", "InProgress"),
    (STATUS, "resolved", "Resolved"),
    (STATUS, "redirected", "Redirected"),
    (STATUS, "awaitingAction", None),
    (SEVERITY, "unknown", "UnSpecified"),
    (SEVERITY, "informational", "Informational"),
    (SEVERITY, "low", "Low"),
    (SEVERITY, "medium", "Medium"),
    (SEVERITY, "high", "High"),
    (CLASSIFICATION, "unknown", "Unknown"),
    (CLASSIFICATION, "falsePositive", "FalsePositive"),
    (CLASSIFICATION, "truePositive", "TruePositive"),
    (CLASSIFICATION, "informationalExpectedActivity", "InformationalExpectedActivity"),
    (DETERMINATION, "unknown", "NotAvailable"),
    (DETERMINATION, "apt", "Apt"),
    (DETERMINATION, "malware", "Malware"),
    (DETERMINATION, "securityPersonnel", "SecurityPersonnel"),
    (DETERMINATION, "securityTesting", "SecurityTesting"),
    (DETERMINATION, "unwantedSoftware", "UnwantedSoftware"),
    (DETERMINATION, "other", "Other"),
    (DETERMINATION, "multiStagedAttack", "MultiStagedAttack"),
    (DETERMINATION, "compromisedAccount", "CompromisedAccount"),
    (DETERMINATION, "phishing", "Phishing"),
    (DETERMINATION, "maliciousUserActivity", "MaliciousUserActivity"),
    (DETERMINATION, "notMalicious", "Clean"),
    (DETERMINATION, "notEnoughDataToValidate", "NoEnoughDataToValidate"),
    (DETERMINATION, "confirmedActivity", "ConfirmedActivity"),
    (DETERMINATION, "lineOfBusinessApplication", "LineOfBusinessApplication"),
]

# The other spellings of docs/microsoft-apis.md §4 (and the Defender docs' own disagreements) -> (graph, defender).
ALIASES = [
    (DETERMINATION, "CompromisedAccount", "compromisedAccount", "CompromisedAccount"),
    (DETERMINATION, "CompromisedUser", "compromisedAccount", "CompromisedAccount"),
    (DETERMINATION, "NoEnoughDataToValidate", "notEnoughDataToValidate", "NoEnoughDataToValidate"),
    (DETERMINATION, "notEnoughDataToValidate", "notEnoughDataToValidate", "NoEnoughDataToValidate"),
    (DETERMINATION, "InsufficientData", "notEnoughDataToValidate", "NoEnoughDataToValidate"),
    (DETERMINATION, "ConfirmedActivity", "confirmedActivity", "ConfirmedActivity"),
    (DETERMINATION, "ConfirmedUserActivity", "confirmedActivity", "ConfirmedActivity"),
    (DETERMINATION, "notMalicious", "notMalicious", "Clean"),
    (DETERMINATION, "NotAvailable", "unknown", "NotAvailable"),
    # The incident resource page's spellings, which Graph's alertDetermination enum does not use.
    (DETERMINATION, "compromisedUser", "compromisedAccount", "CompromisedAccount"),
    (DETERMINATION, "clean", "notMalicious", "Clean"),
    (DETERMINATION, "insufficientData", "notEnoughDataToValidate", "NoEnoughDataToValidate"),
    (DETERMINATION, "confirmedUserActivity", "confirmedActivity", "ConfirmedActivity"),
    (SEVERITY, "UnSpecified", "unknown", "UnSpecified"),
    (SEVERITY, "unspecified", "unknown", "UnSpecified"),
]


def snake(name):
    out = ""
    for char in name:
        out += "_" + char.lower() if char.isupper() else char
    return out.lstrip("_")


def spellings(name):
    """A user's ways to write one value."""
    return sorted(set([name, name.lower(), name.upper(), snake(name), snake(name).replace("_", " "),
                       snake(name).replace("_", "-"), name[0].upper() + name[1:]]))


@pytest.mark.parametrize("value, key", [
    ("In Progress", "inprogress"),
    ("in_progress", "inprogress"),
    ("InProgress", "inprogress"),
    ("IN-PROGRESS", "inprogress"),
    (" inProgress ", "inprogress"),
    (5, "5"),
    ("", ""),
])
def test_canonical(value, key):
    assert canonical(value) == key


@pytest.mark.parametrize("enum, graph, defender", PAIRS, ids=[pair[1] + "-" + pair[0].option for pair in PAIRS])
def test_every_spelling_of_both_apis_maps_to_each_apis_own(enum, graph, defender):
    given = spellings(graph) + (spellings(defender) if defender else [])
    for value in given:
        assert enum.to_api("graph", value) == graph, value
        if defender:
            assert enum.to_api("defender", value) == defender, value
        else:
            with pytest.raises(InputError):
                enum.to_api("defender", value)
        assert enum.key(value) is not None


@pytest.mark.parametrize("enum, given, graph, defender", ALIASES, ids=[alias[1] for alias in ALIASES])
def test_aliases_microsoft_pages_use(enum, given, graph, defender):
    for value in spellings(given):
        assert enum.to_api("graph", value) == graph
        assert enum.to_api("defender", value) == defender
    assert enum.key(given) == enum.key(graph) == enum.key(defender)


@pytest.mark.parametrize("enum", [STATUS, SEVERITY, CLASSIFICATION, DETERMINATION])
@pytest.mark.parametrize("api", ["graph", "defender"])
def test_allowed_lists_exactly_each_apis_spellings(enum, api):
    column = 1 if api == "graph" else 2
    expected = sorted(pair[column] for pair in PAIRS if pair[0] is enum and pair[column])
    assert enum.allowed(api) == expected


@pytest.mark.parametrize("api", ["graph", "defender"])
def test_unknown_value_names_the_option_and_the_allowed_values(api):
    with pytest.raises(InputError) as raised:
        SEVERITY.to_api(api, "critical")
    message = raised.value.message
    assert "'severity'" in message and "'critical'" in message and api in message
    # Graph's names, one per value, whichever API; the Defender API's other name is listed once as accepted too.
    assert "allows: high, informational, low, medium, unknown (any case; also accepted: UnSpecified for unknown)." in message
    assert SEVERITY.key("critical") is None


def test_awaiting_action_is_refused_on_defender_only():
    assert STATUS.to_api("graph", "awaiting_action") == "awaitingAction"
    with pytest.raises(InputError) as raised:
        STATUS.to_api("defender", "awaiting_action")
    message = raised.value.message
    assert "'status'" in message
    assert "allows: active, inProgress, redirected, resolved (any case" in message
    assert "awaitingAction" not in message


def test_enums_do_not_mix_up_their_values():
    with pytest.raises(InputError):
        STATUS.to_api("graph", "high")
    with pytest.raises(InputError):
        CLASSIFICATION.to_api("graph", "malware")


# ----- paging rules


def test_graph_next_request_follows_next_link_only():
    graph = FLAVOURS["graph"]
    link = GRAPH_URL + "/v1.0/security/incidents?$skip=50"
    params = {"$top": 50}
    assert graph.next_request({"value": [{}] * 50, "@odata.nextLink": link}, params, 50) == (link, None)
    assert graph.next_request({"value": [{}] * 50}, params, 50) == (None, None)
    assert graph.next_request({"value": []}, params, 50) == (None, None)


def test_defender_next_request_skips_until_a_short_page():
    defender = FLAVOURS["defender"]
    params = {"$top": 100, "$filter": "status eq 'Active'"}
    url, following = defender.next_request({"value": [{}] * 100}, params, 100)
    assert url is None
    assert following == {"$top": 100, "$filter": "status eq 'Active'", "$skip": 100}
    assert params == {"$top": 100, "$filter": "status eq 'Active'"}, "the caller's params are not changed"
    assert defender.next_request({"value": [{}] * 100}, following, 100)[1]["$skip"] == 200
    assert defender.next_request({"value": [{}] * 99}, following, 100) == (None, None)
    assert defender.next_request({"value": []}, following, 100) == (None, None)
    assert defender.next_request({}, following, 100) == (None, None)


def test_defender_next_request_prefers_a_next_link():
    link = DEFENDER_URL + "/api/incidents?$skip=100"
    assert FLAVOURS["defender"].next_request({"value": [{}] * 100, "@odata.nextLink": link}, {"$top": 100}, 100) == (link, None)


def test_flavour_facts():
    graph, defender = FLAVOURS["graph"], FLAVOURS["defender"]
    assert (graph.max_page_size, defender.max_page_size) == (50, 100)
    assert graph.item_path("12") == "/security/incidents/12"
    assert defender.item_path("12") == "/incidents/12"
    assert graph.list_params("status eq 'active'", 50, True) == {
        "$top": 50, "$filter": "status eq 'active'", "$expand": "alerts"}
    assert defender.list_params("", 100, True) == {"$top": 100}, "Defender embeds alerts; no $expand"
    assert graph.headers == {"Prefer": "include-unknown-enum-members"}
    for incident_id in ("12", 924565):
        assert defender.check_id(incident_id) == str(incident_id)
    for bad in ("12; DROP", "../12", "", "abc"):
        with pytest.raises(InputError) as raised:
            graph.check_id(bad)
        assert "'incident_id'" in raised.value.message


# ----- ApiClient.iterate


def incidents(count, api):
    field = "id" if api == "graph" else "incidentId"
    return [{field: str(number) if api == "graph" else number} for number in range(1, count + 1)]


def make_client(api, retries=0, authenticator=None, **http_options):
    endpoints = resolve_endpoints(api=api, graph_url=GRAPH_URL, defender_url=DEFENDER_URL)
    http_options.setdefault("sleep", lambda seconds: None)
    http = HttpClient(retries=retries, **http_options)
    return ApiClient(endpoints, http, authenticator or FakeAuthenticator("the-access-token"), "contoso.example")


@pytest.mark.parametrize("api, count, pages", [
    ("graph", 237, 5),
    ("graph", 250, 5),
    ("graph", 49, 1),
    ("graph", 0, 1),
    ("defender", 237, 3),
    ("defender", 99, 1),
    ("defender", 0, 1),
    ("defender", 200, 3),
])
def test_iterate_reads_every_page_once(transport, api, count, pages):
    client = make_client(api)
    flavour = client.flavour
    items = incidents(count, api)
    server = IncidentApi(api, items, client.endpoints.api_url)
    transport.handler = server
    got = list(client.iterate(flavour.path, {"$top": flavour.max_page_size}, flavour.max_page_size))
    assert got == items
    assert client.pages_read == pages
    assert len(transport.seen) == pages
    for seen in transport.seen:
        assert seen.headers["Authorization"] == "Bearer the-access-token"
        assert seen.headers["Accept"] == "application/json"
        assert seen.path == ("/v1.0/security/incidents" if api == "graph" else "/api/incidents")
        assert seen.host == ("graph.sandbox.test" if api == "graph" else "defender.sandbox.test")
        if api == "graph":
            assert seen.headers["Prefer"] == "include-unknown-enum-members"
        else:
            assert "Prefer" not in seen.headers
    if api == "defender":
        assert [query.get("$skip") for query in server.queries] == [None, "100", "200"][:pages]


class Progress(object):
    """Records what a task would print while it runs."""

    def __init__(self):
        self.reports = []

    def __call__(self, message, verbose):
        self.reports.append((message, verbose))


@pytest.mark.parametrize("api, path, count, counts", [
    ("graph", "/security/incidents", 120, [50, 100, 120]),
    ("defender", "/incidents", 250, [100, 200, 250]),
    ("defender", "/incidents", 0, [0]),
])
def test_iterate_reports_each_page_with_the_items_so_far_for_verbose_output(transport, api, path, count, counts):
    progress = Progress()
    client = make_client(api, progress=progress)
    items = incidents(count, api)
    transport.handler = IncidentApi(api, items, client.endpoints.api_url)
    assert list(client.iterate(path, {"$top": client.flavour.max_page_size}, client.flavour.max_page_size)) == items
    assert progress.reports == [("page %d of GET %s: %d item(s) so far" % (number, path, so_far), True)
                                for number, so_far in enumerate(counts, 1)]


def test_a_page_is_reported_once_read_before_its_items_are_handed_on(transport):
    progress = Progress()
    client = make_client("graph", progress=progress)
    transport.handler = IncidentApi("graph", incidents(60, "graph"), client.endpoints.api_url)
    iterator = client.iterate("/security/incidents", {"$top": 50}, 50)
    assert next(iterator) == {"id": "1"}
    assert progress.reports == [("page 1 of GET /security/incidents: 50 item(s) so far", True)]
    assert len(list(iterator)) == 59
    assert progress.reports[1:] == [("page 2 of GET /security/incidents: 60 item(s) so far", True)]


def test_each_listing_counts_its_own_pages_and_items(transport):
    progress = Progress()
    client = make_client("defender", progress=progress)
    transport.handler = IncidentApi("defender", incidents(30, "defender"), client.endpoints.api_url)
    for dummy in range(2):
        assert len(list(client.iterate("/incidents", {"$top": 100, "$filter": "status eq 'Active'"}, 100))) == 30
    assert progress.reports == [("page 1 of GET /incidents: 30 item(s) so far", True)] * 2
    assert client.pages_read == 2


def test_a_refused_page_is_not_reported(transport):
    progress = Progress()
    client = make_client("graph", progress=progress)
    transport.answer(make_response(200, {"value": "abc"}))
    with pytest.raises(ApiError):
        list(client.iterate("/security/incidents", {"$top": 50}, 50))
    assert progress.reports == []


class Clock(object):
    """time.monotonic for the HttpClient, moved on by its sleeps and the fake answers."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def test_a_long_defender_listing_says_when_it_waits_for_the_rate_limit(transport):
    """51 pages: the 51st waits for the minute's first list call to age out, and the task says so."""
    clock = Clock(1000.0)

    def sleep(seconds):
        clock.now += seconds

    def answer(seen):
        clock.now += 0.1
        return server(seen)

    progress = Progress()
    client = make_client("defender", sleep=sleep, clock=clock, progress=progress)
    server = IncidentApi("defender", incidents(5050, "defender"), client.endpoints.api_url)
    transport.handler = answer
    assert len(list(client.iterate("/incidents", {"$top": 100}, 100))) == 5050
    waits = [report for report in progress.reports if not report[1]]
    assert waits == [("waiting 55 s: the Defender API allows 50 incident list and update calls a minute", False)]
    index = progress.reports.index(waits[0])
    assert progress.reports[index - 1] == ("page 50 of GET /incidents: 5000 item(s) so far", True)
    assert progress.reports[index + 1] == ("page 51 of GET /incidents: 5050 item(s) so far", True)


def test_defender_next_links_then_a_full_last_page(transport):
    client = make_client("defender")
    items = incidents(200, "defender")
    transport.handler = IncidentApi("defender", items, client.endpoints.api_url, next_links=True)
    assert list(client.iterate("/incidents", {"$top": 100}, 100)) == items


def test_defender_next_links_are_followed(transport):
    client = make_client("defender")
    items = incidents(237, "defender")
    server = IncidentApi("defender", items, client.endpoints.api_url, next_links=True)
    transport.handler = server
    assert list(client.iterate("/incidents", {"$top": 100}, 100)) == items
    assert [query.get("$skip") for query in server.queries] == [None, "100", "200"]


@pytest.mark.parametrize("foreign", [
    "https://evil.test/v1.0/security/incidents?$skip=50",
    "http://graph.sandbox.test:8443/v1.0/security/incidents?$skip=50",
    "https://graph.sandbox.test:9999/v1.0/security/incidents?$skip=50",
    "HTTPS://EVIL.TEST/v1.0/security/incidents?$skip=50",
    "//evil.test/v1.0/security/incidents?$skip=50",
    "HTTP://graph.sandbox.test:8443/v1.0/security/incidents?$skip=50",
    "https://graph.sandbox.test:99999/v1.0/security/incidents?$skip=50",
    "https://graph.sandbox.test:8443@evil.test/v1.0/security/incidents",
    "javascript:alert(1)",
])
def test_next_link_to_another_origin_in_any_spelling_is_refused(transport, foreign):
    client = make_client("graph")
    transport.answer(make_response(200, {"value": [{"id": "1"}], "@odata.nextLink": foreign}))
    iterator = client.iterate("/security/incidents", {"$top": 50}, 50)
    assert next(iterator) == {"id": "1"}
    with pytest.raises(ApiError) as raised:
        next(iterator)
    assert "another origin" in raised.value.message
    assert raised.value.details["tenant_id"] == "contoso.example"
    assert len(transport.seen) == 1, "the access token must not be sent to another origin"


@pytest.mark.parametrize("value, words", [
    ("abc", "'value' is a string"),
    (["1", "2", "3"], "'value' is a list holding a string"),
    ([{"id": "1"}, None], "'value' is a list holding null"),
    ({"id": "1"}, "'value' is an object"),
    (7, "'value' is a number"),
    (None, "'value' is null"),
    ("missing", "'value' is missing"),
])
def test_a_page_that_is_not_a_list_of_objects_is_refused_naming_the_endpoint(transport, value, words):
    """{"value": "abc"} must not become three incidents."""
    client = make_client("graph")
    transport.answer(make_response(200, {} if value == "missing" else {"value": value}))
    with pytest.raises(ApiError) as raised:
        list(client.iterate("/security/incidents", {"$top": 50}, 50))
    assert words in raised.value.message
    assert "GET %s/v1.0/security/incidents" % GRAPH_URL in raised.value.message
    assert raised.value.details["tenant_id"] == "contoso.example"
    assert client.pages_read == 0, "a page that cannot be used was not read"


def test_a_bad_second_page_stops_the_listing_after_the_good_one(transport):
    client = make_client("graph")
    link = GRAPH_URL + "/v1.0/security/incidents?$skip=1"
    transport.answer(make_response(200, {"value": [{"id": "1"}], "@odata.nextLink": link}),
                     make_response(200, {"value": "abc"}))
    iterator = client.iterate("/security/incidents", {"$top": 50}, 50)
    assert next(iterator) == {"id": "1"}
    with pytest.raises(ApiError):
        next(iterator)
    assert client.pages_read == 1


@pytest.mark.parametrize("link", [
    "HTTPS://GRAPH.SANDBOX.TEST:8443/v1.0/security/incidents?$skip=1",
    "Https://graph.sandbox.test:8443/v1.0/security/incidents?$skip=1",
    "/v1.0/security/incidents?$skip=1",
    "incidents?$skip=1",
    "?$skip=1",
    "  https://graph.sandbox.test:8443/v1.0/security/incidents?$skip=1",
])
def test_next_links_in_any_case_or_relative_are_followed_to_the_same_place(transport, link):
    client = make_client("graph")
    transport.answer(make_response(200, {"value": [{"id": "1"}], "@odata.nextLink": link}),
                     make_response(200, {"value": [{"id": "2"}]}))
    assert list(client.iterate("/security/incidents", {"$top": 50}, 50)) == [{"id": "1"}, {"id": "2"}]
    second = transport.seen[1]
    assert second.url == GRAPH_URL + "/v1.0/security/incidents?$skip=1"
    assert second.headers["Authorization"] == "Bearer the-access-token"
    assert client.pages_read == 2


def test_a_default_port_written_out_is_the_same_origin(transport):
    endpoints = resolve_endpoints(api="graph", graph_url="https://graph.sandbox.test", defender_url=DEFENDER_URL)
    client = ApiClient(endpoints, HttpClient(retries=0, sleep=lambda seconds: None), FakeAuthenticator("t"), "contoso.example")
    transport.answer(make_response(200, {"value": [{"id": "1"}], "@odata.nextLink":
                                         "https://Graph.Sandbox.Test:443/v1.0/security/incidents?$skip=1"}),
                     make_response(200, {"value": []}))
    assert list(client.iterate("/security/incidents", {"$top": 50}, 50)) == [{"id": "1"}]
    assert transport.seen[1].host == "graph.sandbox.test"


@pytest.mark.parametrize("link", [50, {"href": "x"}, ["x"], True])
def test_a_next_link_that_is_not_text_is_refused(transport, link):
    client = make_client("graph")
    transport.answer(make_response(200, {"value": [{"id": "1"}], "@odata.nextLink": link}))
    with pytest.raises(ApiError) as raised:
        list(client.iterate("/security/incidents", {"$top": 50}, 50))
    assert "'@odata.nextLink' is" in raised.value.message and "where a URL belongs" in raised.value.message
    assert len(transport.seen) == 1


def test_a_repeated_next_link_is_refused(transport):
    client = make_client("graph")
    link = GRAPH_URL + "/v1.0/security/incidents?$skiptoken=abc"
    calls = []

    def same_link_forever(seen):
        calls.append(seen)
        if len(calls) > 5:
            raise AssertionError("the client keeps following the same next link")
        return make_response(200, {"value": [{"id": str(len(calls))}], "@odata.nextLink": link})

    transport.handler = same_link_forever
    with pytest.raises(ApiError) as raised:
        list(client.iterate("/security/incidents", {"$top": 50}, 50))
    assert "same next page link twice" in raised.value.message
    assert len(transport.seen) == 2


def test_a_server_that_ignores_skip_is_caught(transport):
    client = make_client("defender")
    calls = []

    def same_page_forever(seen):
        calls.append(seen)
        if len(calls) > 5:
            raise AssertionError("the client keeps asking for pages")
        return make_response(200, {"value": [{"incidentId": n} for n in range(100)]})

    transport.handler = same_page_forever
    with pytest.raises(ApiError) as raised:
        list(client.iterate("/incidents", {"$top": 100}, 100))
    assert "same page twice" in raised.value.message
    assert len(calls) == 2


def test_get_takes_paths_and_absolute_urls(transport):
    client = make_client("defender")
    transport.answer(make_response(200, {"incidentId": 7}), make_response(200, {"incidentId": 8}))
    assert client.get("/incidents/7") == {"incidentId": 7}
    assert client.get(DEFENDER_URL + "/api/incidents/8", {"x": "1"}) == {"incidentId": 8}
    assert [seen.url for seen in transport.seen] == [DEFENDER_URL + "/api/incidents/7", DEFENDER_URL + "/api/incidents/8?x=1"]


def test_api_errors_carry_the_tenant(transport):
    client = make_client("graph")
    transport.answer(make_response(403, {"error": {"code": "Forbidden", "message": "Missing application roles."}}))
    with pytest.raises(ApiError) as raised:
        list(client.iterate("/security/incidents", {"$top": 50}, 50))
    assert raised.value.status == 403
    assert raised.value.details["tenant_id"] == "contoso.example"


# ----- a refused token


def forbidden_then(*answers):
    unauthorized = make_response(401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}})
    return (unauthorized,) + answers


def test_401_signs_in_again_once_and_repeats_the_call(transport):
    authenticator = FakeAuthenticator("old-token", renewed=["new-token"])
    client = make_client("graph", authenticator=authenticator)
    transport.answer(*forbidden_then(make_response(200, {"id": "7"})))
    assert client.get("/security/incidents/7") == {"id": "7"}
    assert [seen.headers["Authorization"] for seen in transport.seen] == ["Bearer old-token", "Bearer new-token"]
    assert authenticator.renewals == 1


def test_401_without_credentials_to_renew_is_raised(transport):
    authenticator = FakeAuthenticator("old-token")
    client = make_client("graph", authenticator=authenticator)
    transport.answer(*forbidden_then(make_response(200, {"id": "7"})))
    with pytest.raises(ApiError) as raised:
        client.get("/security/incidents/7")
    assert raised.value.status == 401
    assert len(transport.seen) == 1 and authenticator.renewals == 1


def test_a_second_401_is_raised_without_a_loop(transport):
    authenticator = FakeAuthenticator("old-token", renewed=["new-token", "newer-token"])
    client = make_client("graph", authenticator=authenticator)
    transport.answer(*forbidden_then(*forbidden_then()))
    with pytest.raises(ApiError) as raised:
        client.get("/security/incidents/7")
    assert raised.value.status == 401
    assert len(transport.seen) == 2 and authenticator.renewals == 1


def test_403_does_not_sign_in_again(transport):
    authenticator = FakeAuthenticator("old-token", renewed=["new-token"])
    client = make_client("graph", authenticator=authenticator)
    transport.answer(make_response(403, {"error": {"code": "Forbidden", "message": "Missing application roles."}}))
    with pytest.raises(ApiError):
        client.get("/security/incidents/7")
    assert authenticator.renewals == 0


def test_call_sends_a_json_body(transport):
    client = make_client("defender")
    transport.answer(make_response(200, {"incidentId": 7, "status": "Resolved"}))
    assert client.call("PATCH", "/incidents/7", body={"status": "Resolved"}) == {"incidentId": 7, "status": "Resolved"}
    seen = transport.seen[0]
    assert (seen.method, seen.url, seen.body) == ("PATCH", DEFENDER_URL + "/api/incidents/7", '{"status": "Resolved"}')
    assert seen.headers["Content-Type"] == "application/json; charset=utf-8"


def test_a_garbled_page_is_read_again(transport):
    client = make_client("graph", retries=2)
    transport.answer(make_response(200, text='{"value": [{"id": "1"}, {"id"'), make_response(200, {"value": [{"id": "1"}]}))
    assert list(client.iterate("/security/incidents", {"$top": 50}, 50)) == [{"id": "1"}]


# ----- writes, hunting and rates of each flavour


def test_graph_adds_comments_with_their_own_post():
    assert FLAVOURS["graph"].comment_request("2972395", "Taken.") == (
        "POST", "/security/incidents/2972395/comments",
        {"@odata.type": "microsoft.graph.security.alertComment", "comment": "Taken."})


def test_defender_puts_comments_into_the_update_body():
    assert FLAVOURS["defender"].comment_request("2972395", "Taken.") is None


@pytest.mark.parametrize("timespan, body", [
    ("P7D", {"Query": "AlertInfo | take 1", "Timespan": "P7D"}),
    ("2024-05-01T00:00:00Z/2024-05-08T00:00:00Z",
     {"Query": "AlertInfo | take 1", "Timespan": "2024-05-01T00:00:00Z/2024-05-08T00:00:00Z"}),
    (None, {"Query": "AlertInfo | take 1"}),
    ("", {"Query": "AlertInfo | take 1"}),
])
def test_graph_hunting_body(timespan, body):
    assert FLAVOURS["graph"].hunting_body("AlertInfo | take 1", timespan) == body


def test_defender_hunting_body_has_no_timespan():
    assert FLAVOURS["defender"].hunting_body("AlertInfo | take 1", None) == {"Query": "AlertInfo | take 1"}
    with pytest.raises(InputError) as raised:
        FLAVOURS["defender"].hunting_body("AlertInfo | take 1", "P7D")
    assert "'timespan'" in raised.value.message and "Timestamp" in raised.value.message


def test_hunting_results_in_each_apis_shape():
    """docs/microsoft-apis.md §6: Graph answers lower-case schema/results without stats, Defender Schema/Results/Stats."""
    graph = {"@odata.context": "x#microsoft.graph.security.huntingQueryResults",
             "schema": [{"name": "Title", "type": "String"}], "results": [{"Title": "a"}, {"Title": "b"}]}
    defender = {"Stats": {"ExecutionTime": 0.41, "resource_usage": {"cpu": {"total": 0.0}}},
                "Schema": [{"Name": "Title", "Type": "String"}], "Results": [{"Title": "a"}]}
    assert FLAVOURS["graph"].hunting_result(graph) == (graph["schema"], graph["results"], None)
    assert FLAVOURS["defender"].hunting_result(defender) == (defender["Schema"], defender["Results"], defender["Stats"])
    assert FLAVOURS["graph"].hunting_result({"results": []}) == ([], [], None), "no rows, no schema: an empty result"
    assert FLAVOURS["defender"].hunting_result({"Schema": None, "Results": []}) == ([], [], None)
    with pytest.raises(ApiError):
        # each API's own keys only: Graph's answer has no 'Results'
        FLAVOURS["graph"].hunting_result(defender)


@pytest.mark.parametrize("api, body, words", [
    ("graph", {}, "'results' is missing"),
    ("graph", {"schema": [], "results": "abc"}, "'results' is a string"),
    ("graph", {"schema": [], "results": ["a", "b"]}, "'results' is a list holding a string"),
    ("graph", {"schema": "Title", "results": []}, "'schema' is a string"),
    ("graph", {"schema": [], "results": None}, "'results' is null"),
    ("defender", {"Schema": [], "Results": {"Title": "a"}}, "'Results' is an object"),
    ("defender", {"Schema": [], "Results": [[1, 2]]}, "'Results' is a list holding a list"),
    ("defender", {"Schema": [], "Results": [], "Stats": "fast"}, "'Stats' is a string"),
])
def test_hunting_results_of_another_shape_are_refused_naming_the_endpoint(api, body, words):
    with pytest.raises(ApiError) as raised:
        FLAVOURS[api].hunting_result(body)
    assert words in raised.value.message
    assert FLAVOURS[api].hunting_path in raised.value.message and api.capitalize()[:5] in raised.value.message


def test_hunting_paths():
    assert FLAVOURS["graph"].hunting_path == "/security/runHuntingQuery"
    assert FLAVOURS["defender"].hunting_path == "/advancedhunting/run"


def limits(rate):
    """(calls, window seconds) of a rate, without its keys."""
    return sorted((limit.calls, limit.window) for limit in rate)


def test_rates_are_the_documented_limits():
    """docs/microsoft-apis.md §5: Defender list/update 50/min and 1,500/h, get 100/min and 1,500/h; hunting 45/min on both."""
    graph, defender = FLAVOURS["graph"], FLAVOURS["defender"]
    assert limits(defender.list_rate) == limits(defender.update_rate) == [(50, 60), (1500, 3600)]
    assert limits(defender.get_rate) == [(100, 60), (1500, 3600)]
    assert limits(graph.hunting_rate) == limits(defender.hunting_rate) == [(45, 60)]
    assert graph.list_rate == graph.update_rate == graph.get_rate == ()
    for rate in (defender.list_rate, defender.get_rate, defender.hunting_rate):
        assert len(set(limit.key for limit in rate)) == len(rate), "each limit is counted on its own"
    assert not set(limit.key for limit in defender.get_rate) & set(limit.key for limit in defender.list_rate)


def test_rates_say_in_words_whose_limit_on_which_calls():
    """What a user reads while a task waits for one of them."""
    graph, defender = FLAVOURS["graph"], FLAVOURS["defender"]
    rates = defender.list_rate + defender.get_rate + defender.hunting_rate + graph.hunting_rate
    assert all(isinstance(limit, Limit) for limit in rates)
    assert [limit.describe() for limit in rates] == [
        "the Defender API allows 50 incident list and update calls a minute",
        "the Defender API allows 1500 incident list and update calls an hour",
        "the Defender API allows 100 single-incident get calls a minute",
        "the Defender API allows 1500 single-incident get calls an hour",
        "the Defender API allows 45 hunting queries a minute",
        "the Graph API allows 45 hunting queries a minute",
    ]


# ----- ApiClient.call: a refused token, with a body


def test_401_on_a_patch_repeats_the_same_body_with_the_new_token(transport):
    authenticator = FakeAuthenticator("old-token", renewed=["new-token"])
    client = make_client("defender", authenticator=authenticator)
    transport.answer(*forbidden_then(make_response(200, {"incidentId": 7, "status": "Resolved"})))
    assert client.call("PATCH", "/incidents/7", body={"status": "Resolved"}) == {"incidentId": 7, "status": "Resolved"}
    assert [(seen.method, seen.url, seen.body, seen.headers["Authorization"]) for seen in transport.seen] == [
        ("PATCH", DEFENDER_URL + "/api/incidents/7", '{"status": "Resolved"}', "Bearer old-token"),
        ("PATCH", DEFENDER_URL + "/api/incidents/7", '{"status": "Resolved"}', "Bearer new-token"),
    ]
    assert authenticator.renewals == 1


def test_a_401_after_renewal_names_the_status_and_the_tenant(transport):
    authenticator = FakeAuthenticator("old-token", renewed=["new-token", "newer-token"])
    client = make_client("defender", authenticator=authenticator)
    transport.answer(*forbidden_then(*forbidden_then(make_response(200, {}))))
    with pytest.raises(ApiError) as raised:
        client.call("POST", "/advancedhunting/run", body={"Query": "x"}, idempotent=True)
    assert raised.value.status == 401
    assert raised.value.details["tenant_id"] == "contoso.example"
    assert "HTTP 401" in raised.value.message
    assert authenticator.renewals == 1 and len(transport.seen) == 2
    assert transport.seen[1].headers["Authorization"] == "Bearer new-token"
    assert transport.script, "the answer after the second 401 was never asked for"
