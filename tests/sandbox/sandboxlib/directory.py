"""Microsoft Graph directory reads for the app-registration check: app registrations (in their home tenant),
service principals (in every tenant where an app or managed identity exists) and their app role assignments.

Permission ids (``appRoleId``, ``resourceAccess[].id``) are made up by the sandbox, stable across starts; as a
convenience, app role assignments also carry the permission's name in ``value``.
"""
from __future__ import annotations

import re
import uuid

from . import access, errors, timefmt
from .access import Permission
from .graph import authorize
from .httpd import ApiError, Request, Response, Route
from .scenario import API_NAMES
from .tokens import service_principal_id

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
DEFENDER_APP_ID = "8ee8fdad-f234-4243-8f3b-15c294843740"
ENDPOINT_APP_ID = "fc780465-2017-40d4-a0c5-307022471b92"
MICROSOFT_SERVICES_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
RESOURCE_APPS = {"graph": (GRAPH_APP_ID, "Microsoft Graph"),
                 "defender": (DEFENDER_APP_ID, "Microsoft Threat Protection"),
                 "endpoint": (ENDPOINT_APP_ID, "WindowsDefenderATP")}
READ_DIRECTORY = Permission(("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All",
                             "Directory.ReadWrite.All"))
KNOWN_ROLES = {
    "graph": ("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All", "SecurityAlert.Read.All",
              "SecurityAlert.ReadWrite.All", "ThreatHunting.Read.All", "Application.Read.All",
              "Application.ReadWrite.All", "Directory.Read.All"),
    "defender": ("Incident.Read.All", "Incident.ReadWrite.All", "AdvancedHunting.Read.All", "Alert.Read.All",
                 "Alert.ReadWrite.All"),
    "endpoint": ("Machine.Read.All", "Machine.ReadWrite.All", "Machine.Isolate", "Machine.Scan",
                 "Machine.CollectForensics", "Machine.RestrictExecution", "Machine.StopAndQuarantine", "Ti.Read.All",
                 "Ti.ReadWrite", "Ti.ReadWrite.All"),
}
KNOWN_SCOPES = {
    "graph": ("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All", "SecurityAlert.Read.All",
              "ThreatHunting.Read.All", "User.Read"),
    "defender": ("Incident.Read", "Incident.ReadWrite", "AdvancedHunting.Read"),
    "endpoint": ("Machine.Read", "Machine.ReadWrite", "Machine.Isolate", "Machine.Scan", "Machine.CollectForensics",
                 "Machine.RestrictExecution", "Machine.StopAndQuarantine", "Ti.Read", "Ti.ReadWrite"),
}
ROLE, SCOPE = "Role", "Scope"
_NAMESPACE = uuid.UUID("0d7c3a52-6f0e-4b8e-a7f4-5c2d9e8b1a60")
_FILTER = re.compile(r"\s*appId\s+eq\s+'([^']*)'\s*", re.IGNORECASE)
_OPTIONS = ("$filter", "$select", "$top")


def object_id(*parts: str) -> str:
    """A stable object id for directory objects the scenario does not name."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def permission_id(api: str, name: str, kind: str) -> str:
    """The sandbox's id of an app role (``Role``) or delegated scope (``Scope``) of an API."""
    return object_id("permission", api, kind, name)


