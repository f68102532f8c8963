# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import math
import random
import uuid

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError, TransportError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import (
    MAX_RETRY_WAIT,
    WAIT_NOTICE_SECONDS,
    HttpClient,
    HttpStats,
    Limit,
    MsalHttpAdapter,
    Pacer,
    retry_after_seconds,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._version import COLLECTION_VERSION
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import LocalHttpsServer, make_response

URL = "https://graph.sandbox.test/v1.0/security/incidents"


class Sleeper(object):
    """Records the waits instead of waiting."""

    def __init__(self):
        self.waits = []

    def __call__(self, seconds):
        self.waits.append(seconds)


@pytest.fixture
def sleeper():
    return Sleeper()


@pytest.fixture
def client(sleeper):
    http = HttpClient(timeout=12, retries=3, sleep=sleeper)
    yield http
    http.close()


def connection_refused():
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, URL, reason=reason))


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    server = LocalHttpsServer(str(tmp_path_factory.mktemp("https")))
    yield server
    server.stop()


# ----- Retry-After


@pytest.mark.parametrize("value, seconds", [
    ("120", 120.0),
    ("0", 0.0),
    ("1.5", 1.5),
    (" 7 ", 7.0),
    ("-5", 0.0),
])
def test_retry_after_in_seconds(value, seconds):
    assert retry_after_seconds(value) == seconds


def test_retry_after_as_http_date():
    moment = calendar.timegm((2026, 11, 26, 10, 0, 0))
    assert retry_after_seconds("Thu, 26 Nov 2026 10:00:30 GMT", now=moment) == 30.0
    assert retry_after_seconds("Thu, 26 Nov 2026 11:00:00 +0100", now=moment) == 0.0
    assert retry_after_seconds("Thu, 26 Nov 2026 09:59:00 GMT", now=moment) == 0.0, "a date in the past means now"


@pytest.mark.parametrize("value", [None, "", "soon", "12 parsecs", "Thu, 99 Nov"])
def test_retry_after_garbage(value):
    assert retry_after_seconds(value) is None


# ----- send: retries


def test_429_waits_as_long_as_retry_after_says(transport, client, sleeper):
    transport.answer(
        make_response(429, {"error": {"code": "TooManyRequests"}}, headers={"Retry-After": "2"}),
        make_response(429, {"error": {"code": "TooManyRequests"}}, headers={"Retry-After": "7"}),
        make_response(200, {"value": []}),
    )
    response = client.send("GET", URL)
    assert response.status_code == 200
    assert sleeper.waits == [2.0, 7.0]
    assert len(transport.seen) == 3
    assert client.stats.as_dict() == {"requests": 3, "retries": 2, "throttled": 2, "wait_seconds": 9.0, "paced_seconds": 0.0}


def test_retry_after_zero_retries_without_sleeping(transport, client, sleeper):
    transport.answer(make_response(429, headers={"Retry-After": "0"}), make_response(200, {}))
    assert client.send("GET", URL).status_code == 200
    assert sleeper.waits == []
    assert client.stats.retries == 1


def test_retry_after_up_to_the_maximum_is_waited(transport, client, sleeper):
    transport.answer(make_response(429, headers={"Retry-After": str(int(MAX_RETRY_WAIT))}), make_response(200, {}))
    assert client.send("GET", URL).status_code == 200
    assert sleeper.waits == [MAX_RETRY_WAIT]


def test_retry_after_beyond_the_maximum_returns_the_429_at_once(transport, client, sleeper):
    transport.answer(make_response(429, headers={"Retry-After": "3600"}), make_response(200, {}))
    assert MAX_RETRY_WAIT < 3600
    response = client.send("GET", URL)
    assert response.status_code == 429
    assert sleeper.waits == []
    assert len(transport.seen) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_backs_off_exponentially(transport, client, sleeper, status):
    transport.answer(make_response(status), make_response(status), make_response(status), make_response(200, {}))
    assert client.send("GET", URL).status_code == 200
    assert sleeper.waits == [0.5, 1.0, 2.0]
    assert client.stats.throttled == 0
    assert client.stats.retries == 3


def test_5xx_honours_retry_after_too(transport, client, sleeper):
    transport.answer(make_response(503, headers={"Retry-After": "4"}), make_response(200, {}))
    client.send("GET", URL)
    assert sleeper.waits == [4.0]


def test_gives_up_after_retries_and_returns_the_last_response(transport, sleeper):
    http = HttpClient(retries=2, sleep=sleeper)
    transport.answer(make_response(500, text="first"), make_response(502, text="second"), make_response(503, text="third"))
    response = http.send("GET", URL)
    assert (response.status_code, response.text) == (503, "third")
    assert len(transport.seen) == 3
    assert len(sleeper.waits) == 2


def test_no_retries_at_all(transport, sleeper):
    http = HttpClient(retries=0, sleep=sleeper)
    transport.answer(make_response(429, headers={"Retry-After": "1"}))
    assert http.send("GET", URL).status_code == 429
    assert sleeper.waits == []
    assert http.stats.throttled == 1 and http.stats.requests == 1, "a 429 is counted even when not retried"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 501])
