# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test doubles shared by the unit tests: HTTP answers, a fake transport under requests, JWTs, PEM files.

`FakeTransport` answers every request a test's code sends through requests; `Router` sends each request to the
fake service of its host (FakeEntra, IncidentApi, IncidentService, ...). The values the tests share (tenants, the
app, the hosts) are in constants.py. What these fakes are for, beside the sandbox: docs/architecture.md, "Where to
change what".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import datetime
import json
import os
import time

import requests
from ansible.module_utils.six.moves.urllib.parse import parse_qs, urlencode, urlparse

from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import TENANT_ID


def make_response(status=200, body=None, headers=None, text=None):
    """A real requests.Response with a JSON body (or raw text) and headers."""
    resp = requests.Response()
    resp.status_code = status
    resp.reason = "Fake"
    if text is None:
        text = "" if body is None else json.dumps(body)
    resp._content = text.encode("utf-8")  # pylint: disable=protected-access
    resp.encoding = "utf-8"
    if body is not None:
        resp.headers["Content-Type"] = "application/json; charset=utf-8"
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


class Seen(object):
    """One request as it left requests, after the session merged its headers and settings."""

    def __init__(self, request, kwargs):
        self.method = request.method
        self.url = request.url
        parsed = urlparse(request.url)
        self.scheme, self.host, self.port, self.path = parsed.scheme, parsed.hostname, parsed.port, parsed.path
        self.query = dict((key, values[0]) for key, values in parse_qs(parsed.query).items())
        self.headers = dict(request.headers)
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        self.body = body
        self.form = dict((key, values[0]) for key, values in parse_qs(body or "").items()) if body else {}
        self.verify = kwargs.get("verify")
        self.timeout = kwargs.get("timeout")

    def __repr__(self):
        return "<Seen %s %s>" % (self.method, self.url)


class FakeTransport(object):
    """Stands in for requests' HTTPAdapter.send: records what was sent, answers from a script or a handler.

    An answer is a requests.Response, an exception instance (raised), or a callable taking the Seen request
    and returning one of those. Scripted answers are used first; then `handler`; with neither the request
    is an error, so no test can reach a network by accident.
    """

    def __init__(self):
        self.seen = []
        self.script = []
        self.handler = None

    def answer(self, *answers):
        self.script.extend(answers)
        return self

    def send(self, request, **kwargs):
        seen = Seen(request, kwargs)
        self.seen.append(seen)
        if self.script:
            answer = self.script.pop(0)
        elif self.handler is not None:
            answer = self.handler
        else:
            raise AssertionError("unexpected request %s %s" % (seen.method, seen.url))
        if callable(answer) and not isinstance(answer, (requests.Response, BaseException)):
            answer = answer(seen)
        if isinstance(answer, BaseException):
            raise answer
        answer.request = request
        answer.url = request.url
        return answer


def b64url(data):
    if not isinstance(data, bytes):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def make_jwt(claims, header=None):
    """An unsigned-looking JWT (header.payload.signature) carrying these claims."""
    header = header or {"typ": "JWT", "alg": "RS256", "kid": "test"}
    return "%s.%s.%s" % (b64url(json.dumps(header)), b64url(json.dumps(claims)), b64url(b"not-a-real-signature"))


def jwt_part(token, index):
    """Decode one part (0 header, 1 payload) of a JWT."""
    part = token.split(".")[index]
    part += "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(part.encode("ascii")).decode("utf-8"))


_KEYS = {}


def rsa_key(name="default"):
    """An RSA key, generated once per name for the whole test run (key generation is slow)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    if name not in _KEYS:
        _KEYS[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _KEYS[name]


def make_certificate(key, common_name="secops-unit-test", issuer_key=None, issuer_name=None, ip_address=None,
                     valid_days=(-1, 30)):
    """A certificate for `key`, self-signed unless an issuer key and name are given, valid from and until these
    days from now."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]) if issuer_name else subject
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=valid_days[0]))
        .not_valid_after(now + datetime.timedelta(days=valid_days[1]))
    )
    if ip_address:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip_address))]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def key_pem(key, password=None, traditional=False):
    from cryptography.hazmat.primitives import serialization

    encryption = (serialization.BestAvailableEncryption(password.encode("utf-8")) if password
                  else serialization.NoEncryption())
    key_format = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, key_format, encryption).decode("ascii")


