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
# The members of Graph's alertDetermination enum (its v1.0 metadata and SDKs), not the incident resource page's
# compromisedUser, clean, insufficientData and confirmedUserActivity, which Graph refuses.
DETERMINATIONS = ("unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
                  "multiStagedAttack", "compromisedAccount", "phishing", "maliciousUserActivity", "notMalicious",
                  "notEnoughDataToValidate", "confirmedActivity", "lineOfBusinessApplication")
# Graph's microsoft.graph.security.investigationState (unknownFutureValue aside)
INVESTIGATION_STATES = ("unknown", "terminated", "successfullyRemediated", "benign", "failed", "partiallyRemediated",
                        "running", "pendingApproval", "pendingResource", "queued", "innerFailure", "preexistingAlert",
                        "unsupportedOs", "unsupportedAlertType", "suppressedAlert", "partiallyInvestigated",
                        "terminatedByUser", "terminatedBySystem")
ALERT_STATUSES = ("new", "inProgress", "resolved")
# Graph's microsoft.graph.security.serviceSource, in the metadata's order (the evolvable members after the sentinel)
SERVICE_SOURCES = ("unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity",
                   "microsoftDefenderForCloudApps", "microsoftDefenderForOffice365", "microsoft365Defender",
                   "azureAdIdentityProtection", "microsoftAppGovernance", "dataLossPrevention", "unknownFutureValue",
                   "microsoftDefenderForCloud", "microsoftSentinel", "microsoftInsiderRiskManagement",
                   "microsoftThreatIntelligence", "microsoftSecurityForAI")

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
    nt_domain: Optional[str] = None  # the NetBIOS name of the device's Active Directory domain
    last_ip: Optional[str] = None  # on the corporate network
    last_external_ip: Optional[str] = None  # the tenant's egress address, as the internet sees the device


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
    investigation_state: str  # a member of INVESTIGATION_STATES
    recommended_actions: str
    categories: tuple = ()
    system_tags: tuple = ()
    policy_id: Optional[str] = None  # alertPolicyId: the policy of Office 365 and Cloud Apps alerts
    additional_data: dict = field(default_factory=dict, hash=False)  # Graph's open dictionary additionalData
    custom_details: Optional[dict] = field(default=None, hash=False)  # customDetails of custom detection rules
    comments: tuple = ()  # Comments added through alerts_v2 (generated alerts have none)


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
    last_modified_by: Optional[str] = None
    priority_score: Optional[int] = None  # 0-100
    resolving_comment: Optional[str] = None
    summary: Optional[str] = None


# Alert products and detectors: key -> (Graph value, Defender API value).
# Products by the names alerts_v2's productName and hunting's ServiceSource give them.
PRODUCT_NAMES = {"endpoint": "Microsoft Defender for Endpoint", "office": "Microsoft Defender for Office 365",
                 "identity": "Microsoft Defender for Identity", "cloudapps": "Microsoft Defender for Cloud Apps",
                 "entra": "Microsoft Entra ID Protection", "xdr": "Microsoft Defender XDR"}
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
