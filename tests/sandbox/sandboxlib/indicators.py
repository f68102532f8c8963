"""The Defender for Endpoint API's custom indicators (``/api/indicators``): list, submit or update, import, delete.

An indicator is keyed by its type and value: a submit of a type and value that exists updates it (``application``
only counts on creation). Hash values are kept in lower case and domains too, as the portal shows them. An app with
``Ti.ReadWrite`` (not ``.All``) sees and changes only the indicators it created, as Microsoft's list page says.
"""
from __future__ import annotations

import datetime
import ipaddress
import itertools
import re
import threading
from typing import Optional

from . import errors, odata, timefmt
from .access import Permission, held
from .defender import authorize, check_options, fail
from .endpoint import _body, _entity, _ok, _page
from .httpd import Request, Response, Route
from .tokens import ENDPOINT

READ = Permission(("Ti.Read.All", "Ti.ReadWrite", "Ti.ReadWrite.All"), ("Ti.Read", "Ti.ReadWrite"))
WRITE = Permission(("Ti.ReadWrite", "Ti.ReadWrite.All"), ("Ti.ReadWrite",))
SEES_ALL = ("Ti.Read.All", "Ti.ReadWrite.All")
TYPES = ("FileSha1", "FileMd5", "CertificateThumbprint", "FileSha256", "IpAddress", "DomainName", "Url")
ACTIONS = ("Warn", "Block", "Audit", "Alert", "AlertAndBlock", "BlockAndRemediate", "Allowed")
SEVERITIES = ("Informational", "Low", "Medium", "High")
# Which actions each type takes (Alert and AlertAndBlock are the older names, still accepted for every type).
_LEGACY = ("Alert", "AlertAndBlock")
_FILE_ACTIONS = ("Allowed", "Audit", "Warn", "Block", "BlockAndRemediate", *_LEGACY)
_NETWORK_ACTIONS = ("Allowed", "Audit", "Warn", "Block", *_LEGACY)
ACTIONS_BY_TYPE = {"FileSha1": _FILE_ACTIONS, "FileMd5": _FILE_ACTIONS, "FileSha256": _FILE_ACTIONS,
                   "CertificateThumbprint": ("Allowed", "Audit", "Block", "BlockAndRemediate", *_LEGACY),
                   "IpAddress": _NETWORK_ACTIONS, "DomainName": _NETWORK_ACTIONS, "Url": _NETWORK_ACTIONS}
_HEX = {"FileSha1": 40, "FileMd5": 32, "FileSha256": 64, "CertificateThumbprint": 40}
_DOMAIN = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.IGNORECASE)
FIELDS = {"indicatorValue", "indicatorType", "action", "application", "title", "description", "expirationTime",
          "severity", "recommendedActions", "rbacGroupNames", "generateAlert"}
MAX_BATCH = 500
MAX_ACTIVE = 15000

SCHEMA = odata.Schema("Indicator", {
    name: odata.Property(odata.STRING, lambda item, name=name: item.get(name))
    for name in ("indicatorValue", "title", "application", "createdBy", "createdByDisplayName", "createdBySource",
                 "id")
} | {
    "indicatorType": odata.Property(odata.ENUM, lambda item: item["indicatorType"], TYPES),
    "action": odata.Property(odata.ENUM, lambda item: item["action"], ACTIONS),
    "severity": odata.Property(odata.ENUM, lambda item: item["severity"], SEVERITIES),
    "creationTimeDateTimeUtc": odata.Property(odata.DATETIME, lambda item: item["_created"]),
    "expirationTime": odata.Property(odata.DATETIME, lambda item: item["_expires"]),
    "rbacGroupNames": odata.Property(odata.STRINGS, lambda item: item.get("rbacGroupNames") or []),
}, not_filterable=("description", "recommendedActions", "lastUpdateTime", "lastUpdatedBy", "sourceType",
                   "generateAlert", "rbacGroupIds"))


class Invalid(ValueError):
    """A field of a submitted indicator is not valid; the message names it."""


