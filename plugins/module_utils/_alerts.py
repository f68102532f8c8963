# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading alerts (Graph's alerts_v2): alert_info's filters, one alert, an incident's alerts, or a listing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.secops.m365_defender.plugins.module_utils._api import (
    ALERT_STATUS,
    CLASSIFICATION,
    DETECTION_SOURCE,
    DETERMINATION,
    SERVICE_SOURCE,
    SEVERITY,
    alerts_of,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import (
    Listing,
    Query,
    check_limit,
    get_incident,
    get_item,
    list_items,
)


class AlertQuery(Query):
    """alert_info's filters."""

    ENUM_FILTERS = (("status", ALERT_STATUS), ("severity", SEVERITY), ("classification", CLASSIFICATION),
                    ("determination", DETERMINATION), ("service_source", SERVICE_SOURCE),
                    ("detection_source", DETECTION_SOURCE))


def read_alerts(client, params):
    """The alerts alert_info's options ask for: (Listing, names of the filters applied here).

    Everything that can be checked without a request is checked first: the API, the filters, the limit.
    """
    resource = alerts_of(client.flavour)
    query = AlertQuery(resource, params)
    limit = check_limit(params.get("limit"))
    if params.get("alert_id"):
        alert = get_item(client, resource, params["alert_id"])
        return Listing([alert] if alert else []), []
    if params.get("incident_id"):
        return incident_alerts(client, query, params["incident_id"], limit), sorted(query.given)
    listing = list_items(client, resource, query, limit=limit, allow_partial=params.get("allow_partial"))
    return listing, query.local_filters


def incident_alerts(client, query, incident_id, limit=None):
    """The alerts of one incident (read with $expand=alerts) that pass every filter, applied here."""
    if query.raw_filter:
        raise InputError("Options 'incident_id' and 'filter' cannot be used together: an incident's alerts are "
                         "filtered here, and a raw $filter can only be applied by Graph. Use the other filter "
                         "options, or 'filter' without 'incident_id'.")
    incident = get_incident(client, incident_id, alerts=True)
    alerts = [alert for alert in (incident or {}).get("alerts") or [] if query.matches(alert, query.given)]
    return Listing(alerts[:limit] if limit else alerts)
