"""Advanced hunting: four tables derived from a tenant's incidents and people, and the KQL runner both APIs use.

``AlertInfo`` and ``AlertEvidence`` have a row per alert and per piece of evidence of the incidents created in
the last 30 days; ``DeviceProcessEvents`` and ``IdentityLogonEvents`` add the processes and sign-ins those
alerts are about to a deterministic background of ordinary activity (eight events per device and per person,
spread over the 30 days before the sandbox started). Nothing is random per request: the same tenant and start
give the same rows.
"""
from __future__ import annotations

import calendar
import datetime
import hashlib
import json
import random
import re
import threading
from dataclasses import dataclass
from typing import Optional

from . import kql, timefmt
from .datagen import TenantProfile, parent_process
from .model import PRODUCT_NAMES
from .timefmt import parse_datetime

DATETIME, STRING = kql.DATETIME, kql.STRING
MAX_ROWS = 100_000
RETENTION = datetime.timedelta(days=30)
EVENTS_PER_DEVICE = EVENTS_PER_PERSON = 8

CATALOG = {
    "AlertInfo": (("Timestamp", DATETIME), ("AlertId", STRING), ("Title", STRING), ("Category", STRING),
                  ("Severity", STRING), ("ServiceSource", STRING), ("DetectionSource", STRING),
                  ("AttackTechniques", STRING)),
    "AlertEvidence": (("Timestamp", DATETIME), ("AlertId", STRING), ("EntityType", STRING), ("EvidenceRole", STRING),
                      ("FileName", STRING), ("SHA256", STRING), ("RemoteIP", STRING), ("RemoteUrl", STRING),
                      ("AccountName", STRING), ("AccountUpn", STRING), ("DeviceId", STRING), ("DeviceName", STRING)),
    "DeviceProcessEvents": (("Timestamp", DATETIME), ("DeviceId", STRING), ("DeviceName", STRING),
                            ("ActionType", STRING), ("FileName", STRING), ("FolderPath", STRING), ("SHA256", STRING),
                            ("ProcessCommandLine", STRING), ("AccountName", STRING),
                            ("InitiatingProcessFileName", STRING)),
    "IdentityLogonEvents": (("Timestamp", DATETIME), ("ActionType", STRING), ("Application", STRING),
                            ("LogonType", STRING), ("Protocol", STRING), ("AccountUpn", STRING),
                            ("AccountDomain", STRING), ("DeviceName", STRING), ("IPAddress", STRING),
                            ("Location", STRING)),
}

DETECTION_SOURCES = {"edr": "EDR", "antivirus": "Antivirus", "office": "Microsoft Defender for Office 365",
                     "identity": "Microsoft Defender for Identity", "cloudapps": "Microsoft Defender for Cloud Apps",
                     "entra": "Microsoft Entra ID Protection", "custom": "Custom detection"}
EVIDENCE_TYPES = {"MailBox": "Mailbox", "Registry": "RegistryValue"}
IMPACTED = ("User", "Machine", "Mailbox")
BACKGROUND_PROCESSES = (  # file name, folder, command line, parent, runs as the signed-in user
    ("svchost.exe", "C:\\Windows\\System32", "svchost.exe -k netsvcs -p -s Schedule", "services.exe", False),
    ("msedge.exe", "C:\\Program Files (x86)\\Microsoft\\Edge\\Application", '"msedge.exe" --profile-directory=Default',
     "explorer.exe", True),
    ("OneDrive.exe", "C:\\Program Files\\Microsoft OneDrive", "OneDrive.exe /background", "explorer.exe", True),
    ("ms-teams.exe", "C:\\Program Files\\WindowsApps\\MSTeams", "ms-teams.exe --system-initiated", "explorer.exe",
     True),
    ("powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0",
     "powershell.exe -ExecutionPolicy Bypass -File C:\\ProgramData\\IT\\inventory.ps1", "svchost.exe", False),
    ("MpCmdRun.exe", "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform", "MpCmdRun.exe -SignatureUpdate",
     "svchost.exe", False),
)
CLOUD_APPLICATIONS = ("Microsoft 365", "Microsoft Teams", "SharePoint Online", "Microsoft Exchange Online")
ALERT_SIGN_INS = {  # service of an alert with a user and an IP -> (action, application, logon type, protocol, count)
    "identity": ("LogonFailed", "Active Directory", "Credentials validation", "LDAP", 5),
    "cloudapps": ("LogonSuccess", "Microsoft 365", "Interactive", "", 1),
    "entra": ("LogonSuccess", "Microsoft Entra ID", "Interactive", "", 1),
}
_DURATION = re.compile(
    r"P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?!$)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?",
    re.IGNORECASE)


