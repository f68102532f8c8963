# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One HTTP session for sign-in and API calls: TLS, timeouts, bounded retries, request ids."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import email.utils
import json
import time
import traceback
import uuid
from collections import namedtuple

from ansible.module_utils.six.moves import http_client
from ansible.module_utils.six.moves.urllib.parse import parse_qs, urljoin, urlparse

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import TransportError, api_error, ApiError
from ansible_collections.secops.m365_defender.plugins.module_utils._version import USER_AGENT

try:
    import requests
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

RETRY_STATUSES = frozenset([429, 500, 502, 503, 504])
NOT_CARRIED_OUT_STATUSES = frozenset([429, 503])
MAX_RETRY_WAIT = 60.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
# Shorter waits pass unnoticed; longer ones are reported while the task runs, with how long and why.
WAIT_NOTICE_SECONDS = 3.0
WINDOW_WORDS = {60: "a minute", 3600: "an hour"}

DEFAULT_PORTS = {"https": 443, "http": 80}
# Form fields of token requests and JSON fields of token answers that carry a credential or a token.
SECRET_FORM_FIELDS = ("client_secret", "client_assertion", "assertion", "refresh_token", "password", "device_code",
                      "code")
SECRET_ANSWER_FIELDS = ("access_token", "refresh_token", "id_token")

TLS_HINT = ("Set option 'ca_path' to the CA bundle that signs this endpoint's certificate (for example "
            "a TLS-inspecting proxy's CA); use validate_certs=false only for tests.")


def retry_after_seconds(value, now=None):
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - (now if now is not None else time.time()))


def backoff_seconds(attempt):
    """Exponential backoff for answers that did not say how long to wait."""
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** attempt))


class HttpStats(object):
    """What the session did, for results and benchmarks."""

    def __init__(self):
        self.requests = 0
        self.retries = 0
        self.throttled = 0
        self.wait_seconds = 0.0
        self.paced_seconds = 0.0

    def as_dict(self):
        return {
            "requests": self.requests,
            "retries": self.retries,
            "throttled": self.throttled,
            "wait_seconds": round(self.wait_seconds, 3),
            "paced_seconds": round(self.paced_seconds, 3),
        }


class Limit(namedtuple("Limit", ["key", "calls", "window", "api", "what"])):
    """At most `calls` calls of one kind, counted under `key`, in any `window` seconds; `api` and `what` name
    whose limit it is and which calls it counts, for the message of a wait."""

    __slots__ = ()

    def describe(self):
        """'the Defender API allows 50 incident list and update calls a minute'"""
        per = WINDOW_WORDS.get(self.window) or "every %g s" % self.window
        return "%s allows %d %s %s" % (self.api, self.calls, self.what, per)


class Pacer(object):
    """Keeps calls of one kind below a known per-window limit by waiting before the call that would exceed it.

    A call holds a slot from the moment its answer arrived: the server counted it at some moment before
    that, so our window never ends before the server's and pacing alone never provokes a 429.
    """

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.calls = {}

    def delay(self, key, limit, window):
        """Seconds to wait before the next call of this kind."""
        now = self.clock()
        recent = [moment for moment in self.calls.get(key, []) if moment > now - window]
        self.calls[key] = recent
        return max(0.0, recent[-limit] + window - now) if len(recent) >= limit else 0.0

    def record(self, key):
        """A call of this kind has just been answered."""
        self.calls.setdefault(key, []).append(self.clock())


