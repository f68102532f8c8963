"""Microsoft Graph's alerts_v2 (``/v1.0/security/alerts_v2``) and an incident's alerts, over the incident store.

Alerts are those of the tenant's incidents; the shapes, paging and errors are graph.py's.
"""
from __future__ import annotations

from . import errors, odata, updates
from .access import Permission
from .graph import (COMMENT_FIELDS, READ_INCIDENTS, UPDATE_FIELDS, authorize, boolean_option, check_options,
                    comment_collection, fail, filtered, list_query, ok, page, parse_changes, render_alert)
from .httpd import Request, Response, Route
from .model import CLASSIFICATIONS, DETERMINATIONS, SERVICE_SOURCES, SERVICES, SEVERITIES

READ_ALERTS = Permission(("SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"))
UPDATE_ALERTS = Permission(("SecurityAlert.ReadWrite.All",))
PAGE_SIZE = 100  # without $top
# The Graph security API's documented $top limit for alerts; alerts_v2's own page does not state one.
MAX_TOP = 1000
LIST_OPTIONS = ("$count", "$filter", "$skip", "$top", "$skiptoken")
PATH = "security/alerts_v2"
ALERT_STATUSES = ("unknown", "new", "inProgress", "resolved", "unknownFutureValue")
_FUTURE = ("unknownFutureValue",)

# Items are (alert, incident) pairs.
ALERT_SCHEMA = odata.Schema(
    "microsoft.graph.security.alert",
    {
        "assignedTo": odata.Property(odata.STRING, lambda item: item[0].assigned_to),
        "classification": odata.Property(odata.ENUM, lambda item: item[0].classification, CLASSIFICATIONS + _FUTURE),
        "createdDateTime": odata.Property(odata.DATETIME, lambda item: item[0].created),
        "determination": odata.Property(odata.ENUM, lambda item: item[0].determination, DETERMINATIONS + _FUTURE),
        "lastUpdateDateTime": odata.Property(odata.DATETIME, lambda item: item[0].last_updated),
        "serviceSource": odata.Property(odata.ENUM, lambda item: SERVICES[item[0].service][0], SERVICE_SOURCES),
        "severity": odata.Property(odata.ENUM, lambda item: item[0].severity, SEVERITIES + _FUTURE),
        "status": odata.Property(odata.ENUM, lambda item: item[0].status, ALERT_STATUSES),
    },
    not_filterable=("id", "providerAlertId", "incidentId", "detectionSource", "detectorId", "tenantId", "title",
                    "description", "recommendedActions", "category", "alertWebUrl", "incidentWebUrl",
                    "actorDisplayName", "threatDisplayName", "threatFamilyName", "mitreTechniques", "resolvedDateTime",
                    "firstActivityDateTime", "lastActivityDateTime", "productName", "categories",
                    "investigationState", "systemTags", "alertPolicyId", "additionalData", "customDetails", "comments",
                    "evidence"),
)
# PATCH body: the incident's classification, determination and assignedTo, the alert's own status enum.
ALERT_UPDATE_FIELDS = {
    "assignedTo": UPDATE_FIELDS["assignedTo"],
    "classification": UPDATE_FIELDS["classification"],
    "determination": UPDATE_FIELDS["determination"],
    "status": updates.Field("status", updates.ENUM, {value: value for value in ("new", "inProgress", "resolved")},
                            refused=("unknown", "unknownFutureValue"),
                            enum_type="microsoft.graph.security.alertStatus"),
    "customDetails": updates.Field("custom_details", updates.OBJECT),
}