@dataclass(frozen=True)
class Result:
    columns: tuple  # ((name, KQL type), ...)
    rows: list  # JSON-ready dicts


@dataclass(frozen=True)
class Duration:
    """An ISO-8601 duration: calendar months (years count 12) and a fixed time span."""

    months: int
    span: datetime.timedelta

    def before(self, moment: datetime.datetime) -> datetime.datetime:
        return _add_months(moment, -self.months) - self.span

    def after(self, moment: datetime.datetime) -> datetime.datetime:
        return _add_months(moment, self.months) + self.span


def parse_timespan(text: str, now: datetime.datetime) -> tuple:
    """Graph's ``Timespan``, as (since, until or None); raises ValueError.

    An ISO-8601 duration back from now (``P7D``, ``PT12H``, ``P1M``, ``P1Y``), a start time (until now), or an
    interval ``start/end``, ``start/duration`` or ``duration/end``.
    """
    parts = text.strip().split("/")
    if len(parts) == 1:
        if _DURATION.fullmatch(parts[0]):
            return parse_duration(parts[0]).before(now), None
        return _moment(parts[0]), None
    if len(parts) != 2:
        raise ValueError(f"'{text}' is neither an ISO-8601 duration, a date and time nor an interval")
    start, end = parts
    if _DURATION.fullmatch(start) and _DURATION.fullmatch(end):
        raise ValueError(f"the interval '{text}' needs a start or an end time, not two durations")
    if _DURATION.fullmatch(end):
        since = _moment(start)
        return since, parse_duration(end).after(since)
    until = _moment(end)
    since = parse_duration(start).before(until) if _DURATION.fullmatch(start) else _moment(start)
    if since > until:
        raise ValueError(f"the interval '{text}' ends before it starts")
    return since, until


def parse_duration(text: str) -> Duration:
    """``PnYnMnWnDTnHnMnS`` (every part optional, at least one; days and smaller may have a fraction)."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"'{text}' is not an ISO-8601 duration (PnYnMnWnDTnHnMnS)")
    values = {name: float(value.replace(",", ".")) for name, value in match.groupdict().items() if value}
    months = int(values.pop("years", 0)) * 12 + int(values.pop("months", 0))
    try:
        return Duration(months, datetime.timedelta(**values))
    except OverflowError:
        raise ValueError(f"the duration '{text}' is too long") from None


def _moment(text: str) -> datetime.datetime:
    try:
        return parse_datetime(text)
    except ValueError:
        raise ValueError(f"'{text}' is neither an ISO-8601 duration nor a date and time") from None


def _add_months(moment: datetime.datetime, months: int) -> datetime.datetime:
    """``moment`` shifted by calendar months; the day is clamped to the target month's last (Mar 31 - P1M = Feb 28)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    if not datetime.MINYEAR <= year <= datetime.MAXYEAR:
        raise ValueError("the time span reaches beyond the years 1-9999")
    return moment.replace(year=year, month=month + 1, day=min(moment.day, calendar.monthrange(year, month + 1)[1]))


