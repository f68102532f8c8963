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
from ansible_collections.secops.m365_defender.plugins.module_utils._incident_view import (
    https_url,
    incident_view,
    time_order,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import utcnow

SEVERITIES = ("high", "medium", "low", "informational", "unknown")
STATUSES = ("active", "inProgress", "awaitingAction", "resolved", "redirected")
CSV_COLUMNS = ("tenant", "tenant_id", "id", "title", "severity", "status", "classification", "determination",
               "assigned_to", "created", "updated", "age_days", "tags", "service_sources", "url")
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
               "error": _failure_reason(result), "rows": [],
               "consent_url": https_url((result or {}).get("admin_consent_url"))}
    if section["error"] is None:
        api = result.get("api") or entry.get("api") or "graph"
        section.update(api=api, ok=True, complete=result.get("complete", True) is not False,
                       error=result.get("error"))
        for incident in result.get("incidents") or []:
            row = incident_view(api, incident, tenant_id=entry.get("tenant_id"), cloud=entry.get("cloud") or "global",
                                now=now)
            row["tenant"] = name
            section["rows"].append(row)
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
    )
    return section


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


def incident_report(tenants, names=None, title="Microsoft Defender XDR incidents", oldest=10, now=None):
    """The report over every tenant: totals, counts by severity, status and tenant, oldest open incidents,
    failures with their reason, every incident as one row, and the chart's geometry.

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
    rows = [row for section in sections for row in section.pop("rows")]
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
