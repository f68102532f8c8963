"""Admin routes of the Defender for Endpoint state: machines with their isolation and restriction, actions,
outcomes forced on the next actions of a machine, and a reset."""
from __future__ import annotations

from . import errors
from .endpoint import render_action, render_machine
from .httpd import ApiError, Request, Response, Route
from .machineactions import FORCIBLE_OUTCOMES

MAX_FORCED = 100


class EndpointAdmin:
    def __init__(self, endpoint_store, scenario):
        self._state = endpoint_store
        self._scenario = scenario

    def routes(self) -> list:
        return [
            Route("GET", "/_sandbox/tenants/{tenant}/machines", self.get_machines, errors.ADMIN),
            Route("POST", "/_sandbox/tenants/{tenant}/machines/reset", self.reset, errors.ADMIN),
            Route("POST", "/_sandbox/tenants/{tenant}/machines/{machine}/outcomes", self.force, errors.ADMIN),
            Route("GET", "/_sandbox/tenants/{tenant}/machineactions", self.get_actions, errors.ADMIN),
        ]

    def get_machines(self, request: Request, tenant: str) -> Response:
        """Every machine as the API shows it (``machine``), with the state the API does not show."""
        tenant_id = self._tenant_id(tenant)
        now = self._state.now()
        actions = self._state.actions(tenant_id)
        value = [{"machine": render_machine(machine), **self._state.state(tenant_id, machine.id),
                  "forcedOutcomes": self._state.forced(tenant_id, machine.id),
                  "actions": [render_action(action, now) for action in actions if action.machine_id == machine.id]}
                 for machine in self._state.machines(tenant_id)]
        return Response.json(200, {"tenant_id": tenant_id, "count": len(value), "value": value})

    def get_actions(self, request: Request, tenant: str) -> Response:
        tenant_id = self._tenant_id(tenant)
        now = self._state.now()
        value = [render_action(action, now) for action in self._state.actions(tenant_id)]
        return Response.json(200, {"tenant_id": tenant_id, "count": len(value), "value": value})

    def force(self, request: Request, tenant: str, machine: str) -> Response:
        """``{"outcome": "Failed" | "TimeOut" | "Cancelled", "count": 1}``: the next ``count`` actions on the machine
        end so instead of Succeeded."""
        tenant_id = self._tenant_id(tenant)
        found = self._state.machine(tenant_id, machine)
        if found is None:
            raise _fail(404, f"no machine '{machine}' in tenant {tenant_id}")
        try:
            body = request.json() or {}
        except ValueError:
            body = None
        if not isinstance(body, dict) or set(body) - {"outcome", "count"}:
            raise _fail(400, 'send {"outcome": "Failed" | "TimeOut" | "Cancelled", "count"?: n}')
        outcome, count = body.get("outcome"), body.get("count", 1)
        if outcome not in FORCIBLE_OUTCOMES:
            raise _fail(400, f"outcome must be one of {', '.join(FORCIBLE_OUTCOMES)}")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_FORCED:
            raise _fail(400, f"count must be an integer from 1 to {MAX_FORCED}")
        queued = self._state.force(tenant_id, found.id, [outcome] * count)
        return Response.json(200, {"tenant_id": tenant_id, "machine_id": found.id, "forcedOutcomes": queued})

    def reset(self, request: Request, tenant: str) -> Response:
        tenant_id = self._tenant_id(tenant)
        return Response.json(200, {"tenant_id": tenant_id, "cleared": self._state.reset(tenant_id)})

    def _tenant_id(self, id_or_domain: str) -> str:
        tenant = self._scenario.tenant(id_or_domain)
        if tenant is None:
            raise _fail(404, f"no tenant '{id_or_domain}' in the scenario")
        return tenant.id


def _fail(status: int, message: str) -> ApiError:
    return errors.admin_failure(status, message)
