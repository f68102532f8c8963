"""Managed identities: the Azure VM Instance Metadata Service (IMDS) token endpoint, which MSAL calls when
``AZURE_POD_IDENTITY_AUTHORITY_HOST`` points at the sandbox."""
from __future__ import annotations

from typing import Optional

from . import errors
from .httpd import ApiError, Request, Response, Route
from .tokens import resource_for_scope

IMDS_ROUTE = "/metadata/identity/oauth2/token"
GRANT = "managed_identity"  # how counters name these token requests
_ID_PARAMETERS = ("client_id", "object_id", "msi_res_id", "mi_res_id")


class ManagedIdentityEndpoint:
    def __init__(self, scenario, tokens, clock):
        self._scenario = scenario
        self._tokens = tokens
        self._clock = clock

    def routes(self) -> list:
        return [Route("GET", IMDS_ROUTE, self.token, errors.IDENTITY)]

    def identify(self, request: Request):
        """The identity a request names (by client id, object id or resource id; none: the system-assigned one)."""
        return self._scenario.managed_identity(
            client_id=request.param("client_id"), object_id=request.param("object_id"),
            resource_id=request.param("msi_res_id") or request.param("mi_res_id"))

    def counting_key(self, request: Request) -> tuple:
        """(client id, tenant id) the counters file a request under; the requested id and "" if unknown."""
        identity = self.identify(request)
        if identity is not None:
            return identity.client_id, identity.tenant_id
        requested = next((request.param(name) for name in _ID_PARAMETERS if request.param(name)), "system_assigned")
        return requested, ""

    def token(self, request: Request) -> Response:
        if (request.headers.get("Metadata") or "").lower() != "true":
            raise _fail(400, "invalid_request", "Required metadata header not specified")
        for name in ("api-version", "resource"):
            if not request.param(name):
                raise _fail(400, "invalid_request", f"Required query variable '{name}' is missing")
        identity = self.identify(request)
        if identity is None:
            raise _fail(400, "invalid_request", "Identity not found")
        requested = request.param("resource")
        resource = resource_for_scope(requested.rstrip("/") + "/.default")
        if resource is None:
            raise _fail(400, "invalid_resource",
                        f"AADSTS500011: The resource principal named {requested} was not found in the tenant named "
                        f"{identity.tenant_id}. This can happen if the application has not been installed by the "
                        "administrator of the tenant or consented to by any user in the tenant.")
        now = self._clock()
        issued, lifetime = int(now.timestamp()), self._tokens.lifetime
        return Response.json(200, {
            "access_token": self._tokens.issue_managed(identity, resource, now), "client_id": identity.client_id,
            "expires_in": str(lifetime), "expires_on": str(issued + lifetime), "ext_expires_in": str(lifetime),
            "not_before": str(issued), "resource": requested, "token_type": "Bearer"})


def _fail(status: int, error: str, description: Optional[str]) -> ApiError:
    """IMDS errors are plain OAuth ``{"error", "error_description"}`` bodies."""
    return ApiError(Response.json(status, {"error": error, "error_description": description}))
