# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The two API flavours (paths, page sizes, field names, enum spellings) and the client that calls them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.six.moves.urllib.parse import urlparse

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError, InputError


def canonical(value):
    """A spelling-independent key: 'In Progress', 'in_progress' and 'InProgress' all give 'inprogress'."""
    return re.sub(r"[^a-z0-9]", "", str(value).lower())


class Enum(object):
    """One enumeration: each API's spellings, grouped under spelling-independent keys with aliases."""

    def __init__(self, option, graph, defender, aliases=None):
        self.option = option
        self.aliases = aliases or {}
        self.spellings = {
            "graph": dict((self._alias(name), name) for name in graph),
            "defender": dict((self._alias(name), name) for name in defender),
        }

    def _alias(self, value):
        key = canonical(value)
        return self.aliases.get(key, key)

    def key(self, value):
        """The key of a user's or an API's spelling, or None when no API knows it."""
        key = self._alias(value)
        return key if key in self.spellings["graph"] or key in self.spellings["defender"] else None

    def allowed(self, api):
        return sorted(self.spellings[api].values())

    def to_api(self, api, value):
        """The API's own spelling of a user's value; InputError naming the option if it has none."""
        key = self.key(value)
        if key is None or key not in self.spellings[api]:
            raise InputError("Option '%s' got '%s'; the %s API allows: %s." % (
                self.option, value, api, ", ".join(self.allowed(api))))
        return self.spellings[api][key]

    def normal(self, value):
        """Graph's spelling of an API's value, so both APIs read alike; an unknown value as it is."""
        key = self.key(value) if value is not None else None
        return self.spellings["graph"].get(key, value) if key else value


STATUS = Enum(
    "status",
    graph=("active", "inProgress", "resolved", "redirected", "awaitingAction"),
    defender=("Active", "InProgress", "Resolved", "Redirected"),
)

SEVERITY = Enum(
    "severity",
    graph=("unknown", "informational", "low", "medium", "high"),
    defender=("UnSpecified", "Informational", "Low", "Medium", "High"),
    aliases={"unspecified": "unknown"},
)

CLASSIFICATION = Enum(
    "classification",
    graph=("unknown", "falsePositive", "truePositive", "informationalExpectedActivity"),
    defender=("Unknown", "FalsePositive", "TruePositive", "InformationalExpectedActivity"),
)

# The product that raised an alert (alerts' serviceSource); the Defender API keeps Cloud App Security's old name.
SERVICE_SOURCE = Enum(
    "service_source",
    graph=("unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity", "microsoftDefenderForCloudApps",
           "microsoftDefenderForOffice365", "microsoft365Defender", "azureAdIdentityProtection",
           "microsoftAppGovernance", "dataLossPrevention", "microsoftDefenderForCloud", "microsoftSentinel",
           "microsoftInsiderRiskManagement"),
    defender=("MicrosoftDefenderForEndpoint", "MicrosoftDefenderForIdentity", "MicrosoftCloudAppSecurity",
              "MicrosoftDefenderForOffice365", "Microsoft365Defender", "AzureAdIdentityProtection",
              "MicrosoftAppGovernance", "DataLossPrevention", "MicrosoftDefenderForCloud"),
    aliases={"microsoftcloudappsecurity": "microsoftdefenderforcloudapps"},
)

# Microsoft's pages spell several determinations two ways; every spelling maps to one key. Graph gets the
# members of its alertDetermination enum (as its metadata and SDKs name them), not the incident page's
# compromisedUser, clean, insufficientData and confirmedUserActivity.
DETERMINATION = Enum(
    "determination",
    graph=("unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
           "multiStagedAttack", "compromisedAccount", "phishing", "maliciousUserActivity", "notMalicious",
           "notEnoughDataToValidate", "confirmedActivity", "lineOfBusinessApplication"),
    defender=("NotAvailable", "Apt", "Malware", "SecurityPersonnel", "SecurityTesting", "UnwantedSoftware",
              "Other", "MultiStagedAttack", "CompromisedAccount", "Phishing", "MaliciousUserActivity", "Clean",
              "NoEnoughDataToValidate", "ConfirmedActivity", "LineOfBusinessApplication"),
    aliases={"notavailable": "unknown", "compromisedaccount": "compromiseduser", "notmalicious": "clean",
             "noenoughdatatovalidate": "insufficientdata", "notenoughdatatovalidate": "insufficientdata",
             "confirmedactivity": "confirmeduseractivity"},
)