class AlertsApi:
    def __init__(self, store, tokens, clock, updater):
        self._store = store
        self._tokens = tokens
        self._clock = clock
        self._updater = updater

    def routes(self) -> list:
        return [
            Route("GET", "/v1.0/security/alerts_v2", self.list_alerts, errors.GRAPH),
            Route("GET", "/v1.0/security/alerts_v2/{id}", self.get_alert, errors.GRAPH),
            Route("PATCH", "/v1.0/security/alerts_v2/{id}", self.update_alert, errors.GRAPH, writes=True),
            Route("POST", "/v1.0/security/alerts_v2/{id}/comments", self.add_comment, errors.GRAPH, writes=True),
            Route("GET", "/v1.0/security/incidents/{id}/alerts", self.incident_alerts, errors.GRAPH),
        ]

    def list_alerts(self, request: Request) -> Response:
        claims = self._authorize(request, READ_ALERTS)
        query = list_query(request, LIST_OPTIONS, PAGE_SIZE, MAX_TOP)
        matching = filtered(request, self._store.alerts(claims["tid"]), query["filter"], ALERT_SCHEMA)
        return ok(page(request, PATH, query, matching, lambda pair: render_alert(*pair)))

    def get_alert(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, READ_ALERTS)
        check_options(request, ())
        found = self._store.alert(claims["tid"], id)
        if found is None:
            raise _not_found(request, id)
        return ok(_entity(request, *found))

    def update_alert(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, UPDATE_ALERTS)
        check_options(request, ())
        return ok(_entity(request, *self._update(request, claims, id, parse_changes(request, ALERT_UPDATE_FIELDS))))

    def add_comment(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        """Appends the comment; answers with all the alert's comments, as incident comments are answered."""
        claims = self._authorize(request, UPDATE_ALERTS)
        check_options(request, ())
        alert, dummy = self._update(request, claims, id, {"comments": _comment_texts(request)})
        return ok(comment_collection(request, alert.comments))

    def incident_alerts(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        """The incident's alerts: a navigation of the incident, so the incident permissions apply (as to
        ``$expand=alerts``). ``$filter`` and ``$count``; no paging."""
        claims = self._authorize(request, READ_INCIDENTS)
        check_options(request, ("$filter", "$count"))
        incident = self._store.get(claims["tid"], int(id)) if id.isdecimal() else None
        if incident is None:
            raise fail(request, 404, "NotFound", f"Incident with id '{id}' was not found.")
        query = {"filter": request.param("$filter"), "skip": 0, "top": len(incident.alerts),
                 "count": boolean_option(request, "$count")}
        matching = filtered(request, [(alert, incident) for alert in incident.alerts], query["filter"], ALERT_SCHEMA)
        return ok(page(request, f"security/incidents('{incident.id}')/alerts", query, matching,
                       lambda pair: render_alert(*pair)))

    def _update(self, request: Request, claims: dict, alert_id: str, changes: dict) -> tuple:
        try:
            found = self._updater.update_alert(claims, alert_id, changes)
        except updates.Misfit as exc:
            raise fail(request, 400, "BadRequest", exc.message()) from None
        if found is None:
            raise _not_found(request, alert_id)
        return found

    def _authorize(self, request: Request, permission: Permission) -> dict:
        return authorize(request, self._tokens, self._clock(), permission)


def _comment_texts(request: Request) -> tuple:
    """The comments of the body: Graph's documented ``{"@odata.type": ..., "comment": ...}``, or the JSON array of
    such objects that Microsoft's SDKs send (their request builders take a list of alertComment)."""
    try:
        body = request.json()
    except ValueError as exc:
        raise fail(request, 400, "BadRequest", f"The request body is not valid JSON: {exc}") from None
    items = body if isinstance(body, list) and body else [body]
    texts = []
    for item in items:
        try:
            changes = updates.parse_body(item, COMMENT_FIELDS)
        except (updates.UnknownField, updates.InvalidValue) as exc:
            raise fail(request, 400, "BadRequest", str(exc)) from None
        if "comment" not in changes:
            raise fail(request, 400, "BadRequest", "The request body needs a 'comment': a non-empty string.")
        texts.append(changes["comment"])
    return tuple(texts)


def _entity(request: Request, alert, incident) -> dict:
    return {"@odata.context": f"{request.base_url}/v1.0/$metadata#{PATH}/$entity", **render_alert(alert, incident)}


def _not_found(request: Request, alert_id: str):
    return fail(request, 404, "NotFound", f"Alert with id '{alert_id}' was not found.")
