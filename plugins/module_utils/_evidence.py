# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The entities in alerts' evidence as plain lists (devices, users, files, ...) that read the same whichever API
returned the alerts: Graph's alerts_v2 (typed `evidence`) or the Defender API's (`devices` and `entities`).

Evidence of other types is left out: on Graph analyzedMessageEvidence, mailClusterEvidence, registryKeyEvidence,
registryValueEvidence, securityGroupEvidence and every other type not named in GRAPH_EVIDENCE; on the Defender API
the entity types MailMessage, MailCluster, Registry and SecurityGroup.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.secops.m365_defender.plugins.module_utils._api import json_kind
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError

FIELDS = {
    "devices": ("dns_name", "host_name", "mde_device_id", "azure_ad_device_id", "risk_score", "health_status",
                "os_platform", "os_build", "last_ip_address", "last_external_ip_address", "rbac_group_name"),
    "users": ("account_name", "domain_name", "user_principal_name", "azure_ad_user_id", "user_sid", "display_name"),
    "mailboxes": ("primary_address", "display_name", "user_principal_name"),
    "files": ("file_name", "file_path", "sha1", "sha256", "size", "mde_device_id"),
    "processes": ("process_id", "command_line", "created", "file_name", "file_path", "sha1", "sha256",
                  "parent_process_id", "parent_created", "account_name", "domain_name", "mde_device_id"),
    "ips": ("ip_address", "country"),
    "urls": ("url",),
    "cloud_apps": ("app_id", "display_name", "instance_id", "instance_name"),
}
KINDS = tuple(FIELDS)
COMMON_FIELDS = ("verdict", "remediation_status", "roles", "alert_ids", "incident_ids")

# Where each field is in an API's object: a dotted path, or a tuple of paths of which the first non-null wins.
# Fields a table leaves out are null.
GRAPH_EVIDENCE = {
    "deviceEvidence": ("devices", {
        "dns_name": "deviceDnsName", "host_name": "hostName", "mde_device_id": "mdeDeviceId",
        "azure_ad_device_id": "azureAdDeviceId", "risk_score": "riskScore", "health_status": "healthStatus",
        "os_platform": "osPlatform", "os_build": "osBuild", "last_ip_address": "lastIpAddress",
        "last_external_ip_address": "lastExternalIpAddress", "rbac_group_name": "rbacGroupName"}),
    "userEvidence": ("users", {
        "account_name": "userAccount.accountName", "domain_name": "userAccount.domainName",
        "user_principal_name": "userAccount.userPrincipalName", "azure_ad_user_id": "userAccount.azureAdUserId",
        "user_sid": "userAccount.userSid", "display_name": "userAccount.displayName"}),
    "mailboxEvidence": ("mailboxes", {
        "primary_address": "primaryAddress", "display_name": ("displayName", "userAccount.displayName"),
        "user_principal_name": ("upn", "userAccount.userPrincipalName")}),
    "fileEvidence": ("files", {
        "file_name": "fileDetails.fileName", "file_path": "fileDetails.filePath", "sha1": "fileDetails.sha1",
        "sha256": "fileDetails.sha256", "size": "fileDetails.fileSize", "mde_device_id": "mdeDeviceId"}),
    "processEvidence": ("processes", {
        "process_id": "processId", "command_line": "processCommandLine", "created": "processCreationDateTime",
        "file_name": "imageFile.fileName", "file_path": "imageFile.filePath", "sha1": "imageFile.sha1",
        "sha256": "imageFile.sha256", "parent_process_id": "parentProcessId",
        "parent_created": "parentProcessCreationDateTime", "account_name": "userAccount.accountName",
        "domain_name": "userAccount.domainName", "mde_device_id": "mdeDeviceId"}),
    "ipEvidence": ("ips", {"ip_address": "ipAddress", "country": "countryLetterCode"}),
    "urlEvidence": ("urls", {"url": "url"}),
    "cloudApplicationEvidence": ("cloud_apps", {
        "app_id": "appId", "display_name": "displayName", "instance_id": "instanceId",
        "instance_name": "instanceName"}),
}
GRAPH_COMMON = {"verdict": "verdict", "remediation_status": "remediationStatus"}  # the Defender API has neither

DEFENDER_DEVICE = {
    "dns_name": "deviceDnsName", "mde_device_id": "mdatpDeviceId", "azure_ad_device_id": "aadDeviceId",
    "risk_score": "riskScore", "health_status": "healthStatus", "os_platform": "osPlatform", "os_build": "osBuild",
    "rbac_group_name": "rbacGroupName"}