class Flavour(object):
    """What differs between the two APIs for incidents."""

    name = None
    max_page_size = None
    incidents_path = None
    id_field = title_field = web_url_field = None
    fields = {}
    server_filters = frozenset()
    headers = {}
    tags_field = None
    comments_field = None
    hunting_path = None
    # Per-minute and per-hour limits Microsoft documents, paced client-side: (key, calls, window seconds).
    list_rate = update_rate = get_rate = ()
    hunting_rate = (("hunting", 45, 60),)

    def incident_path(self, incident_id):
        return "%s/%s" % (self.incidents_path, incident_id)

    def check_incident_id(self, incident_id):
        if not re.match(r"^[0-9]+$", str(incident_id)):
            raise InputError("Option 'incident_id' must be the incident's number, got '%s'." % incident_id)
        return str(incident_id)

    def list_params(self, filter_expr, page_size, expand_alerts):
        params = {"$top": page_size}
        if filter_expr:
            params["$filter"] = filter_expr
        return params

    def get_params(self, expand_alerts):
        return {}

    def next_request(self, page, params, page_size):
        """The next page: (next link, None), (None, new params for the same URL), or (None, None) at the end."""
        raise NotImplementedError

    def comment_request(self, incident_id, text):
        """(method, path, body) that adds a comment, or None when the comment goes into the update body."""
        raise NotImplementedError

    def hunting_body(self, query, timespan):
        raise NotImplementedError

    def hunting_result(self, body):
        """(schema, results, stats) from the API's answer, each in the API's own shape."""
        raise NotImplementedError


class GraphFlavour(Flavour):
    name = "graph"
    max_page_size = 50
    incidents_path = "/security/incidents"
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

    def list_params(self, filter_expr, page_size, expand_alerts):
        params = super(GraphFlavour, self).list_params(filter_expr, page_size, expand_alerts)
        params.update(self.get_params(expand_alerts))
        return params

    def get_params(self, expand_alerts):
        return {"$expand": "alerts"} if expand_alerts else {}

    def next_request(self, page, params, page_size):
        next_link = page.get("@odata.nextLink")
        return (next_link, None) if next_link else (None, None)

    def comment_request(self, incident_id, text):
        body = {"@odata.type": "microsoft.graph.security.alertComment", "comment": text}
        return "POST", "%s/comments" % self.incident_path(incident_id), body

    def hunting_body(self, query, timespan):
        body = {"Query": query}
        if timespan:
            body["Timespan"] = timespan
        return body

    def hunting_result(self, body):
        return body.get("schema") or [], body.get("results") or [], None


class DefenderFlavour(Flavour):
    name = "defender"
    max_page_size = 100
    incidents_path = "/incidents"
    id_field, title_field, web_url_field = "incidentId", "incidentName", "incidentUri"
    fields = {"status": "status", "severity": "severity", "assigned_to": "assignedTo",
              "classification": "classification", "determination": "determination",
              "created": "createdTime", "updated": "lastUpdateTime"}
    server_filters = frozenset(["status", "assigned_to", "created", "updated"])
    tags_field = "tags"
    comments_field = "comments"
    hunting_path = "/advancedhunting/run"
    list_rate = update_rate = (("incidents", 50, 60), ("incidents-hour", 1500, 3600))
    get_rate = (("incident", 100, 60), ("incident-hour", 1500, 3600))

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

    def comment_request(self, incident_id, text):
        return None

    def hunting_body(self, query, timespan):
        if timespan:
            raise InputError("Option 'timespan' exists only on the Graph API; on the Defender API put the time "
                             "range into the query, for example '| where Timestamp > ago(7d)'.")
        return {"Query": query}

    def hunting_result(self, body):
        return body.get("Schema") or [], body.get("Results") or [], body.get("Stats")


FLAVOURS = {"graph": GraphFlavour(), "defender": DefenderFlavour()}


def _origin(url):
    parsed = urlparse(url)
    return parsed.scheme, parsed.hostname, parsed.port


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

    def call(self, method, path_or_url, params=None, body=None, rate=(), idempotent=None):
        """One JSON call; a 401 is answered by signing in again once, when credentials allow it."""
        url = path_or_url if path_or_url.startswith("https://") else self.endpoints.api_url + path_or_url
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

    def iterate(self, path, params, page_size):
        """Yield every item of a collection, page by page, refusing foreign or looping next links."""
        url, seen, previous = path, set(), None
        while url is not None:
            page = self.get(url, params, rate=self.flavour.list_rate)
            self.pages_read += 1
            items = page.get("value") or []
            if items and items == previous:
                raise ApiError("The API returned the same page twice (it may ignore $skip); stopping to avoid a "
                               "loop after %d pages." % self.pages_read, tenant_id=self.tenant)
            previous = items
            yield from items
            next_url, next_params = self.flavour.next_request(page, params, page_size)
            if next_url:
                self._check_next_link(next_url, seen)
                url, params = next_url, None
            elif next_params is not None:
                params = next_params
            else:
                url = None

    def _check_next_link(self, next_url, seen):
        if _origin(next_url) != _origin(self.endpoints.api_url):
            raise ApiError("The API's next page link points to another origin (%s); refusing to follow it "
                           "with the access token." % urlparse(next_url).netloc, tenant_id=self.tenant)
        if next_url in seen:
            raise ApiError("The API returned the same next page link twice; stopping to avoid a loop.",
                           tenant_id=self.tenant)
        seen.add(next_url)
