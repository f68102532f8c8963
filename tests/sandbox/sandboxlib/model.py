"""The incident store's own, API-neutral data model.

Values are immutable: an update replaces an incident, so a reader holding a snapshot is never disturbed.
Enumerations use Microsoft Graph's camelCase spelling; ``defender.py`` maps them to the Defender API's.
Entities carry the Defender API's 31 keys (``ENTITY_KEYS``); ``graph.py`` turns them into typed evidence.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Optional

INCIDENT_STATUSES = ("active", "inProgress", "resolved", "redirected")
SEVERITIES = ("unknown", "informational", "low", "medium", "high")
CLASSIFICATIONS = ("unknown", "falsePositive", "truePositive", "informationalExpectedActivity")
DETERMINATIONS = ("unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
                  "multiStagedAttack", "compromisedUser", "phishing", "maliciousUserActivity", "clean",
                  "insufficientData", "confirmedUserActivity", "lineOfBusinessApplication")
ALERT_STATUSES = ("new", "inProgress", "resolved")

ENTITY_KEYS = (
    "entityType", "sha1", "sha256", "fileName", "filePath", "processId", "processCommandLine", "processCreationTime",
    "parentProcessId", "parentProcessCreationTime", "ipAddress", "url", "accountName", "domainName", "userSid",
    "aadUserId", "userPrincipalName", "mailboxDisplayName", "mailboxAddress", "clusterBy", "sender", "recipient",
    "subject", "deliveryAction", "securityGroupId", "securityGroupName", "registryHive", "registryKey",
    "registryValueType", "registryValue", "deviceId",
)


@dataclass(frozen=True)
class Comment:
    text: str
    author: str
    created: datetime.datetime


@dataclass(frozen=True)
class Device:
    device_id: str
    aad_device_id: str
    dns_name: str
    os_platform: str
    os_build: int
    version: str
    rbac_group: str
    risk_score: str
    first_seen: datetime.datetime
    logged_on_user: tuple  # (account name, domain name)


@dataclass(frozen=True)
class Entity:
    """``values``: Defender entity keys that apply (the others are null); ``details``: extras Graph evidence shows."""

    values: dict = field(hash=False)
    details: dict = field(hash=False)

    @property
    def entity_type(self) -> str:
        return self.values["entityType"]


@dataclass(frozen=True)
class Alert:
    id: str
    title: str
    description: str
    category: str
    techniques: tuple
    service: str  # key of SERVICES
    detection: str  # key of DETECTIONS
    severity: str
    status: str
    classification: str
    determination: str
    assigned_to: Optional[str]
    created: datetime.datetime
    last_updated: datetime.datetime
    resolved: Optional[datetime.datetime]
    first_activity: datetime.datetime
    last_activity: datetime.datetime
    devices: tuple
    entities: tuple
    detector_id: str
    threat_family: Optional[str]
    actor: Optional[str]
    investigation_id: Optional[int]
    investigation_state: str
    recommended_actions: str


@dataclass(frozen=True)
class Incident:
    id: int
    tenant_id: str
    title: str
    description: Optional[str]
    created: datetime.datetime
    last_updated: datetime.datetime
    status: str
    severity: str
    classification: str
    determination: str
    assigned_to: Optional[str]
    custom_tags: tuple
    system_tags: tuple
    comments: tuple
    redirect_id: Optional[int]
    alerts: tuple


# Alert products and detectors: key -> (Graph value, Defender API value).
SERVICES = {
    "endpoint": ("microsoftDefenderForEndpoint", "MicrosoftDefenderForEndpoint"),
    "office": ("microsoftDefenderForOffice365", "MicrosoftDefenderForOffice365"),
    "identity": ("microsoftDefenderForIdentity", "MicrosoftDefenderForIdentity"),
    "cloudapps": ("microsoftDefenderForCloudApps", "MicrosoftCloudAppSecurity"),
    "entra": ("azureAdIdentityProtection", "AzureAdIdentityProtection"),
    "xdr": ("microsoft365Defender", "Microsoft365Defender"),
}
DETECTIONS = {
    "edr": ("microsoftDefenderForEndpoint", "EDR"),
    "antivirus": ("antivirus", "WindowsDefenderAv"),
    "office": ("microsoftDefenderForOffice365", "OfficeATP"),
    "identity": ("microsoftDefenderForIdentity", "AzureATP"),
    "cloudapps": ("cloudAppSecurity", "MCAS"),
    "entra": ("azureAdIdentityProtection", "AadIdentityProtection"),
    "custom": ("customDetection", "CustomDetection"),
}