class HttpClient(object):
    """A requests session with the collection's TLS, timeout, pacing and retry rules.

    `verify` is passed with every request because requests lets REQUESTS_CA_BUNDLE and
    CURL_CA_BUNDLE override a session's own `verify` setting.
    """

    def __init__(self, validate_certs=True, ca_path=None, timeout=30, retries=3, sleep=time.sleep,
                 clock=time.monotonic, progress=None):
        self.verify = ca_path if (validate_certs and ca_path) else bool(validate_certs)
        self.timeout = timeout
        self.retries = retries
        self.sleep = sleep
        self.progress = progress
        self.stats = HttpStats()
        self.pacer = Pacer(clock)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.hooks["response"].append(self._check_redirect)

    def close(self):
        self.session.close()

    def report(self, message, verbose=False):
        """Tell whoever watches the task what it is doing: `verbose` messages are for -v only."""
        if self.progress is not None:
            self.progress(message, verbose)

    def send(self, method, url, headers=None, idempotent=None, rate=(), **kwargs):
        """Send with retries on 429, 5xx and lost connections; return the last response.

        A lost connection is retried only for idempotent requests (GET, PATCH, ... by default; POST when
        the caller says so), since a POST may have been carried out. `rate` lists the Limits that calls of
        this kind are paced below; every attempt but one refused with 429 counts against them. Raises
        TransportError when no answer arrives after the last retry.
        """
        idempotent = _is_idempotent(method, idempotent)
        attempt = 0
        while True:
            self._pace(rate)
            try:
                response = self._send_once(method, url, headers, kwargs)
            except TransportError as exc:
                # The request may have reached the server and been counted there.
                self._record(rate)
                retryable = exc.details.pop("retryable", False) and idempotent
                if not retryable or attempt >= self.retries:
                    if attempt:
                        exc.message += " Gave up after %d attempts." % (attempt + 1)
                    raise
                self._wait(backoff_seconds(attempt), attempt,
                           "no complete answer (connection lost or timed out), backing off")
                attempt += 1
                continue
            if response.status_code == 429:
                # The server refused it: it took no slot there, so it takes none here.
                self.stats.throttled += 1
            else:
                self._record(rate)
            if response.status_code not in self._retry_statuses(idempotent) or attempt >= self.retries:
                return response
            delay = retry_after_seconds(response.headers.get("Retry-After"))
            if delay is not None and delay > MAX_RETRY_WAIT:
                return response
            if delay is None:
                self._wait(backoff_seconds(attempt), attempt, "%s, backing off" % _status(response))
            else:
                self._wait(delay, attempt, "%s, Retry-After %.0f s" % (_status(response), delay))
            attempt += 1

    @staticmethod
    def _retry_statuses(idempotent):
        """A request that must not run twice is retried only on answers saying it was not carried out."""
        return RETRY_STATUSES if idempotent else NOT_CARRIED_OUT_STATUSES

    def _send_once(self, method, url, headers, kwargs):
        request_headers = {"client-request-id": str(uuid.uuid4()), "return-client-request-id": "true"}
        request_headers.update(headers or {})
        self.stats.requests += 1
        try:
            return self.session.request(
                method, url, headers=request_headers, verify=self.verify, timeout=self.timeout, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise TransportError(
                "TLS verification failed for %s: %s." % (url, _root_cause(exc)), hint=TLS_HINT, url=url)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError) as exc:
            raise TransportError(
                "%s %s got no complete answer: %s." % (method, url, _root_cause(exc)),
                hint="Check the network path, proxies (HTTPS_PROXY, NO_PROXY) and option 'timeout'.",
                url=url, retryable=True)

    def _check_redirect(self, response, **kwargs):
        """Refuse a redirect before requests follows it, unless it is a GET that stays on the same origin.

        Another origin would get the request (requests strips the token, but that host's answer would be
        taken as the API's); a redirected write could turn into a GET and pass for done.
        """
        if not response.is_redirect:
            return response
        method = response.request.method
        target = urljoin(response.url, self.session.get_redirect_target(response))
        here, there = origin(response.url), origin(target)
        if here != there:
            raise TransportError(
                "%s %s was redirected (HTTP %s) to another origin, %s; refused: answers are taken only from %s."
                % (method, _without_query(response.url), response.status_code, there, here),
                hint="Check the endpoint options (login_url, graph_url, defender_url) and any proxy in between.",
                url=_without_query(response.url))
        if method != "GET":
            raise TransportError(
                "%s %s was redirected (HTTP %s) to %s; refused: only GET requests follow a redirect (on the same "
                "origin), a write is never sent again." % (
                    method, _without_query(response.url), response.status_code, _without_query(target)),
                url=_without_query(response.url))
        return response

    def _pace(self, rate):
        for limit in rate:
            delay = self.pacer.delay(limit.key, limit.calls, limit.window)
            if delay > 0:
                self.stats.paced_seconds += delay
                self._notice(delay, limit.describe())
                self.sleep(delay)

    def _record(self, rate):
        for limit in rate:
            self.pacer.record(limit.key)

    def _wait(self, seconds, attempt, why):
        """Wait before retry number `attempt` + 1; `why` says what the last attempt got."""
        self.stats.retries += 1
        self.stats.wait_seconds += seconds
        if seconds > 0:
            self._notice(seconds, "%s; retry %d of %d" % (why, attempt + 1, self.retries))
            self.sleep(seconds)

    def _notice(self, seconds, why):
        """Report a wait long enough for the user to wonder why nothing happens."""
        if seconds >= WAIT_NOTICE_SECONDS:
            self.report("waiting %.0f s: %s" % (seconds, why))

    def request_json(self, method, url, tenant=None, **kwargs):
        """Send and return the parsed JSON object; raise ApiError for error answers or unusable bodies.

        A success whose body is not a JSON object (cut short, or garbled on the way) is retried like a
        lost connection when the request is idempotent.
        """
        attempt = 0
        while True:
            response = self.send(method, url, **kwargs)
            body = _parse_body(response)
            if response.status_code >= 400:
                raise api_error(method, url, response.status_code, body,
                                request_id=response.headers.get("request-id"), tenant=tenant,
                                retry_after=response.headers.get("Retry-After"))
            if isinstance(body, dict):
                return body
            if response.status_code == 204:  # No Content: a success that answers nothing (a DELETE)
                return {}
            if attempt >= self.retries or not _is_idempotent(method, kwargs.get("idempotent")):
                raise ApiError(
                    "%s %s answered HTTP %s with a body that is not a JSON object: %s" % (
                        method, url, response.status_code, repr(body)[:200]),
                    status=response.status_code, tenant_id=tenant)
            self._wait(backoff_seconds(attempt), attempt,
                       "%s with a body that is not a JSON object, backing off" % _status(response))
            attempt += 1


