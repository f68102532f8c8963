"""The Defender for Endpoint API (``/api/machines``, ``/api/machineactions``) on the Defender API's host.

Tokens are for the WindowsDefenderATP resource (``https://api.securitycenter.microsoft.com``); errors have the
Defender API's shape. Machines are those of ``machines.py``; actions, tags and their state ``machineactions.py``'s.
"""
from __future__ import annotations

import re
from typing import Optional
from urllib.parse import quote, urlencode

from . import errors, odata, timefmt
from .access import Permission
from .defender import authorize, check_options, fail, list_query
from .httpd import Request, Response, Route
from .machineactions import STATUSES, TYPES, ActionInProgress
from .machines import EXPOSURE_LEVELS, HEALTH_STATUSES, ONBOARDING_STATUSES, RISK_SCORES, rbac_group_id
from .package import DOWNLOAD_PATH, LinkRefused, investigation_package
from .tokens import ENDPOINT

READ_MACHINES = Permission(("Machine.Read.All", "Machine.ReadWrite.All"), ("Machine.Read", "Machine.ReadWrite"))
WRITE_MACHINES = Permission(("Machine.ReadWrite.All",), ("Machine.ReadWrite",))
ISOLATE = Permission(("Machine.Isolate",), ("Machine.Isolate",))
SCAN = Permission(("Machine.Scan",), ("Machine.Scan",))
FORENSICS = Permission(("Machine.CollectForensics",), ("Machine.CollectForensics",))
RESTRICT = Permission(("Machine.RestrictExecution",), ("Machine.RestrictExecution",))
QUARANTINE = Permission(("Machine.StopAndQuarantine",), ("Machine.StopAndQuarantine",))
# As the GetPackageUri page documents: a machine read permission for apps, Machine.CollectForensics for users
PACKAGE_URI = Permission(("Machine.Read.All", "Machine.ReadWrite.All"), ("Machine.CollectForensics",))
# Its page spells the segment both ways (the HTTP request and the example)
PACKAGE_URI_SEGMENTS = ("GetPackageUri", "getPackageUri")
MAX_TOP = 10000
LIST_OPTIONS = ("$filter", "$top", "$skip")
ISOLATION_TYPES = ("Full", "Selective", "UnManagedDevice")
SCAN_TYPES = ("Quick", "Full")
_SHA1 = re.compile(r"[0-9a-fA-F]{40}")


class _Action:
    """A response action route: its path segment, machineAction type, permission and body fields besides Comment."""

    def __init__(self, segment: str, kind: str, permission: Permission, fields: Optional[dict] = None):
        self.segment = segment
        self.kind = kind
        self.permission = permission
        self.fields = fields or {}  # name -> (allowed values or a validator, default or None if required)


ACTIONS = (
    _Action("isolate", "Isolate", ISOLATE, {"IsolationType": (ISOLATION_TYPES, "Full")}),
    _Action("unisolate", "Unisolate", ISOLATE),
    _Action("runAntiVirusScan", "RunAntiVirusScan", SCAN, {"ScanType": (SCAN_TYPES, None)}),
    _Action("collectInvestigationPackage", "CollectInvestigationPackage", FORENSICS),
    _Action("restrictCodeExecution", "RestrictCodeExecution", RESTRICT),
    _Action("unrestrictCodeExecution", "UnrestrictCodeExecution", RESTRICT),
    _Action("StopAndQuarantineFile", "StopAndQuarantineFile", QUARANTINE, {"Sha1": (_SHA1, None)}),
)

MACHINE_SCHEMA = odata.Schema("Machine", {
    "id": odata.Property(odata.STRING, lambda machine: machine.id),
    "computerDnsName": odata.Property(odata.STRING, lambda machine: machine.dns_name),
    "healthStatus": odata.Property(odata.ENUM, lambda machine: machine.health_status, HEALTH_STATUSES),
    "riskScore": odata.Property(odata.ENUM, lambda machine: machine.device.risk_score, RISK_SCORES),
    "exposureLevel": odata.Property(odata.ENUM, lambda machine: machine.exposure_level, EXPOSURE_LEVELS),
    "osPlatform": odata.Property(odata.STRING, lambda machine: machine.device.os_platform),
    "onboardingStatus": odata.Property(odata.ENUM, lambda machine: "Onboarded", ONBOARDING_STATUSES),
    "aadDeviceId": odata.Property(odata.STRING, lambda machine: machine.device.aad_device_id),
    "lastSeen": odata.Property(odata.DATETIME, lambda machine: machine.last_seen),
    "machineTags": odata.Property(odata.STRINGS, lambda machine: machine.tags),
}, not_filterable=("firstSeen", "osProcessor", "version", "osVersion", "osBuild", "lastIpAddress",
                   "lastExternalIpAddress", "rbacGroupId", "rbacGroupName", "isAadJoined", "deviceValue",
                   "ipAddresses", "vmMetadata", "defenderAvStatus", "osArchitecture", "managedBy"),
    # Microsoft's OData examples for the machines list: startswith(computerDnsName,'mymachine')
    functions=("startswith",))

