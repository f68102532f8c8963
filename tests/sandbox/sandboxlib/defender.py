"""Defender XDR API (``api.security.microsoft.com/api``) view of the incident store."""
from __future__ import annotations

import datetime
from typing import Optional

from . import errors, odata, timefmt
from .httpd import ApiError, Request, Response, Route
from .model import DETECTIONS, ENTITY_KEYS, SERVICES, Incident
from .tokens import BAD_SIGNATURE, DEFENDER, EXPIRED, MALFORMED, MISSING, UNKNOWN_TENANT, WRONG_AUDIENCE, TokenRejected

READ_INCIDENTS = ("Incident.ReadWrite.All", "Incident.Read.All")
MAX_TOP = 100
LIST_OPTIONS = ("$filter", "$top", "$skip")
PORTAL = "https://security.microsoft.com"

STATUSES = {"active": "Active", "inProgress": "InProgress", "resolved": "Resolved", "redirected": "Redirected"}
SEVERITIES = {"unknown": "UnSpecified", "informational": "Informational", "low": "Low", "medium": "Medium",
              "high": "High"}
CLASSIFICATIONS = {"unknown": "Unknown", "falsePositive": "FalsePositive", "truePositive": "TruePositive",
                   "informationalExpectedActivity": "InformationalExpectedActivity"}
DETERMINATIONS = {
    "unknown": "NotAvailable", "apt": "Apt", "malware": "Malware", "securityPersonnel": "SecurityPersonnel",
    "securityTesting": "SecurityTesting", "unwantedSoftware": "UnwantedSoftware", "other": "Other",
    "multiStagedAttack": "MultiStagedAttack", "compromisedUser": "CompromisedAccount", "phishing": "Phishing",
    "maliciousUserActivity": "MaliciousUserActivity", "clean": "Clean", "insufficientData": "NoEnoughDataToValidate",
    "confirmedUserActivity": "ConfirmedActivity", "lineOfBusinessApplication": "LineOfBusinessApplication",
}
ALERT_STATUSES = {"new": "New", "inProgress": "InProgress", "resolved": "Resolved"}

_UNAUTHORIZED = {
    MISSING: "Authorization has been denied for this request: no bearer token.",
    MALFORMED: "Authorization has been denied for this request: the access token is malformed.",
    BAD_SIGNATURE: "Authorization has been denied for this request: the access token signature is invalid.",
    EXPIRED: "Authorization has been denied for this request: the access token has expired or is not yet valid.",
    WRONG_AUDIENCE: "Authorization has been denied for this request: the access token is not for this API "
                    "(audience must be https://api.security.microsoft.com).",
    UNKNOWN_TENANT: "Authorization has been denied for this request: unknown tenant.",
}
INCIDENT_SCHEMA = odata.Schema("Incident", {
    "lastUpdateTime": odata.Property(odata.DATETIME, lambda item: item.last_updated),
    "createdTime": odata.Property(odata.DATETIME, lambda item: item.created),
    "status": odata.Property(odata.ENUM, lambda item: STATUSES[item.status], tuple(STATUSES.values())),
    "assignedTo": odata.Property(odata.STRING, lambda item: item.assigned_to),
})


class DefenderApi:
    """Lists are ordered by ascending incident id, not newest first: clients must not rely on the order."""

    def __init__(self, store, tokens, clock):
        self._store = store
        self._tokens = tokens
        self._clock = clock

    def routes(self) -> list:
        return [
            Route("GET", "/api/incidents", self.list_incidents, errors.DEFENDER),
            Route("GET", "/api/incidents/{id}", self.get_incident, errors.DEFENDER),
        ]

    def list_incidents(self, request: Request) -> Response:
        claims = self._authorize(request, READ_INCIDENTS)
        _check_options(request, LIST_OPTIONS)
        top = _non_negative(request, "$top", MAX_TOP)
        if top > MAX_TOP:
            raise _fail(request, 400, "InvalidInput", f"The value of $top must be between 0 and {MAX_TOP}; the "
                        f"request has '{top}'.")
        skip = _non_negative(request, "$skip", 0)
        text = request.param("$filter")
        try:
            predicate = odata.compile_filter(text, INCIDENT_SCHEMA) if text else None
        except odata.FilterError as exc:
            raise _fail(request, 400, "ODataError", f"Invalid filter clause: {exc}") from None
        incidents = sorted(self._store.incidents(claims["tid"]), key=lambda item: item.id)
        matching = [item for item in incidents if predicate is None or predicate(item)]
        body = {"@odata.context": f"{request.base_url}/api/$metadata#Incidents",
                "value": [render_incident(item) for item in matching[skip:skip + top]]}
        return _ok(body)

    def get_incident(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, READ_INCIDENTS)
        _check_options(request, ())
        incident = self._store.get(claims["tid"], int(id)) if id.isdecimal() else None
        if incident is None:
            raise _fail(request, 404, "ResourceNotFound", f"Incident {id} was not found.")
        return _ok({"@odata.context": f"{request.base_url}/api/$metadata#Incidents/$entity",
                    **render_incident(incident)})

    def _authorize(self, request: Request, accepted: tuple) -> dict:
        """Verifies the bearer token for the Defender API and that its roles include one of ``accepted``."""
        try:
            claims = self._tokens.verify(request.headers.get("Authorization"), DEFENDER, self._clock())
        except TokenRejected as exc:
            raise _fail(request, 401, "Unauthorized", _UNAUTHORIZED[exc.reason]) from None
        if not set(claims.get("roles", [])) & set(accepted):
            raise _fail(request, 403, "Forbidden", f"The application does not have any of the required application "
                        f"permissions ({', '.join(accepted)}) to access the resource.")
        return claims


