"""The APIs' rate limits: sliding windows per tenant, app and rule, scaled by the sandbox's time scale.

A rule names a group of routes (by template, e.g. ``GET /api/incidents``) and one or more limits (calls per
window); the routes of a rule share its windows. A call is allowed when every limit of its rule has a free
slot, and then takes one slot in each; a refused call takes none. Configuration (scenario key ``rate_limits``
and ``PUT /_sandbox/limits``): ``{"enabled": true, "rules": [...]}``, where an omitted key takes its default.
"""
from __future__ import annotations

import collections
import math
import threading
import time
from dataclasses import dataclass
from typing import Optional

# The Defender for Endpoint API's machine, machine action and indicator routes (each page documents 100 a minute and 1,500 an
# hour); GetPackageUri has its own documented limit.
ENDPOINT_ROUTES = ["GET /api/machines", "GET /api/machines/{id}", "POST /api/machines/{id}/tags",
                   "GET /api/machineactions", "GET /api/machineactions/{id}",
                   *(f"POST /api/machines/{{id}}/{action}" for action in (
                       "isolate", "unisolate", "runAntiVirusScan", "collectInvestigationPackage",
                       "restrictCodeExecution", "unrestrictCodeExecution", "StopAndQuarantineFile")),
                   # The indicator pages document the same limits.
                   "GET /api/indicators", "POST /api/indicators", "POST /api/indicators/import",
                   "POST /api/indicators/BatchDelete", "DELETE /api/indicators/{id}"]
# docs/microsoft-apis.md §5. Graph's incident routes have no documented limit.
DEFAULT_RULES = (
    {"name": "defender-incidents", "routes": ["GET /api/incidents", "PATCH /api/incidents/{id}"],
     "limits": [{"calls": 50, "seconds": 60}, {"calls": 1500, "seconds": 3600}]},
    {"name": "defender-incident", "routes": ["GET /api/incidents/{id}"],
     "limits": [{"calls": 100, "seconds": 60}, {"calls": 1500, "seconds": 3600}]},
    {"name": "defender-hunting", "routes": ["POST /api/advancedhunting/run"], "limits": [{"calls": 45, "seconds": 60}]},
    {"name": "graph-hunting", "routes": ["POST /v1.0/security/runHuntingQuery",
                                         "POST /v1.0/security/microsoft.graph.security.runHuntingQuery"],
     "limits": [{"calls": 45, "seconds": 60}]},
    {"name": "endpoint", "routes": ENDPOINT_ROUTES, "limits": [{"calls": 100, "seconds": 60},
                                                               {"calls": 1500, "seconds": 3600}]},
    {"name": "endpoint-package-uri", "routes": ["GET /api/machineactions/{id}/GetPackageUri",
                                                "GET /api/machineactions/{id}/getPackageUri"],
     "limits": [{"calls": 2, "seconds": 60}, {"calls": 120, "seconds": 3600}]},
)


@dataclass(frozen=True)
class Limit:
    calls: int
    seconds: float  # the documented window; the sandbox's window is this times the time scale

    @property
    def quota(self) -> str:
        """``50 per 00:01:00``, as the Defender API words its limits."""
        minutes, seconds = divmod(int(self.seconds), 60)
        return f"{self.calls} per {minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}"


@dataclass(frozen=True)
class Rule:
    name: str
    routes: tuple
    limits: tuple


@dataclass(frozen=True)
class Throttled:
    limit: Limit
    retry_after: float  # seconds (already scaled) until the window frees a slot

    @property
    def headers(self) -> dict:
        """``Retry-After`` in whole seconds, rounded up, at least 1; the exact value in milliseconds for tests."""
        return {"Retry-After": str(max(1, math.ceil(self.retry_after))),
                "x-sandbox-retry-after-ms": str(math.ceil(self.retry_after * 1000))}


