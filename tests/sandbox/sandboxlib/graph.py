"""Microsoft Graph security API view of the incident store (``/v1.0/security/incidents``) and of hunting."""
from __future__ import annotations

import json
from typing import Optional

from . import access, errors, hunting, kql, odata, timefmt, updates
from .access import Permission
from .httpd import ApiError, Request, Response, Route
from .jose import b64url_decode, b64url_encode
from .model import CLASSIFICATIONS, DETECTIONS, DETERMINATIONS, PRODUCT_NAMES, SERVICES, SEVERITIES, Incident
from .tokens import GRAPH, MALFORMED, BAD_SIGNATURE, EXPIRED, MISSING, UNKNOWN_TENANT, WRONG_AUDIENCE, TokenRejected

READ_INCIDENTS = Permission(("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All"))
UPDATE_INCIDENTS = Permission(("SecurityIncident.ReadWrite.All",))
HUNTING = Permission(("ThreatHunting.Read.All",))
MAX_TOP = 50
PORTAL = "https://security.microsoft.com"
LIST_OPTIONS = ("$filter", "$top", "$skip", "$count", "$expand", "$skiptoken")

_UNAUTHORIZED = {
    MISSING: "Access token is empty.",
    MALFORMED: "CompactToken parsing failed with error code: 80049217",
    BAD_SIGNATURE: "Access token validation failure.",
    EXPIRED: "Access token has expired or is not yet valid.",
    WRONG_AUDIENCE: "Access token validation failure. Invalid audience.",
    UNKNOWN_TENANT: "Access token validation failure. Invalid tenant.",
}
_WWW_AUTHENTICATE = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                     'client_id="00000003-0000-0000-c000-000000000000"')
_FUTURE = ("unknownFutureValue",)
INCIDENT_SCHEMA = odata.Schema(
    "microsoft.graph.security.incident",
    {
        "assignedTo": odata.Property(odata.STRING, lambda item: item.assigned_to),
        "classification": odata.Property(odata.ENUM, lambda item: item.classification, CLASSIFICATIONS + _FUTURE),
        "createdDateTime": odata.Property(odata.DATETIME, lambda item: item.created),
        "determination": odata.Property(odata.ENUM, lambda item: item.determination, DETERMINATIONS + _FUTURE),
        "lastUpdateDateTime": odata.Property(odata.DATETIME, lambda item: item.last_updated),
        "severity": odata.Property(odata.ENUM, lambda item: item.severity, SEVERITIES + _FUTURE),
        "status": odata.Property(odata.ENUM, lambda item: item.status,
                                 ("active", "resolved", "inProgress", "redirected", "unknownFutureValue",
                                  "awaitingAction")),
    },
    not_filterable=("id", "tenantId", "displayName", "description", "incidentWebUrl", "redirectIncidentId",
                    "customTags", "systemTags", "comments", "alerts"),
)
# PATCH body. Enum values must be members of the metadata's enum types: the incident resource page's
# determinations compromisedUser, clean, insufficientData and confirmedUserActivity are not, and get a 400.
UPDATE_FIELDS = {
    "assignedTo": updates.Field("assigned_to", updates.TEXT),
    "classification": updates.Field("classification", updates.ENUM, {value: value for value in CLASSIFICATIONS},
                                    refused=_FUTURE, enum_type="microsoft.graph.security.alertClassification"),
    "determination": updates.Field("determination", updates.ENUM, {value: value for value in DETERMINATIONS},
                                   refused=_FUTURE, enum_type="microsoft.graph.security.alertDetermination"),
    "status": updates.Field("status", updates.ENUM, {value: value for value in ("active", "inProgress", "resolved")},
                            refused=("redirected", "awaitingAction", "unknownFutureValue"),
                            enum_type="microsoft.graph.security.incidentStatus"),
    "customTags": updates.Field("custom_tags", updates.TAGS),
}
COMMENT_FIELDS = {"comment": updates.Field("comment", updates.COMMENT)}
COMMENT_TYPE = "microsoft.graph.security.alertComment"
HUNTING_ACTION = "microsoft.graph.security.runHuntingQuery"


