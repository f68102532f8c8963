# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The two API flavours (paths, page sizes, field names, enum spellings) and the client that calls them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.six.moves.urllib.parse import urljoin, urlparse, urlunparse

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError, InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import Limit


def canonical(value):
    """A spelling-independent key: 'In Progress', 'in_progress' and 'InProgress' all give 'inprogress'."""
    return re.sub(r"[^a-z0-9]", "", str(value).lower())


class Enum(object):
    """One enumeration: each API's spellings, grouped under spelling-independent keys, and Microsoft's other names.

    Graph's name of a value (its metadata's enum member) is the primary one: messages and views use it. `aliases`
    maps the other names Microsoft uses (older data, other pages, the Defender API) to it. `read_only` values can be
    read and filtered on but not set.
    """

    def __init__(self, option, graph=(), defender=(), aliases=None, read_only=None, endpoint=()):
        self.option = option
        self.aliases = aliases or {}
        self.read_only = dict(read_only or {})
        self._alias_keys = dict((canonical(name), canonical(member)) for name, member in self.aliases.items())
        self.spellings = {
            "graph": dict((self._alias(name), name) for name in graph),
            "defender": dict((self._alias(name), name) for name in defender),
            "endpoint": dict((self._alias(name), name) for name in endpoint),
        }

    def _alias(self, value):
        key = canonical(value)
        return self._alias_keys.get(key, key)

    def key(self, value):
        """The key of a user's or an API's spelling, or None when no API knows it."""
        key = self._alias(value)
        return key if any(key in spellings for spellings in self.spellings.values()) else None

    def allowed(self, api):
        """The API's own spellings."""
        return sorted(self.spellings[api].values())

    def names(self, api=None, write=False):
        """Graph's names of the values an API knows (either API when None), without read-only ones for writes."""
        keys = set(self.spellings[api]) if api else set().union(*self.spellings.values())
        if write:
            keys -= set(canonical(value) for value in self.read_only)
        return sorted(self._name(key) for key in keys)

    def _name(self, key):
        """Graph's name of a value, or the first other API's that has one."""
        for api in ("graph", "defender", "endpoint"):
            if key in self.spellings[api]:
                return self.spellings[api][key]
        return key

    def other_names(self):
        """Microsoft's other names accepted for values, as one sentence part: "clean for notMalicious, ..."."""
        by_member = {}
        for name, member in sorted(self.aliases.items(), key=lambda item: (item[1].lower(), item[0].lower())):
            by_member.setdefault(member, []).append(name)
        return ", ".join("%s for %s" % (" and ".join(names), member) for member, names in by_member.items())

    def choices_text(self, api=None, write=False):
        """What a message says is allowed: Graph's names, and once, the other names that are accepted too."""
        text = ", ".join(self.names(api, write))
        others = self.other_names()
        return text + (" (any case; also accepted: %s)" % others if others else " (any case)")

    def to_api(self, api, value, write=False):
        """The API's own spelling of a user's value; InputError naming the option if it has none.

        With `write`, a value that can only be read (status redirected) is refused, saying why.
        """
        key = self.key(value)
        if write and key is not None:
            for read_only, reason in self.read_only.items():
                if key == canonical(read_only):
                    raise InputError("Option '%s' cannot be '%s': %s Allowed: %s." % (
                        self.option, read_only, reason, self.choices_text(api, write=True)))
        if key is None or key not in self.spellings[api]:
            raise InputError("Option '%s' got '%s'; the %s API allows: %s." % (
                self.option, value, api, self.choices_text(api, write)))
        return self.spellings[api][key]

    def normal(self, value):
        """Graph's spelling of an API's value, so both APIs read alike; an unknown value as it is."""
        key = self.key(value) if value is not None else None
        return self.spellings["graph"].get(key, value) if key else value


# Graph documents `redirected` among incidentStatus's members, but it is the state Defender XDR gives an incident
# that it merged into another (redirectIncidentId names that one): an update cannot name a target, so it is read
# and filtered on, never set. `New` (older recorded answers) is an open incident: Graph's `active`.
STATUS = Enum(
    "status",
    graph=("active", "inProgress", "resolved", "redirected", "awaitingAction"),
    defender=("Active", "InProgress", "Resolved", "Redirected"),
    aliases={"New": "active"},
    read_only={"redirected": "Defender XDR sets it when it merges an incident into another."},
)