def cert_pem(certificate):
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def cert_der(certificate):
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.DER)


class FakeClock(object):
    """Stands in for time.time and time.sleep: sleeping moves the clock on at once and is recorded."""

    def __init__(self, start=None):
        self.now = time.time() if start is None else start
        self.slept = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


class LocalHttpsServer(object):
    """A real HTTPS server on 127.0.0.1 with its own self-signed certificate, answering {"ok": true}."""

    def __init__(self, directory):
        import ssl
        import threading

        from ansible.module_utils.six.moves.BaseHTTPServer import BaseHTTPRequestHandler, HTTPServer

        key = rsa_key("https-server")
        self.ca_path = os.path.join(directory, "server-ca.pem")
        key_path = os.path.join(directory, "server-key.pem")
        with open(self.ca_path, "w") as handle:
            handle.write(cert_pem(make_certificate(key, common_name="127.0.0.1", ip_address="127.0.0.1")))
        with open(key_path, "w") as handle:
            handle.write(key_pem(key))
        served = self.served = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # pylint: disable=invalid-name
                served.append(self.path)
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # pylint: disable=arguments-differ
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_path, key_path)
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = "https://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.daemon = True
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class FakeAuthenticator(object):
    """Gives a fixed access token; `renewed` lists the tokens renew() switches to, in order (none: cannot renew)."""

    def __init__(self, access_token="header.payload.signature", renewed=()):
        self.access_token = access_token
        self.renewed = list(renewed)
        self.calls = 0
        self.renewals = 0

    def token(self):
        self.calls += 1
        return self

    def renew(self):
        self.renewals += 1
        if not self.renewed:
            return False
        self.access_token = self.renewed.pop(0)
        return True

    @property
    def claims(self):
        return {}


class IncidentApi(object):
    """Answers incident list requests like the Graph or the Defender API, from a list of incidents.

    Graph: `$top` at most 50, `$skip`, `@odata.nextLink` while more remain. Defender: `$top` at most 100,
    `$skip`, no nextLink unless `next_links` is set. Records the query of every request it answers.
    """

    def __init__(self, api, incidents, base_url, next_links=None):
        self.api = api
        self.incidents = incidents
        self.base_url = base_url
        self.max_top = 50 if api == "graph" else 100
        self.next_links = (api == "graph") if next_links is None else next_links
        self.queries = []

    def __call__(self, seen):
        self.queries.append(dict(seen.query))
        top = int(seen.query.get("$top", self.max_top))
        if top > self.max_top:
            return make_response(400, {"error": {"code": "BadRequest",
                                                 "message": "The limit of '%d' for Top query has been exceeded." % self.max_top}})
        skip = int(seen.query.get("$skip", 0))
        page = self.incidents[skip:skip + top]
        body = {"@odata.context": "%s/$metadata#incidents" % self.base_url, "value": page}
        if self.next_links and skip + top < len(self.incidents):
            query = dict(seen.query, **{"$skip": str(skip + top)})
            path = seen.path[len(urlparse(self.base_url).path):]
            body["@odata.nextLink"] = "%s%s?%s" % (self.base_url, path, urlencode(sorted(query.items())))
        return make_response(200, body)


class Router(object):
    """Sends each request to the fake service of its host; a host without one is an error."""

    def __init__(self, **services):
        self.services = services

    def __call__(self, seen):
        if seen.host not in self.services:
            raise AssertionError("unexpected request to %s: %s %s" % (seen.host, seen.method, seen.url))
        return self.services[seen.host](seen)


DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
FAKE_USER = {"upn": "analyst@contoso.example", "password": "Correct-Horse-1", "oid": "0a1b2c3d-1111-2222-3333-444455556666"}


def entra_error(status, error, code, description, **extra):
    """An Entra ID error answer (docs/microsoft-apis.md §3)."""
    body = {"error": error, "error_description": "AADSTS%d: %s\r\nTrace ID: t\r\nCorrelation ID: c" % (code, description),
            "error_codes": [code], "trace_id": "t", "correlation_id": "c"}
    body.update(extra)
    return make_response(status, body)