def _check_options(request: Request, allowed: tuple) -> None:
    for name in request.query:
        if name.startswith("$") and name not in allowed:
            supported = ", ".join(allowed) or "none"
            raise _fail(request, 400, "InvalidInput", f"The query option '{name}' is not supported. Supported "
                        f"query options: {supported}.")


def _non_negative(request: Request, name: str, default: int) -> int:
    text = request.param(name)
    if text is None:
        return default
    if not text.strip().isdecimal():
        raise _fail(request, 400, "InvalidInput", f"Invalid value '{text}' for {name}: a non-negative integer "
                    "is expected.")
    return int(text)


# --- rendering -------------------------------------------------------------------------------------------------

def render_incident(incident: Incident) -> dict:
    return {
        "incidentId": incident.id,
        "incidentUri": f"{PORTAL}/incidents/{incident.id}?tid={incident.tenant_id}",
        "redirectIncidentId": incident.redirect_id,
        "incidentName": incident.title,
        "createdTime": timefmt.odata(incident.created),
        "lastUpdateTime": timefmt.odata(incident.last_updated),
        "assignedTo": incident.assigned_to,
        "classification": CLASSIFICATIONS[incident.classification],
        "determination": DETERMINATIONS[incident.determination],
        "status": STATUSES[incident.status],
        "severity": SEVERITIES[incident.severity],
        "tags": list(incident.custom_tags),
        "systemTags": list(incident.system_tags),
        "comments": [{"comment": comment.text, "createdBy": comment.author,
                      "createdTime": timefmt.odata(comment.created)} for comment in incident.comments],
        "alerts": [_alert(alert, incident.id) for alert in incident.alerts],
    }


def _alert(alert, incident_id: int) -> dict:
    classified = alert.classification != "unknown"
    return {
        "alertId": alert.id,
        "providerAlertId": alert.id[2:],
        "incidentId": incident_id,
        "serviceSource": SERVICES[alert.service][1],
        "creationTime": timefmt.odata(alert.created),
        "lastUpdatedTime": timefmt.odata(alert.last_updated),
        "resolvedTime": _time(alert.resolved),
        "firstActivity": timefmt.odata(alert.first_activity),
        "lastActivity": timefmt.odata(alert.last_activity),
        "title": alert.title,
        "description": alert.description,
        "category": alert.category,
        "status": ALERT_STATUSES[alert.status],
        "severity": SEVERITIES[alert.severity],
        "investigationId": alert.investigation_id,
        "investigationState": alert.investigation_state,
        "classification": CLASSIFICATIONS[alert.classification] if classified else None,
        "determination": DETERMINATIONS[alert.determination] if classified else None,
        "detectionSource": DETECTIONS[alert.detection][1],
        "detectorId": alert.detector_id,
        "assignedTo": alert.assigned_to,
        "actorName": alert.actor,
        "threatFamilyName": alert.threat_family,
        "mitreTechniques": list(alert.techniques),
        "devices": [_device(device) for device in alert.devices],
        "entities": [_entity(entity) for entity in alert.entities],
    }


def _device(device) -> dict:
    return {
        "mdatpDeviceId": device.device_id,
        "aadDeviceId": device.aad_device_id,
        "deviceDnsName": device.dns_name,
        "osPlatform": device.os_platform,
        "version": device.version,
        "osProcessor": "x64",
        "osBuild": device.os_build,
        "healthStatus": "Active",
        "riskScore": device.risk_score,
        "rbacGroupName": device.rbac_group,
        "firstSeen": timefmt.odata(device.first_seen),
        "tags": [],
        "defenderAvStatus": "Updated",
        "onboardingStatus": "Onboarded",
        "vmMetadata": None,
        "loggedOnUsers": [{"accountName": device.logged_on_user[0], "domainName": device.logged_on_user[1]}],
    }


def _entity(entity) -> dict:
    """All 31 entity keys, null where they do not apply."""
    values = {key: entity.values.get(key) for key in ENTITY_KEYS}
    return {key: _time(value) if isinstance(value, datetime.datetime) else value for key, value in values.items()}


def _time(value) -> Optional[str]:
    return timefmt.odata(value) if value is not None else None


def _ok(body: dict) -> Response:
    return Response.json(200, body, content_type=errors.DEFENDER_JSON)


def _fail(request: Request, status: int, code: str, message: str) -> ApiError:
    return ApiError(errors.defender_error(request, status, code, message))