SEVERITY = Enum(
    "severity",
    graph=("unknown", "informational", "low", "medium", "high"),
    defender=("UnSpecified", "Informational", "Low", "Medium", "High"),
    aliases={"UnSpecified": "unknown"},
)

CLASSIFICATION = Enum(
    "classification",
    graph=("unknown", "falsePositive", "truePositive", "informationalExpectedActivity"),
    defender=("Unknown", "FalsePositive", "TruePositive", "InformationalExpectedActivity"),
)

# The product that raised an alert (alerts' serviceSource), Graph's serviceSource members; the Defender API keeps
# Cloud App Security's old name, and older answers the products' former names (Defender ATP, Office 365 ATP).
SERVICE_SOURCE = Enum(
    "service_source",
    graph=("unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity", "microsoftDefenderForCloudApps",
           "microsoftDefenderForOffice365", "microsoft365Defender", "azureAdIdentityProtection",
           "microsoftAppGovernance", "dataLossPrevention", "microsoftDefenderForCloud", "microsoftSentinel",
           "microsoftInsiderRiskManagement", "microsoftThreatIntelligence", "microsoftSecurityForAI"),
    defender=("MicrosoftDefenderForEndpoint", "MicrosoftDefenderForIdentity", "MicrosoftCloudAppSecurity",
              "MicrosoftDefenderForOffice365", "Microsoft365Defender", "AzureAdIdentityProtection",
              "MicrosoftAppGovernance", "DataLossPrevention", "MicrosoftDefenderForCloud"),
    aliases={"MicrosoftCloudAppSecurity": "microsoftDefenderForCloudApps",
             "MicrosoftDefenderATP": "microsoftDefenderForEndpoint",
             "OfficeATP": "microsoftDefenderForOffice365"},
)

# An alert's status (Graph's alertStatus); `unknown` is what Graph reports when it has none, never set.
ALERT_STATUS = Enum(
    "status",
    graph=("unknown", "new", "inProgress", "resolved"),
    defender=("New", "InProgress", "Resolved"),
    read_only={"unknown": "Graph reports it for an alert whose status it does not know."},
)

# The detector that raised an alert (alerts' detectionSource), Graph's detectionSource members; the Defender API's
# incidents name the same detectors by older names.
DETECTION_SOURCE = Enum(
    "detection_source",
    graph=("unknown", "microsoftDefenderForEndpoint", "antivirus", "smartScreen", "customTi",
           "microsoftDefenderForOffice365", "automatedInvestigation", "microsoftThreatExperts", "customDetection",
           "microsoftDefenderForIdentity", "cloudAppSecurity", "microsoft365Defender", "azureAdIdentityProtection",
           "manual", "microsoftDataLossPrevention", "appGovernancePolicy", "appGovernanceDetection",
           "microsoftDefenderForCloud", "microsoftDefenderForIoT", "microsoftDefenderForServers",
           "microsoftDefenderForStorage", "microsoftDefenderForDNS", "microsoftDefenderForDatabases",
           "microsoftDefenderForContainers", "microsoftDefenderForNetwork", "microsoftDefenderForAppService",
           "microsoftDefenderForKeyVault", "microsoftDefenderForResourceManager", "microsoftDefenderForApiManagement",
           "nrtAlerts", "scheduledAlerts", "microsoftDefenderThreatIntelligenceAnalytics", "builtInMl",
           "microsoftInsiderRiskManagement", "microsoftThreatIntelligence", "microsoftDefenderForAIServices",
           "securityCopilot", "microsoftSentinel"),
    defender=("EDR", "WindowsDefenderAv", "WindowsDefenderSmartScreen", "CustomerTI", "OfficeATP",
              "AutomatedInvestigation", "ThreatExperts", "CustomDetection", "AzureATP", "MCAS", "MTP",
              "AadIdentityProtection", "Manual"),
    aliases={"EDR": "microsoftDefenderForEndpoint", "WindowsDefenderAv": "antivirus",
             "WindowsDefenderSmartScreen": "smartScreen", "CustomerTI": "customTi",
             "OfficeATP": "microsoftDefenderForOffice365", "ThreatExperts": "microsoftThreatExperts",
             "AzureATP": "microsoftDefenderForIdentity", "MCAS": "cloudAppSecurity", "MTP": "microsoft365Defender",
             "AadIdentityProtection": "azureAdIdentityProtection"},
)

