# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One view of an incident that reads the same whichever API returned it, for reports and triage rules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.module_utils.six.moves.urllib.parse import quote, urlparse

from ansible_collections.secops.m365_defender.plugins.module_utils._api import (
    CLASSIFICATION,
    DETERMINATION,
    FLAVOURS,
    SERVICE_SOURCE,
    SEVERITY,
    STATUS,
    owner,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import PORTALS
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import parse_iso_time, utcnow

# Graph's spellings; the Defender API's statuses and older answers' `New` read as these (STATUS.normal).
OPEN_STATUSES = ("active", "inProgress", "awaitingAction")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


# The APIs that have incidents (the Defender for Endpoint API has none).
INCIDENT_APIS = sorted(name for name, flavour in FLAVOURS.items() if flavour.path)


def flavour_of(api):
    if api not in INCIDENT_APIS:
        raise InputError("The API must be one of %s, got '%s'." % (", ".join(INCIDENT_APIS), api))
    return FLAVOURS[api]


def portal_url(incident_id, tenant_id, cloud="global"):
    """The incident's page in the Defender portal, in the form Graph's incidentWebUrl has."""
    return "%s/incident2/%s/overview?tid=%s" % (PORTALS.get(cloud, PORTALS["global"]), quote(str(incident_id), safe=""),
                                                quote(str(tenant_id), safe=""))


def https_url(url):
    """The URL when it is an https link, else None: only such links go into a report, its data is not trusted."""
    return url if isinstance(url, str) and urlparse(url).scheme == "https" and urlparse(url).netloc else None


def time_order(text):
    """A sort key that orders ISO-8601 times by the moment they name (any fraction length, Z or offset), times that
    cannot be read last: as text, 12:00:00.5Z would sort before 12:00:00Z."""
    moment = parse_iso_time(text) if text else None
    return (0, moment) if moment is not None else (1, EPOCH)


def _age_days(moment, now):
    return round((now - moment).total_seconds() / 86400.0, 1) if moment else None


def alert_sources(incident):
    """The product of each of the incident's alerts, in Graph's names; None for an alert that names none."""
    return [SERVICE_SOURCE.normal(str(alert["serviceSource"])) if alert.get("serviceSource") else None
            for alert in incident.get("alerts") or [] if isinstance(alert, dict)]


def _service_sources(incident):
    return sorted(set(source for source in alert_sources(incident) if source))


def _comments(flavour, incident):
    return [str(item.get("comment")) for item in incident.get(flavour.comments_field) or []
            if isinstance(item, dict) and item.get("comment")]


def incident_view(api, incident, tenant_id=None, cloud="global", now=None):
    """The fields a SOC reads, in Graph's spellings, from either API's incident object."""
    flavour = flavour_of(api)
    fields = flavour.fields
    now = now or utcnow()
    created = parse_iso_time(incident.get(fields["created"])) if incident.get(fields["created"]) else None
    updated = parse_iso_time(incident.get(fields["updated"])) if incident.get(fields["updated"]) else None
    incident_id = str(incident.get(flavour.id_field))
    tenant_id = incident.get("tenantId") or tenant_id
    status = STATUS.normal(incident.get(fields["status"]))
    return {
        "id": incident_id,
        "tenant_id": tenant_id,
        "title": str(incident.get(flavour.title_field) or ""),
        "severity": SEVERITY.normal(incident.get(fields["severity"])),
        "status": status,
        "open": status in OPEN_STATUSES,
        "classification": CLASSIFICATION.normal(incident.get(fields["classification"])),
        "determination": DETERMINATION.normal(incident.get(fields["determination"])),
        "assigned_to": owner(incident.get(fields["assigned_to"])),
        "created": incident.get(fields["created"]),
        "updated": incident.get(fields["updated"]),
        "age_days": _age_days(created, now),
        "idle_days": _age_days(updated, now),
        "tags": [str(tag) for tag in incident.get(flavour.tags_field) or []],
        "system_tags": [str(tag) for tag in incident.get("systemTags") or []],
        "service_sources": _service_sources(incident),
        "comments": _comments(flavour, incident),
        "url": https_url(incident.get(flavour.web_url_field)) or (
            portal_url(incident_id, tenant_id, cloud) if tenant_id else None),
    }
