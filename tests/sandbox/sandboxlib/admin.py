"""The ``/_sandbox/`` admin API: counters, fault injection, rate limits and direct access to the incident store."""
from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import defaultdict
from typing import Optional

from . import defender, errors, graph
from .httpd import JSON, ApiError, Request, Response, Route

FAULT_ACTIONS = ("drop", "malformed", "truncate")
MAX_GENERATED_INCIDENTS = 100_000


class Counters:
    """What the sandbox served since start or the last reset. Admin requests are not counted."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._tokens = defaultdict(lambda: defaultdict(int))
            self._grants = defaultdict(int)
            self._credentials = defaultdict(int)
            self._routes = defaultdict(int)
            self._throttled = defaultdict(int)
            self._writes = 0
            self._faults = 0

    def route(self, name: str) -> None:
        with self._lock:
            self._routes[name] += 1

    def token_request(self, client_id: str, tenant: str, grant_type: str, credential: Optional[str] = None) -> None:
        """``credential``: what the client sent to the token endpoint (None for the IMDS endpoint)."""
        with self._lock:
            self._tokens[client_id][tenant] += 1
            self._grants[grant_type] += 1
            if credential is not None:
                self._credentials[credential] += 1

    def throttled(self, route: Optional[str]) -> None:
        """A 429 was served, for the route of that name (None: a path no route matches)."""
        with self._lock:
            self._throttled[route] += 1

    def write(self) -> None:
        """A write route's handler answered 2xx: the write was applied (a body that changes nothing included)."""
        with self._lock:
            self._writes += 1

    def fault_served(self) -> None:
        with self._lock:
            self._faults += 1

    def snapshot(self) -> dict:
        with self._lock:
            tokens = {client: dict(tenants) for client, tenants in self._tokens.items()}
            return {"token_requests": tokens,
                    "token_requests_total": sum(sum(tenants.values()) for tenants in tokens.values()),
                    "token_requests_by_grant": dict(self._grants),
                    "token_requests_by_credential": dict(self._credentials),
                    "routes": dict(self._routes), "throttled": sum(self._throttled.values()),
                    "throttled_routes": {route: n for route, n in self._throttled.items() if route is not None},
                    "writes": self._writes, "faults_served": self._faults}