class IndicatorStore:
    """Thread-safe: each tenant's indicators by id."""

    def __init__(self, clock):
        self._clock = clock
        self._lock = threading.Lock()
        self._tenants = {}  # tenant -> {id: indicator}
        self._ids = itertools.count(1)

    def now(self) -> datetime.datetime:
        return self._clock()

    def all(self, tenant_id: str, creator: Optional[str] = None) -> list:
        """The tenant's indicators, oldest first; only those `creator` created when given."""
        with self._lock:
            items = list(self._tenants.get(tenant_id, {}).values())
        return [dict(item) for item in items if creator is None or item["createdBy"] == creator]

    def submit(self, tenant_id: str, fields: dict, app_id: str, author: str, creator: Optional[str]) -> dict:
        """Create or update (by type and value); returns the indicator. Raises Invalid (an update of another app's
        indicator without .All, or over the tenant's limit)."""
        now = self._clock()
        with self._lock:
            items = self._tenants.setdefault(tenant_id, {})
            existing = next((item for item in items.values()
                             if (item["indicatorType"], item["indicatorValue"]) ==
                             (fields["indicatorType"], fields["indicatorValue"])), None)
            if existing is None:
                if len(items) >= MAX_ACTIVE:
                    raise Invalid(f"The tenant has {MAX_ACTIVE} active indicators, the most it may have.")
                existing = {"id": str(next(self._ids)), "createdBy": app_id, "createdByDisplayName": author,
                            "createdBySource": "PublicApi", "sourceType": "AadApp", "_created": now,
                            "creationTimeDateTimeUtc": timefmt.odata(now), "application": fields.get("application"),
                            "severity": "Informational", "recommendedActions": None, "rbacGroupNames": [],
                            "rbacGroupIds": [], "generateAlert": False, "expirationTime": None, "_expires": None}
                items[existing["id"]] = existing
            elif creator is not None and existing["createdBy"] != creator:
                raise Invalid(f"Indicator {existing['id']} ({fields['indicatorType']} {fields['indicatorValue']}) "
                              "was created by another application; Ti.ReadWrite.All is needed to update it.")
            existing.update({name: value for name, value in fields.items() if name != "application"})
            existing["_expires"] = fields.get("_expires")
            existing["lastUpdateTime"] = timefmt.odata(now)
            existing["lastUpdatedBy"] = author
            return dict(existing)

    def delete(self, tenant_id: str, ids: list, creator: Optional[str]) -> list:
        """Deletes the indicators of these ids that exist (and `creator` may delete); returns the ids deleted."""
        with self._lock:
            items = self._tenants.get(tenant_id, {})
            gone = [item_id for item_id in ids
                    if item_id in items and (creator is None or items[item_id]["createdBy"] == creator)]
            for item_id in gone:
                del items[item_id]
            return gone

    def reset(self, tenant_id: str) -> int:
        with self._lock:
            return len(self._tenants.pop(tenant_id, {}))