class GraphApi:
    def __init__(self, store, tokens, clock, updater, hunter):
        self._store = store
        self._tokens = tokens
        self._clock = clock
        self._updater = updater
        self._hunter = hunter

    def routes(self) -> list:
        return [
            Route("GET", "/v1.0/security/incidents", self.list_incidents, errors.GRAPH),
            Route("GET", "/v1.0/security/incidents/{id}", self.get_incident, errors.GRAPH),
            Route("PATCH", "/v1.0/security/incidents/{id}", self.update_incident, errors.GRAPH, writes=True),
            Route("POST", "/v1.0/security/incidents/{id}/comments", self.add_comment, errors.GRAPH, writes=True),
            Route("POST", "/v1.0/security/runHuntingQuery", self.run_hunting_query, errors.GRAPH),
            # the action's namespace-qualified name, which Microsoft's SDKs call
            Route("POST", f"/v1.0/security/{HUNTING_ACTION}", self.run_hunting_query, errors.GRAPH),
        ]

    def list_incidents(self, request: Request) -> Response:
        claims = self._authorize(request, READ_INCIDENTS)
        expand = {"expand": lambda: _expand(request, request.param("$expand"))}
        query = list_query(request, LIST_OPTIONS, MAX_TOP, MAX_TOP, expand)
        matching = filtered(request, self._store.incidents(claims["tid"]), query["filter"], INCIDENT_SCHEMA)
        return ok(page(request, "security/incidents", query, matching,
                       lambda incident: render_incident(incident, query["expand"])))

    def get_incident(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, READ_INCIDENTS)
        check_options(request, ("$expand",))
        expand = _expand(request, request.param("$expand"))
        incident = self._store.get(claims["tid"], int(id)) if id.isdecimal() else None
        if incident is None:
            raise fail(request, 404, "NotFound", f"Incident with id '{id}' was not found.")
        context = f"{request.base_url}/v1.0/$metadata#security/incidents/$entity"
        return ok({"@odata.context": context, **render_incident(incident, expand)})

    def update_incident(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, UPDATE_INCIDENTS)
        check_options(request, ())
        incident = self._update(request, claims, id, parse_changes(request, UPDATE_FIELDS))
        context = f"{request.base_url}/v1.0/$metadata#security/incidents/$entity"
        return ok({"@odata.context": context, **render_incident(incident, False)})

    def add_comment(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        """Appends a comment; answers with all the incident's comments."""
        claims = self._authorize(request, UPDATE_INCIDENTS)
        check_options(request, ())
        changes = parse_changes(request, COMMENT_FIELDS)
        if "comment" not in changes:
            raise fail(request, 400, "BadRequest", "The request body needs a 'comment': a non-empty string.")
        incident = self._update(request, claims, id, changes)
        return ok(comment_collection(request, incident.comments))

    def run_hunting_query(self, request: Request) -> Response:
        claims = self._authorize(request, HUNTING)
        query, timespan = _hunting_body(request)
        now = self._clock()
        try:
            since, until = hunting.parse_timespan(timespan, now) if timespan else (None, None)
        except (ValueError, OverflowError) as exc:  # overflow: a duration beyond the calendar's ends
            raise fail(request, 400, "BadRequest", f"Invalid Timespan: {exc}.") from None
        try:
            result = self._hunter.run(claims["tid"], query, now, since, until)
        except kql.KqlError as exc:
            raise fail(request, 400, "BadRequest", str(exc)) from None
        return ok({"@odata.context": f"{request.base_url}/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
                   "schema": [{"name": name, "type": kql.TYPE_NAMES[kind]} for name, kind in result.columns],
                   "results": result.rows})

    def _update(self, request: Request, claims: dict, incident_id: str, changes: dict) -> Incident:
        try:
            incident = self._updater.update(claims, int(incident_id), changes) if incident_id.isdecimal() else None
        except updates.Misfit as exc:
            raise fail(request, 400, "BadRequest", exc.message()) from None
        if incident is None:
            raise fail(request, 404, "NotFound", f"Incident with id '{incident_id}' was not found.")
        return incident

    def _authorize(self, request: Request, permission: Permission) -> dict:
        """Verifies the bearer token for Graph and that it carries one of the permissions."""
        return authorize(request, self._tokens, self._clock(), permission)


def authorize(request: Request, tokens, now, permission: Optional[Permission]) -> dict:
    """The claims of a valid Graph token that holds ``permission`` (None: any); Graph's 401 or 403 otherwise."""
    try:
        claims = tokens.verify(request.headers.get("Authorization"), GRAPH, now)
    except TokenRejected as exc:
        raise fail(request, 401, "InvalidAuthenticationToken", _UNAUTHORIZED[exc.reason],
                   {"WWW-Authenticate": _WWW_AUTHENTICATE}) from None
    if permission is not None and not access.allows(claims, permission):
        if access.is_delegated(claims):
            raise fail(request, 403, "Forbidden", f"Missing scope permissions on the request. API requires one of "
                       f"'{', '.join(permission.scopes)}'. Scopes on the request '{claims.get('scp', '')}'")
        raise fail(request, 403, "Forbidden", f"Missing application roles. API required roles: "
                   f"{','.join(permission.application)}, application roles: {','.join(access.held(claims))}.")
    return claims


# --- query options -----------------------------------------------------------------------------------------------

def list_query(request: Request, options: tuple, default_top: int, max_top: int, extra: Optional[dict] = None) -> dict:
    """The paging state of a list: from ``$skiptoken`` when following a nextLink, else from the query options
    (``$filter``, ``$top``, ``$skip``, ``$count``, and ``extra``: {state key: reader of its option})."""
    check_options(request, options)
    extra = extra or {}
    token = request.param("$skiptoken")
    if token is not None:
        return _decode_skiptoken(request, token, {"filter", "top", "skip", "count", *extra})
    query = {
        "filter": request.param("$filter"),
        "top": _top(request, default_top, max_top),
        "skip": _non_negative(request, "$skip", 0),
        "count": boolean_option(request, "$count"),
    }
    return {**query, **{name: read() for name, read in extra.items()}}


def filtered(request: Request, items, text: Optional[str], schema: odata.Schema) -> list:
    """The items that ``$filter`` (None: no filter) selects; Graph's 400 for a filter the schema refuses."""
    try:
        predicate = odata.compile_filter(text, schema) if text else None
    except odata.FilterError as exc:
        raise fail(request, 400, "BadRequest", f"Invalid filter clause: {exc}") from None
    return [item for item in items if predicate is None or predicate(item)]


def page(request: Request, path: str, query: dict, matching: list, render) -> dict:
    """One page of a list at ``/v1.0/{path}``: ``@odata.count`` if asked, ``value``, and a nextLink while more are
    left (never with ``$top=0``)."""
    start, end = query["skip"], query["skip"] + query["top"]
    body = {"@odata.context": f"{request.base_url}/v1.0/$metadata#{path}"}
    if query["count"]:
        body["@odata.count"] = len(matching)
    body["value"] = [render(item) for item in matching[start:end]]
    if query["top"] and end < len(matching):
        token = b64url_encode(json.dumps({**query, "skip": end}).encode("utf-8"))
        body["@odata.nextLink"] = f"{request.base_url}/v1.0/{path}?$skiptoken={token}"
    return body


def check_options(request: Request, allowed: tuple) -> None:
    for name in request.query:
        if name.startswith("$") and name not in allowed:
            raise fail(request, 400, "BadRequest", f"The query option '{name}' is not supported on this "
                       f"resource. Supported query options: {', '.join(allowed)}.")


def _top(request: Request, default: int, limit: int) -> int:
    top = _non_negative(request, "$top", default)
    if top > limit:
        raise fail(request, 400, "BadRequest", f"The limit of '{limit}' for Top query has been exceeded. "
                   f"The value from the incoming request is '{top}'.")
    return top


def _non_negative(request: Request, name: str, default: int) -> int:
    text = request.param(name)
    if text is None:
        return default
    if not text.strip().isdecimal():
        raise fail(request, 400, "BadRequest", f"Invalid value '{text}' for query option '{name}': a "
                   "non-negative integer is expected.")
    return int(text)


def boolean_option(request: Request, name: str) -> bool:
    text = (request.param(name) or "false").lower()
    if text not in ("true", "false"):
        raise fail(request, 400, "BadRequest", f"Invalid value '{text}' for query option '{name}': true or "
                   "false is expected.")
    return text == "true"


def _expand(request: Request, text: Optional[str]) -> bool:
    if text is None:
        return False
    names = [name.strip() for name in text.split(",")]
    for name in names:
        if name != "alerts":
            raise fail(request, 400, "BadRequest", f"Could not find a property named '{name}' on type "
                       f"'{INCIDENT_SCHEMA.entity_type}'. Only 'alerts' can be expanded.")
    return True


def parse_changes(request: Request, fields: dict) -> dict:
    try:
        return updates.parse_body(request.json(), fields)
    except (updates.UnknownField, updates.InvalidValue) as exc:
        raise fail(request, 400, "BadRequest", str(exc)) from None
    except ValueError as exc:
        raise fail(request, 400, "BadRequest", f"The request body is not valid JSON: {exc}") from None


def _hunting_body(request: Request) -> tuple:
    """(query, timespan or None) from ``{"Query": ..., "Timespan": ...}``; the names are case-insensitive."""
    try:
        body = request.json()
    except ValueError as exc:
        raise fail(request, 400, "BadRequest", f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or any(name.lower() not in ("query", "timespan") for name in body):
        raise fail(request, 400, "BadRequest", "The request body must be a JSON object with 'Query' and optionally "
                   "'Timespan'.")
    values = {name.lower(): value for name, value in body.items()}
    query, timespan = values.get("query"), values.get("timespan")
    if not isinstance(query, str) or not query.strip():
        raise fail(request, 400, "BadRequest", "The parameter 'Query' is required: a non-empty KQL query.")
    if timespan is not None and not isinstance(timespan, str):
        raise fail(request, 400, "BadRequest", "Invalid Timespan: an ISO-8601 duration or interval string is expected.")
    return query, timespan


def _decode_skiptoken(request: Request, token: str, keys: set) -> dict:
    try:
        state = json.loads(b64url_decode(token))
        if set(state) != keys:
            raise ValueError(token)
    except (ValueError, TypeError):
        raise fail(request, 400, "BadRequest", "The $skiptoken is not valid; follow @odata.nextLink "
                   "unchanged.") from None
    return state


# --- rendering -------------------------------------------------------------------------------------------------

def render_incident(incident: Incident, with_alerts: bool) -> dict:
    body = {
        "id": str(incident.id),
        "tenantId": incident.tenant_id,
        "status": incident.status,
        "incidentWebUrl": _incident_url(incident),
        "redirectIncidentId": str(incident.redirect_id) if incident.redirect_id is not None else None,
        "displayName": incident.title,
        "description": incident.description,
        "createdDateTime": timefmt.odata(incident.created),
        "lastUpdateDateTime": timefmt.odata(incident.last_updated),
        "assignedTo": incident.assigned_to,
        "classification": incident.classification,
        "determination": incident.determination,
        "severity": incident.severity,
        "customTags": list(incident.custom_tags),
        "systemTags": list(incident.system_tags),
        "comments": [_comment(comment) for comment in incident.comments],
        "lastModifiedBy": incident.last_modified_by,
        "priorityScore": incident.priority_score,
        "resolvingComment": incident.resolving_comment,
        "summary": incident.summary,
    }
    if with_alerts:
        body["alerts"] = [render_alert(alert, incident) for alert in incident.alerts]
    return body


def comment_collection(request: Request, comments: tuple) -> dict:
    """The answer of a comments POST: the whole collection, each comment typed."""
    return {"@odata.context": f"{request.base_url}/v1.0/$metadata#Collection({COMMENT_TYPE})",
            "value": [{"@odata.type": f"#{COMMENT_TYPE}", **_comment(comment)} for comment in comments]}


def _comment(comment) -> dict:
    return {"comment": comment.text, "createdByDisplayName": comment.author,
            "createdDateTime": timefmt.odata(comment.created)}


def render_alert(alert, incident: Incident) -> dict:
    """An alerts_v2 ``alert``."""
    return {
        "id": alert.id,
        "providerAlertId": alert.id[2:],
        "incidentId": str(incident.id),
        "status": alert.status,
        "severity": alert.severity,
        "classification": alert.classification,
        "determination": alert.determination,
        "serviceSource": SERVICES[alert.service][0],
        "detectionSource": DETECTIONS[alert.detection][0],
        "detectorId": alert.detector_id,
        "tenantId": incident.tenant_id,
        "title": alert.title,
        "description": alert.description,
        "recommendedActions": alert.recommended_actions,
        "category": alert.category,
        "assignedTo": alert.assigned_to,
        "alertWebUrl": f"{PORTAL}/alerts/{alert.id}?tid={incident.tenant_id}",
        "incidentWebUrl": _incident_url(incident),
        "actorDisplayName": alert.actor,
        "threatDisplayName": alert.threat_family,
        "threatFamilyName": alert.threat_family,
        "mitreTechniques": list(alert.techniques),
        "createdDateTime": timefmt.odata(alert.created),
        "lastUpdateDateTime": timefmt.odata(alert.last_updated),
        "resolvedDateTime": timefmt.odata(alert.resolved) if alert.resolved else None,
        "firstActivityDateTime": timefmt.odata(alert.first_activity),
        "lastActivityDateTime": timefmt.odata(alert.last_activity),
        "productName": PRODUCT_NAMES[alert.service],
        "categories": list(alert.categories),
        "investigationState": alert.investigation_state,
        "systemTags": list(alert.system_tags),
        "alertPolicyId": alert.policy_id,
        "additionalData": dict(alert.additional_data),
        "customDetails": dict(alert.custom_details) if alert.custom_details is not None else None,
        "comments": [_comment(comment) for comment in alert.comments],
        "evidence": [_device_evidence(device, alert) for device in alert.devices]
        + [_evidence(entity, alert) for entity in alert.entities] + _cloud_application_evidence(alert),
    }


def _evidence_base(kind: str, alert, verdict: str = "unknown", remediation: str = "none",
                   roles: Optional[list] = None) -> dict:
    return {"@odata.type": f"#microsoft.graph.security.{kind}", "createdDateTime": timefmt.odata(alert.created),
            "verdict": verdict, "remediationStatus": remediation, "remediationStatusDetails": None,
            "roles": roles or [], "detailedRoles": [], "tags": []}


# Defender for Cloud Apps' app ids of the apps its generated alerts are about, by alert title (else Microsoft 365)
_CLOUD_APPS = {"Suspicious email forwarding activity": (20893, "Microsoft Exchange Online"),
               "Suspicious inbox manipulation rule": (20893, "Microsoft Exchange Online"),
               "Mass download by a single user": (20892, "Microsoft SharePoint Online")}
_MICROSOFT_365 = (11161, "Microsoft 365")


def _cloud_application_evidence(alert) -> list:
    """Cloud Apps alerts name the app the activity was in (Graph only: the Defender API has no such entity)."""
    if alert.service != "cloudapps":
        return []
    app_id, name = _CLOUD_APPS.get(alert.title, _MICROSOFT_365)
    return [{**_evidence_base("cloudApplicationEvidence", alert, "unknown", "none", ["contextual"]),
             "appId": app_id, "displayName": name, "instanceId": 0, "instanceName": name, "saasAppId": app_id,
             "stream": None}]


def _device_evidence(device, alert) -> dict:
    return {
        **_evidence_base("deviceEvidence", alert, "suspicious"),
        "firstSeenDateTime": timefmt.odata(device.first_seen),
        "mdeDeviceId": device.device_id,
        "azureAdDeviceId": device.aad_device_id,
        "deviceDnsName": device.dns_name,
        "hostName": device.dns_name.split(".", 1)[0],
        "dnsDomain": device.dns_name.split(".", 1)[1],
        "osPlatform": device.os_platform,
        "osBuild": device.os_build,
        "version": device.version,
        "healthStatus": "active",
        "riskScore": device.risk_score.lower(),
        "rbacGroupId": 0,
        "rbacGroupName": device.rbac_group,
        "onboardingStatus": "onboarded",
        "defenderAvStatus": "updated",
        "loggedOnUsers": [{"accountName": device.logged_on_user[0], "domainName": device.logged_on_user[1]}],
        "ipInterfaces": [],
        "vmMetadata": None,
        "ntDomain": device.nt_domain,
        "lastIpAddress": device.last_ip,
        "lastExternalIpAddress": device.last_external_ip,
        "resourceAccessEvents": [],
    }


def _evidence(entity, alert) -> dict:
    """Graph's typed evidence for one of the store's Defender-shaped entities."""
    values, details = entity.values, entity.details
    kind, specific = _EVIDENCE[entity.entity_type](values, details)
    if kind == "analyzedMessageEvidence":  # the message's links are the alert's URL evidence
        urls = [other.values["url"] for other in alert.entities if other.entity_type == "Url"]
        specific = {**specific, "urls": urls, "urlCount": len(urls)}
    return {**_evidence_base(kind, alert, details["verdict"], details["remediation"], details.get("roles")),
            **specific}


def _user_account(values: dict, details: dict) -> dict:
    return {"accountName": values.get("accountName"), "domainName": values.get("domainName"),
            "userSid": values.get("userSid"), "azureAdUserId": values.get("aadUserId"),
            "userPrincipalName": values.get("userPrincipalName"),
            "displayName": details.get("display_name") or values.get("mailboxDisplayName")}


def _file_details(values: dict, details: dict) -> dict:
    return {"sha1": values.get("sha1"), "sha256": values.get("sha256"), "fileName": values.get("fileName"),
            "filePath": values.get("filePath"), "fileSize": details.get("size"), "filePublisher": None,
            "signer": None, "issuer": None}


def _parent_file(details: dict) -> Optional[dict]:
    parent = details.get("parent_image")
    if parent is None:
        return None
    return {"sha1": parent["sha1"], "sha256": parent["sha256"], "fileName": parent["fileName"],
            "filePath": parent["filePath"], "fileSize": None, "filePublisher": None, "signer": None, "issuer": None}


def _sender(address: str) -> dict:
    return {"emailAddress": address, "displayName": None, "domainName": address.split("@")[1]}


def _time(value) -> Optional[str]:
    return timefmt.odata(value) if value is not None else None


_DELIVERY_ACTIONS = {"Delivered": "delivered", "Blocked": "blocked", "DeliveredAsSpam": "deliveredToJunk"}
_DELIVERY_LOCATIONS = {"Delivered": "inbox", "Blocked": "quarantine", "DeliveredAsSpam": "junkFolder"}
_EVIDENCE = {
    "User": lambda v, d: ("userEvidence", {"userAccount": _user_account(v, d), "stream": None}),
    "Ip": lambda v, d: ("ipEvidence", {"ipAddress": v["ipAddress"], "countryLetterCode": d.get("country"),
                                       "location": dict(d["location"]) if d.get("location") else None,
                                       "stream": None}),
    "Url": lambda v, d: ("urlEvidence", {"url": v["url"]}),
    "File": lambda v, d: ("fileEvidence", {"fileDetails": _file_details(v, d), "mdeDeviceId": v.get("deviceId"),
                                           "detectionStatus": "detected"}),
    "Process": lambda v, d: ("processEvidence", {
        "processId": v["processId"], "parentProcessId": v["parentProcessId"],
        "processCommandLine": v["processCommandLine"], "processCreationDateTime": _time(v["processCreationTime"]),
        "parentProcessCreationDateTime": _time(v["parentProcessCreationTime"]),
        "imageFile": _file_details(v, d), "parentProcessImageFile": _parent_file(d), "mdeDeviceId": v.get("deviceId"),
        "userAccount": _user_account(v, d), "detectionStatus": "detected"}),
    "MailBox": lambda v, d: ("mailboxEvidence", {"displayName": v["mailboxDisplayName"],
                                                 "primaryAddress": v["mailboxAddress"],
                                                 "upn": v.get("userPrincipalName"),
                                                 "userAccount": _user_account(v, d)}),
    "MailMessage": lambda v, d: ("analyzedMessageEvidence", {
        "networkMessageId": d["network_message_id"], "internetMessageId": d["internet_message_id"],
        "subject": v["subject"], "senderIp": d["sender_ip"], "recipientEmailAddress": v["recipient"],
        "p1Sender": _sender(v["sender"]), "p2Sender": _sender(v["sender"]),
        "deliveryAction": _DELIVERY_ACTIONS[v["deliveryAction"]],
        "deliveryLocation": _DELIVERY_LOCATIONS[v["deliveryAction"]], "language": "en",
        "receivedDateTime": _time(d["received"]), "antiSpamDirection": "Inbound", "urlCount": 1,
        "attachmentsCount": 0, "threatDetectionMethods": ["urlDetonationReputation"], "threats": ["Phish"],
        "urls": [], "urn": None}),
    "MailCluster": lambda v, d: ("mailClusterEvidence", {
        "clusterBy": v["clusterBy"], "clusterByValue": d["cluster_value"], "emailCount": d["email_count"],
        "networkMessageIds": [], "query": f"(Subject:\"{d['cluster_value']}\")", "urn": None}),
    "Registry": lambda v, d: ("registryValueEvidence", {
        "registryHive": v["registryHive"], "registryKey": v["registryKey"], "registryValue": v["registryValue"],
        "registryValueName": "Updater", "registryValueType": v["registryValueType"],
        "mdeDeviceId": v.get("deviceId")}),
    "SecurityGroup": lambda v, d: ("securityGroupEvidence", {
        "securityGroupId": v["securityGroupId"], "displayName": v["securityGroupName"],
        "friendlyName": v["securityGroupName"], "sid": v["securityGroupId"],
        "activeDirectoryObjectGuid": d.get("object_guid"), "distinguishedName": d.get("distinguished_name")}),
}


def _incident_url(incident: Incident) -> str:
    """The portal's incident page, in the form real answers have."""
    return f"{PORTAL}/incident2/{incident.id}/overview?tid={incident.tenant_id}"


def ok(body: dict) -> Response:
    return Response.json(200, body, {"OData-Version": "4.0"}, errors.GRAPH_JSON)


def fail(request: Request, status: int, code: str, message: str, headers: Optional[dict] = None) -> ApiError:
    return ApiError(errors.graph_error(request, status, code, message, headers))