class FakeEntra(object):
    """OIDC discovery, the v2 token endpoint, the device code endpoint and user realm discovery of one tenant.

    The token endpoint answers the client credentials grant with `access_token` (later requests with
    `later_tokens`), and the user grants (password, device code, refresh token) with a delegated token set:
    an access token (`tokens_by_resource` per API, else `access_token`), a refresh token, an ID token and
    `client_info`, as Entra ID does, so MSAL builds an account from them. The device code grant answers
    authorization_pending `pending_polls` times, then `device_outcome` (a Response) or the token set.
    The device code endpoint answers a new code (its fields overridden by `device_fields`) or `device_answer`.
    `token_answer` (a Response, or a callable taking the Seen request and returning one or None) overrides
    the token endpoint. `events` lists what was asked, in order: ("discovery",), ("userrealm", user),
    ("devicecode",), ("token", grant type); a test may append its own events to it.
    """

    def __init__(self, login_url, tenant, token_answer=None, discovery_answer=None, access_token=None, later_tokens=(),
                 tokens_by_resource=None, user=None, pending_polls=0, device_outcome=None, device_answer=None,
                 device_fields=None, expires_in=3599):
        self.login_url = login_url
        self.tenant = tenant
        self.access_token = access_token or make_jwt({"aud": "https://graph.microsoft.com", "tid": "t", "roles": ["R"]})
        self.later_tokens = list(later_tokens)  # handed out, in order, by the second and later token requests
        self.tokens_by_resource = dict(tokens_by_resource or {})
        self.token_answer = token_answer
        self.discovery_answer = discovery_answer
        self.user = dict(user or FAKE_USER)
        self.pending_polls = pending_polls
        self.device_outcome = device_outcome
        self.device_answer = device_answer
        self.device_fields = dict(device_fields or {})
        self.expires_in = expires_in
        self.token_requests = []
        self.device_requests = []
        self.userrealm_requests = []
        self.refresh_tokens = []
        self.events = []
        self._polls = 0
        self._device_scopes = {}

    @property
    def base(self):
        return "%s/%s" % (self.login_url, self.tenant)

    def __call__(self, seen):
        base = self.base
        if seen.url.startswith(base + "/v2.0/.well-known/openid-configuration"):
            self.events.append(("discovery",))
            if self.discovery_answer is not None:
                return self.discovery_answer
            return make_response(200, {
                "authorization_endpoint": base + "/oauth2/v2.0/authorize",
                "token_endpoint": base + "/oauth2/v2.0/token",
                "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
                "issuer": base + "/v2.0"})
        if seen.method == "GET" and seen.url.startswith(self.login_url + "/common/userrealm/"):
            user = seen.path.rsplit("/", 1)[-1]
            self.userrealm_requests.append(seen)
            self.events.append(("userrealm", user))
            return make_response(200, {"ver": "1.0", "account_type": "Managed", "domain_name": user.split("@")[-1],
                                       "cloud_instance_name": "microsoftonline.com",
                                       "cloud_audience_urn": "urn:federation:MicrosoftOnline"})
        if seen.method == "POST" and seen.url == base + "/oauth2/v2.0/devicecode":
            self.device_requests.append(seen)
            self.events.append(("devicecode",))
            return self._device_code(seen) if self.device_answer is None else self.device_answer
        if seen.method == "POST" and seen.url == base + "/oauth2/v2.0/token":
            self.token_requests.append(seen)
            grant = seen.form.get("grant_type")
            self.events.append(("token", grant))
            if self.token_answer is not None:
                answer = self.token_answer(seen) if callable(self.token_answer) else self.token_answer
                if answer is not None:
                    return answer
            if grant == "password":
                return self._password(seen)
            if grant == DEVICE_CODE_GRANT:
                return self._device_poll(seen)
            if grant == "refresh_token":
                return self._refresh(seen)
            if len(self.token_requests) > 1 and self.later_tokens:
                self.access_token = self.later_tokens.pop(0)
            return make_response(200, {
                "token_type": "Bearer", "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
                "access_token": self.tokens_by_resource.get(_resource_of(seen.form), self.access_token)})
        return make_response(404, {"error": "not_found"})

    def _device_code(self, seen):
        user_code = "FAKE%04d" % (len(self.device_requests) + 1000)
        device_code = "device-code-%d" % len(self.device_requests)
        self._device_scopes[device_code] = seen.form.get("scope")
        uri = self.login_url + "/devicelogin"
        answer = {
            "user_code": user_code, "device_code": device_code,
            "verification_uri": uri, "expires_in": 900, "interval": 5,
            "message": "To sign in, use a web browser to open the page %s and enter the code %s to authenticate."
                       % (uri, user_code)}
        answer.update(self.device_fields)
        return make_response(200, answer)

    def _device_poll(self, seen):
        if seen.form.get("device_code") not in self._device_scopes:
            return entra_error(400, "invalid_grant", 70000, "The provided value for the input parameter 'device_code' is not valid.")
        self._polls += 1
        if self._polls <= self.pending_polls:
            return entra_error(400, "authorization_pending", 70016,
                               "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
        if self.device_outcome is not None:
            return self.device_outcome
        # The poll carries no scope: the token is for the scope the code was asked for.
        return self._user_tokens(dict(seen.form, scope=self._device_scopes[seen.form["device_code"]]))

    def _password(self, seen):
        if (seen.form.get("username"), seen.form.get("password")) != (self.user["upn"], self.user["password"]):
            return entra_error(400, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
        return self._user_tokens(seen.form)

    def _refresh(self, seen):
        if seen.form.get("refresh_token") not in self.refresh_tokens:
            return entra_error(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired.")
        return self._user_tokens(seen.form)

    def _user_tokens(self, form):
        resource = _resource_of(form)
        refresh_token = "refresh-token-%d" % (len(self.refresh_tokens) + 1)
        self.refresh_tokens.append(refresh_token)
        now = 1764151200
        id_token = make_jwt({"aud": form.get("client_id"), "iss": self.base + "/v2.0", "iat": now, "nbf": now,
                             "exp": now + 3600, "oid": self.user["oid"], "preferred_username": self.user["upn"],
                             "sub": "pairwise-subject", "tid": TENANT_ID, "ver": "2.0"})
        client_info = b64url(json.dumps({"uid": self.user["oid"], "utid": TENANT_ID}))
        return make_response(200, {
            "token_type": "Bearer", "scope": "%s/.default openid profile offline_access" % resource,
            "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
            "access_token": self.tokens_by_resource.get(resource, self.access_token),
            "refresh_token": refresh_token, "id_token": id_token, "client_info": client_info})


def _resource_of(form):
    """The API a token request is for: its `.default` scope without the suffix."""
    for scope in (form.get("scope") or "").split():
        if scope.endswith("/.default"):
            return scope[:-len("/.default")]
    return None


IMDS_TOKEN_URL = "http://169.254.169.254/metadata/identity/oauth2/token"


class FakeImds(object):
    """The Azure instance metadata service's token endpoint, as a VM with a managed identity answers it.

    Answers with a token for the requested `resource` (IMDS sends numbers as strings), or `answer` when set.
    Records each request in `requests`.
    """

    def __init__(self, access_token=None, answer=None, expires_in=86399):
        self.access_token = access_token or make_jwt({"aud": "https://graph.microsoft.com", "tid": TENANT_ID,
                                                      "roles": ["SecurityIncident.Read.All"]})
        self.answer = answer
        self.expires_in = expires_in
        self.requests = []

    def __call__(self, seen):
        if seen.method != "GET" or seen.url.split("?")[0] != IMDS_TOKEN_URL:
            return make_response(404, {"error": "not_found"})
        self.requests.append(seen)
        if self.answer is not None:
            return self.answer
        if seen.headers.get("Metadata") != "true":
            return make_response(400, {"error": "invalid_request", "error_description": "Required metadata header not specified"})
        return make_response(200, {
            "access_token": self.access_token, "client_id": seen.query.get("client_id", "system-assigned"),
            "expires_in": str(self.expires_in), "expires_on": "1764151200", "ext_expires_in": str(self.expires_in),
            "not_before": "1764064800", "resource": seen.query.get("resource"), "token_type": "Bearer"})


class FakeDirectory(object):
    """Graph's /applications and /servicePrincipals, filtered by appId, as the directory shows them.

    `applications` and `principals` are lists of objects with `appId`; `refuse` (a Response) answers every
    request instead. Records each request in `requests`.
    """

    def __init__(self, base_url, applications=(), principals=(), refuse=None):
        self.base_url = base_url
        self.base_path = urlparse(base_url).path
        self.applications = list(applications)
        self.principals = list(principals)
        self.refuse = refuse
        self.requests = []

    def __call__(self, seen):
        self.requests.append(seen)
        if self.refuse is not None:
            return self.refuse
        collection = seen.path[len(self.base_path):] if seen.path.startswith(self.base_path) else seen.path
        objects = {"/applications": self.applications, "/servicePrincipals": self.principals}.get(collection)
        if seen.method != "GET" or objects is None:
            return make_response(404, {"error": {"code": "Request_ResourceNotFound", "message": "No route."}})
        wanted = seen.query.get("$filter", "")
        matching = [item for item in objects if wanted == "appId eq '%s'" % item.get("appId")]
        return make_response(200, {"@odata.context": "%s/$metadata#%s" % (self.base_url, collection.strip("/")),
                                   "value": copy.deepcopy(matching)})


# Spellings each API takes in an incident PATCH body (docs/microsoft-apis.md §4). Defender compares case-sensitively; Graph
# parses enum members without regard to case (its own update example sends "TruePositive"), and its pages spell
# some determinations two ways, so this fake takes both.
PATCH_VALUES = {
    "graph": {
        "status": ("active", "inProgress", "resolved", "redirected", "awaitingAction"),
        "classification": ("unknown", "falsePositive", "truePositive", "informationalExpectedActivity"),
        "determination": ("unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware",
                          "other", "multiStagedAttack", "compromisedUser", "compromisedAccount", "phishing",
                          "maliciousUserActivity", "clean", "notMalicious", "insufficientData",
                          "notEnoughDataToValidate", "confirmedUserActivity", "confirmedActivity",
                          "lineOfBusinessApplication"),
    },
    "defender": {
        "status": ("Active", "InProgress", "Resolved", "Redirected"),
        "classification": ("Unknown", "FalsePositive", "TruePositive", "InformationalExpectedActivity"),
        "determination": ("NotAvailable", "Apt", "Malware", "SecurityPersonnel", "SecurityTesting", "UnwantedSoftware",
                          "Other", "MultiStagedAttack", "CompromisedAccount", "Phishing", "MaliciousUserActivity",
                          "Clean", "NoEnoughDataToValidate", "ConfirmedActivity", "LineOfBusinessApplication"),
    },
}
GRAPH_COMMENT_TYPE = "microsoft.graph.security.alertComment"


class IncidentService(object):
    """One incident API as the unit tests need it: GET and PATCH one incident, Graph's comment POST, hunting.

    Follows docs/microsoft-apis.md §4 and §6: Graph PATCH takes assignedTo, classification, determination, status and
    customTags; the Defender API takes status, assignedTo, classification, determination, tags and comment (which
    it appends); Graph adds comments with POST .../comments, body {"@odata.type": alertComment, "comment"} and
    answers with every comment of the incident. Writes change `incidents` in place and are listed in `writes`
    as (method, path, body). Hunting answers `hunting` (a dict, or a Response) and records each body in
    `hunting_bodies`. `refuse` maps a method to the Response that answers every request with that method.
    """

    def __init__(self, api, base_url, incidents=(), hunting=None, refuse=None):
        self.api = api
        self.base_url = base_url
        self.base_path = urlparse(base_url).path
        self.id_field = "id" if api == "graph" else "incidentId"
        self.incidents = dict((str(incident[self.id_field]), incident) for incident in incidents)
        self.hunting = hunting
        self.refuse = dict(refuse or {})
        self.writes = []
        self.hunting_bodies = []

    def error(self, status, code, message):
        if self.api == "graph":
            error = {"code": code, "message": message,
                     "innerError": {"date": "2026-01-01T00:00:00", "request-id": "graph-request-id"}}
        else:
            error = {"code": code, "message": message, "target": "defender-tracking-id"}
        return make_response(status, {"error": error})

    def __call__(self, seen):
        if seen.method in self.refuse:
            return self.refuse[seen.method]
        if not seen.path.startswith(self.base_path + "/"):
            return self.error(404, "NotFound", "No route for %s." % seen.path)
        path = seen.path[len(self.base_path):]
        body = None
        if seen.method in ("PATCH", "POST"):
            if not seen.headers.get("Content-Type", "").startswith("application/json"):
                return self.error(415, "UnsupportedMediaType", "Send the body as application/json.")
            try:
                body = json.loads(seen.body or "")
            except ValueError:
                return self.error(400, "BadRequest", "The request body is not valid JSON.")
        hunting_path = "/security/runHuntingQuery" if self.api == "graph" else "/advancedhunting/run"
        if path == hunting_path and seen.method == "POST":
            return self._hunt(body)
        prefix = "/security/incidents/" if self.api == "graph" else "/incidents/"
        if not path.startswith(prefix):
            return self.error(404, "NotFound", "No route for %s." % seen.path)
        parts = path[len(prefix):].split("/")
        incident = self.incidents.get(parts[0])
        if incident is None:
            return self.error(404, "NotFound", "Incident %s was not found." % parts[0])
        if parts[1:] == [] and seen.method == "GET":
            return self._entity(incident)
        if parts[1:] == [] and seen.method == "PATCH":
            self.writes.append(("PATCH", path, body))
            return self._update(incident, body)
        if parts[1:] == ["comments"] and seen.method == "POST" and self.api == "graph":
            self.writes.append(("POST", path, body))
            return self._comment(incident, body)
        return self.error(405, "MethodNotAllowed", "%s is not allowed on %s." % (seen.method, seen.path))

    def _entity(self, incident):
        context = "%s/$metadata#%s/$entity" % (self.base_url, "security/incidents" if self.api == "graph" else "Incidents")
        answer = {"@odata.context": context}
        answer.update(copy.deepcopy(incident))
        return make_response(200, answer)

    def _update(self, incident, body):
        if self.api == "graph":
            allowed = ("assignedTo", "classification", "determination", "status", "customTags")
        else:
            allowed = ("status", "assignedTo", "classification", "determination", "tags", "comment")
        if not isinstance(body, dict) or not body:
            return self.error(400, "BadRequest", "The request body must be a non-empty JSON object.")
        for name, value in body.items():
            if name not in allowed:
                return self.error(400, "BadRequest", "Property '%s' cannot be updated." % name)
            spellings = PATCH_VALUES[self.api].get(name)
            if spellings is not None:
                known = spellings if self.api == "defender" else [spelling.lower() for spelling in spellings]
                if (value if self.api == "defender" else str(value).lower()) not in known:
                    return self.error(400, "BadRequest", "Requested value '%s' was not found for '%s'." % (value, name))
        for name, value in body.items():
            if name == "comment":
                incident.setdefault("comments", []).append(
                    {"comment": value, "createdBy": "app@sandbox.test", "createdTime": "2026-01-01T00:00:00Z"})
            else:
                incident[name] = copy.deepcopy(value)
        return self._entity(incident)

    def _comment(self, incident, body):
        if (not isinstance(body, dict) or sorted(body) != ["@odata.type", "comment"]
                or body["@odata.type"] != GRAPH_COMMENT_TYPE or not body["comment"]):
            return self.error(400, "BadRequest", "Expected {\"@odata.type\": \"%s\", \"comment\": \"...\"}." % GRAPH_COMMENT_TYPE)
        comments = incident.get("comments") or []
        comments.append({"comment": body["comment"], "createdByDisplayName": "app", "createdDateTime": "2026-01-01T00:00:00Z"})
        incident["comments"] = comments
        value = [dict({"@odata.type": "#" + GRAPH_COMMENT_TYPE}, **comment) for comment in comments]
        return make_response(200, {"@odata.context": "%s/$metadata#Collection(%s)" % (self.base_url, GRAPH_COMMENT_TYPE),
                                   "value": value})

    def _hunt(self, body):
        self.hunting_bodies.append(body)
        keys = ("Query", "Timespan") if self.api == "graph" else ("Query",)
        if not isinstance(body, dict) or any(name not in keys for name in body):
            return self.error(400, "BadRequest", "The body takes only %s." % ", ".join(keys))
        if not isinstance(body.get("Query"), str) or not body["Query"].strip():
            return self.error(400, "BadRequest", "The parameter 'Query' is required.")
        if isinstance(self.hunting, requests.Response):
            return self.hunting
        return make_response(200, self.hunting if self.hunting is not None else {})