def test_other_statuses_are_not_retried(transport, client, sleeper, status):
    transport.answer(make_response(status, {"error": {"code": "X"}}))
    assert client.send("GET", URL).status_code == status
    assert len(transport.seen) == 1 and sleeper.waits == []


def test_connection_error_is_retried_then_succeeds(transport, client, sleeper):
    transport.answer(connection_refused(), requests.exceptions.ReadTimeout("read timed out"), make_response(200, {}))
    assert client.send("GET", URL).status_code == 200
    assert sleeper.waits == [0.5, 1.0]
    assert client.stats.requests == 3


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_connection_errors_until_the_end_raise_transport_error(transport, client, sleeper, method):
    transport.answer(*[connection_refused() for dummy in range(4)])
    with pytest.raises(TransportError) as raised:
        client.send(method, URL)
    message = raised.value.message
    assert message.startswith("%s %s got no complete answer" % (method, URL))
    assert "Connection refused" in message
    assert "Max retries exceeded" not in message, "the root cause, not requests' wrapper text"
    assert message.endswith("Gave up after 4 attempts.")
    assert "HTTPS_PROXY" in raised.value.hint
    assert raised.value.details == {"url": URL}
    assert len(transport.seen) == 4
    assert len(sleeper.waits) == 3


def test_a_post_that_lost_its_connection_is_not_repeated(transport, client, sleeper):
    """The POST may have been carried out: sending it again could run a hunting query or add a comment twice."""
    transport.answer(requests.exceptions.ReadTimeout("read timed out"), make_response(200, {}))
    with pytest.raises(TransportError) as raised:
        client.send("POST", URL, json={"Query": "AlertInfo"})
    assert "Gave up" not in raised.value.message
    assert "retryable" not in raised.value.details
    assert len(transport.seen) == 1 and sleeper.waits == []


def test_a_post_marked_idempotent_is_retried(transport, client, sleeper):
    transport.answer(connection_refused(), make_response(200, {}))
    assert client.send("POST", URL, idempotent=True).status_code == 200
    assert len(transport.seen) == 2 and sleeper.waits == [0.5]


def test_a_get_marked_not_idempotent_is_not_retried(transport, client):
    transport.answer(connection_refused(), make_response(200, {}))
    with pytest.raises(TransportError):
        client.send("GET", URL, idempotent=False)
    assert len(transport.seen) == 1


def test_a_post_answered_429_is_retried(transport, client, sleeper):
    """A 429 means the call was not carried out, so even a POST is sent again."""
    transport.answer(make_response(429, headers={"Retry-After": "1"}), make_response(200, {}))
    assert client.send("POST", URL).status_code == 200
    assert sleeper.waits == [1.0]