# By entityType, lower-cased (the API writes MailBox).
DEFENDER_ENTITIES = {
    "user": ("users", {
        "account_name": "accountName", "domain_name": "domainName", "user_principal_name": "userPrincipalName",
        "azure_ad_user_id": "aadUserId", "user_sid": "userSid"}),
    "mailbox": ("mailboxes", {
        "primary_address": "mailboxAddress", "display_name": "mailboxDisplayName",
        "user_principal_name": "userPrincipalName"}),
    "file": ("files", {
        "file_name": "fileName", "file_path": "filePath", "sha1": "sha1", "sha256": "sha256",
        "mde_device_id": "deviceId"}),
    "process": ("processes", {
        "process_id": "processId", "command_line": "processCommandLine", "created": "processCreationTime",
        "file_name": "fileName", "file_path": "filePath", "sha1": "sha1", "sha256": "sha256",
        "parent_process_id": "parentProcessId", "parent_created": "parentProcessCreationTime",
        "account_name": "accountName", "domain_name": "domainName", "mde_device_id": "deviceId"}),
    "ip": ("ips", {"ip_address": "ipAddress"}),
    "url": ("urls", {"url": "url"}),
}

# Most severe first; a verdict not named here (unknownFutureValue) ranks below these, and null below all.
VERDICT_RANK = {"malicious": 4, "suspicious": 3, "unknown": 2, "noThreatsFound": 1}


def _graph_case(value):
    """Graph's spelling of an enum value the Defender API capitalizes: 'High' -> 'high', 'NoThreatsFound' -> ..."""
    return value[:1].lower() + value[1:] if isinstance(value, str) else value


NORMALIZED = dict.fromkeys(("risk_score", "health_status", "verdict", "remediation_status"), _graph_case)


def _key(label, *values):
    """A case-insensitive identity made of the values, or None when the first one is missing."""
    if values[0] is None or values[0] == "":
        return None
    return (label,) + tuple("" if value is None else str(value).lower() for value in values)


def _file_keys(entry):
    if entry["sha256"] or entry["sha1"]:
        return [_key("sha256", entry["sha256"]), _key("sha1", entry["sha1"])]
    return [_key("path", entry["file_path"], entry["file_name"])]


# Every identity under which an entry is the same entity as another, best first; None ones do not count.
IDENTITIES = {
    "devices": lambda entry: [_key("mde", entry["mde_device_id"]), _key("dns", entry["dns_name"])],
    "users": lambda entry: [_key("aad", entry["azure_ad_user_id"]), _key("upn", entry["user_principal_name"]),
                            _key("sid", entry["user_sid"]),
                            _key("account", entry["account_name"], entry["domain_name"])],
    "mailboxes": lambda entry: [_key("address", entry["primary_address"]),
                                _key("upn", entry["user_principal_name"])],
    "files": _file_keys,
    "processes": lambda entry: [_key("process", entry["process_id"], entry["mde_device_id"], entry["created"])],
    "ips": lambda entry: [_key("ip", entry["ip_address"])],
    "urls": lambda entry: [("url", entry["url"]) if entry["url"] else None],
    "cloud_apps": lambda entry: [_key("app", entry["app_id"], entry["instance_id"])],
}

# Fields that entries found through another identity must not disagree on: two devices with different MDE ids are
# two devices, whatever their DNS names.
DISTINCT = {"devices": ("mde_device_id",), "users": ("azure_ad_user_id", "user_sid"),
            "mailboxes": ("primary_address",), "files": ("sha256", "sha1")}


def _agree(kept, entry, fields):
    return all(kept[field] is None or entry[field] is None or str(kept[field]).lower() == str(entry[field]).lower()
               for field in fields)


def _get(item, paths):
    """The first non-null value at one of the dotted paths."""
    for path in paths if isinstance(paths, tuple) else (paths,):
        value = item
        for name in path.split("."):
            value = value.get(name) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def _entry(kind, item, table, context):
    """One list's entry for an API object, with the fields `table` locates (the others null)."""
    fields = FIELDS[kind] + ("verdict", "remediation_status")
    entry = dict((field, _get(item, table[field]) if field in table else None) for field in fields)
    entry = dict((field, NORMALIZED[field](value) if field in NORMALIZED else value) for field, value in entry.items())
    if kind == "devices" and entry["host_name"] is None and isinstance(entry["dns_name"], str):
        entry["host_name"] = entry["dns_name"].split(".", 1)[0]
    entry["roles"] = list(item["roles"]) if isinstance(item.get("roles"), list) else []
    entry["alert_ids"] = [context["alert"]] if context["alert"] else []
    entry["incident_ids"] = [context["incident"]] if context["incident"] else []
    return entry