# Items are (action, now) pairs: the status follows from the time of the request.
ACTION_SCHEMA = odata.Schema("MachineAction", {
    "machineId": odata.Property(odata.STRING, lambda item: item[0].machine_id),
    "type": odata.Property(odata.ENUM, lambda item: item[0].type, TYPES),
    "status": odata.Property(odata.ENUM, lambda item: item[0].status(item[1]), STATUSES),
    "requestor": odata.Property(odata.STRING, lambda item: item[0].requestor),
    "creationDateTimeUtc": odata.Property(odata.DATETIME, lambda item: item[0].created),
}, not_filterable=("id", "scope", "requestorComment", "computerDnsName", "lastUpdateDateTimeUtc", "relatedFileInfo",
                   "commands", "errorHResult"))


class EndpointApi:
    def __init__(self, endpoint_store, links, tokens, updater):
        self._state = endpoint_store
        self._links = links
        self._tokens = tokens
        self._updater = updater

    def routes(self) -> list:
        """The API's routes (the download of a package, which needs no token, is ``download_routes``)."""
        routes = [
            Route("GET", "/api/machines", self.list_machines, errors.DEFENDER),
            Route("GET", "/api/machines/{id}", self.get_machine, errors.DEFENDER),
            Route("POST", "/api/machines/{id}/tags", self.tag_machine, errors.DEFENDER, writes=True),
            Route("GET", "/api/machineactions", self.list_actions, errors.DEFENDER),
            Route("GET", "/api/machineactions/{id}", self.get_action, errors.DEFENDER),
            *(Route("GET", f"/api/machineactions/{{id}}/{segment}", self.package_uri, errors.DEFENDER)
              for segment in PACKAGE_URI_SEGMENTS),
        ]
        for action in ACTIONS:
            routes.append(Route("POST", f"/api/machines/{{id}}/{action.segment}", self._action_handler(action),
                                errors.DEFENDER, writes=True))
        return routes

    def download_routes(self) -> list:
        return [Route("GET", DOWNLOAD_PATH, self.download_package, errors.DEFENDER)]

    # --- machines ------------------------------------------------------------------------------------------------

    def list_machines(self, request: Request) -> Response:
        claims = self._authorize(request, READ_MACHINES)
        machines = self._state.machines(claims["tid"])
        return _ok(_page(request, "Machines", "/api/machines", machines, MACHINE_SCHEMA, render_machine))

    def get_machine(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, READ_MACHINES)
        check_options(request, ())
        return _ok(_entity(request, "Machines", render_machine(self._machine(request, claims, id))))

    def tag_machine(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, WRITE_MACHINES)
        check_options(request, ())
        body = _body(request, {"Value", "Action"})
        value, action = body.get("Value"), body.get("Action")
        if not isinstance(value, str) or not value.strip():
            raise fail(request, 400, "InvalidInput", "The parameter 'Value' is required: the tag, a non-empty string.")
        if action not in ("Add", "Remove"):
            raise fail(request, 400, "InvalidInput", f"Invalid value {action!r} for 'Action'. Allowed values: Add, "
                       "Remove.")
        machine = self._machine(request, claims, id)
        updated = self._state.tag(claims["tid"], machine, value, action == "Add")
        return _ok(_entity(request, "Machines", render_machine(updated)))

    # --- actions -------------------------------------------------------------------------------------------------

    def _action_handler(self, action: _Action):
        def handle(request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
            return self.act(request, id, action)
        return handle

    def act(self, request: Request, machine_key: str, action: _Action) -> Response:
        claims = self._authorize(request, action.permission)
        check_options(request, ())
        body = _body(request, {"Comment", *action.fields})
        comment = body.get("Comment")
        if not isinstance(comment, str) or not comment.strip():
            raise fail(request, 400, "InvalidInput", "The parameter 'Comment' is required: a non-empty string.")
        values = {name: _field(request, name, body.get(name), *spec) for name, spec in action.fields.items()}
        machine = self._machine(request, claims, machine_key)
        scope = values.get("IsolationType") or values.get("ScanType")
        sha1 = values["Sha1"].lower() if "Sha1" in values else None
        try:
            created = self._state.act(claims["tid"], machine, action.kind, self._updater.author(claims), comment,
                                      scope, sha1)
        except ActionInProgress:
            raise fail(request, 400, "BadRequest", "Action is already in progress") from None
        body = _entity(request, "MachineActions", render_action(created, self._state.now()))
        return Response.json(201, body, content_type=errors.DEFENDER_JSON)

    def list_actions(self, request: Request) -> Response:
        claims = self._authorize(request, READ_MACHINES)
        now = self._state.now()
        items = [(action, now) for action in self._state.actions(claims["tid"])]
        return _ok(_page(request, "MachineActions", "/api/machineactions", items, ACTION_SCHEMA,
                         lambda item: render_action(*item)))

    def get_action(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, READ_MACHINES)
        check_options(request, ())
        return _ok(_entity(request, "MachineActions", render_action(self._action(request, claims, id),
                                                                    self._state.now())))

    def package_uri(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, PACKAGE_URI)
        check_options(request, ())
        action = self._action(request, claims, id)
        if action.type != "CollectInvestigationPackage":
            raise fail(request, 400, "InvalidInput", f"Machine action {action.id} is of type {action.type}: only a "
                       "CollectInvestigationPackage action has a package.")
        status = action.status(self._state.now())
        if status != "Succeeded":
            raise fail(request, 404, "ResourceNotFound", f"The investigation package of machine action {action.id} "
                       f"is not available: the action is {status}.")
        link = self._links.link(request.base_url, claims["tid"], action.id, self._state.now())
        return _ok({"@odata.context": f"{request.base_url}/api/$metadata#Edm.String", "value": link})

    def download_package(self, request: Request) -> Response:
        try:
            tenant_id, action_id = self._links.verify(request.param("token"), self._state.now())
        except LinkRefused as exc:
            body = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server '
                    f'failed to authenticate the request. {exc}</Message></Error>')
            return Response(403, body.encode("utf-8"), content_type="application/xml")
        action = self._state.action(tenant_id, action_id)
        disposition = {"Content-Disposition": 'attachment; filename="WDATP_Investigation_Package.zip"'}
        return Response(200, investigation_package(action), disposition, content_type="application/zip")

    # --- helpers -------------------------------------------------------------------------------------------------

    def _machine(self, request: Request, claims: dict, key: str):
        machine = self._state.machine(claims["tid"], key)
        if machine is None:
            raise fail(request, 404, "ResourceNotFound", f"Machine {key} was not found.")
        return machine

    def _action(self, request: Request, claims: dict, action_id: str):
        action = self._state.action(claims["tid"], action_id)
        if action is None:
            raise fail(request, 404, "ResourceNotFound", f"Machine action {action_id} was not found.")
        return action

    def _authorize(self, request: Request, permission: Permission) -> dict:
        return authorize(request, self._tokens, self._state.now(), permission, ENDPOINT)