class Hunting:
    """Runs KQL over a tenant's tables; tables are built on first use and rebuilt when the incidents change."""

    def __init__(self, store, scenario, start: datetime.datetime):
        self._store = store
        self._scenario = scenario
        self._start = start
        self._lock = threading.Lock()
        self._background = {}  # tenant id -> {table: rows}
        self._derived = {}  # tenant id -> (the incidents they came from, {table: rows})

    def run(self, tenant_id: str, text: str, now: datetime.datetime, since: Optional[datetime.datetime] = None,
            until: Optional[datetime.datetime] = None) -> Result:
        """Raises kql.KqlError. The time range defaults to the last 30 days."""
        query = kql.compile_query(text, CATALOG, now)
        since = since or now - RETENTION
        rows = [row for row in self._table(tenant_id, query.table)
                if since <= row["Timestamp"] and (until is None or row["Timestamp"] < until)]
        results = query.run(rows)[:MAX_ROWS]
        return Result(query.columns, [_json_row(row, query.columns) for row in results])

    def _table(self, tenant_id: str, name: str) -> list:
        with self._lock:
            if tenant_id not in self._background:
                profile = TenantProfile(self._scenario.tenant(tenant_id), self._start)
                self._background[tenant_id] = _background(profile, self._start)
            incidents = self._store.incidents(tenant_id)
            if self._derived.get(tenant_id, (None,))[0] is not incidents:
                self._derived[tenant_id] = (incidents, _derived(incidents, self._start - RETENTION))
            return self._derived[tenant_id][1][name] + self._background[tenant_id].get(name, [])


# --- rows from incidents -------------------------------------------------------------------------------------------

def _derived(incidents: tuple, oldest: datetime.datetime) -> dict:
    tables = {name: [] for name in CATALOG}
    for incident in incidents:  # newest first
        if incident.created < oldest:
            break
        for alert in incident.alerts:
            tables["AlertInfo"].append(_alert_info(alert))
            devices = {device.device_id: device.dns_name for device in alert.devices}
            tables["AlertEvidence"].extend(_device_evidence(alert, device) for device in alert.devices)
            tables["AlertEvidence"].extend(_entity_evidence(alert, entity, devices) for entity in alert.entities)
            tables["DeviceProcessEvents"].extend(_alert_processes(alert, devices))
            tables["IdentityLogonEvents"].extend(_alert_sign_ins(alert))
    return tables


def _alert_info(alert) -> dict:
    return {"Timestamp": alert.created, "AlertId": alert.id, "Title": alert.title, "Category": alert.category,
            "Severity": alert.severity.capitalize(), "ServiceSource": PRODUCT_NAMES[alert.service],
            "DetectionSource": DETECTION_SOURCES[alert.detection], "AttackTechniques": json.dumps(list(alert.techniques))}


def _evidence_row(alert, entity_type: str, **values) -> dict:
    row = {"Timestamp": alert.created, "AlertId": alert.id, "EntityType": entity_type,
           "EvidenceRole": "Impacted" if entity_type in IMPACTED else "Related"}
    return {**row, **{name: values.get(name) or "" for name, kind in CATALOG["AlertEvidence"][4:]}}


def _device_evidence(alert, device) -> dict:
    return _evidence_row(alert, "Machine", DeviceId=device.device_id, DeviceName=device.dns_name)


def _entity_evidence(alert, entity, devices: dict) -> dict:
    values = entity.values
    return _evidence_row(alert, EVIDENCE_TYPES.get(entity.entity_type, entity.entity_type),
                         FileName=values.get("fileName"), SHA256=values.get("sha256"), RemoteIP=values.get("ipAddress"),
                         RemoteUrl=values.get("url"), AccountName=values.get("accountName"),
                         AccountUpn=values.get("userPrincipalName"), DeviceId=values.get("deviceId"),
                         DeviceName=devices.get(values.get("deviceId")))


def _alert_processes(alert, devices: dict) -> list:
    return [_process_row(values["processCreationTime"], values["deviceId"], devices[values["deviceId"]],
                         values["fileName"], values["filePath"], values["sha256"], values["processCommandLine"],
                         values["accountName"], parent_process(values["fileName"]))
            for values in (entity.values for entity in alert.entities)
            if values["entityType"] == "Process" and values.get("deviceId") in devices]


def _alert_sign_ins(alert) -> list:
    """Sign-ins from the attacker's address behind identity and cloud alerts that name a user and an IP."""
    kinds = {entity.entity_type: entity for entity in alert.entities}
    if alert.service not in ALERT_SIGN_INS or not {"User", "Ip"} <= set(kinds):
        return []
    action, application, logon_type, protocol, count = ALERT_SIGN_INS[alert.service]
    user, address = kinds["User"], kinds["Ip"]
    upn = user.values["userPrincipalName"]
    rng = random.Random(alert.id)
    span = (alert.created - alert.first_activity).total_seconds()
    return [_sign_in_row(alert.first_activity + datetime.timedelta(seconds=rng.uniform(0, span)), action,
                         application, logon_type, protocol, upn, "", address.values["ipAddress"],
                         address.details.get("country") or "")
            for dummy in range(count)]