# Graph gets the members of its alertDetermination enum (as its metadata and SDKs name them); Microsoft's pages and
# the Defender API name four of them differently, and the Defender API's "not determined" is NotAvailable.
DETERMINATION = Enum(
    "determination",
    graph=("unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
           "multiStagedAttack", "compromisedAccount", "phishing", "maliciousUserActivity", "notMalicious",
           "notEnoughDataToValidate", "confirmedActivity", "lineOfBusinessApplication"),
    defender=("NotAvailable", "Apt", "Malware", "SecurityPersonnel", "SecurityTesting", "UnwantedSoftware",
              "Other", "MultiStagedAttack", "CompromisedAccount", "Phishing", "MaliciousUserActivity", "Clean",
              "NoEnoughDataToValidate", "ConfirmedActivity", "LineOfBusinessApplication"),
    aliases={"NotAvailable": "unknown", "compromisedUser": "compromisedAccount", "clean": "notMalicious",
             "insufficientData": "notEnoughDataToValidate", "NoEnoughDataToValidate": "notEnoughDataToValidate",
             "confirmedUserActivity": "confirmedActivity"},
)

# Older answers write an incident without an owner as the text "Unassigned"; Graph writes null.
UNASSIGNED = frozenset(["", "unassigned"])


def owner(value):
    """An incident's or alert's owner, or None when it has none (null, empty, or "Unassigned")."""
    if value is None or str(value).strip().lower() in UNASSIGNED:
        return None
    return value


class Resource(object):
    """One kind of item (incidents, alerts) in one API: where it lives, its field names, which filters the server
    applies, how it pages, the rates Microsoft documents for it, and how a comment is added."""

    name = None  # the API: graph, defender or endpoint
    title = None  # what messages call the API
    kind = None  # what messages call one item
    id_option = None  # the option that names one item
    path = None
    id_field = None
    max_page_size = None
    fields = {}
    server_filters = frozenset()
    tags_field = None
    comments_field = None
    # Per-minute and per-hour limits Microsoft documents, paced client-side (Limits in _http.py).
    list_rate = update_rate = get_rate = ()

    def item_path(self, item_id):
        return "%s/%s" % (self.path, item_id)

    def page_size(self, limit=None):
        """The $top to send: the largest page, or a smaller limit."""
        return min(self.max_page_size, limit) if limit else self.max_page_size

    def check_id(self, item_id):
        raise NotImplementedError

    def list_params(self, filter_expr, page_size, expand_alerts=False):
        params = {"$top": page_size} if page_size else {}
        if filter_expr:
            params["$filter"] = filter_expr
        return params

    def get_params(self, expand_alerts):
        return {}

    def next_request(self, page, params, page_size):
        """The next page: (next link, None), (None, new params for the same URL), or (None, None) at the end.

        Graph pages by @odata.nextLink.
        """
        next_link = page.get("@odata.nextLink")
        return (next_link, None) if next_link else (None, None)

    def comment_request(self, item_id, text):
        """(method, path, body) that adds a comment, or None when the comment goes into the update body."""
        body = {"@odata.type": "microsoft.graph.security.alertComment", "comment": text}
        return "POST", "%s/comments" % self.item_path(item_id), body


class Flavour(Resource):
    """What differs between the APIs: their incidents (no path where the API has none), their alerts (None where
    the API has no alerts endpoint) and hunting."""

    kind = "incident"
    id_option = "incident_id"
    headers = {}
    alerts = None
    hunting_path = None
    hunting_rate = ()
    hunting_retirement = None  # why the API's hunting endpoint should no longer be used, when it should not

    def check_id(self, item_id):
        # \Z, not $, which would let a trailing line break through into the URL.
        if not re.match(r"^[0-9]+\Z", str(item_id)):
            raise InputError("Option 'incident_id' must be the incident's number, digits only (no spaces or line "
                             "breaks), got %r." % (item_id,))
        return str(item_id)

    def hunting_body(self, query, timespan):
        """The request body of a hunting query; InputError where the API has no hunting (Defender for Endpoint)."""
        raise InputError("Option 'api' is '%s', but hunting_query runs on Microsoft Graph (api: graph, the default) "
                         "or the Defender XDR API (api: defender), not on %s." % (self.name, self.title))

    def hunting_result(self, body):
        """(schema, results, stats) from the API's answer, each in the API's own shape."""
        raise NotImplementedError