def test_tls_error_is_not_retried_and_says_what_to_do(https_server, sleeper, monkeypatch):
    """A real TLS handshake against a certificate that no bundle trusts."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    http = HttpClient(retries=3, sleep=sleeper)
    url = https_server.url + "/v1.0/security/incidents"
    with pytest.raises(TransportError) as raised:
        http.send("GET", url)
    assert "TLS verification failed for %s" % url in raised.value.message
    assert "certificate verify failed" in raised.value.message
    assert "'ca_path'" in raised.value.hint
    assert http.stats.requests == 1
    assert sleeper.waits == []


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_ca_path_wins_over_requests_ca_bundle_on_a_real_connection(https_server, monkeypatch):
    """REQUESTS_CA_BUNDLE is set on these machines; an explicit ca_path must still be used."""
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    with pytest.raises(TransportError):
        HttpClient(retries=0).send("GET", https_server.url + "/without-ca-path")
    response = HttpClient(ca_path=https_server.ca_path, retries=0).send("GET", https_server.url + "/with-ca-path")
    assert response.json() == {"ok": True}
    response = HttpClient(validate_certs=False, retries=0).send("GET", https_server.url + "/no-validation")
    assert response.status_code == 200
    assert https_server.served == ["/with-ca-path", "/no-validation"]


# ----- send: what goes on the wire


@pytest.mark.parametrize("kwargs, expected", [
    ({"ca_path": "/etc/m365d/ca.pem"}, "/etc/m365d/ca.pem"),
    ({"validate_certs": False}, False),
    ({"validate_certs": False, "ca_path": "/etc/m365d/ca.pem"}, False),
])
def test_verify_is_passed_per_request_and_beats_requests_ca_bundle(transport, monkeypatch, kwargs, expected):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/from/the/environment.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/from/the/environment.pem")
    transport.answer(make_response(200, {}))
    HttpClient(**kwargs).send("GET", URL)
    assert transport.seen[0].verify == expected


def test_without_ca_path_the_environment_bundle_applies(transport, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/from/the/environment.pem")
    transport.answer(make_response(200, {}))
    HttpClient().send("GET", URL)
    assert transport.seen[0].verify == "/from/the/environment.pem"


def test_timeout_user_agent_and_request_ids(transport, client):
    transport.answer(make_response(503), make_response(200, {}), make_response(200, {}))
    client.send("GET", URL, headers={"Authorization": "Bearer abc"})
    client.send("GET", URL)
    ids = []
    for seen in transport.seen:
        assert seen.timeout == 12
        assert seen.headers["User-Agent"] == "secops.m365_defender/%s" % COLLECTION_VERSION
        assert seen.headers["return-client-request-id"] == "true"
        ids.append(str(uuid.UUID(seen.headers["client-request-id"])))
    assert len(set(ids)) == 3, "every request, retries included, carries its own client-request-id"
    assert transport.seen[0].headers["Authorization"] == "Bearer abc"
    assert transport.seen[1].headers["Authorization"] == "Bearer abc", "a retry sends the same headers"
    assert "Authorization" not in transport.seen[2].headers


# ----- request_json


def test_request_json_returns_the_object_and_passes_params(transport, client):
    transport.answer(make_response(200, {"value": [{"id": "1"}]}))
    body = client.request_json("GET", URL, params={"$top": 50, "$filter": "status eq 'active'"})
    assert body == {"value": [{"id": "1"}]}
    assert transport.seen[0].query == {"$top": "50", "$filter": "status eq 'active'"}


def test_request_json_takes_no_content_as_an_empty_answer_but_not_an_empty_200(transport, client):
    transport.answer(make_response(204, text=""), make_response(200, text=""))
    assert client.request_json("DELETE", URL, idempotent=False) == {}
    with pytest.raises(ApiError, match="answered HTTP 200 with a body that is not a JSON object"):
        client.request_json("POST", URL, idempotent=False)


def test_request_json_raises_api_error_for_4xx(transport, client):
    body = {"error": {"code": "Forbidden", "message": "Missing application roles.", "innerError": {"request-id": "body-id"}}}
    transport.answer(make_response(403, body, headers={"request-id": "header-id"}))
    with pytest.raises(ApiError) as raised:
        client.request_json("GET", URL, tenant="contoso.example")
    assert raised.value.status == 403
    assert "HTTP 403 (Forbidden): Missing application roles." in raised.value.message
    assert raised.value.details["request_id"] == "header-id"
    assert raised.value.details["tenant_id"] == "contoso.example"


def test_request_json_raises_api_error_for_5xx_after_retries(transport, sleeper):
    http = HttpClient(retries=1, sleep=sleeper)
    transport.answer(make_response(500, text="oops"), make_response(500, text="<html>still oops</html>"))
    with pytest.raises(ApiError) as raised:
        http.request_json("GET", URL)
    assert raised.value.status == 500
    assert "<html>still oops</html>" in raised.value.message


@pytest.mark.parametrize("text", ['[{"id": "1"}]', '"just a string"', "<html>login page</html>", "", "null", '{"value": ['])
def test_request_json_refuses_a_body_that_is_not_an_object(transport, sleeper, text):
    http = HttpClient(retries=0, sleep=sleeper)
    transport.answer(make_response(200, text=text))
    with pytest.raises(ApiError) as raised:
        http.request_json("GET", URL)
    assert "not a JSON object" in raised.value.message
    assert raised.value.status == 200


def test_request_json_retries_a_garbled_body_of_a_get(transport, client, sleeper):
    transport.answer(make_response(200, text='{"value": [{"id": "1"'), make_response(200, {"value": []}))
    assert client.request_json("GET", URL) == {"value": []}
    assert sleeper.waits == [0.5]


def test_request_json_gives_up_on_garbled_bodies_after_retries(transport, sleeper):
    http = HttpClient(retries=2, sleep=sleeper)
    transport.answer(*[make_response(200, text="<html>proxy error</html>") for dummy in range(3)])
    with pytest.raises(ApiError) as raised:
        http.request_json("GET", URL)
    assert "<html>proxy error</html>" in raised.value.message
    assert len(transport.seen) == 3 and sleeper.waits == [0.5, 1.0]


def test_request_json_does_not_repeat_a_post_for_a_garbled_body(transport, client, sleeper):
    transport.answer(make_response(200, text="truncated {"), make_response(200, {}))
    with pytest.raises(ApiError):
        client.request_json("POST", URL, json={"Query": "AlertInfo"})
    assert len(transport.seen) == 1 and sleeper.waits == []


def test_request_json_retries_a_garbled_get_when_idempotent_is_none(transport, client, sleeper):
    transport.answer(make_response(200, text='{"value": ['), make_response(200, {"value": []}))
    assert client.request_json("GET", URL, idempotent=None) == {"value": []}


def test_request_json_429_beyond_retries_names_retry_after(transport, client, sleeper):
    transport.answer(make_response(429, {"error": {"code": "429", "message": "API calls quota exceeded!"}},
                                   headers={"Retry-After": "900"}))
    with pytest.raises(ApiError) as raised:
        client.request_json("GET", URL)
    assert raised.value.status == 429
    assert "(Retry-After: 900 s)" in raised.value.message
    assert raised.value.details["retry_after"] == "900"
    assert "'retries'" in raised.value.hint
    assert sleeper.waits == []


@pytest.mark.parametrize("text", ["42", "true"])
def test_request_json_refuses_a_scalar_body(transport, sleeper, text):
    http = HttpClient(retries=0, sleep=sleeper)
    transport.answer(make_response(200, text=text))
    with pytest.raises(ApiError):
        http.request_json("GET", URL)


# ----- pacing


class Clock(object):
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def a_limit(key, calls, window):
    """A Limit for tests, which pacing counts by its key, calls and window."""
    return Limit(key, calls, window, "the test API", "test calls")


def call(pacer, clock, key, limit, window):
    """A caller that waits out its delay and is answered at once; returns when the call was made."""
    clock.now += pacer.delay(key, limit, window)
    pacer.record(key)
    return clock.now


def test_pacer_keeps_every_window_within_the_limit():
    clock = Clock(0.0)
    pacer = Pacer(clock)
    made = []
    for second in range(12):
        clock.now = max(clock.now, float(second))
        made.append(call(pacer, clock, "incidents", 5, 60))
    assert made[:5] == [0.0, 1.0, 2.0, 3.0, 4.0], "the first calls up to the limit do not wait"
    assert made[5] == 60.0, "the sixth call waits until the first leaves the window"
    assert made == sorted(made)
    for moment in made:
        assert len([other for other in made if moment - 60 < other <= moment]) <= 5


def test_pacer_keys_are_independent():
    clock = Clock(1000.0)
    pacer = Pacer(clock)
    assert [call(pacer, clock, "a", 1, 60) for dummy in range(2)] == [1000.0, 1060.0]
    assert pacer.delay("b", 1, 60) == 0.0


def test_asking_for_a_delay_takes_no_slot():
    pacer = Pacer(Clock())
    assert [pacer.delay("incidents", 1, 60) for dummy in range(3)] == [0.0, 0.0, 0.0]


def test_send_paces_by_every_rate_given(transport):
    clock = Clock(1000.0)
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        clock.now += seconds

    http = HttpClient(sleep=sleep, clock=clock)
    transport.handler = lambda seen: make_response(200, {})
    rate = (a_limit("incidents", 2, 60), a_limit("incidents-hour", 3, 3600))
    sent_at = []
    for dummy in range(4):
        http.send("GET", URL, rate=rate)
        sent_at.append(clock.now)
    assert waits == [60.0, 3540.0]
    assert sent_at == [1000.0, 1000.0, 1060.0, 4600.0], "the fourth call waits for the hour's first call to age out"
    assert http.stats.as_dict()["paced_seconds"] == 3600.0
    assert http.stats.retries == 0 and http.stats.wait_seconds == 0.0, "pacing is not retrying"
    http.send("GET", URL)
    assert len(waits) == 2, "calls without a rate are not paced"


def test_pacer_delays_are_the_shortest_that_keep_every_window_within_the_limit():
    """Random arrivals: no window of `window` seconds holds more than `limit` calls, and no call waits longer than it must."""
    limit, window = 4, 10.0
    arrivals = sorted(random.Random(7).uniform(0, 60) for dummy in range(80))
    clock = Clock(0.0)
    pacer = Pacer(clock)
    made = []

    def in_window(calls, moment):
        return len([other for other in calls if moment - window < other <= moment])

    for arrival in arrivals:
        clock.now = max(arrival, clock.now)
        moment = call(pacer, clock, "incidents", limit, window)
        if moment > arrival:
            assert in_window(made, moment - 1e-6) >= limit, "waited although a call was allowed earlier"
        made.append(moment)
        assert in_window(made, moment) <= limit
    assert any(later > arrival for later, arrival in zip(made, arrivals)), "the arrivals were dense enough to be paced"


def test_pacer_window_slides():
    """Two calls a minute: a call waits for the oldest of the last two to be a minute old, not for a fixed minute."""
    clock = Clock(0.0)
    pacer = Pacer(clock)
    made = []
    for moment in (0.0, 30.0, 59.0, 61.0, 200.0):
        clock.now = max(moment, clock.now)
        made.append(call(pacer, clock, "incidents", 2, 60))
    assert made == [0.0, 30.0, 60.0, 90.0, 200.0]


@pytest.mark.parametrize("last_call_at, wait", [(5.0, 5.0), (9.5, 0.5), (10.5, 0.0), (30.0, 0.0)])
def test_send_sleeps_only_when_the_call_over_the_limit_falls_in_the_window(transport, last_call_at, wait):
    limit, window = 3, 10.0
    clock = Clock(1000.0)
    events = []

    def sleep(seconds):
        events.append(("sleep", seconds))
        clock.now += seconds

    def answer(seen):
        events.append(("send", clock.now))
        return make_response(200, {})

    http = HttpClient(sleep=sleep, clock=clock)
    transport.handler = answer
    for offset in (0.0, 1.0, 2.0, last_call_at):
        clock.now = max(clock.now, 1000.0 + offset)
        http.send("GET", URL, rate=(a_limit("hunting", limit, window),))
    expected = [("send", 1000.0), ("send", 1001.0), ("send", 1002.0)]
    expected += [("sleep", wait), ("send", 1000.0 + window)] if wait else [("send", 1000.0 + last_call_at)]
    assert events == expected
    assert http.stats.paced_seconds == wait
    assert http.stats.as_dict()["paced_seconds"] == wait
    assert (http.stats.retries, http.stats.wait_seconds, http.stats.requests) == (0, 0.0, limit + 1)


def test_paced_seconds_add_up_and_are_rounded(transport):
    clock = Clock(0.0)
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        clock.now += seconds

    http = HttpClient(sleep=sleep, clock=clock)
    transport.handler = lambda seen: make_response(200, {})
    for dummy in range(4):
        http.send("GET", URL, rate=(a_limit("k", 1, 1.0 / 3),))
    assert len(waits) == 3 and abs(sum(waits) - 1.0) < 1e-9
    assert http.stats.as_dict()["paced_seconds"] == 1.0


class TimedClient(object):
    """An HttpClient whose sleeps and calls move a fake clock; `sent` holds when each request left."""

    def __init__(self, transport, latency=0.0):
        self.clock = Clock(1000.0)
        self.waits = []
        self.sent = []
        self.http = HttpClient(sleep=self.sleep, clock=self.clock)
        self.latency = latency
        self.answers = []
        transport.handler = self.answer

    def sleep(self, seconds):
        self.waits.append(seconds)
        self.clock.now += seconds

    def answer(self, seen):
        self.sent.append(self.clock.now)
        self.clock.now += self.latency
        return self.answers.pop(0) if self.answers else make_response(200, {})

    def send(self, rate):
        return self.http.send("GET", URL, rate=rate).status_code


def test_an_attempt_refused_with_429_takes_no_slot(transport):
    timed = TimedClient(transport)
    timed.answers = [make_response(429, headers={"Retry-After": "1"})]
    rate = (a_limit("incidents", 2, 60),)
    assert [timed.send(rate) for dummy in range(3)] == [200, 200, 200]
    assert timed.sent == [1000.0, 1001.0, 1001.0, 1061.0], "the retry and the next call share the two slots"
    assert timed.waits == [1.0, 60.0]
    assert timed.http.stats.paced_seconds == 60.0


@pytest.mark.parametrize("failure", [make_response(503), connection_refused()])
def test_an_attempt_that_may_have_been_counted_takes_a_slot(transport, failure):
    timed = TimedClient(transport)
    timed.answers = [failure]
    rate = (a_limit("incidents", 2, 60),)
    assert [timed.send(rate) for dummy in range(2)] == [200, 200]
    assert timed.sent == [1000.0, 1000.5, 1060.0], "the failed attempt and its retry hold both slots"


def test_a_slot_is_held_from_the_moment_the_answer_arrived(transport):
    """The server counted the call somewhere between sending and answering: the window starts at the answer."""
    timed = TimedClient(transport, latency=0.5)
    rate = (a_limit("incidents", 1, 60),)
    timed.send(rate)
    timed.send(rate)
    assert timed.sent == [1000.0, 1060.5]


class LimitedServer(object):
    """A sliding-window limit as the sandbox and Microsoft apply it: a call takes a slot when it arrives, a
    refused call takes none, Retry-After in whole seconds. Each request travels `travel(n)` seconds to the
    server (n: requests so far) and 0.1 s back."""

    def __init__(self, clock, limit, window, travel):
        self.clock, self.limit, self.window, self.travel = clock, limit, window, travel
        self.accepted = []
        self.refused = 0

    def __call__(self, seen):
        self.clock.now += self.travel(len(self.accepted) + self.refused)
        recent = [moment for moment in self.accepted if moment > self.clock.now - self.window]
        if len(recent) >= self.limit:
            self.refused += 1
            retry_after = max(1, int(math.ceil(recent[-self.limit] + self.window - self.clock.now)))
            response = make_response(429, {"error": {"code": "429"}}, headers={"Retry-After": str(retry_after)})
        else:
            self.accepted.append(self.clock.now)
            response = make_response(200, {"value": []})
        self.clock.now += 0.1
        return response


def test_paging_at_the_limit_provokes_no_429_and_uses_every_window(transport):
    """Two minutes' allowance of Defender list calls, the first call slower on its way than the others."""
    clock = Clock(1000.0)
    server = LimitedServer(clock, 50, 60, travel=lambda count: 0.3 if count == 0 else 0.1)
    transport.handler = server
    http = HttpClient(sleep=lambda seconds: setattr(clock, "now", clock.now + seconds), clock=clock)
    rate = (a_limit("incidents", 50, 60), a_limit("incidents-hour", 1500, 3600))
    assert all(http.send("GET", URL, rate=rate).status_code == 200 for dummy in range(100))
    assert server.refused == 0 and http.stats.throttled == 0
    first_minute = server.accepted[49] - server.accepted[0]
    assert server.accepted[-1] - server.accepted[0] < 60 + first_minute + 1, "no call waited for a third window"


