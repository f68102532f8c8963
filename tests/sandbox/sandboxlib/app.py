"""The sandbox application: wires the services together and runs every request through one pipeline."""
from __future__ import annotations

import datetime
import sys
import traceback

from . import errors, timefmt
from .admin import Admin, Counters, Faults
from .defender import DefenderApi
from .graph import GraphApi
from .httpd import ApiError, Request, Response, Router
from .identity import TOKEN_ROUTE, Identity
from .store import IncidentStore
from .tokens import TokenService


class Sandbox:
    """Request pipeline: route -> count -> injected fault (if any) -> handler -> count 429s."""

    def __init__(self, scenario, pki, start: datetime.datetime, time_scale: float):
        self.time_scale = time_scale  # for the rate limits: every window and Retry-After is multiplied by it
        self.counters = Counters()
        self.faults = Faults()
        self.store = IncidentStore(scenario, start)
        clock = timefmt.utcnow
        tokens = TokenService(pki.signing, scenario.token_lifetime, lambda tid: scenario.tenant(tid) is not None)
        self.identity = Identity(scenario, tokens, pki, clock)
        self.router = Router([
            *Admin(self.counters, self.faults, self.store, scenario).routes(),
            *GraphApi(self.store, tokens, clock).routes(),
            *DefenderApi(self.store, tokens, clock).routes(),
            *self.identity.routes(),
        ])

    def handle(self, request: Request) -> Response:
        route, params = self.router.match(request.method, request.path)
        family = route.family if route else errors.family_of_path(request.path)
        response = None
        if family != errors.ADMIN:
            self._count(request, route, params)
            fault = self.faults.take(request.method, request.path)
            if fault is not None:
                self.counters.fault_served()
                response = fault.apply(request, family)
        if response is None:
            response = self._dispatch(request, route, params, family)
        if response.status == 429:
            self.counters.throttled()
        return response

    def _count(self, request: Request, route, params: dict) -> None:
        if route is None:
            return
        self.counters.route(route.name)
        if route.template == TOKEN_ROUTE:
            client_id = request.form().get("client_id", "")
            self.counters.token_request(client_id, self.identity.tenant_id_for_counting(request, params["tenant"]))

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