class GraphAlerts(Resource):
    """Graph's alerts_v2. Graph documents no largest $top for it: a listing lets Graph choose the page size, and
    only a limit up to max_top is sent as $top (the Graph security API's documented $top limit for alerts)."""

    name = "graph"
    kind = "alert"
    id_option = "alert_id"
    path = "/security/alerts_v2"
    id_field = "id"
    max_page_size = None
    max_top = 1000
    fields = {"status": "status", "severity": "severity", "assigned_to": "assignedTo",
              "classification": "classification", "determination": "determination",
              "created": "createdDateTime", "updated": "lastUpdateDateTime", "service_source": "serviceSource",
              "detection_source": "detectionSource", "incident_id": "incidentId"}
    server_filters = frozenset(["status", "severity", "assigned_to", "classification", "determination", "created",
                                "updated", "service_source"])
    comments_field = "comments"

    def page_size(self, limit=None):
        return limit if limit and limit <= self.max_top else None

    def check_id(self, item_id):
        # Characters a URL path carries as they are; Graph's alert ids are letters, digits, '_' and '-'.
        if not re.match(r"^[A-Za-z0-9._~-]{1,256}\Z", str(item_id)):
            raise InputError("Option 'alert_id' must be an alert's id as Graph gives it (letters, digits, '_', '-', "
                             "'.', '~'; no spaces, slashes or line breaks), got %r." % (item_id,))
        return str(item_id)


class GraphFlavour(Flavour):
    name = "graph"
    title = "Microsoft Graph"
    max_page_size = 50
    path = "/security/incidents"
    id_field, title_field, web_url_field = "id", "displayName", "incidentWebUrl"
    fields = {"status": "status", "severity": "severity", "assigned_to": "assignedTo",
              "classification": "classification", "determination": "determination",
              "created": "createdDateTime", "updated": "lastUpdateDateTime"}
    server_filters = frozenset(fields)
    # Without it Graph maps statuses added after v1.0 (awaitingAction) to unknownFutureValue.
    headers = {"Prefer": "include-unknown-enum-members"}
    tags_field = "customTags"
    comments_field = "comments"
    hunting_path = "/security/runHuntingQuery"
    hunting_rate = (Limit("hunting", 45, 60, "the Graph API", "hunting queries"),)
    alerts = GraphAlerts()

    def list_params(self, filter_expr, page_size, expand_alerts=False):
        params = super(GraphFlavour, self).list_params(filter_expr, page_size, expand_alerts)
        params.update(self.get_params(expand_alerts))
        return params

    def get_params(self, expand_alerts):
        return {"$expand": "alerts"} if expand_alerts else {}

    def hunting_body(self, query, timespan):
        body = {"Query": query}
        if timespan:
            body["Timespan"] = timespan
        return body

    def hunting_result(self, body):
        where = "The Graph API's hunting answer (POST %s)" % self.hunting_path
        return objects(body, "schema", where, required=False), objects(body, "results", where), None


class DefenderFlavour(Flavour):
    name = "defender"
    title = "the Defender XDR API"
    max_page_size = 100
    path = "/incidents"
    id_field, title_field, web_url_field = "incidentId", "incidentName", "incidentUri"
    fields = {"status": "status", "severity": "severity", "assigned_to": "assignedTo",
              "classification": "classification", "determination": "determination",
              "created": "createdTime", "updated": "lastUpdateTime"}
    server_filters = frozenset(["status", "assigned_to", "created", "updated"])
    tags_field = "tags"
    comments_field = "comments"
    hunting_path = "/advancedhunting/run"
    hunting_retirement = (
        "The Defender XDR API's advanced hunting endpoint is being retired (Microsoft 365 Message Center MC1220762): "
        "retirement began in January 2026, and once it completes the endpoint no longer answers. Microsoft Graph's "
        "runHuntingQuery replaces it: use api: graph (the default) with the permission ThreatHunting.Read.All; the "
        "KQL stays the same, and Graph takes the time range as 'timespan'.")
    # List and update calls are paced together, below the limit each of them has.
    list_rate = update_rate = (
        Limit("incidents", 50, 60, "the Defender API", "incident list and update calls"),
        Limit("incidents-hour", 1500, 3600, "the Defender API", "incident list and update calls"),
    )
    get_rate = (
        Limit("incident", 100, 60, "the Defender API", "single-incident get calls"),
        Limit("incident-hour", 1500, 3600, "the Defender API", "single-incident get calls"),
    )
    hunting_rate = (Limit("hunting", 45, 60, "the Defender API", "hunting queries"),)

    def next_request(self, page, params, page_size):
        """The Defender API documents no nextLink: page with $skip until a page is short."""
        next_link = page.get("@odata.nextLink")
        if next_link:
            return next_link, None
        if params is None or len(page.get("value") or []) < page_size:
            # A page reached through a nextLink ends the listing when it carries none.
            return None, None
        following = dict(params)
        following["$skip"] = int(params.get("$skip", 0)) + page_size
        return None, following

    def comment_request(self, item_id, text):
        return None

    def hunting_body(self, query, timespan):
        if timespan:
            raise InputError("Option 'timespan' exists only on the Graph API; on the Defender API put the time "
                             "range into the query, for example '| where Timestamp > ago(7d)'.")
        return {"Query": query}

    def hunting_result(self, body):
        where = "The Defender API's hunting answer (POST %s)" % self.hunting_path
        stats = body.get("Stats")
        if stats is not None and not isinstance(stats, dict):
            raise ApiError("%s: 'Stats' is %s where an object belongs; refusing to use it as data." % (
                where, json_kind(stats)))
        return objects(body, "Schema", where, required=False), objects(body, "Results", where), stats