def test_http_stats_report():
    stats = HttpStats()
    assert stats.as_dict() == {"requests": 0, "retries": 0, "throttled": 0, "wait_seconds": 0.0, "paced_seconds": 0.0}
    stats.requests, stats.retries, stats.throttled = 5, 2, 1
    stats.wait_seconds, stats.paced_seconds = 1.23456, 60.0004
    assert stats.as_dict() == {"requests": 5, "retries": 2, "throttled": 1, "wait_seconds": 1.235, "paced_seconds": 60.0}


def test_throttled_counts_the_429s_that_were_retried(transport, sleeper):
    http = HttpClient(retries=3, sleep=sleeper)
    transport.answer(make_response(429, headers={"Retry-After": "1"}), make_response(503),
                     make_response(429, headers={"Retry-After": "2"}), make_response(200, {}))
    assert http.send("GET", URL).status_code == 200
    # Retry-After 1 s, then the second attempt's backoff (0.5 s * 2), then Retry-After 2 s.
    assert sleeper.waits == [1.0, 1.0, 2.0]
    assert http.stats.as_dict() == {"requests": 4, "retries": 3, "throttled": 2, "wait_seconds": 4.0, "paced_seconds": 0.0}


@pytest.mark.parametrize("retries", [0, 1])
def test_throttled_counts_a_429_on_the_last_attempt(transport, sleeper, retries):
    http = HttpClient(retries=retries, sleep=sleeper)
    transport.answer(*[make_response(429, headers={"Retry-After": "1"}) for dummy in range(retries + 1)])
    assert http.send("GET", URL).status_code == 429
    assert http.stats.throttled == retries + 1


