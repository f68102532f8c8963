"""The sandbox application: wires the services together and runs every request through one pipeline."""
from __future__ import annotations

import datetime
import re
import sys
import traceback
from typing import Optional

from . import errors, timefmt
from .admin import Admin, Counters, Faults
from .alerts import AlertsApi
from .consents import ConsentRevocations
from .defender import DefenderApi
from .directory import DirectoryApi
from .endpoint import EndpointApi
from .endpointadmin import EndpointAdmin
from .graph import GraphApi
from .httpd import ApiError, Request, Response, Router
from .hunting import Hunting
from .identity import TOKEN_ROUTE, Identity
from .liveadmin import LiveChanges
from .managed_identity import GRANT as MANAGED_IDENTITY, IMDS_ROUTE, ManagedIdentityEndpoint
from .machineactions import EndpointStore
from .package import PackageLinks
from .ratelimit import RateLimiter
from .scenario import ScenarioError
from .store import IncidentStore
from .tokens import DEFENDER, ENDPOINT, GRAPH, TokenRejected, TokenService
from .updates import IncidentUpdater


class Sandbox:
    """Request pipeline: route -> count -> injected fault (if any) -> rate limit -> handler -> count writes and 429s."""

    def __init__(self, scenario, pki, start: datetime.datetime, time_scale: float):
        self.counters = Counters()
        self.faults = Faults()
        self.store = IncidentStore(scenario, start)
        clock = timefmt.utcnow
        self._clock = clock
        self.consents = ConsentRevocations(scenario)
        self._tokens = TokenService(pki.signing, scenario.token_lifetime, lambda tid: scenario.tenant(tid) is not None,
                                    self.consents.revoked)
        self.identity = Identity(scenario, self._tokens, pki, clock, self.consents)
        self.managed_identity = ManagedIdentityEndpoint(scenario, self._tokens, clock)
        updater = IncidentUpdater(self.store, scenario, clock)
        hunter = Hunting(self.store, scenario, start)
        endpoint_store = EndpointStore(self.store, start, time_scale, clock)
        endpoint = EndpointApi(endpoint_store, PackageLinks(time_scale), self._tokens, updater)
        endpoint_routes = endpoint.routes()
        self._endpoint_routes = frozenset(route.name for route in endpoint_routes)
        apis = [*GraphApi(self.store, self._tokens, clock, updater, hunter).routes(),
                *AlertsApi(self.store, self._tokens, clock, updater).routes(),
                *DirectoryApi(scenario, self._tokens, pki, clock, start).routes(),
                *DefenderApi(self.store, self._tokens, clock, updater, hunter).routes(),
                *endpoint_routes, *endpoint.download_routes()]
        try:
            self.limits = RateLimiter(scenario.rate_limits, tuple(route.name for route in apis), time_scale)
        except ValueError as exc:
            raise ScenarioError(f"rate_limits: {exc}") from None
        admin = [*Admin(self.counters, self.faults, self.limits, self.store, scenario).routes(),
                 *LiveChanges(self.store, scenario, clock).routes(), *EndpointAdmin(endpoint_store, scenario).routes(),
                 *self.identity.admin_routes(), *self.consents.admin_routes()]
        self.router = Router([*admin, *apis, *self.managed_identity.routes(), *self.identity.routes()])

    def handle(self, request: Request) -> Response:
        path = routing_path(request.path)
        route, params = self.router.match(request.method, path)
        family = route.family if route else errors.family_of_path(path)
        response = None
        if family != errors.ADMIN:
            self._count(request, route, params)
            response = self._fault(request, path, family) or self._throttle(request, route, family)
        if response is None:
            response = self._dispatch(request, route, params, family)
            # only a handler stores a write: an answer made by a fault (drop, malformed, truncate, a 2xx status)
            # stands in for the handler, so nothing was stored and nothing is counted
            if route is not None and route.writes and response.status < 300:
                self.counters.write()
        if response.status == 429:
            self.counters.throttled(route.name if route else None)
        return response

    def _count(self, request: Request, route, params: dict) -> None:
        if route is None:
            return
        self.counters.route(route.name)
        if route.template == TOKEN_ROUTE:
            self.counters.token_request(*self.identity.counting_key(request, params))
        elif route.template == IMDS_ROUTE:
            self.counters.token_request(*self.managed_identity.counting_key(request), MANAGED_IDENTITY)

    def _fault(self, request: Request, path: str, family: str) -> Optional[Response]:
        fault = self.faults.take(request.method, path)
        if fault is None:
            return None
        self.counters.fault_served()
        return fault.apply(request, family)

    def _throttle(self, request: Request, route, family: str) -> Optional[Response]:
        """A 429 when the caller (the app and tenant of a valid token) is over a limit of the route's rule."""
        if route is None or not self.limits.covers(route.name):
            return None
        api = ENDPOINT if route.name in self._endpoint_routes else GRAPH if family == errors.GRAPH else DEFENDER
        try:
            claims = self._tokens.verify(request.headers.get("Authorization"), api, self._clock())
        except TokenRejected:
            return None  # the handler answers 401
        throttled = self.limits.take(route.name, claims["tid"], str(claims.get("appid", "")))
        if throttled is None:
            return None
        return errors.throttled(request, family, throttled.headers, throttled.limit.quota)

    @staticmethod
    def _dispatch(request: Request, route, params: dict, family: str) -> Response:
        if route is None:
            return errors.not_found(request, family)
        try:
            return route.handler(request, **params)
        except ApiError as exc:
            return exc.response
        # a bug in the sandbox must not kill the connection thread
        except Exception:  # pylint: disable=broad-except
            traceback.print_exc(file=sys.stderr)
            return errors.internal_error(request, family)


def routing_path(path: str) -> str:
    """The path a request is routed (and matched against faults) by.

    Graph ignores empty path segments: Microsoft's Graph SDKs, in their default configuration, join a base URL
    that ends in ``/v1.0/`` with templates that start with ``/`` and ask for ``/v1.0//security/incidents``. The
    Defender API's and Entra ID's paths are kept as sent.
    """
    return re.sub("/{2,}", "/", path) if errors.family_of_path(path) == errors.GRAPH else path