# --- rendering -------------------------------------------------------------------------------------------------

def render_machine(machine) -> dict:
    device = machine.device
    return {
        "id": machine.id,
        "computerDnsName": machine.dns_name,
        "firstSeen": timefmt.odata(device.first_seen),
        "lastSeen": timefmt.odata(machine.last_seen),
        "osPlatform": device.os_platform,
        "osVersion": machine.os_version,
        "osProcessor": "x64",
        "version": device.version,
        "osBuild": device.os_build,
        "osArchitecture": "64-bit",
        "lastIpAddress": device.last_ip,
        "lastExternalIpAddress": device.last_external_ip,
        "healthStatus": machine.health_status,
        "defenderAvStatus": "Updated",
        "onboardingStatus": "Onboarded",
        "rbacGroupId": rbac_group_id(device.rbac_group),
        "rbacGroupName": device.rbac_group,
        "riskScore": device.risk_score,
        "exposureLevel": machine.exposure_level,
        "isAadJoined": True,
        "aadDeviceId": device.aad_device_id,
        "machineTags": list(machine.tags),
        "deviceValue": machine.device_value,
        "managedBy": "MicrosoftDefenderForEndpoint" if machine.is_server else "Intune",
        "ipAddresses": [{"ipAddress": device.last_ip, "macAddress": machine.mac_address, "type": "Ethernet",
                         "operationalStatus": "Up"}],
        "vmMetadata": _vm_metadata(machine),
    }