def _status(response):
    """'HTTP 429 (Too Many Requests)': the status with its standard name, not the server's own words."""
    name = http_client.responses.get(response.status_code)
    return "HTTP %s (%s)" % (response.status_code, name) if name else "HTTP %s" % response.status_code


def origin(url):
    """scheme://host:port of a URL, with the scheme's default port written out, for comparing origins."""
    parsed = urlparse(url)
    scheme = (parsed.scheme or "").lower()
    return "%s://%s:%s" % (scheme, (parsed.hostname or "").lower(), parsed.port or DEFAULT_PORTS.get(scheme, ""))


def _without_query(url):
    """A URL without its query, which may carry anything (tokens in a redirect, a skiptoken)."""
    return urlparse(url)._replace(query="", fragment="").geturl()


def _is_idempotent(method, idempotent):
    """Whether a request may be sent again: as the caller says, else every method but POST."""
    return method != "POST" if idempotent is None else idempotent


def _parse_body(response):
    """The JSON body, or its raw text when it is not JSON."""
    text = response.text
    if not text:
        return ""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _root_cause(exc):
    """The innermost reason of a requests exception, without the long wrapper text."""
    reason = exc
    while True:
        inner = getattr(reason, "reason", None) or (reason.args[0] if getattr(reason, "args", None) else None)
        if inner is None or inner is reason or isinstance(inner, str):
            break
        reason = inner
    return str(reason)


class MsalHttpAdapter(object):
    """The object MSAL calls as its `http_client`, so sign-in uses the same TLS and retry rules.

    Every credential MSAL sends (secret, client assertion, refresh token, password) and every token it
    receives passes through here, and is handed to `remember` so that the task hides it from its output.
    """

    def __init__(self, http, login_url=None, remember=None):
        self.http = http
        self.login = urlparse(login_url) if login_url else None
        self.remember = remember or _forget

    def get(self, url, params=None, headers=None, **kwargs):
        response = self.http.send("GET", self._route(url), params=params, headers=headers, **_msal_kwargs(kwargs))
        self._remember_answer(response)
        return response

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        self._remember_fields(data, SECRET_FORM_FIELDS)
        # Token requests change nothing, so a lost connection may be retried.
        response = self.http.send("POST", url, params=params, data=data, headers=headers, idempotent=True,
                                  **_msal_kwargs(kwargs))
        self._remember_answer(response)
        return response

    def _remember_fields(self, fields, names):
        if isinstance(fields, bytes):
            fields = fields.decode("utf-8", "replace")
        if isinstance(fields, str):
            fields = dict((key, values[0]) for key, values in parse_qs(fields).items())
        for name in names:
            value = (fields or {}).get(name) if isinstance(fields, dict) else None
            if isinstance(value, bytes):
                # MSAL sends a certificate's client assertion as bytes.
                value = value.decode("utf-8", "replace")
            if value:
                self.remember(value)

    def _remember_answer(self, response):
        text = getattr(response, "text", None)
        try:
            body = json.loads(text) if isinstance(text, str) and text else None
        except ValueError:
            return
        if isinstance(body, dict):
            self._remember_fields(body, SECRET_ANSWER_FIELDS)

    def close(self):
        """MSAL may close its client; the session belongs to HttpClient and stays open."""

    def _route(self, url):
        """MSAL asks for a user's realm on port 443 of the login host whatever the authority's port:
        send it to the port of the login endpoint in use."""
        parsed = urlparse(url)
        if (self.login is not None and "/common/userrealm/" in parsed.path
                and parsed.hostname == self.login.hostname and parsed.port != self.login.port):
            return parsed._replace(netloc=self.login.netloc).geturl()
        return url


def _forget(value):
    """The default `remember`: nobody to tell."""


def _msal_kwargs(kwargs):
    """Drop what HttpClient decides itself (TLS and timeouts)."""
    return dict((key, value) for key, value in kwargs.items() if key not in ("verify", "timeout"))
