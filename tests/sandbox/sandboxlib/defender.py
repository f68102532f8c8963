"""Defender XDR API (``api.security.microsoft.com/api``) view of the incident store and of hunting."""
from __future__ import annotations

import datetime
import json
import time
from typing import Optional

from . import access, errors, kql, odata, timefmt, updates
from .access import Permission
from .httpd import ApiError, Request, Response, Route
from .model import DETECTIONS, ENTITY_KEYS, SERVICES, Incident
from .tokens import (BAD_SIGNATURE, DEFENDER, ENDPOINT, EXPIRED, MALFORMED, MISSING, UNKNOWN_TENANT, WRONG_AUDIENCE,
                     TokenRejected)

READ_INCIDENTS = Permission(("Incident.ReadWrite.All", "Incident.Read.All"), ("Incident.ReadWrite", "Incident.Read"))
UPDATE_INCIDENTS = Permission(("Incident.ReadWrite.All",), ("Incident.ReadWrite",))
HUNTING = Permission(("AdvancedHunting.Read.All",), ("AdvancedHunting.Read",))
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
    "multiStagedAttack": "MultiStagedAttack", "compromisedAccount": "CompromisedAccount", "phishing": "Phishing",
    "maliciousUserActivity": "MaliciousUserActivity", "notMalicious": "Clean",
    "notEnoughDataToValidate": "NoEnoughDataToValidate", "confirmedActivity": "ConfirmedActivity",
    "lineOfBusinessApplication": "LineOfBusinessApplication",
}
ALERT_STATUSES = {"new": "New", "inProgress": "InProgress", "resolved": "Resolved"}
# PATCH body (case-sensitive); the determination spellings other Defender pages use are accepted too
UPDATE_FIELDS = {
    "status": updates.Field("status", updates.ENUM, {"Active": "active", "InProgress": "inProgress",
                                                     "Resolved": "resolved"}, refused=("Redirected",)),
    "assignedTo": updates.Field("assigned_to", updates.TEXT),
    "classification": updates.Field("classification", updates.ENUM,
                                    {value: name for name, value in CLASSIFICATIONS.items()}),
    "determination": updates.Field("determination", updates.ENUM, {
        **{value: name for name, value in DETERMINATIONS.items()}, "CompromisedUser": "compromisedAccount",
        "ConfirmedUserActivity": "confirmedActivity", "InsufficientData": "notEnoughDataToValidate"}),
    "tags": updates.Field("custom_tags", updates.TAGS),
    "comment": updates.Field("comment", updates.COMMENT),
}

DEFENDER_RESOURCE = "https://api.security.microsoft.com"
AUDIENCES = {DEFENDER: DEFENDER_RESOURCE, ENDPOINT: "https://api.securitycenter.microsoft.com"}
_UNAUTHORIZED = {
    MISSING: "Authorization has been denied for this request: no bearer token.",
    MALFORMED: "Authorization has been denied for this request: the access token is malformed.",
    BAD_SIGNATURE: "Authorization has been denied for this request: the access token signature is invalid.",
    EXPIRED: "Authorization has been denied for this request: the access token has expired or is not yet valid.",
    WRONG_AUDIENCE: "Authorization has been denied for this request: the access token is not for this API "
                    f"(audience must be {DEFENDER_RESOURCE}).",
    UNKNOWN_TENANT: "Authorization has been denied for this request: unknown tenant.",
}
INCIDENT_SCHEMA = odata.Schema("Incident", {
    "lastUpdateTime": odata.Property(odata.DATETIME, lambda item: item.last_updated),
    "createdTime": odata.Property(odata.DATETIME, lambda item: item.created),
    "status": odata.Property(odata.ENUM, lambda item: STATUSES[item.status], tuple(STATUSES.values())),
    "assignedTo": odata.Property(odata.STRING, lambda item: item.assigned_to),
})


class DefenderApi:
    """Lists are most recent first (``createdTime`` descending, then ``incidentId``), as Microsoft documents."""

    def __init__(self, store, tokens, clock, updater, hunter):
        self._store = store
        self._tokens = tokens
        self._clock = clock
        self._updater = updater
        self._hunter = hunter

    def routes(self) -> list:
        return [
            Route("GET", "/api/incidents", self.list_incidents, errors.DEFENDER),
            Route("GET", "/api/incidents/{id}", self.get_incident, errors.DEFENDER),
            Route("PATCH", "/api/incidents/{id}", self.update_incident, errors.DEFENDER, writes=True),
            Route("POST", "/api/advancedhunting/run", self.run_hunting_query, errors.DEFENDER),
        ]

    def list_incidents(self, request: Request) -> Response:
        claims = self._authorize(request, READ_INCIDENTS)
        predicate, top, skip = list_query(request, LIST_OPTIONS, INCIDENT_SCHEMA, MAX_TOP)
        incidents = sorted(self._store.incidents(claims["tid"]), key=lambda item: (item.created, item.id), reverse=True)
        matching = [item for item in incidents if predicate is None or predicate(item)]
        body = {"@odata.context": f"{request.base_url}/api/$metadata#Incidents",
                "value": [render_incident(item) for item in matching[skip:skip + top]]}
        return _ok(body)

    def get_incident(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, READ_INCIDENTS)
        check_options(request, ())
        incident = self._store.get(claims["tid"], int(id)) if id.isdecimal() else None
        if incident is None:
            raise fail(request, 404, "ResourceNotFound", f"Incident {id} was not found.")
        return _ok({"@odata.context": f"{request.base_url}/api/$metadata#Incidents/$entity",
                    **render_incident(incident)})

    def update_incident(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, UPDATE_INCIDENTS)
        check_options(request, ())
        changes = _changes(request)
        try:
            incident = self._updater.update(claims, int(id), changes) if id.isdecimal() else None
        except updates.Misfit as exc:
            raise fail(request, 400, "InvalidInput", exc.message(CLASSIFICATIONS, DETERMINATIONS)) from None
        if incident is None:
            raise fail(request, 404, "ResourceNotFound", f"Incident {id} was not found.")
        return _ok({"@odata.context": f"{request.base_url}/api/$metadata#Incidents/$entity",
                    **render_incident(incident)})

    def run_hunting_query(self, request: Request) -> Response:
        claims = self._authorize(request, HUNTING)
        started = time.perf_counter()
        query = _hunting_query(request)
        try:
            result = self._hunter.run(claims["tid"], query, self._clock())
        except kql.KqlError as exc:
            raise fail(request, 400, "BadRequest", f"{exc.kind} error: {exc}") from None
        return _ok({"Stats": _stats(result, time.perf_counter() - started),
                    "Schema": [{"Name": name, "Type": kql.TYPE_NAMES[kind]} for name, kind in result.columns],
                    "Results": result.rows})

    def _authorize(self, request: Request, permission: Permission) -> dict:
        return authorize(request, self._tokens, self._clock(), permission)


