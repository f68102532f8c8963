# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test doubles shared by the unit tests: HTTP answers, a fake transport under requests, JWTs, PEM files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import datetime
import json
import os

import requests
from ansible.module_utils.six.moves.urllib.parse import parse_qs, urlencode, urlparse


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


def make_certificate(key, common_name="secops-unit-test", issuer_key=None, issuer_name=None, ip_address=None):
    """A certificate for `key`, self-signed unless an issuer key and name are given."""
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
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
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


class FakeEntra(object):
    """OIDC discovery and the v2 token endpoint of one tenant, as Entra ID answers them."""

    def __init__(self, login_url, tenant, token_answer=None, discovery_answer=None, access_token=None, later_tokens=()):
        self.login_url = login_url
        self.tenant = tenant
        self.access_token = access_token or make_jwt({"aud": "https://graph.microsoft.com", "tid": "t", "roles": ["R"]})
        self.later_tokens = list(later_tokens)  # handed out, in order, by the second and later token requests
        self.token_answer = token_answer
        self.discovery_answer = discovery_answer
        self.token_requests = []

    def __call__(self, seen):
        base = "%s/%s" % (self.login_url, self.tenant)
        if seen.url.startswith(base + "/v2.0/.well-known/openid-configuration"):
            if self.discovery_answer is not None:
                return self.discovery_answer
            return make_response(200, {
                "authorization_endpoint": base + "/oauth2/v2.0/authorize",
                "token_endpoint": base + "/oauth2/v2.0/token",
                "issuer": base + "/v2.0"})
        if seen.method == "POST" and seen.url == base + "/oauth2/v2.0/token":
            self.token_requests.append(seen)
            if self.token_answer is not None:
                return self.token_answer
            if len(self.token_requests) > 1 and self.later_tokens:
                self.access_token = self.later_tokens.pop(0)
            return make_response(200, {
                "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                "access_token": self.access_token})
        return make_response(404, {"error": "not_found"})


# Spellings each API takes in an incident PATCH body (reference §4). Defender compares case-sensitively; Graph
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

    Follows reference §4 and §6: Graph PATCH takes assignedTo, classification, determination, status and
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
