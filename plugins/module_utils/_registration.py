# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What Graph's directory tells about an app registration: audience, credentials and their expiry."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import ApiError, AuthenticationError
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import (
    odata_string,
    parse_iso_time,
    utcnow,
)

MULTI_TENANT_AUDIENCES = ("AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount")


def _credentials(application, now, warning_days):
    """Secrets and certificates with their expiry, never their values."""
    credentials = []
    for kind, entries in (("secret", application.get("passwordCredentials")),
                          ("certificate", application.get("keyCredentials"))):
        for entry in entries or []:
            end = parse_iso_time(entry.get("endDateTime") or "")
            days_left = int((end - now).total_seconds() // 86400) if end else None
            credentials.append({
                "type": kind,
                "key_id": entry.get("keyId"),
                "display_name": entry.get("displayName"),
                "end_date_time": entry.get("endDateTime"),
                "days_left": days_left,
                "expired": days_left is not None and end < now,
                "expiring_soon": days_left is not None and end >= now and days_left < warning_days,
            })
    return credentials


def read_registration(client, client_id, warning_days, now=None):
    """The registration as this tenant's directory shows it, or why it cannot be seen."""
    now = now or utcnow()
    app_filter = {"$filter": "appId eq %s" % odata_string(client_id)}
    try:
        applications = client.get("/applications", app_filter).get("value") or []
        principals = client.get("/servicePrincipals", app_filter).get("value") or []
    except AuthenticationError as exc:
        return {"visible": False, "reason": "Could not sign in to Graph to read the app registration: %s" % exc}
    except ApiError as exc:
        # The check answers from the token all the same; it says what it could not see and why.
        if exc.status in (401, 403):
            reason = ("Graph refused to read the app registration (HTTP %s); grant Application.Read.All to see "
                      "the credentials and audience." % exc.status)
        else:
            reason = "Graph could not show the app registration: %s" % exc.message
        return {"visible": False, "reason": reason}
    registration = {"visible": bool(applications),
                    "service_principal_id": principals[0].get("id") if principals else None}
    if not applications:
        registration["reason"] = ("The app is not registered in this tenant: its registration lives in its home "
                                  "tenant, where its credentials can be checked.")
        return registration
    application = applications[0]
    audience = application.get("signInAudience")
    registration.update({
        "display_name": application.get("displayName"),
        "sign_in_audience": audience,
        "multi_tenant": audience in MULTI_TENANT_AUDIENCES,
        "credentials": _credentials(application, now, warning_days),
    })
    return registration
