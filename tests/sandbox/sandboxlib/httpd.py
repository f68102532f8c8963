"""HTTPS plumbing: requests, responses, routing and a threading HTTP/1.1 server with keep-alive."""
from __future__ import annotations

import json
import re
import socket
import ssl
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional
from urllib.parse import parse_qs, unquote, urlsplit

JSON = "application/json; charset=utf-8"


class Request:
    def __init__(self, method: str, target: str, headers, body: bytes, host: str):
        parts = urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.base_url = f"https://{host}"
        self.request_id = str(uuid.uuid4())
        self.client_request_id = headers.get("client-request-id")

    def param(self, name: str) -> Optional[str]:
        values = self.query.get(name)
        return values[0] if values else None

    def form(self) -> dict:
        """The form-encoded body; a field sent twice keeps its first value."""
        fields = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {name: values[0] for name, values in fields.items()}

    def json(self):
        """The JSON body; raises ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8")) if self.body else None


class Response:
    """An answer; ``action`` other than None describes a broken one (see admin faults)."""

    def __init__(self, status: int, body: bytes = b"", headers: Optional[dict] = None, content_type: str = JSON,
                 action: Optional[str] = None):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type
        self.action = action

    @classmethod
    def json(cls, status: int, value, headers: Optional[dict] = None, content_type: str = JSON) -> "Response":
        return cls(status, json.dumps(value).encode("utf-8"), headers, content_type)


class ApiError(Exception):
    """Raised by handlers to answer with an error response built in the API's own shape."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


class Route:
    """``GET /v1.0/security/incidents/{id}``: a method, a path template and the family that answers it.

    ``writes``: a successful call changes data (counted as a write).
    """

    def __init__(self, method: str, template: str, handler: Callable, family: str, writes: bool = False):
        self.method = method
        self.template = template
        self.handler = handler
        self.family = family
        self.writes = writes
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        self._regex = re.compile(f"{pattern}/?")

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"

    def match(self, method: str, path: str) -> Optional[dict]:
        if method != self.method:
            return None
        found = self._regex.fullmatch(path)
        return {name: unquote(value) for name, value in found.groupdict().items()} if found else None


class Router:
    def __init__(self, routes: list):
        self.routes = routes

    def match(self, method: str, path: str):
        """Returns (route, path parameters) or (None, {})."""
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None, {}


class Handler(BaseHTTPRequestHandler):
    """Hands every request to ``server.app.handle(request)`` and writes back what it returns."""

    protocol_version = "HTTP/1.1"
    server_version = "m365-defender-sandbox"
    timeout = 60  # idle keep-alive connections and stalled TLS handshakes
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        self.connection.do_handshake()

    # do_<METHOD>: the names BaseHTTPRequestHandler dispatches to
    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def do_PATCH(self):
        self._serve()

    def do_PUT(self):
        self._serve()

    def do_DELETE(self):
        self._serve()

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = Request(self.command, self.path, self.headers, body, host)
        self._write(request, self.server.app.handle(request))

    def _write(self, request: Request, response: Response):
        if response.action == "drop":
            self.log_request("-")
            self.close_connection = True
            return
        declared = len(response.body) + (64 if response.action == "truncate" else 0)
        self.send_response(response.status)
        headers = {"Content-Type": response.content_type, "request-id": request.request_id,
                   "client-request-id": request.client_request_id or request.request_id, **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(response.body)
        if response.action == "truncate":
            self.close_connection = True

    # the base class names the argument "format"
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")


class Server(ThreadingHTTPServer):
    """Threading HTTPS server; TLS handshakes run in the connection's thread, not in the accept loop."""

    daemon_threads = True
    _QUIET_ERRORS = (ssl.SSLError, ConnectionError, socket.timeout)

    def __init__(self, app, host: str, port: int, cert_path: str, key_path: str):
        super().__init__((host, port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_path, key_path)
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.app = app

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request, client_address):
        """Clients that hang up or refuse the certificate are normal here; anything else is logged."""
        if isinstance(sys.exc_info()[1], self._QUIET_ERRORS):
            return
        super().handle_error(request, client_address)