# ----- progress: waits the user should hear about


class Events(object):
    """Records reports and sleeps in one list, in the order they happen, and moves a clock on when sleeping."""

    def __init__(self, clock=None):
        self.clock = clock
        self.seen = []

    def progress(self, message, verbose):
        self.seen.append(("report", message, verbose))

    def sleep(self, seconds):
        self.seen.append(("sleep", seconds))
        if self.clock is not None:
            self.clock.now += seconds

    def reports(self):
        return [event[1:] for event in self.seen if event[0] == "report"]


def test_report_passes_the_message_and_its_verbosity():
    events = Events()
    http = HttpClient(progress=events.progress)
    http.report("a wait")
    http.report("a page", verbose=True)
    assert events.reports() == [("a wait", False), ("a page", True)]


def test_nothing_is_reported_without_a_progress_callable(transport):
    """Modules running as separate processes pass None: reporting is a no-op and waits stay the same."""
    clock = Clock(1000.0)
    events = Events(clock)
    http = HttpClient(sleep=events.sleep, clock=clock)
    assert http.progress is None
    http.report("nobody listens")
    transport.answer(make_response(429, headers={"Retry-After": "30"}), make_response(200, {}),
                     make_response(200, {}))
    rate = (a_limit("incidents", 1, 60),)
    http.send("GET", URL, rate=rate)
    http.send("GET", URL, rate=rate)
    assert events.seen == [("sleep", 30.0), ("sleep", 60.0)]