class EndpointFlavour(Flavour):
    """The Defender for Endpoint API: devices and device response (_machines.py); no incidents, alerts or hunting.

    Its base is the Defender XDR API's host with /api, but its tokens are for api.securitycenter.microsoft.com.
    """

    name = "endpoint"
    title = "the Defender for Endpoint API"


FLAVOURS = {"graph": GraphFlavour(), "defender": DefenderFlavour(), "endpoint": EndpointFlavour()}


def alerts_of(flavour):
    """The API's alerts endpoint; InputError before any request when it has none (the Defender XDR API)."""
    if flavour.alerts is None:
        where = ("its alerts only come inside its incidents (secops.m365_defender.incident_info)"
                 if flavour.path else "it serves devices and device response")
        raise InputError(
            "Option 'api' is '%s', but %s has no alerts endpoint: %s. Alerts are listed and updated through "
            "Microsoft Graph's alerts_v2: use api: graph (the default), with the permission SecurityAlert.Read.All, "
            "or SecurityAlert.ReadWrite.All to update them." % (flavour.name, flavour.title, where))
    return flavour.alerts


def require_items(resource):
    """The resource, when its API has it; InputError before any request when not (incidents on the Defender for
    Endpoint API)."""
    if resource.path is None:
        raise InputError(
            "Option 'api' is '%s', but %s has no %ss: use api: graph (the default) or defender. The Defender for "
            "Endpoint API serves devices (secops.m365_defender.machine_info, machine_action, machine_tag)." % (
                resource.name, resource.title, resource.kind))
    return resource


DEFAULT_PORTS = {"https": 443, "http": 80}
JSON_KINDS = ((bool, "a boolean"), (dict, "an object"), (list, "a list"), (str, "a string"), ((int, float), "a number"))


def json_kind(value):
    """How JSON calls a value's type, for messages: 'a string', 'null', ..."""
    if value is None:
        return "null"
    for types, name in JSON_KINDS:
        if isinstance(value, types):
            return name
    return type(value).__name__


def objects(body, key, where, required=True, tenant=None):
    """body[key] as a list of JSON objects; ApiError naming `where` the body came from when it is anything else.

    A page whose `value` is a string or a list of strings must not pass as that many records.
    """
    value = body.get(key)
    if value is None and not required:
        return []
    if isinstance(value, list):
        strays = [item for item in value if not isinstance(item, dict)]
        if not strays:
            return value
        got = "a list holding %s" % json_kind(strays[0])
    else:
        got = "missing" if key not in body else json_kind(value)
    raise ApiError("%s: '%s' is %s where a list of objects belongs; refusing to use it as data." % (where, key, got),
                   tenant_id=tenant)


def entity(resource, body, where, tenant=None):
    """One item's body: a JSON object that carries the item's id; ApiError naming `where` otherwise."""
    item_id = body.get(resource.id_field) if isinstance(body, dict) else None
    if isinstance(item_id, bool) or not isinstance(item_id, (str, int)) or str(item_id) == "":
        raise ApiError("%s answered a body that is not an %s (no '%s'); refusing to use it as data." % (
            where, resource.kind, resource.id_field), tenant_id=tenant)
    return body