# --- background activity -------------------------------------------------------------------------------------------

def _background(profile: TenantProfile, start: datetime.datetime) -> dict:
    processes = [row for number, device in enumerate(profile.devices)
                 for row in _device_activity(profile, device, number, start)]
    sign_ins = [row for number, person in enumerate(profile.people)
                for row in _person_activity(profile, person, number, start)]
    return {"DeviceProcessEvents": processes, "IdentityLogonEvents": sign_ins}


def _device_activity(profile: TenantProfile, device, number: int, start: datetime.datetime) -> list:
    rng = random.Random(f"{profile.tenant.id}/processes/{number}")
    rows = []
    for dummy in range(EVENTS_PER_DEVICE):
        name, folder, command, parent, as_user = rng.choice(BACKGROUND_PROCESSES)
        rows.append(_process_row(_recent(rng, start), device.device_id, device.dns_name, name, folder, _sha256(name),
                                 command, device.logged_on_user[0] if as_user else "system", parent))
    return rows


def _person_activity(profile: TenantProfile, person, number: int, start: datetime.datetime) -> list:
    rng = random.Random(f"{profile.tenant.id}/sign-ins/{number}")
    rows = []
    for dummy in range(EVENTS_PER_PERSON):
        action = "LogonFailed" if rng.random() < 0.1 else "LogonSuccess"
        if rng.random() < 0.5:
            device = rng.choice(profile.devices)
            rows.append(_sign_in_row(_recent(rng, start), action, "Active Directory",
                                     rng.choice(("Resource access", "Credentials validation", "Interactive")),
                                     rng.choice(("Kerberos", "NTLM")), person.upn, device.dns_name,
                                     f"10.{number}.{rng.randint(0, 255)}.{rng.randint(2, 254)}", ""))
        else:
            rows.append(_sign_in_row(_recent(rng, start), action, rng.choice(CLOUD_APPLICATIONS), "Interactive", "",
                                     person.upn, "", f"192.0.2.{rng.randint(2, 254)}", "US"))
    return rows


def _process_row(moment, device_id, device_name, file_name, folder, sha256, command_line, account, parent) -> dict:
    return {"Timestamp": moment, "DeviceId": device_id, "DeviceName": device_name, "ActionType": "ProcessCreated",
            "FileName": file_name, "FolderPath": f"{folder}\\{file_name}", "SHA256": sha256,
            "ProcessCommandLine": command_line, "AccountName": account, "InitiatingProcessFileName": parent}


def _sign_in_row(moment, action, application, logon_type, protocol, upn, device_name, address, location) -> dict:
    return {"Timestamp": moment, "ActionType": action, "Application": application, "LogonType": logon_type,
            "Protocol": protocol, "AccountUpn": upn, "AccountDomain": upn.split("@", 1)[1], "DeviceName": device_name,
            "IPAddress": address, "Location": location}


def _recent(rng: random.Random, start: datetime.datetime) -> datetime.datetime:
    return start - datetime.timedelta(seconds=rng.uniform(60, RETENTION.total_seconds() - 3600))


def _sha256(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


# --- rendering -----------------------------------------------------------------------------------------------------

def _json_row(row: dict, columns: tuple) -> dict:
    return {name: _json_value(row[name]) for name, kind in columns}


def _json_value(value):
    if isinstance(value, datetime.datetime):
        return timefmt.odata(value)
    if isinstance(value, datetime.timedelta):
        return _timespan(value)
    return value


def _timespan(span: datetime.timedelta) -> str:
    """.NET's TimeSpan spelling: ``[-][d.]hh:mm:ss[.fffffff]``."""
    sign, span = ("-", -span) if span < datetime.timedelta(0) else ("", span)
    hours, rest = divmod(span.seconds, 3600)
    text = f"{sign}{f'{span.days}.' if span.days else ''}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}.{span.microseconds:06d}0" if span.microseconds else text