def test_a_pacing_wait_is_reported_before_sleeping_saying_whose_limit(transport):
    clock = Clock(1000.0)
    events = Events(clock)
    http = HttpClient(sleep=events.sleep, clock=clock, progress=events.progress)
    transport.handler = lambda seen: make_response(200, {})
    rate = (Limit("incidents", 2, 60, "the Defender API", "incident list and update calls"),)
    http.send("GET", URL, rate=rate)
    clock.now = 1002.0
    http.send("GET", URL, rate=rate)
    http.send("GET", URL, rate=rate)
    assert events.seen == [
        ("report", "waiting 58 s: the Defender API allows 2 incident list and update calls a minute", False),
        ("sleep", 58.0),
    ]
    assert http.stats.paced_seconds == 58.0 and http.stats.retries == 0


@pytest.mark.parametrize("last_call_at, reported", [
    (1000.0 + 60 - WAIT_NOTICE_SECONDS - 0.1, True),
    (1000.0 + 60 - WAIT_NOTICE_SECONDS, True),
    (1000.0 + 60 - WAIT_NOTICE_SECONDS + 0.1, False),
    (1059.9, False),
])
def test_only_pacing_waits_of_at_least_the_notice_threshold_are_reported(transport, last_call_at, reported):
    clock = Clock(1000.0)
    events = Events(clock)
    http = HttpClient(sleep=events.sleep, clock=clock, progress=events.progress)
    transport.handler = lambda seen: make_response(200, {})
    http.send("GET", URL, rate=(a_limit("k", 1, 60),))
    clock.now = last_call_at
    http.send("GET", URL, rate=(a_limit("k", 1, 60),))
    assert [event[0] for event in events.seen] == (["report", "sleep"] if reported else ["sleep"])
    assert http.stats.paced_seconds == pytest.approx(1060.0 - last_call_at)


def test_every_limit_that_makes_a_call_wait_is_reported(transport):
    clock = Clock(1000.0)
    events = Events(clock)
    http = HttpClient(sleep=events.sleep, clock=clock, progress=events.progress)
    transport.handler = lambda seen: make_response(200, {})
    rate = (Limit("m", 2, 60, "the Defender API", "calls"), Limit("h", 3, 3600, "the Defender API", "calls"))
    for dummy in range(4):
        http.send("GET", URL, rate=rate)
    assert events.seen == [
        ("report", "waiting 60 s: the Defender API allows 2 calls a minute", False), ("sleep", 60.0),
        ("report", "waiting 3540 s: the Defender API allows 3 calls an hour", False), ("sleep", 3540.0),
    ]