def authorize(request: Request, tokens, now, permission: Permission, api: str = DEFENDER) -> dict:
    """Verifies the bearer token for ``api`` (the Defender API, or the Defender for Endpoint API on the same host)
    and that it carries one of the permissions; the Defender API's 401 or 403 otherwise."""
    try:
        claims = tokens.verify(request.headers.get("Authorization"), api, now)
    except TokenRejected as exc:
        message = _UNAUTHORIZED[exc.reason]
        if exc.reason == WRONG_AUDIENCE:
            message = message.replace(DEFENDER_RESOURCE, AUDIENCES[api])
        raise fail(request, 401, "Unauthorized", message) from None
    if access.allows(claims, permission):
        return claims
    if access.is_delegated(claims):
        raise fail(request, 403, "Forbidden", f"The user does not have any of the required delegated permissions "
                   f"({', '.join(permission.scopes)}) to access the resource. Scopes on the request: "
                   f"'{claims.get('scp', '')}'.")
    raise fail(request, 403, "Forbidden", f"The application does not have any of the required application "
               f"permissions ({', '.join(permission.application)}) to access the resource.")


def check_options(request: Request, allowed: tuple) -> None:
    for name in request.query:
        if name.startswith("$") and name not in allowed:
            supported = ", ".join(allowed) or "none"
            raise fail(request, 400, "InvalidInput", f"The query option '{name}' is not supported. Supported "
                       f"query options: {supported}.")


def list_query(request: Request, options: tuple, schema: odata.Schema, max_top: int) -> tuple:
    """(``$filter``'s predicate or None, ``$top`` (``max_top`` by default), ``$skip``) of a list request; the API's
    400 for an option it does not take or a value out of range."""
    check_options(request, options)
    top = non_negative(request, "$top", max_top)
    if top > max_top:
        raise fail(request, 400, "InvalidInput", f"The value of $top must be between 0 and {max_top}; the request "
                   f"has '{top}'.")
    skip = non_negative(request, "$skip", 0)
    text = request.param("$filter")
    try:
        return (odata.compile_filter(text, schema) if text else None), top, skip
    except odata.FilterError as exc:
        raise fail(request, 400, "ODataError", f"Invalid filter clause: {exc}") from None


def non_negative(request: Request, name: str, default: int) -> int:
    text = request.param(name)
    if text is None:
        return default
    if not text.strip().isdecimal():
        raise fail(request, 400, "InvalidInput", f"Invalid value '{text}' for {name}: a non-negative integer "
                   "is expected.")
    return int(text)


def _changes(request: Request) -> dict:
    try:
        return updates.parse_body(request.json(), UPDATE_FIELDS)
    except updates.UnknownField as exc:
        raise fail(request, 400, "InvalidRequestBody", str(exc)) from None
    except updates.InvalidValue as exc:
        raise fail(request, 400, "InvalidInput", str(exc)) from None
    except ValueError as exc:
        raise fail(request, 400, "InvalidRequestBody", f"The request body is not valid JSON: {exc}") from None


def _hunting_query(request: Request) -> str:
    """The query of ``{"Query": "..."}`` (case-sensitive, as every Defender API body)."""
    try:
        body = request.json()
    except ValueError as exc:
        raise fail(request, 400, "InvalidRequestBody", f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or set(body) - {"Query"}:
        raise fail(request, 400, "InvalidRequestBody", "The request body must be a JSON object with the one "
                   "property 'Query'.")
    query = body.get("Query")
    if not isinstance(query, str) or not query.strip():
        raise fail(request, 400, "MissingRequiredParameter", "The parameter 'Query' is required: a non-empty KQL "
                   "query.")
    return query


def _stats(result, seconds: float) -> dict:
    """The legacy API's statistics; only the execution time and the dataset sizes mean anything here."""
    return {
        "ExecutionTime": round(seconds, 7),
        "resource_usage": {
            "cache": {"memory": {"hits": 0, "misses": 0, "total": 0}, "disk": {"hits": 0, "misses": 0, "total": 0}},
            "cpu": {"user": "00:00:00", "kernel": "00:00:00", "total cpu": "00:00:00"},
            "memory": {"peak_per_node": 0},
        },
        "dataset_statistics": [{"table_row_count": len(result.rows),
                                "table_size": len(json.dumps(result.rows).encode("utf-8"))}],
    }


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
        "investigationState": alert.investigation_state[:1].upper() + alert.investigation_state[1:],
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


def fail(request: Request, status: int, code: str, message: str) -> ApiError:
    return ApiError(errors.defender_error(request, status, code, message))