class Fault:
    """Breaks the next ``count`` requests whose method and path match; see ``docs/sandbox.md``."""

    _ids = itertools.count(1)

    def __init__(self, spec: dict):
        if not isinstance(spec, dict):
            raise ValueError("the fault must be a JSON object")
        self.id = next(self._ids)
        self.method = spec.get("method")
        self.path = spec.get("path", "")
        self.remaining = spec.get("count", 1)
        self.skip = spec.get("after", 0)
        self.status = spec.get("status")
        self.retry_after = spec.get("retry_after")
        self.body = spec.get("body")
        self.latency = spec.get("latency", 0)
        self.action = spec.get("action")
        self.headers = spec.get("headers", {})
        self.echo_authorization = spec.get("echo_authorization", False)
        self._validate(spec)
        try:
            self._regex = re.compile(self.path)
        except (re.error, TypeError) as exc:
            raise ValueError(f"path must be a regular expression: {exc}") from None

    def _validate(self, spec: dict) -> None:
        known = {"method", "path", "count", "after", "status", "retry_after", "body", "latency", "action", "headers",
                 "echo_authorization"}
        if set(spec) - known:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(set(spec) - known))}")
        checks = (
            (self.method is None or isinstance(self.method, str), "method must be a string"),
            (_is_int(self.remaining) and self.remaining >= 1, "count must be a positive integer"),
            (_is_int(self.skip) and self.skip >= 0, "after must be a non-negative integer"),
            (self.status is None or (_is_int(self.status) and 100 <= self.status <= 599), "status must be 100-599"),
            (self.retry_after is None or (_is_int(self.retry_after) and self.retry_after >= 0),
             "retry_after must be a non-negative integer (seconds)"),
            (isinstance(self.latency, (int, float)) and self.latency >= 0, "latency must be a number of seconds"),
            (self.action is None or self.action in FAULT_ACTIONS, f"action must be one of {', '.join(FAULT_ACTIONS)}"),
            (self.status is not None or self.action is not None or self.latency > 0,
             "a fault needs a status, an action or a latency"),
            (isinstance(self.headers, dict) and all(isinstance(name, str) and isinstance(value, str)
                                                    for name, value in self.headers.items()),
             "headers must be an object of strings"),
            (isinstance(self.echo_authorization, bool), "echo_authorization must be true or false"),
            (not self.echo_authorization or (self.status is not None and (self.body is None or isinstance(
                self.body, dict))), "echo_authorization needs a status, and a body (if any) that is a JSON object"),
        )
        for valid, message in checks:
            if not valid:
                raise ValueError(message)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and self._regex.search(path) is not None

    def apply(self, request: Request, family: str) -> Optional[Response]:
        """Waits ``latency``, then returns the broken response, or None to let the request be answered normally."""
        if self.latency:
            time.sleep(self.latency)
        if self.action == "drop":
            return Response(0, action="drop")
        if self.action == "malformed":
            return Response(200, b'{"value": [{"id": "1", "status": "active"},', content_type=JSON)
        if self.action == "truncate":
            return Response(200, b'{"value": [{"id": "1", "status": "active"}, {"id": "2", "sta', action="truncate")
        if self.status is None:
            return None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        headers.update(self.headers)
        if self.body is not None:
            response = Response.json(self.status, self.body, headers)
        else:
            response = errors.default_fault(request, family, self.status, headers)
        return _echo_authorization(response, request) if self.echo_authorization else response

    def describe(self) -> dict:
        return {"id": self.id, "method": self.method, "path": self.path, "remaining": self.remaining, "after": self.skip,
                "status": self.status, "retry_after": self.retry_after, "body": self.body, "latency": self.latency,
                "action": self.action, "headers": self.headers, "echo_authorization": self.echo_authorization}


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> Optional[Fault]:
        """The first armed fault matching the request, used up by one; None if no fault applies."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.skip:
                        # `after`: let this many matching requests through before breaking the next ones.
                        fault.skip -= 1
                        continue
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> int:
        with self._lock:
            cleared = len(self._faults)
            self._faults.clear()
            return cleared

    def describe(self) -> list:
        with self._lock:
            return [fault.describe() for fault in self._faults]


class Admin:
    def __init__(self, counters: Counters, faults: Faults, limits, store, scenario):
        self._counters = counters
        self._faults = faults
        self._limits = limits
        self._store = store
        self._scenario = scenario

    def routes(self) -> list:
        return [
            Route("GET", "/_sandbox/counters", self.get_counters, errors.ADMIN),
            Route("POST", "/_sandbox/counters/reset", self.reset_counters, errors.ADMIN),
            Route("GET", "/_sandbox/faults", self.list_faults, errors.ADMIN),
            Route("POST", "/_sandbox/faults", self.add_fault, errors.ADMIN),
            Route("DELETE", "/_sandbox/faults", self.clear_faults, errors.ADMIN),
            Route("GET", "/_sandbox/limits", self.get_limits, errors.ADMIN),
            Route("PUT", "/_sandbox/limits", self.set_limits, errors.ADMIN),
            Route("POST", "/_sandbox/limits/reset", self.reset_limits, errors.ADMIN),
            Route("GET", "/_sandbox/tenants/{tenant}/incidents", self.get_incidents, errors.ADMIN),
            Route("POST", "/_sandbox/tenants/{tenant}/incidents", self.regenerate_incidents, errors.ADMIN),
        ]

    def get_counters(self, request: Request) -> Response:
        return Response.json(200, self._counters.snapshot())

    def reset_counters(self, request: Request) -> Response:
        """Zeroes the counters and clears the rate-limit windows, so that a test starts clean."""
        self._counters.reset()
        self._limits.reset()
        return Response.json(200, self._counters.snapshot())

    def list_faults(self, request: Request) -> Response:
        return Response.json(200, {"faults": self._faults.describe()})

    def add_fault(self, request: Request) -> Response:
        try:
            fault = Fault(request.json())
        except ValueError as exc:
            raise _fail(400, f"invalid fault: {exc}") from None
        self._faults.add(fault)
        return Response.json(201, {"id": fault.id})

    def clear_faults(self, request: Request) -> Response:
        return Response.json(200, {"cleared": self._faults.clear()})

    def get_limits(self, request: Request) -> Response:
        return Response.json(200, self._limits.describe())

    def set_limits(self, request: Request) -> Response:
        """Replaces the rate-limit configuration (omitted keys take their defaults) and clears the windows."""
        try:
            self._limits.configure(request.json())
        except ValueError as exc:
            raise _fail(400, f"invalid rate limits: {exc}") from None
        return Response.json(200, self._limits.describe())

    def reset_limits(self, request: Request) -> Response:
        return Response.json(200, {"cleared": self._limits.reset()})

    def get_incidents(self, request: Request, tenant: str) -> Response:
        """The store's incidents, newest first, with alerts, in Graph (default) or Defender (``?api=defender``) shape."""
        tenant_id = self._tenant_id(tenant)
        api = request.param("api") or "graph"
        if api not in ("graph", "defender"):
            raise _fail(400, "api must be graph or defender")
        incidents = self._store.incidents(tenant_id)
        if api == "graph":
            value = [graph.render_incident(incident, with_alerts=True) for incident in incidents]
        else:
            value = [defender.render_incident(incident) for incident in incidents]
        return Response.json(200, {"tenant_id": tenant_id, "api": api, "count": len(value), "value": value})

    def regenerate_incidents(self, request: Request, tenant: str) -> Response:
        tenant_id = self._tenant_id(tenant)
        try:
            count = (request.json() or {}).get("count")
        except (ValueError, AttributeError):
            count = None
        if not _is_int(count) or not 0 <= count <= MAX_GENERATED_INCIDENTS:
            raise _fail(400, f"send {{\"count\": N}} with 0 <= N <= {MAX_GENERATED_INCIDENTS}")
        self._store.regenerate(tenant_id, count)
        return Response.json(200, {"tenant_id": tenant_id, "count": count})

    def _tenant_id(self, id_or_domain: str) -> str:
        return tenant_id_of(self._scenario, id_or_domain)


def tenant_id_of(scenario, id_or_domain: str) -> str:
    """The id of the tenant a ``{tenant}`` path segment names (id or domain); the admin API's 404 if none."""
    tenant = scenario.tenant(id_or_domain)
    if tenant is None:
        raise _fail(404, f"no tenant '{id_or_domain}' in the scenario")
    return tenant.id


def _echo_authorization(response: Response, request: Request) -> Response:
    """The error message repeats the request's Authorization header, as some proxies and gateways do."""
    body = json.loads(response.body.decode("utf-8"))
    echo = f" (request headers: Authorization: {request.headers.get('Authorization') or '(none)'})"
    if isinstance(body.get("error"), dict):
        body["error"]["message"] = f"{body['error'].get('message', '')}{echo}"
    else:
        body["error_description"] = f"{body.get('error_description', '')}{echo}"
    response.body = json.dumps(body).encode("utf-8")
    return response


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fail(status: int, message: str) -> ApiError:
    return errors.admin_failure(status, message)
