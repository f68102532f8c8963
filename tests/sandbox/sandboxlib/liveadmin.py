"""Admin routes that change the incident store while clients poll it: new incidents, and touches of an incident or
an alert (fields changed as given, ``lastUpdateDateTime`` always moved to now). See ``docs/sandbox.md``."""
from __future__ import annotations

import dataclasses

from . import errors, timefmt, updates
from .admin import tenant_id_of
from .httpd import ApiError, Request, Response, Route
from .liveclock import StrictClock
from .model import ALERT_STATUSES, SEVERITIES

MAX_NEW = 100
AUTHOR = "sandbox"  # lastModifiedBy and the author of comments
NEW_FIELDS = ("count", "severity", "status")
INCIDENT_STATUSES = ("active", "inProgress", "resolved")  # those an API update can set: not redirected
_SEVERITY = updates.Field("severity", updates.ENUM, {value: value for value in SEVERITIES})
_ASSIGNED_TO = updates.Field("assigned_to", updates.TEXT)
_COMMENT = updates.Field("comment", updates.COMMENT)
INCIDENT_FIELDS = {"status": updates.Field("status", updates.ENUM, {value: value for value in INCIDENT_STATUSES}),
                   "severity": _SEVERITY, "assignedTo": _ASSIGNED_TO, "comment": _COMMENT}
ALERT_FIELDS = {"status": updates.Field("status", updates.ENUM, {value: value for value in ALERT_STATUSES}),
                "severity": _SEVERITY, "assignedTo": _ASSIGNED_TO, "comment": _COMMENT}


class LiveChanges:
    """Stamps every change with a ``StrictClock`` over the sandbox's clock, so no two share a time stamp."""

    def __init__(self, store, scenario, clock):
        self._store = store
        self._scenario = scenario
        self._clock = StrictClock(clock)

    def routes(self) -> list:
        return [
            Route("POST", "/_sandbox/tenants/{tenant}/incidents/new", self.add_incidents, errors.ADMIN),
            Route("POST", "/_sandbox/tenants/{tenant}/incidents/{id}/touch", self.touch_incident, errors.ADMIN),
            Route("POST", "/_sandbox/tenants/{tenant}/alerts/{id}/touch", self.touch_alert, errors.ADMIN),
        ]

    def add_incidents(self, request: Request, tenant: str) -> Response:
        """``{"count": 1-100 (1), "severity"?, "status"?}``: new incidents, created now, ids after the highest."""
        tenant_id = tenant_id_of(self._scenario, tenant)
        body = _body(request)
        unknown = sorted(set(body) - set(NEW_FIELDS))
        if unknown:
            raise _fail(400, f"unknown fields: {', '.join(unknown)}; send {{\"count\"?: 1-{MAX_NEW}, \"severity\"?, "
                             "\"status\"?}")
        count, severity, status = body.get("count", 1), body.get("severity"), body.get("status")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_NEW:
            raise _fail(400, f"count must be an integer from 1 to {MAX_NEW}")
        if severity is not None and severity not in SEVERITIES:
            raise _fail(400, f"severity must be one of {', '.join(SEVERITIES)}")
        if status is not None and status not in INCIDENT_STATUSES:
            raise _fail(400, f"status must be one of {', '.join(INCIDENT_STATUSES)}")
        added = self._store.add(tenant_id, count, self._clock, severity, status)
        created = [{"id": str(incident.id), "lastUpdateDateTime": timefmt.odata(incident.last_updated),
                    "alert_ids": [alert.id for alert in incident.alerts]} for incident in added]
        return Response.json(201, {"tenant_id": tenant_id, "created": created})

    def _stamped(self, apply, changes):
        """The store's change of one record: ``apply(record, changes, AUTHOR, now)``, stamped now."""
        def change(record):
            now = self._clock(after=record.last_updated)
            return dataclasses.replace(apply(record, changes, AUTHOR, now), last_updated=now)
        return change

    def touch_incident(self, request: Request, tenant: str, id: str) -> Response:  # pylint: disable=redefined-builtin
        tenant_id = tenant_id_of(self._scenario, tenant)
        touch = self._stamped(updates.apply, _changes(request, INCIDENT_FIELDS))
        incident = self._store.update(tenant_id, int(id), touch) if id.isdecimal() else None
        if incident is None:
            raise _fail(404, f"no incident '{id}' in tenant {tenant_id}")
        return Response.json(200, {"id": str(incident.id), "lastUpdateDateTime": timefmt.odata(incident.last_updated)})

    def touch_alert(self, request: Request, tenant: str, id: str) -> Response:  # pylint: disable=redefined-builtin
        """The alert's incident is left as it is, as an alerts_v2 PATCH leaves it."""
        tenant_id = tenant_id_of(self._scenario, tenant)
        found = self._store.update_alert(tenant_id, id, self._stamped(updates.apply_to_alert,
                                                                      _changes(request, ALERT_FIELDS)))
        if found is None:
            raise _fail(404, f"no alert '{id}' in tenant {tenant_id}")
        alert, incident = found
        return Response.json(200, {"id": alert.id, "incidentId": str(incident.id),
                                   "lastUpdateDateTime": timefmt.odata(alert.last_updated)})


def _body(request: Request) -> dict:
    """The JSON object of the body; no body is ``{}``."""
    try:
        body = request.json()
    except ValueError as exc:
        raise _fail(400, f"the body must be a JSON object: {exc}") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _fail(400, "the body must be a JSON object")
    return body


def _changes(request: Request, fields: dict) -> dict:
    """The changes of a touch's body, in the store's model; 400 naming the field and the allowed values."""
    try:
        return updates.parse_body(_body(request), fields)
    except (updates.UnknownField, updates.InvalidValue) as exc:
        raise _fail(400, str(exc)) from None


def _fail(status: int, message: str) -> ApiError:
    return errors.admin_failure(status, message)