@pytest.mark.parametrize("window, words", [(60, "a minute"), (3600, "an hour"), (10, "every 10 s"),
                                           (0.5, "every 0.5 s")])
def test_a_limit_describes_itself_in_words(window, words):
    assert Limit("k", 45, window, "the Graph API", "hunting queries").describe() == (
        "the Graph API allows 45 hunting queries " + words)


def test_a_retry_after_wait_is_reported_with_the_status_and_the_retry(transport):
    events = Events()
    http = HttpClient(retries=3, sleep=events.sleep, progress=events.progress)
    transport.answer(make_response(429, headers={"Retry-After": "30"}),
                     make_response(503, headers={"Retry-After": "4.4"}), make_response(200, {}))
    assert http.send("GET", URL + "?$skiptoken=opaque-cursor").status_code == 200
    assert events.seen == [
        ("report", "waiting 30 s: HTTP 429 (Too Many Requests), Retry-After 30 s; retry 1 of 3", False),
        ("sleep", 30.0),
        ("report", "waiting 4 s: HTTP 503 (Service Unavailable), Retry-After 4 s; retry 2 of 3", False),
        ("sleep", 4.4),
    ]
    assert not [message for message, verbose in events.reports() if "skiptoken" in message or "http" in message]
    assert http.stats.as_dict() == {"requests": 3, "retries": 2, "throttled": 1, "wait_seconds": 34.4,
                                    "paced_seconds": 0.0}


def test_a_short_retry_after_wait_is_not_reported(transport):
    events = Events()
    http = HttpClient(retries=3, sleep=events.sleep, progress=events.progress)
    transport.answer(make_response(429, headers={"Retry-After": "2.9"}), make_response(200, {}))
    http.send("GET", URL)
    assert events.seen == [("sleep", 2.9)]


def test_only_the_backoff_waits_long_enough_are_reported(transport):
    events = Events()
    http = HttpClient(retries=5, sleep=events.sleep, progress=events.progress)
    transport.answer(*([make_response(502)] * 4 + [make_response(200, {})]))
    assert http.send("GET", URL).status_code == 200
    assert events.seen == [
        ("sleep", 0.5), ("sleep", 1.0), ("sleep", 2.0),
        ("report", "waiting 4 s: HTTP 502 (Bad Gateway), backing off; retry 4 of 5", False), ("sleep", 4.0),
    ]


def test_a_lost_connection_wait_says_so(transport):
    events = Events()
    http = HttpClient(retries=5, sleep=events.sleep, progress=events.progress)
    transport.answer(*([connection_refused()] * 3 + [requests.exceptions.ReadTimeout("read timed out")]
                       + [make_response(200, {})]))
    assert http.send("GET", URL).status_code == 200
    assert events.reports() == [
        ("waiting 4 s: no complete answer (connection lost or timed out), backing off; retry 4 of 5", False)]


@pytest.mark.parametrize("status, named", [(200, "HTTP 200 (OK)"), (299, "HTTP 299")])
def test_a_garbled_body_wait_names_the_status(transport, status, named):
    events = Events()
    http = HttpClient(retries=5, sleep=events.sleep, progress=events.progress)
    transport.answer(*([make_response(status, text="<html>cut") for dummy in range(4)] + [make_response(200, {})]))
    assert http.request_json("GET", URL) == {}
    assert events.reports() == [
        ("waiting 4 s: %s with a body that is not a JSON object, backing off; retry 4 of 5" % named, False)]


# ----- MSAL adapter