def check_indicator(body) -> dict:
    """The stored fields of a submitted indicator; Invalid naming the field."""
    if not isinstance(body, dict):
        raise Invalid("An indicator must be a JSON object.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise Invalid(f"Unknown properties: {', '.join(unknown)}. Allowed: {', '.join(sorted(FIELDS))}.")
    kind = _choice(body, "indicatorType", TYPES)
    value = _value(kind, body.get("indicatorValue"))
    action = _choice(body, "action", ACTIONS)
    if action not in ACTIONS_BY_TYPE[kind]:
        raise Invalid(f"Invalid value '{action}' for 'action' with indicatorType {kind}. Allowed values: "
                      f"{', '.join(ACTIONS_BY_TYPE[kind])}.")
    fields = {"indicatorType": kind, "indicatorValue": value, "action": action}
    for name in ("title", "description"):
        text = body.get(name)
        if not isinstance(text, str) or not text.strip():
            raise Invalid(f"The parameter '{name}' is required: a non-empty string.")
        fields[name] = text
    for name in ("application", "recommendedActions"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise Invalid(f"Invalid value for '{name}': a string is expected.")
    fields["application"] = body.get("application")
    fields["recommendedActions"] = body.get("recommendedActions")
    fields["severity"] = _choice(body, "severity", SEVERITIES) if body.get("severity") is not None \
        else "Informational"
    fields["generateAlert"] = body.get("generateAlert", False)
    if not isinstance(fields["generateAlert"], bool):
        raise Invalid("Invalid value for 'generateAlert': true or false is expected.")
    groups = body.get("rbacGroupNames") or []
    if not isinstance(groups, list) or not all(isinstance(group, str) and group for group in groups):
        raise Invalid("Invalid value for 'rbacGroupNames': a list of device group names is expected.")
    fields["rbacGroupNames"] = groups
    fields["expirationTime"], fields["_expires"] = _expiration(body.get("expirationTime"))
    return fields


def _choice(body: dict, name: str, allowed: tuple) -> str:
    value = body.get(name)
    if value is None:
        raise Invalid(f"The parameter '{name}' is required. Allowed values: {', '.join(allowed)}.")
    if value not in allowed:
        raise Invalid(f"Invalid value {value!r} for '{name}'. Allowed values: {', '.join(allowed)}.")
    return value


def _value(kind: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("The parameter 'indicatorValue' is required: a non-empty string.")
    if kind in _HEX:
        if not re.fullmatch(f"[0-9a-fA-F]{{{_HEX[kind]}}}", value):
            raise Invalid(f"Invalid value '{value}' for 'indicatorValue' with indicatorType {kind}: "
                          f"{_HEX[kind]} hexadecimal digits are expected.")
        return value.lower()
    if kind == "IpAddress":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise Invalid(f"Invalid value '{value}' for 'indicatorValue' with indicatorType IpAddress: an IPv4 or "
                          "IPv6 address is expected (CIDR notation is not supported).") from None
    if kind == "DomainName":
        if not _DOMAIN.fullmatch(value):
            raise Invalid(f"Invalid value '{value}' for 'indicatorValue' with indicatorType DomainName: a domain "
                          "name is expected.")
        return value.lower()
    if any(char.isspace() for char in value) or len(value) > 2048:
        raise Invalid(f"Invalid value '{value[:100]}' for 'indicatorValue' with indicatorType Url.")
    return value


def _expiration(value):
    if value is None:
        return None, None
    try:
        moment = timefmt.parse_datetime(value)
    except (TypeError, ValueError):
        raise Invalid(f"Invalid value {value!r} for 'expirationTime': an ISO-8601 date and time is expected.") \
            from None
    return timefmt.odata(moment), moment


def render(item: dict) -> dict:
    return {name: value for name, value in item.items() if not name.startswith("_")}


class IndicatorsApi:
    def __init__(self, store: IndicatorStore, tokens, updater, scenario):
        self._store = store
        self._tokens = tokens
        self._updater = updater
        self._scenario = scenario

    def routes(self) -> list:
        return [
            Route("GET", "/api/indicators", self.list, errors.DEFENDER),
            Route("POST", "/api/indicators", self.submit, errors.DEFENDER, writes=True),
            Route("POST", "/api/indicators/import", self.import_, errors.DEFENDER, writes=True),
            Route("POST", "/api/indicators/BatchDelete", self.batch_delete, errors.DEFENDER, writes=True),
            Route("DELETE", "/api/indicators/{id}", self.delete, errors.DEFENDER, writes=True),
        ]

    def admin_routes(self) -> list:
        return [
            Route("GET", "/_sandbox/tenants/{tenant}/indicators", self.admin_list, errors.ADMIN),
            Route("POST", "/_sandbox/tenants/{tenant}/indicators/reset", self.admin_reset, errors.ADMIN),
        ]

    def list(self, request: Request) -> Response:
        claims = self._authorize(request, READ)
        items = self._store.all(claims["tid"], self._creator(claims))
        return _ok(_page(request, "Indicators", "/api/indicators", items, SCHEMA, render))

    def submit(self, request: Request) -> Response:
        claims = self._authorize(request, WRITE)
        check_options(request, ())
        try:
            request.json()
        except ValueError as exc:
            raise fail(request, 400, "InvalidRequestBody", f"The request body is not valid JSON: {exc}") from None
        try:
            item = self._submit(claims, request.json())
        except Invalid as exc:
            raise fail(request, 400, "InvalidInput", str(exc)) from None
        return _ok(_entity(request, "Indicators", render(item)))

    def import_(self, request: Request) -> Response:
        claims = self._authorize(request, WRITE)
        check_options(request, ())
        indicators = _body(request, {"Indicators"}).get("Indicators")
        if not isinstance(indicators, list) or not indicators:
            raise fail(request, 400, "InvalidInput", "The parameter 'Indicators' is required: a list of 1 to "
                       f"{MAX_BATCH} indicators.")
        if len(indicators) > MAX_BATCH:
            raise fail(request, 400, "InvalidInput", f"'Indicators' has {len(indicators)} items; at most {MAX_BATCH} "
                       "may be imported in one call.")
        results = []
        for body in indicators:
            try:
                item = self._submit(claims, body)
                results.append({"id": item["id"], "indicator": item["indicatorValue"], "isFailed": False,
                                "failureReason": None})
            except Invalid as exc:
                value = body.get("indicatorValue") if isinstance(body, dict) else None
                results.append({"id": None, "indicator": value, "isFailed": True, "failureReason": str(exc)})
        return _ok({"@odata.context": f"{request.base_url}/api/$metadata#Collection(microsoft.windowsDefenderATP."
                                      "api.ImportIndicatorResult)", "value": results})

    def delete(self, request: Request, id: str) -> Response:  # pylint: disable=redefined-builtin
        claims = self._authorize(request, WRITE)
        check_options(request, ())
        if not self._store.delete(claims["tid"], [id], self._creator(claims)):
            raise fail(request, 404, "ResourceNotFound", f"Indicator {id} was not found.")
        return Response(204, b"")

    def batch_delete(self, request: Request) -> Response:
        claims = self._authorize(request, WRITE)
        check_options(request, ())
        ids = _body(request, {"IndicatorIds"}).get("IndicatorIds")
        if not isinstance(ids, list) or not ids or not all(isinstance(item, str) and item for item in ids):
            raise fail(request, 400, "InvalidInput", "The parameter 'IndicatorIds' is required: a list of 1 to "
                       f"{MAX_BATCH} indicator ids (strings).")
        if len(ids) > MAX_BATCH:
            raise fail(request, 400, "InvalidInput", f"'IndicatorIds' has {len(ids)} items; at most {MAX_BATCH} may "
                       "be deleted in one call.")
        self._store.delete(claims["tid"], ids, self._creator(claims))
        return Response(204, b"")

    def admin_list(self, request: Request, tenant: str) -> Response:
        tenant_id = self._tenant_id(tenant)
        value = [render(item) for item in self._store.all(tenant_id)]
        return Response.json(200, {"tenant_id": tenant_id, "count": len(value), "value": value})

    def admin_reset(self, request: Request, tenant: str) -> Response:
        tenant_id = self._tenant_id(tenant)
        return Response.json(200, {"tenant_id": tenant_id, "cleared": self._store.reset(tenant_id)})

    def _submit(self, claims: dict, body) -> dict:
        fields = check_indicator(body)
        return self._store.submit(claims["tid"], fields, str(claims.get("appid", "")), self._updater.author(claims),
                                  self._creator(claims))

    @staticmethod
    def _creator(claims: dict) -> Optional[str]:
        """None when the caller sees every indicator; else the app id whose indicators it sees."""
        return None if set(held(claims)) & set(SEES_ALL) else str(claims.get("appid", ""))

    def _authorize(self, request: Request, permission: Permission) -> dict:
        return authorize(request, self._tokens, self._store.now(), permission, ENDPOINT)

    def _tenant_id(self, id_or_domain: str) -> str:
        tenant = self._scenario.tenant(id_or_domain)
        if tenant is None:
            raise errors.admin_failure(404, f"no tenant '{id_or_domain}' in the scenario")
        return tenant.id
