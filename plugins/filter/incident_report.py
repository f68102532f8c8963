# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The incident_report role's data: what each tenant's incident_info read, as one report, and its CSV form."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import M365DefenderError
from ansible_collections.secops.m365_defender.plugins.module_utils._evidence import evidence_lists
from ansible_collections.secops.m365_defender.plugins.module_utils._incident_view import (
    alert_sources,
    https_url,
    incident_view,
    time_order,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import utcnow

SEVERITIES = ("high", "medium", "low", "informational", "unknown")
STATUSES = ("active", "inProgress", "awaitingAction", "resolved", "redirected")
CSV_COLUMNS = ("tenant", "tenant_id", "id", "title", "severity", "status", "classification", "determination",
               "assigned_to", "created", "updated", "age_days", "tags", "service_sources", "url", "devices", "users")
# Devices' risk scores, least first: a device seen with several keeps the highest.
RISK_ORDER = ("none", "informational", "low", "medium", "high")
# A spreadsheet runs a cell that starts with one of these as a formula; incident titles come from attackers too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHART_WIDTH = 760
CHART_LABEL_WIDTH = 180
CHART_BAR_HEIGHT = 26
CHART_GAP = 10


def _counts(keys, values):
    """Counts per key, every known key present (also at zero) and unknown values after them."""
    counts = dict((key, 0) for key in keys)
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _severities(rows):
    """Each row's severity, a value no API documents (unknownFutureValue) counted as unknown: the chart and the
    tables have one column per documented severity."""
    return [row["severity"] if row["severity"] in SEVERITIES else "unknown" for row in rows]


def _by_count(values):
    """Counts of the values, most frequent first (then by name)."""
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _device_name(device):
    return device["dns_name"] or device["host_name"] or device["mde_device_id"] or device["azure_ad_device_id"]


def _user_name(user):
    if user["user_principal_name"]:
        return user["user_principal_name"]
    if user["account_name"] and user["domain_name"]:
        return "%s\\%s" % (user["domain_name"], user["account_name"])
    return user["account_name"] or user["azure_ad_user_id"] or user["user_sid"]


def _identity(kind, entry):
    """Who an entity is across incidents and tenants: its directory id when it has one, else its name."""
    if kind == "devices":
        best = ("mde", entry["mde_device_id"]) if entry["mde_device_id"] else ("name", _device_name(entry))
    else:
        best = ("aad", entry["azure_ad_user_id"]) if entry["azure_ad_user_id"] else ("name", _user_name(entry))
    return None if best[1] is None else (best[0], str(best[1]).lower())


def _entities(incident):
    """The devices and users in an incident's alerts' evidence (either API's shape), each once."""
    lists = evidence_lists(incident)
    return {"devices": [device for device in lists["devices"] if _device_name(device)],
            "users": [user for user in lists["users"] if _user_name(user)]}


def _failure_reason(result):
    if result is None:
        return "The tenant did not reach the report: it failed earlier in the play or was not reached."
    if result.get("failed") or "incidents" not in result:
        return to_text(result.get("msg") or "incident_info failed without a message.")
    return None


def _tenant_section(entry, now):
    """One tenant's rows and counts; a tenant whose reading failed gets its reason instead."""
    result = entry.get("result")
    name = to_text(entry.get("name"))
    section = {"name": name, "tenant_id": entry.get("tenant_id"), "api": None, "ok": False, "complete": False,
               "error": _failure_reason(result), "rows": [], "alert_sources": [], "open_entities": [],
               "consent_url": https_url((result or {}).get("admin_consent_url"))}
    if section["error"] is None:
        api = result.get("api") or entry.get("api") or "graph"
        section.update(api=api, ok=True, complete=result.get("complete", True) is not False,
                       error=result.get("error"))
        for incident in result.get("incidents") or []:
            row = incident_view(api, incident, tenant_id=entry.get("tenant_id"), cloud=entry.get("cloud") or "global",
                                now=now)
            entities = _entities(incident)
            row.update(tenant=name, devices=[_device_name(device) for device in entities["devices"]],
                       users=[_user_name(user) for user in entities["users"]])
            section["rows"].append(row)
            section["alert_sources"].extend(source or "unknown" for source in alert_sources(incident))
            if row["open"]:
                section["open_entities"].append((row, entities))
        section["tenant_id"] = section["tenant_id"] or next(
            (row["tenant_id"] for row in section["rows"] if row["tenant_id"]), None)
    open_rows = [row for row in section["rows"] if row["open"]]
    section.update(
        incidents=len(section["rows"]),
        open=len(open_rows),
        by_severity=_counts(SEVERITIES, _severities(section["rows"])),
        open_by_severity=_counts(SEVERITIES, _severities(open_rows)),
        by_status=_counts(STATUSES, [row["status"] for row in section["rows"]]),
        oldest_open_days=max([row["age_days"] for row in open_rows if row["age_days"] is not None] or [None]),
        alerts=len(section["alert_sources"]),
        alerts_by_service_source=_by_count(section["alert_sources"]),
    )
    return section


def _risk(device):
    score = str(device["risk_score"] or "").lower()
    return RISK_ORDER.index(score) if score in RISK_ORDER else -1


def _top(kind, sections, count):
    """The `count` devices or users in the most open incidents, over every tenant, with the incidents' count and the
    tenants; devices with their highest risk score."""
    found = {}
    for section in sections:
        for row, entities in section["open_entities"]:
            for entity in entities[kind]:
                key = _identity(kind, entity)
                item = found.setdefault(key, {"entity": entity, "incidents": set(), "tenants": []})
                item["incidents"].add((row["tenant"], row["id"]))
                if row["tenant"] not in item["tenants"]:
                    item["tenants"].append(row["tenant"])
                if kind == "devices" and _risk(entity) > _risk(item["entity"]):
                    item["entity"] = dict(item["entity"], risk_score=entity["risk_score"])
    items = sorted(found.values(), key=lambda item: (-len(item["incidents"]), _name(kind, item["entity"]).lower()))
    return [_top_entry(kind, item) for item in items[:count]]


def _name(kind, entity):
    return _device_name(entity) if kind == "devices" else _user_name(entity)


def _top_entry(kind, item):
    entity = item["entity"]
    entry = {"name": _name(kind, entity), "incidents": len(item["incidents"]), "tenants": item["tenants"]}
    if kind == "devices":
        entry.update(risk_score=entity["risk_score"], mde_device_id=entity["mde_device_id"],
                     os_platform=entity["os_platform"])
    else:
        entry.update(user_principal_name=entity["user_principal_name"], account_name=entity["account_name"],
                     domain_name=entity["domain_name"], azure_ad_user_id=entity["azure_ad_user_id"])
    return entry


def _chart(tenants):
    """Geometry of a horizontal bar per tenant, split by the severity of its open incidents."""
    largest = max([tenant["open"] for tenant in tenants] or [0]) or 1
    scale = float(CHART_WIDTH - CHART_LABEL_WIDTH - 60) / largest
    bars = []
    for index, tenant in enumerate(tenants):
        y = CHART_GAP + index * (CHART_BAR_HEIGHT + CHART_GAP)
        x = CHART_LABEL_WIDTH
        segments = []
        for severity in SEVERITIES:
            count = tenant["open_by_severity"].get(severity, 0)
            if count:
                segments.append({"severity": severity, "count": count, "x": round(x, 1), "width": round(count * scale, 1)})
                x += count * scale
        bars.append({"tenant": tenant["name"], "y": y, "total": tenant["open"], "end": round(x, 1),
                     "segments": segments, "failed": not tenant["ok"]})
    height = CHART_GAP + len(tenants) * (CHART_BAR_HEIGHT + CHART_GAP) + 20
    return {"width": CHART_WIDTH, "height": height, "label_width": CHART_LABEL_WIDTH,
            "bar_height": CHART_BAR_HEIGHT, "bars": bars, "severities": list(SEVERITIES)}


def incident_report(tenants, names=None, title="Microsoft Defender XDR incidents", oldest=10, now=None,
                    top_entities=10):
    """The report over every tenant: totals, counts by severity, status and tenant, alerts by product, oldest open
    incidents, the devices and users in the most open incidents, failures with their reason, every incident as one
    row, and the chart's geometry.

    `tenants` holds one entry per tenant (name, tenant_id, cloud, and incident_info's registered result), or
    None for a tenant that never got so far; `names` names the tenants in the same order.
    """
    if not isinstance(tenants, (list, tuple)):
        raise AnsibleFilterError("incident_report expects a list of tenants, got %s." % type(tenants).__name__)
    names = list(names or [])
    moment = now or utcnow()
    entries = [entry if entry else {"name": names[index] if index < len(names) else "tenant %d" % (index + 1)}
               for index, entry in enumerate(tenants)]
    try:
        sections = [_tenant_section(entry, moment) for entry in entries]
    except M365DefenderError as exc:
        raise AnsibleFilterError("incident_report: %s" % exc)
    if int(top_entities) < 0:
        raise AnsibleFilterError("incident_report: top_entities must be 0 or more, got %s." % top_entities)
    tops = dict((kind, _top(kind, sections, int(top_entities))) for kind in ("devices", "users"))
    rows = [row for section in sections for row in section.pop("rows")]
    sources = [source for section in sections for source in section.pop("alert_sources")]
    for section in sections:
        section.pop("open_entities")
    open_rows = [row for row in rows if row["open"]]
    oldest_open = sorted(open_rows, key=lambda row: (time_order(row["created"]), row["id"]))
    return {
        "title": title,
        "generated": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "totals": {
            "incidents": len(rows),
            "open": len(open_rows),
            "tenants": len(sections),
            "tenants_failed": sum(1 for section in sections if not section["ok"]),
            "tenants_partial": sum(1 for section in sections if section["ok"] and not section["complete"]),
        },
        "by_severity": _counts(SEVERITIES, _severities(rows)),
        "open_by_severity": _counts(SEVERITIES, _severities(open_rows)),
        "by_status": _counts(STATUSES, [row["status"] for row in rows]),
        "alerts": len(sources),
        "alerts_by_service_source": _by_count(sources),
        "top_devices": tops["devices"],
        "top_users": tops["users"],
        "tenants": sections,
        "failures": [{"tenant": section["name"], "tenant_id": section["tenant_id"], "reason": section["error"],
                      "consent_url": section["consent_url"]} for section in sections if section["error"]],
        "oldest_open": oldest_open[:int(oldest)],
        "incidents": rows,
        "chart": _chart(sections),
    }


def _cell(value):
    if isinstance(value, (list, tuple)):
        value = "; ".join(to_text(item) for item in value)
    text = "" if value is None else to_text(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def incident_report_csv(report):
    """The report's incidents as CSV text, one row per incident, with formula-like cells neutralised."""
    if not isinstance(report, dict) or "incidents" not in report:
        raise AnsibleFilterError("incident_report_csv expects the result of the incident_report filter.")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report["incidents"]:
        writer.writerow([_cell(row.get(column)) for column in CSV_COLUMNS])
    return buffer.getvalue()


class FilterModule(object):
    def filters(self):
        return {"incident_report": incident_report, "incident_report_csv": incident_report_csv}