class RecordingHttp(object):
    def __init__(self):
        self.calls = []

    def send(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        return "response"


def test_msal_adapter_drops_verify_and_timeout():
    http = RecordingHttp()
    adapter = MsalHttpAdapter(http)
    assert adapter.get("https://login.test/t/v2.0/.well-known/openid-configuration", params={"a": "1"},
                       headers={"h": "v"}, verify=False, timeout=1, allow_redirects=False) == "response"
    assert adapter.post("https://login.test/t/oauth2/v2.0/token", data={"grant_type": "client_credentials"},
                        verify="/tmp/other.pem", timeout=2) == "response"
    assert http.calls == [
        ("GET", "https://login.test/t/v2.0/.well-known/openid-configuration",
         {"params": {"a": "1"}, "headers": {"h": "v"}, "allow_redirects": False}),
        ("POST", "https://login.test/t/oauth2/v2.0/token",
         {"params": None, "data": {"grant_type": "client_credentials"}, "headers": None, "idempotent": True}),
    ]


def test_msal_adapter_uses_the_clients_tls_and_timeout_and_close_keeps_the_session(transport):
    http = HttpClient(ca_path="/etc/m365d/ca.pem", timeout=9, sleep=Sleeper())
    adapter = MsalHttpAdapter(http)
    transport.answer(make_response(200, {"token_type": "Bearer"}), make_response(200, {}))
    response = adapter.post("https://login.test/t/oauth2/v2.0/token", data={"grant_type": "client_credentials"},
                            verify=False, timeout=100)
    assert response.json() == {"token_type": "Bearer"}
    adapter.close()
    adapter.get("https://login.test/t/v2.0/.well-known/openid-configuration")
    assert [(seen.verify, seen.timeout) for seen in transport.seen] == [("/etc/m365d/ca.pem", 9)] * 2
    assert transport.seen[0].form == {"grant_type": "client_credentials"}


# ----- redirects: another origin is refused, a write is never redirected


def redirect(status, location):
    return make_response(status, headers={"Location": location})


@pytest.mark.parametrize("location, there", [
    ("https://evil.example/v1.0/security/incidents", "https://evil.example:443"),
    ("http://graph.sandbox.test/v1.0/security/incidents", "http://graph.sandbox.test:80"),
    ("https://graph.sandbox.test:8443/v1.0/security/incidents", "https://graph.sandbox.test:8443"),
    ("//other.sandbox.test/x", "https://other.sandbox.test:443"),
])
def test_a_redirect_to_another_origin_is_refused_naming_both_origins(transport, client, location, there):
    transport.answer(redirect(302, location), make_response(200, {"value": ["from the other host"]}))
    with pytest.raises(TransportError) as raised:
        client.request_json("GET", URL + "?$top=5", headers={"Authorization": "Bearer secret-token"})
    message = raised.value.message
    assert "redirected (HTTP 302) to another origin, %s" % there in message
    assert "https://graph.sandbox.test:443" in message
    assert "$top" not in message, "no query in the message"
    assert len(transport.seen) == 1, "not followed"
    assert client.stats.retries == 0, "not retried"


@pytest.mark.parametrize("location", ["/v1.0/security/incidents?page=2", "https://GRAPH.sandbox.test:443/v1.0/x"])
def test_a_get_redirected_on_the_same_origin_is_followed_with_its_token(transport, client, location):
    transport.answer(redirect(302, location), make_response(200, {"value": [1]}))
    assert client.request_json("GET", URL, headers={"Authorization": "Bearer secret-token"}) == {"value": [1]}
    assert len(transport.seen) == 2
    assert transport.seen[1].headers["Authorization"] == "Bearer secret-token"


@pytest.mark.parametrize("method, status", [("POST", 307), ("PATCH", 308), ("POST", 302), ("PATCH", 303)])
def test_a_write_is_never_redirected(transport, client, method, status):
    transport.answer(redirect(status, "/v1.0/security/incidents/1/comments2"), make_response(200, {}))
    with pytest.raises(TransportError) as raised:
        client.request_json(method, URL, json={"comment": "x"})
    target = "https://graph.sandbox.test/v1.0/security/incidents/1/comments2"
    assert "%s %s was redirected (HTTP %d) to %s" % (method, URL, status, target) in raised.value.message
    assert "only GET requests follow a redirect" in raised.value.message
    assert len(transport.seen) == 1


def test_a_sign_in_redirected_to_another_origin_is_refused(transport):
    adapter = MsalHttpAdapter(HttpClient(sleep=Sleeper()))
    transport.answer(redirect(307, "https://collector.example/token"), make_response(200, {"access_token": "x"}))
    with pytest.raises(TransportError, match="to another origin, https://collector.example:443"):
        adapter.post("https://login.test/t/oauth2/v2.0/token", data={"client_secret": "s3cr3t-value"})
    assert len(transport.seen) == 1


# ----- the MSAL adapter remembers every credential and token it carries


def test_msal_adapter_remembers_credentials_sent_and_tokens_received(transport):
    remembered = []
    adapter = MsalHttpAdapter(HttpClient(sleep=Sleeper()), remember=remembered.append)
    transport.answer(make_response(200, {"access_token": "access-1", "refresh_token": "refresh-1",
                                         "id_token": "id-1", "token_type": "Bearer", "expires_in": 3599}),
                     make_response(200, {"access_token": "access-2", "expires_on": "1"}),
                     make_response(400, {"error": "invalid_grant"}))
    adapter.post("https://login.test/t/oauth2/v2.0/token",
                 data={"grant_type": "password", "client_secret": "secret-1", "client_assertion": "assertion-1",
                       "refresh_token": "old-refresh", "password": "pass-1", "scope": "https://graph/.default"})
    adapter.get("http://169.254.169.254/metadata/identity/oauth2/token", params={"resource": "r"})
    adapter.post("https://login.test/t/oauth2/v2.0/token", data="grant_type=refresh_token&refresh_token=old-refresh-2")
    transport.answer(make_response(200, {}))
    adapter.post("https://login.test/t/oauth2/v2.0/token", data={"client_assertion": b"assertion-as-bytes"})
    assert sorted(remembered) == sorted(["secret-1", "assertion-1", "old-refresh", "pass-1", "access-1", "refresh-1",
                                         "id-1", "access-2", "old-refresh-2", "assertion-as-bytes"])
