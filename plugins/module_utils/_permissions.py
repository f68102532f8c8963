# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which permissions each feature needs on each API, in application and user context, and what is missing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError

# Device features are the Defender for Endpoint API's (api: endpoint), whose permissions are app roles of the
# WindowsDefenderATP application, granted in tokens for https://api.securitycenter.microsoft.com only.
DEVICE_FEATURES = ("machine_read", "machine_tag", "machine_isolate", "machine_scan", "machine_collect_forensics",
                   "machine_restrict_execution", "machine_stop_and_quarantine")
# Custom indicators (files, IP addresses, URLs, domains, certificates) are the Defender for Endpoint API's too.
INDICATOR_FEATURES = ("indicator_read", "indicator_write")
ENDPOINT_FEATURES = DEVICE_FEATURES + INDICATOR_FEATURES
FEATURES = ("incident_read", "incident_write", "alert_read", "alert_write", "hunting") + ENDPOINT_FEATURES

# What each API reads unless told otherwise.
DEFAULT_FEATURES = {"graph": ["incident_read"], "defender": ["incident_read"], "endpoint": ["machine_read"]}

# (api, context) -> feature -> the permission it needs. A ReadWrite permission also grants its Read one.
# The Defender XDR API has no alerts endpoint, so it has no alert features.
GRAPH_NEEDS = {"incident_read": "SecurityIncident.Read.All",
               "incident_write": "SecurityIncident.ReadWrite.All",
               "alert_read": "SecurityAlert.Read.All",
               "alert_write": "SecurityAlert.ReadWrite.All",
               "hunting": "ThreatHunting.Read.All"}
ENDPOINT_NEEDS = {"machine_read": "Machine.Read.All",
                  "machine_tag": "Machine.ReadWrite.All",
                  "machine_isolate": "Machine.Isolate",
                  "machine_scan": "Machine.Scan",
                  "machine_collect_forensics": "Machine.CollectForensics",
                  "machine_restrict_execution": "Machine.RestrictExecution",
                  "machine_stop_and_quarantine": "Machine.StopAndQuarantine",
                  "indicator_read": "Ti.Read.All",
                  "indicator_write": "Ti.ReadWrite.All"}
NEEDED = {
    ("graph", "application"): GRAPH_NEEDS,
    ("graph", "user"): GRAPH_NEEDS,
    ("defender", "application"): {"incident_read": "Incident.Read.All",
                                  "incident_write": "Incident.ReadWrite.All",
                                  "hunting": "AdvancedHunting.Read.All"},
    ("defender", "user"): {"incident_read": "Incident.Read",
                           "incident_write": "Incident.ReadWrite",
                           "hunting": "AdvancedHunting.Read"},
    ("endpoint", "application"): ENDPOINT_NEEDS,
    # Delegated permissions drop the ".All" (Machine.Read, Machine.Isolate stay as they are).
    ("endpoint", "user"): dict((feature, permission.replace(".All", "")) for feature, permission in ENDPOINT_NEEDS.items()),
}

DIRECTORY_READ = "Application.Read.All"


def granted_permissions(claims):
    """Application permissions (`roles`) or delegated ones (`scp`, space-separated) of a token."""
    if claims.get("roles"):
        return sorted(claims["roles"])
    return sorted((claims.get("scp") or "").split())


def token_context(claims):
    return "user" if "scp" in claims else "application"


def satisfies(granted, needed):
    """Whether a granted permission covers a needed one (ReadWrite covers Read)."""
    return needed == granted or needed.replace(".Read", ".ReadWrite", 1) == granted


def needed_permissions(api, context, features=None):
    """The permissions the features (by default the API's reading one) need; a Read one that a ReadWrite one
    covers is left out."""
    features = features or DEFAULT_FEATURES[api]
    unknown = [feature for feature in features if feature not in FEATURES]
    if unknown:
        raise InputError("Option 'features' got %s; allowed: %s." % (", ".join(unknown), ", ".join(FEATURES)))
    table = NEEDED[(api, context)]
    elsewhere = [feature for feature in features if feature not in table]
    if elsewhere:
        raise InputError("Option 'features' got %s, which the %s API does not have. %s" % (
            ", ".join(elsewhere), api, _where_instead(api, elsewhere)))
    needed = set(table[feature] for feature in features)
    # A Read permission needs no mention when its ReadWrite one is needed too.
    return sorted(permission for permission in needed
                  if not any(other != permission and satisfies(other, permission) for other in needed))


def _where_instead(api, features):
    """Which API to check the features with instead, and why they are not on this one."""
    if all(feature in ENDPOINT_FEATURES for feature in features):
        return ("Device and indicator features belong to the Defender for Endpoint API, whose permissions "
                "(Machine.*, Ti.*) are app "
                "roles of the WindowsDefenderATP application and appear only in its tokens (audience "
                "https://api.securitycenter.microsoft.com): check them with api: endpoint.")
    if api == "endpoint":
        return ("The Defender for Endpoint API has no incidents, alerts or hunting: check them with api: graph "
                "(the default) or defender.")
    return ("The Defender XDR API has no alerts endpoint (its alerts come inside incidents). Check alert permissions "
            "with api: graph (SecurityAlert.Read.All, SecurityAlert.ReadWrite.All).")


def missing_permissions(needed, granted):
    return [permission for permission in needed if not any(satisfies(have, permission) for have in granted)]