def _vm_metadata(machine) -> Optional[dict]:
    if machine.vm_id is None:
        return None
    subscription = "72084f33-a799-49ca-9ab6-0162241dc343"
    host = machine.dns_name.split(".", 1)[0]
    return {"vmId": machine.vm_id, "cloudProvider": "Azure", "subscriptionId": subscription,
            "resourceId": f"/subscriptions/{subscription}/resourceGroups/servers/providers/Microsoft.Compute/"
                          f"virtualMachines/{host}"}


def render_action(action, now) -> dict:
    return {
        "id": action.id,
        "type": action.type,
        "title": None,
        "requestor": action.requestor,
        "requestorComment": action.comment,
        "status": action.status(now),
        "machineId": action.machine_id,
        "computerDnsName": action.dns_name,
        "creationDateTimeUtc": timefmt.odata(action.created),
        "lastUpdateDateTimeUtc": timefmt.odata(action.last_update(now)),
        "cancellationRequestor": "Automation" if action.status(now) == "Cancelled" else None,
        "cancellationComment": "Cancelled by the sandbox (a forced outcome)" if action.status(now) == "Cancelled"
        else None,
        "cancellationDateTimeUtc": timefmt.odata(action.started) if action.status(now) == "Cancelled" else None,
        "errorHResult": action.error_code(now),
        "scope": action.scope,
        "externalId": None,
        "requestSource": "PublicApi",
        "relatedFileInfo": {"fileIdentifier": action.sha1, "fileIdentifierType": "Sha1"} if action.sha1 else None,
        "commands": [],
        "troubleshootInfo": None,
    }


# --- query options and bodies ----------------------------------------------------------------------------------

def _page(request: Request, entity_set: str, path: str, items: list, schema: odata.Schema, render) -> dict:
    """``$filter``, ``$top`` (≤ 10000, the default) and ``$skip``; a nextLink with the next ``$skip`` while more
    remain."""
    predicate, top, skip = list_query(request, LIST_OPTIONS, schema, MAX_TOP)
    text = request.param("$filter")
    matching = [item for item in items if predicate is None or predicate(item)]
    body = {"@odata.context": f"{request.base_url}/api/$metadata#{entity_set}",
            "value": [render(item) for item in matching[skip:skip + top]]}
    if top and skip + top < len(matching):
        query = {"$filter": text} if text else {}
        query.update({"$top": top, "$skip": skip + top})
        body["@odata.nextLink"] = f"{request.base_url}{path}?{urlencode(query, safe='$', quote_via=quote)}"
    return body


def _body(request: Request, allowed: set) -> dict:
    """The JSON object of the body, with property names as documented (case-sensitive)."""
    try:
        body = request.json()
    except ValueError as exc:
        raise fail(request, 400, "InvalidRequestBody", f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise fail(request, 400, "InvalidRequestBody", f"The request body must be a JSON object with the properties "
                   f"{', '.join(sorted(allowed))}.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise fail(request, 400, "InvalidRequestBody", f"Unknown properties: {', '.join(unknown)}. Allowed: "
                   f"{', '.join(sorted(allowed))}.")
    return body


def _field(request: Request, name: str, value, allowed, default):
    if value is None:
        if default is None:
            raise fail(request, 400, "InvalidInput", f"The parameter '{name}' is required.")
        return default
    if isinstance(allowed, tuple):
        if value not in allowed:
            raise fail(request, 400, "InvalidInput", f"Invalid value {value!r} for '{name}'. Allowed values: "
                       f"{', '.join(allowed)}.")
    elif not isinstance(value, str) or not allowed.fullmatch(value):
        raise fail(request, 400, "InvalidInput", f"Invalid value {value!r} for '{name}': a SHA-1 of 40 hexadecimal "
                   "digits is expected.")
    return value


def _entity(request: Request, entity_set: str, fields: dict) -> dict:
    return {"@odata.context": f"{request.base_url}/api/$metadata#{entity_set}/$entity", **fields}


def _ok(body: dict) -> Response:
    return Response.json(200, body, content_type=errors.DEFENDER_JSON)