class RateLimiter:
    def __init__(self, config, routes: tuple, time_scale: float, clock=time.monotonic):
        """``routes``: the route names rules may name. Raises ValueError for an invalid ``config``."""
        self._known_routes = routes
        self._time_scale = time_scale
        self._clock = clock
        self._lock = threading.Lock()
        self._windows = collections.defaultdict(collections.deque)  # (rule, tenant, app, limit) -> call times
        self.configure(config)

    def configure(self, config) -> None:
        """Replaces the configuration (None: the defaults) and clears every window; raises ValueError."""
        enabled, rules = _parse({} if config is None else config, self._known_routes)
        with self._lock:
            self._enabled = enabled
            self._rules = rules
            self._by_route = {route: rule for rule in rules for route in rule.routes}
            self._windows.clear()

    def reset(self) -> int:
        """Clears every window; returns how many there were."""
        with self._lock:
            cleared = len(self._windows)
            self._windows.clear()
            return cleared

    def describe(self) -> dict:
        with self._lock:
            return {"enabled": self._enabled, "time_scale": self._time_scale,
                    "rules": [{"name": rule.name, "routes": list(rule.routes),
                               "limits": [{"calls": limit.calls, "seconds": limit.seconds} for limit in rule.limits]}
                              for rule in self._rules]}

    def covers(self, route: str) -> bool:
        """Whether calls of ``route`` are limited at all."""
        with self._lock:
            return self._enabled and route in self._by_route

    def take(self, route: str, tenant_id: str, client_id: str) -> Optional[Throttled]:
        """Takes a slot for a call of ``client_id`` in ``tenant_id``; returns why not if the call is over a limit."""
        with self._lock:
            rule = self._by_route.get(route) if self._enabled else None
            if rule is None:
                return None
            now = self._clock()
            windows = [(limit, self._window(rule, tenant_id, client_id, limit, now)) for limit in rule.limits]
            waits = [(calls[-limit.calls] + limit.seconds * self._time_scale - now, limit)
                     for limit, calls in windows if len(calls) >= limit.calls]
            if waits:
                wait, limit = max(waits, key=lambda item: item[0])
                return Throttled(limit, wait)
            for limit, calls in windows:
                calls.append(now)
            return None

    def _window(self, rule: Rule, tenant_id: str, client_id: str, limit: Limit, now: float) -> collections.deque:
        calls = self._windows[rule.name, tenant_id, client_id, limit]
        while calls and calls[0] <= now - limit.seconds * self._time_scale:
            calls.popleft()
        return calls


def _parse(config, known_routes: tuple) -> tuple:
    if not isinstance(config, dict) or set(config) - {"enabled", "rules"}:
        raise ValueError('rate limits must be an object with the keys "enabled" and "rules"')
    enabled = config.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError('"enabled" must be true or false')
    specs = config.get("rules", DEFAULT_RULES)
    if not isinstance(specs, (list, tuple)):
        raise ValueError('"rules" must be a list')
    rules = tuple(_rule(spec, known_routes) for spec in specs)
    routes = [route for rule in rules for route in rule.routes]
    duplicates = sorted({route for route in routes if routes.count(route) > 1})
    if duplicates:
        raise ValueError(f"a route may belong to one rule only: {', '.join(duplicates)}")
    return enabled, rules


def _rule(spec, known_routes: tuple) -> Rule:
    if not isinstance(spec, dict) or set(spec) != {"name", "routes", "limits"}:
        raise ValueError('every rule needs exactly "name", "routes" and "limits"')
    name, routes, limits = spec["name"], spec["routes"], spec["limits"]
    if not isinstance(name, str) or not name:
        raise ValueError("a rule's name must be a non-empty string")
    if not isinstance(routes, list) or not routes or any(route not in known_routes for route in routes):
        raise ValueError(f"rule {name!r}: routes must be a non-empty list of API routes, as the counters name them "
                         f"(e.g. 'GET /api/incidents'); got {routes!r}")
    if not isinstance(limits, list) or not limits or not all(_valid_limit(limit) for limit in limits):
        raise ValueError(f"rule {name!r}: limits must be a non-empty list of "
                         '{"calls": positive integer, "seconds": positive number}')
    return Rule(name, tuple(routes), tuple(Limit(limit["calls"], limit["seconds"]) for limit in limits))


def _valid_limit(limit) -> bool:
    return (isinstance(limit, dict) and set(limit) == {"calls", "seconds"}
            and isinstance(limit["calls"], int) and not isinstance(limit["calls"], bool) and limit["calls"] > 0
            and isinstance(limit["seconds"], (int, float)) and not isinstance(limit["seconds"], bool)
            and limit["seconds"] > 0)