class DirectoryApi:
    def __init__(self, scenario, tokens, pki, clock, start):
        self._scenario = scenario
        self._tokens = tokens
        self._pki = pki
        self._clock = clock
        self._created = timefmt.seconds(start)

    def routes(self) -> list:
        return [
            Route("GET", "/v1.0/applications", self.list_applications, errors.GRAPH),
            Route("GET", "/v1.0/servicePrincipals", self.list_service_principals, errors.GRAPH),
            Route("GET", "/v1.0/servicePrincipals(appId='{app_id}')", self.get_service_principal_by_app_id, errors.GRAPH),
            Route("GET", "/v1.0/servicePrincipals/{id}", self.get_service_principal, errors.GRAPH),
            Route("GET", "/v1.0/servicePrincipals/{id}/appRoleAssignments", self.list_app_role_assignments,
                  errors.GRAPH),
        ]

    # --- routes ------------------------------------------------------------------------------------------------

    def list_applications(self, request: Request) -> Response:
        """The app registrations of the token's tenant (those whose home it is)."""
        tenant_id = self._authorize(request)["tid"]
        items = [self._application(app) for app in self._scenario.apps if app.home_tenant == tenant_id]
        return self._collection(request, "applications", items, "microsoft.graph.application")

    def list_service_principals(self, request: Request) -> Response:
        tenant_id = self._authorize(request)["tid"]
        return self._collection(request, "servicePrincipals", self._service_principals(tenant_id),
                                "microsoft.graph.servicePrincipal")

    def get_service_principal_by_app_id(self, request: Request, app_id: str) -> Response:
        tenant_id = self._authorize(request)["tid"]
        principal = next((item for item in self._service_principals(tenant_id) if item["appId"] == app_id.lower()), None)
        return self._entity(request, principal, f"appId='{app_id}'")

    def get_service_principal(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        tenant_id = self._authorize(request)["tid"]
        principal = next((item for item in self._service_principals(tenant_id) if item["id"] == id.lower()), None)
        return self._entity(request, principal, id)

    def list_app_role_assignments(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        tenant_id = self._authorize(request)["tid"]
        principal = next((item for item in self._service_principals(tenant_id) if item["id"] == id.lower()), None)
        if principal is None:
            raise _not_found(request, id)
        _check_options(request, ())
        assignments = self._assignments(principal, tenant_id)
        return _ok({"@odata.context": f"{request.base_url}/v1.0/$metadata#servicePrincipals('{id}')/appRoleAssignments",
                    "value": assignments})

    # --- helpers -----------------------------------------------------------------------------------------------

    def _authorize(self, request: Request) -> dict:
        claims = authorize(request, self._tokens, self._clock(), None)
        if not access.allows(claims, READ_DIRECTORY):
            raise ApiError(errors.graph_error(request, 403, "Authorization_RequestDenied",
                                              "Insufficient privileges to complete the operation."))
        return claims

    def _collection(self, request: Request, name: str, items: list, type_name: str) -> Response:
        _check_options(request, _OPTIONS)
        wanted = request.param("$filter")
        if wanted is not None:
            match = _FILTER.fullmatch(wanted)
            if match is None:
                raise _fail(request, 400, "Request_UnsupportedQuery",
                            f"Unsupported or invalid query filter clause specified: '{wanted}'. The sandbox filters "
                            "on appId eq '<id>' only.")
            items = [item for item in items if item["appId"] == match.group(1).lower()]
        top = request.param("$top")
        if top is not None:
            if not top.isdecimal():
                raise _fail(request, 400, "Request_BadRequest", f"Invalid page size specified: '{top}'.")
            items = items[:int(top)]
        items = [_select(request, item, type_name) for item in items]
        return _ok({"@odata.context": f"{request.base_url}/v1.0/$metadata#{name}", "value": items})

    def _entity(self, request: Request, principal, key: str) -> Response:
        if principal is None:
            raise _not_found(request, key)
        _check_options(request, ("$select",))
        body = _select(request, principal, "microsoft.graph.servicePrincipal")
        return _ok({"@odata.context": f"{request.base_url}/v1.0/$metadata#servicePrincipals/$entity", **body})

    def _application(self, app) -> dict:
        return {
            "id": object_id("application", app.client_id), "deletedDateTime": None, "appId": app.client_id,
            "createdDateTime": self._created, "displayName": app.name,
            "publisherDomain": self._scenario.tenant(app.home_tenant).primary_domain,
            "signInAudience": app.sign_in_audience, "isFallbackPublicClient": app.public_client,
            "identifierUris": [], "passwordCredentials": [self._password_credential(secret) for secret in app.secrets],
            "keyCredentials": self._key_credentials(app), "requiredResourceAccess": _required_resource_access(app),
        }

    def _password_credential(self, secret) -> dict:
        return {"customKeyIdentifier": None, "displayName": f"secret {secret.id[:8]}",
                "endDateTime": timefmt.seconds(secret.expires), "hint": secret.value[:3], "keyId": secret.id,
                "secretText": None, "startDateTime": self._created}

    def _key_credentials(self, app) -> list:
        certificate = self._pki.app_certificates.get(app.name)
        if certificate is None:
            return []
        cert = certificate.pair.cert
        return [{"customKeyIdentifier": certificate.pair.thumbprint, "displayName": f"CN={app.name}",
                 "endDateTime": timefmt.seconds(cert.not_valid_after_utc), "key": None,
                 "keyId": object_id("key", certificate.pair.thumbprint),
                 "startDateTime": timefmt.seconds(cert.not_valid_before_utc), "type": "AsymmetricX509Cert",
                 "usage": "Verify"}]

    def _service_principals(self, tenant_id: str) -> list:
        """Every service principal of a tenant: the scenario's apps there, its managed identities, the three APIs."""
        apps = [{"id": service_principal_id(app.client_id, tenant_id), "appId": app.client_id, "displayName": app.name,
                 "appOwnerOrganizationId": app.home_tenant, "servicePrincipalType": "Application",
                 "signInAudience": app.sign_in_audience, "accountEnabled": True, "alternativeNames": [],
                 "appRoles": [], "oauth2PermissionScopes": []}
                for app in self._scenario.apps if app.known_in(tenant_id)]
        identities = [{"id": identity.object_id, "appId": identity.client_id, "displayName": identity.name,
                       "appOwnerOrganizationId": MICROSOFT_SERVICES_TENANT, "servicePrincipalType": "ManagedIdentity",
                       "signInAudience": "AzureADMyOrg", "accountEnabled": True,
                       "alternativeNames": [f"isExplicit={identity.type == 'user_assigned'}", identity.resource_id],
                       "appRoles": [], "oauth2PermissionScopes": []}
                      for identity in self._scenario.managed_identities if identity.tenant_id == tenant_id]
        return apps + identities + [self._resource_principal(api, tenant_id) for api in API_NAMES]

    def _resource_principal(self, api: str, tenant_id: str) -> dict:
        app_id, name = RESOURCE_APPS[api]
        return {"id": object_id("resource", api, tenant_id), "appId": app_id, "displayName": name,
                "appOwnerOrganizationId": MICROSOFT_SERVICES_TENANT, "servicePrincipalType": "Application",
                "signInAudience": "AzureADMultipleOrgs", "accountEnabled": True, "alternativeNames": [],
                "appRoles": [{"id": permission_id(api, value, ROLE), "value": value, "displayName": value,
                              "description": value, "allowedMemberTypes": ["Application"], "isEnabled": True,
                              "origin": "Application"} for value in self._permission_names(api, ROLE)],
                "oauth2PermissionScopes": [{"id": permission_id(api, value, SCOPE), "value": value, "type": "Admin",
                                            "adminConsentDisplayName": value, "isEnabled": True}
                                           for value in self._permission_names(api, SCOPE)]}

    def _permission_names(self, api: str, kind: str) -> list:
        """The well-known permissions of an API plus any other the scenario grants."""
        names = list((KNOWN_ROLES if kind == ROLE else KNOWN_SCOPES)[api])
        for app in self._scenario.apps:
            granted = app.permissions.values() if kind == ROLE else \
                (grant.scopes for grant in app.delegated_permissions.values())
            names += [name for grants in granted for name in grants.get(api, ()) if name not in names]
        if kind == ROLE:
            names += [name for identity in self._scenario.managed_identities for name in identity.roles(api)
                      if name not in names]
        return sorted(set(names))

    def _assignments(self, principal: dict, tenant_id: str) -> list:
        roles = self._roles(principal, tenant_id)
        return [{"id": object_id("assignment", principal["id"], api, role), "deletedDateTime": None,
                 "appRoleId": permission_id(api, role, ROLE), "createdDateTime": self._created,
                 "principalDisplayName": principal["displayName"], "principalId": principal["id"],
                 "principalType": "ServicePrincipal", "resourceDisplayName": RESOURCE_APPS[api][1],
                 "resourceId": object_id("resource", api, tenant_id), "value": role}
                for api in API_NAMES for role in roles.get(api, ())]

    def _roles(self, principal: dict, tenant_id: str) -> dict:
        """The app roles granted to a service principal in the tenant, per API (none for the APIs themselves)."""
        identity = self._scenario.managed_identity(client_id=principal["appId"])
        if principal["servicePrincipalType"] == "ManagedIdentity" and identity is not None:
            return {api: identity.roles(api) for api in API_NAMES}
        app = self._scenario.app(principal["appId"])
        return {api: app.roles(tenant_id, api) for api in API_NAMES} if app is not None else {}


def _required_resource_access(app) -> list:
    """The permissions the registration asks for: its home tenant's app roles and delegated scopes."""
    grant = app.delegated_permissions.get(app.home_tenant)
    result = []
    for api in API_NAMES:
        wanted = [(name, ROLE) for name in app.roles(app.home_tenant, api)]
        wanted += [(name, SCOPE) for name in (grant.scopes.get(api, ()) if grant else ())]
        if wanted:
            result.append({"resourceAppId": RESOURCE_APPS[api][0],
                           "resourceAccess": [{"id": permission_id(api, name, kind), "type": kind}
                                              for name, kind in wanted]})
    return result


def _select(request: Request, item: dict, type_name: str) -> dict:
    select = request.param("$select")
    if not select:
        return item
    names = [name.strip() for name in select.split(",") if name.strip()]
    unknown = [name for name in names if name not in item]
    if unknown:
        raise _fail(request, 400, "Request_BadRequest",
                    f"Could not find a property named '{unknown[0]}' on type '{type_name}'.")
    return {name: item[name] for name in names}


def _check_options(request: Request, allowed: tuple) -> None:
    for name in request.query:
        if name.startswith("$") and name not in allowed:
            raise _fail(request, 400, "Request_BadRequest", f"Query option '{name}' is not supported here.")


def _ok(body: dict) -> Response:
    return Response.json(200, body, {"OData-Version": "4.0"}, errors.GRAPH_JSON)


def _not_found(request: Request, key: str) -> ApiError:
    return _fail(request, 404, "Request_ResourceNotFound",
                 f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.")


def _fail(request: Request, status: int, code: str, message: str) -> ApiError:
    return ApiError(errors.graph_error(request, status, code, message))