def _rank(verdict):
    return -1 if verdict is None else VERDICT_RANK.get(verdict, 0)


def _merge(kept, other):
    """`other` folded into `kept`: ids and roles united, the most severe verdict, null fields filled."""
    for field in ("roles", "alert_ids", "incident_ids"):
        kept[field].extend(value for value in other[field] if value not in kept[field])
    if _rank(other["verdict"]) > _rank(kept["verdict"]):
        kept["verdict"], kept["remediation_status"] = other["verdict"], other["remediation_status"]
    for field, value in other.items():
        if kept[field] is None and field != "remediation_status":
            kept[field] = value


class _Lists(object):
    """The eight lists being built, with each entry indexed under every identity it has."""

    def __init__(self):
        self.lists = dict((kind, []) for kind in KINDS)
        self.index = dict((kind, {}) for kind in KINDS)

    def add(self, kind, entry):
        index = self.index[kind]
        kept = next((index[key] for key in IDENTITIES[kind](entry)
                     if key in index and _agree(index[key], entry, DISTINCT.get(kind, ()))), None)
        if kept is None:
            kept = entry
            self.lists[kind].append(entry)
        else:
            _merge(kept, entry)
        for key in IDENTITIES[kind](kept):
            if key is not None:
                index.setdefault(key, kept)


def _objects(value, where):
    """A list of objects; null is none, anything else is an InputError naming where it was."""
    if value is None:
        return []
    strays = [item for item in value if not isinstance(item, dict)] if isinstance(value, (list, tuple)) else None
    if strays == []:
        return value
    got = "a list holding %s" % json_kind(strays[0]) if strays else json_kind(value)
    raise InputError("evidence: %s is %s where a list of objects belongs." % (where, got))


def _described(value):
    """What a value is, for messages: its JSON kind, and a scalar's start."""
    if isinstance(value, str):
        return "%s ('%s%s')" % (json_kind(value), value[:40], "..." if len(value) > 40 else "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "%s (%s)" % (json_kind(value), value)
    return json_kind(value)


def _id(value):
    """Ids as strings on both APIs (the Defender API's incidentId is a number)."""
    return None if value is None or value == "" else str(value)


def _read_alert(lists, alert, where, incident_id):
    context = {"alert": _id(_get(alert, ("alertId", "id"))), "incident": _id(alert.get("incidentId")) or incident_id}
    for item in _objects(alert.get("evidence"), where + ".evidence"):
        kind, table = GRAPH_EVIDENCE.get(str(item.get("@odata.type")).rsplit(".", 1)[-1], (None, None))
        if kind:
            lists.add(kind, _entry(kind, item, dict(table, **GRAPH_COMMON), context))
    for item in _objects(alert.get("devices"), where + ".devices"):
        lists.add("devices", _entry("devices", item, DEFENDER_DEVICE, context))
    for item in _objects(alert.get("entities"), where + ".entities"):
        kind, table = DEFENDER_ENTITIES.get(str(item.get("entityType")).lower(), (None, None))
        if kind:
            lists.add(kind, _entry(kind, item, table, context))


def _read(lists, data, where, incident_id=None):
    """Alerts, incidents (their `alerts`), module results (`incidents`, `alerts`) and lists of them, in any mix."""
    if isinstance(data, (list, tuple)):
        for number, item in enumerate(data):
            _read(lists, item, "%s[%d]" % (where, number), incident_id)
    elif not isinstance(data, dict):
        raise InputError("evidence: %s is %s, where an alert, an incident, a list of them or a result of "
                         "incident_info or alert_info belongs." % (where, _described(data)))
    elif "incidents" in data:
        _read(lists, _objects(data["incidents"], where + ".incidents"), where + ".incidents")
    elif "alerts" in data:
        incident_id = _id(_get(data, ("incidentId", "id"))) or incident_id
        _read(lists, _objects(data["alerts"], where + ".alerts"), where + ".alerts", incident_id)
    else:
        _read_alert(lists, data, where, incident_id)


def evidence_lists(data):
    """The devices, users, mailboxes, files, processes, IPs, URLs and cloud apps in alerts' evidence.

    `data` is an alert, an incident with its `alerts`, a result of incident_info or alert_info, or a list mixing
    these, of either API. Returns a dict of the eight lists (KINDS); each entry has the FIELDS of its list and the
    COMMON_FIELDS. Raises InputError for data of another shape.
    """
    lists = _Lists()
    _read(lists, data, "input")
    return lists.lists
