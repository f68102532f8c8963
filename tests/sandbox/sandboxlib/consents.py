"""Consents revoked while the sandbox runs: an admin deleted an app's enterprise application (service principal)
in a tenant. Until it is restored, the token endpoint answers that app in that tenant as one never consented there
(AADSTS700016), and the APIs refuse its tokens of that tenant, those issued before, as expired ones. Nothing but
``restore`` brings it back: no reset of the admin API does."""
from __future__ import annotations

import threading

from . import errors
from .admin import tenant_id_of
from .httpd import ApiError, Request, Response, Route


class ConsentRevocations:
    """Thread-safe set of (client id, tenant id) whose service principal is deleted."""

    def __init__(self, scenario):
        self._scenario = scenario
        self._lock = threading.Lock()
        self._revoked = set()

    def revoked(self, client_id: str, tenant_id: str) -> bool:
        with self._lock:
            return (client_id.lower(), tenant_id.lower()) in self._revoked

    def present(self, app, tenant_id: str) -> bool:
        """The app has a service principal in the tenant: consented there, and not revoked since."""
        return app.known_in(tenant_id) and not self.revoked(app.client_id, tenant_id)

    def admin_routes(self) -> list:
        return [
            Route("POST", "/_sandbox/tenants/{tenant}/apps/{client_id}/revoke", self.revoke, errors.ADMIN),
            Route("POST", "/_sandbox/tenants/{tenant}/apps/{client_id}/restore", self.restore, errors.ADMIN),
        ]

    def revoke(self, request: Request, tenant: str, client_id: str) -> Response:
        app, tenant_id = self._consented(tenant, client_id)
        with self._lock:
            self._revoked.add((app.client_id, tenant_id))
        return _answer(app, tenant_id, True)

    def restore(self, request: Request, tenant: str, client_id: str) -> Response:
        app, tenant_id = self._consented(tenant, client_id)
        with self._lock:
            self._revoked.discard((app.client_id, tenant_id))
        return _answer(app, tenant_id, False)

    def _consented(self, tenant: str, key: str) -> tuple:
        """The app (by client id or name) and the id of the tenant it is consented in; 404 otherwise."""
        tenant_id = tenant_id_of(self._scenario, tenant)
        app = self._scenario.app(key) or next((app for app in self._scenario.apps if app.name == key), None)
        if app is None:
            raise _fail(404, f"no app '{key}' in the scenario")
        if not app.known_in(tenant_id):
            raise _fail(404, f"app {app.name} has no service principal in tenant {tenant_id}: it was never "
                             "consented there")
        return app, tenant_id


def _answer(app, tenant_id: str, revoked: bool) -> Response:
    return Response.json(200, {"tenant_id": tenant_id, "client_id": app.client_id, "app": app.name,
                               "revoked": revoked})


def _fail(status: int, message: str) -> ApiError:
    return errors.admin_failure(status, message)