def _origin(url):
    """(scheme, host, port) in lower case with the scheme's default port; None when the URL cannot be parsed."""
    parsed = urlparse(url)
    try:
        port = parsed.port
    except ValueError:
        return None
    scheme = parsed.scheme.lower()
    return scheme, (parsed.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


def _without_query(url):
    return url.split("?", 1)[0]


class ApiClient(object):
    """Authenticated JSON calls to one API in one tenant, and paging over collections."""

    def __init__(self, endpoints, http, authenticator, tenant):
        self.flavour = FLAVOURS[endpoints.api]
        self.endpoints = endpoints
        self.http = http
        self.authenticator = authenticator
        self.tenant = tenant
        self.pages_read = 0

    def _headers(self, extra=None):
        headers = {"Authorization": "Bearer " + self.authenticator.token().access_token,
                   "Accept": "application/json"}
        headers.update(self.flavour.headers)
        headers.update(extra or {})
        return headers

    def absolute(self, path_or_url):
        """A URL for a path under the API's base URL; a URL (scheme in any case) as it is."""
        return path_or_url if urlparse(path_or_url).scheme else self.endpoints.api_url + path_or_url

    def call(self, method, path_or_url, params=None, body=None, rate=(), idempotent=None):
        """One JSON call; a 401 is answered by signing in again once, when credentials allow it."""
        url = self.absolute(path_or_url)
        kwargs = {"params": params, "rate": rate, "idempotent": idempotent}
        extra_headers = {}
        if body is not None:
            kwargs["json"] = body
            extra_headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            return self.http.request_json(method, url, tenant=self.tenant, headers=self._headers(extra_headers),
                                          **kwargs)
        except ApiError as exc:
            if exc.status != 401 or not self.authenticator.renew():
                raise
        return self.http.request_json(method, url, tenant=self.tenant, headers=self._headers(extra_headers), **kwargs)

    def get(self, path_or_url, params=None, rate=()):
        return self.call("GET", path_or_url, params, rate=rate)

    def iterate(self, path, params, page_size, resource=None):
        """Yield every item of a collection of `resource` (by default the API's incidents), page by page.

        Refuses a page that is not a list of objects, a next link to another origin or one already followed,
        and a page that repeats the previous one (an API that ignores $skip). Reports each page read, for -v.
        """
        resource = resource or self.flavour
        url, seen, previous = self.absolute(path), set(), None
        pages = count = 0
        while url is not None:
            page = self.get(url, params, rate=resource.list_rate)
            items = objects(page, "value", "The page GET %s" % _without_query(url), tenant=self.tenant)
            self.pages_read += 1
            if items and items == previous:
                raise ApiError("The API returned the same page twice (it may ignore $skip); stopping to avoid a "
                               "loop after %d pages." % self.pages_read, tenant_id=self.tenant)
            previous = items
            pages, count = pages + 1, count + len(items)
            self.http.report("page %d of GET %s: %d item(s) so far" % (pages, _without_query(path), count),
                             verbose=True)
            yield from items
            next_url, next_params = resource.next_request(page, params, page_size)
            if next_url:
                url, params = self._next_link(url, next_url, seen), None
            elif next_params is not None:
                params = next_params
            else:
                url = None

    def _next_link(self, current_url, next_link, seen):
        """The next page's absolute URL: resolved against the current page, scheme and host in lower case.

        Only a link to the API's own origin is followed (the access token goes with it), and each only once.
        """
        if not isinstance(next_link, str):
            raise ApiError("The page GET %s: '@odata.nextLink' is %s where a URL belongs; cannot read further." % (
                _without_query(current_url), json_kind(next_link)), tenant_id=self.tenant)
        parsed = urlparse(urljoin(current_url, next_link.strip()))
        next_url = urlunparse(parsed._replace(scheme=parsed.scheme.lower(), netloc=parsed.netloc.lower()))
        if _origin(next_url) is None or _origin(next_url) != _origin(self.endpoints.api_url):
            raise ApiError("The API's next page link points to another origin (%s); refusing to follow it "
                           "with the access token." % (parsed.netloc or next_link[:100]), tenant_id=self.tenant)
        if next_url in seen:
            raise ApiError("The API returned the same next page link twice; stopping to avoid a loop.",
                           tenant_id=self.tenant)
        seen.add(next_url)
        return next_url
