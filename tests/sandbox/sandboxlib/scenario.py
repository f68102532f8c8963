"""Scenario files: the tenants, users, app registrations, managed identities, credentials and consents served."""
from __future__ import annotations

import datetime
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Optional

from .timefmt import parse_datetime

API_NAMES = ("graph", "defender", "endpoint")
SIGN_IN_AUDIENCES = ("AzureADMyOrg", "AzureADMultipleOrgs")
USER_STATES = ("enabled", "locked", "disabled", "password_expired", "mfa_required")
SYSTEM_ASSIGNED, USER_ASSIGNED = "system_assigned", "user_assigned"
DEFAULT_TOKEN_LIFETIME = 3599
DEFAULT_REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600
DEFAULT_DEVICE_CODE = {"interval": 1, "expires_in": 900}
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


class ScenarioError(ValueError):
    """The scenario file is not usable; the message says where and why."""


@dataclass(frozen=True)
class User:
    upn: str
    id: str
    display_name: str
    password: str = field(repr=False)
    state: str
    role: str
    tenant_id: str


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    domains: tuple
    incident_count: int
    users: tuple = ()

    @property
    def primary_domain(self) -> str:
        return self.domains[0]

    def user(self, upn: str) -> Optional[User]:
        wanted = upn.lower()
        return next((user for user in self.users if user.upn == wanted), None)


@dataclass(frozen=True)
class Secret:
    id: str
    value: str
    expires: datetime.datetime

    def expired(self, now: datetime.datetime) -> bool:
        return self.expires <= now


@dataclass(frozen=True)
class FederatedCredential:
    """Trust in an external issuer's tokens; ``{base}`` in ``issuer`` stands for the sandbox's own base URL."""

    name: str
    issuer: str
    subject: str
    audiences: tuple

    def issuer_for(self, base_url: str) -> str:
        return self.issuer.replace("{base}", base_url)


@dataclass(frozen=True)
class DelegatedGrant:
    """The delegated permissions consented to in one tenant, per API, and the users who have not consented."""

    scopes: dict = field(hash=False)
    users_without_consent: frozenset = frozenset()


@dataclass(frozen=True)
class App:
    """An app registration; ``permissions`` maps each consenting tenant to its granted app roles per API."""

    name: str
    client_id: str
    home_tenant: str
    sign_in_audience: str
    secrets: tuple
    certificate_expires: Optional[datetime.datetime]
    permissions: dict = field(hash=False)
    public_client: bool = False
    delegated_permissions: dict = field(default_factory=dict, hash=False)  # tenant id -> DelegatedGrant
    federated_credentials: tuple = ()

    def known_in(self, tenant_id: str) -> bool:
        """An app exists in a tenant when it has a service principal there: its home or a consenting tenant."""
        return tenant_id in self.permissions or tenant_id in self.delegated_permissions

    def roles(self, tenant_id: str, api: str) -> list:
        return list(self.permissions.get(tenant_id, {}).get(api, ()))

    def delegated_scopes(self, tenant_id: str, api: str, upn: str) -> list:
        """The delegated permissions ``upn`` has consented to for ``api`` (empty: no consent)."""
        grant = self.delegated_permissions.get(tenant_id)
        if grant is None or upn.lower() in grant.users_without_consent:
            return []
        return list(grant.scopes.get(api, ()))


@dataclass(frozen=True)
class ManagedIdentity:
    """A system-assigned (the sandbox "machine"'s) or user-assigned identity with its app roles per API."""

    name: str
    type: str
    client_id: str
    object_id: str
    resource_id: str
    tenant_id: str
    permissions: dict = field(hash=False)

    def roles(self, api: str) -> list:
        return list(self.permissions.get(api, ()))


@dataclass(frozen=True)
class Scenario:
    tenants: tuple
    apps: tuple
    token_lifetime: int
    rate_limits: Optional[dict] = field(default=None, hash=False)  # checked by ratelimit.py; None: the defaults
    managed_identities: tuple = ()
    refresh_token_lifetime: int = DEFAULT_REFRESH_TOKEN_LIFETIME
    device_code: dict = field(default_factory=lambda: dict(DEFAULT_DEVICE_CODE), hash=False)

    def tenant(self, id_or_domain: str) -> Optional[Tenant]:
        """Finds a tenant by GUID or by one of its domains, case-insensitively."""
        wanted = id_or_domain.lower()
        for tenant in self.tenants:
            if wanted == tenant.id or wanted in tenant.domains:
                return tenant
        return None

    def app(self, client_id: str) -> Optional[App]:
        wanted = client_id.lower()
        return next((app for app in self.apps if app.client_id == wanted), None)

    def managed_identity(self, client_id: Optional[str] = None, object_id: Optional[str] = None,
                         resource_id: Optional[str] = None) -> Optional[ManagedIdentity]:
        """The identity with that id; with no id at all, the system-assigned one (if any)."""
        for identity in self.managed_identities:
            if client_id is not None:
                found = identity.client_id == client_id.lower()
            elif object_id is not None:
                found = identity.object_id == object_id.lower()
            elif resource_id is not None:
                found = identity.resource_id.lower() == resource_id.lower()
            else:
                found = identity.type == SYSTEM_ASSIGNED
            if found:
                return identity
        return None


def load(path: str, now: datetime.datetime) -> Scenario:
    """Reads and validates a scenario file; relative expiry dates count from ``now``."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from exc
    tenants = tuple(_tenant(item) for item in data.get("tenants", []))
    if not tenants:
        raise ScenarioError("the scenario has no tenants")
    by_id = {tenant.id: tenant for tenant in tenants}
    apps = tuple(_app(item, by_id, now) for item in data.get("apps", []))
    identities = tuple(_managed_identity(item, by_id) for item in data.get("managed_identities", []))
    _check_unique("tenant id", [tenant.id for tenant in tenants])
    _check_unique("domain", [domain for tenant in tenants for domain in tenant.domains])
    _check_unique("user", [user.upn for tenant in tenants for user in tenant.users])
    _check_unique("user id", [user.id for tenant in tenants for user in tenant.users])
    _check_unique("app name", [app.name for app in apps] + [identity.name for identity in identities])
    _check_unique("client id", [app.client_id for app in apps] + [identity.client_id for identity in identities])
    if sum(identity.type == SYSTEM_ASSIGNED for identity in identities) > 1:
        raise ScenarioError("there can be one system-assigned managed identity at most")
    return Scenario(tenants, apps, _positive(data, "token_lifetime", DEFAULT_TOKEN_LIFETIME), data.get("rate_limits"),
                    identities, _positive(data, "refresh_token_lifetime", DEFAULT_REFRESH_TOKEN_LIFETIME),
                    _device_code(data.get("device_code", {})))


def _tenant(item: dict) -> Tenant:
    tenant_id = _guid(item.get("id"), "tenant id")
    domains = tuple(domain.lower() for domain in item.get("domains", []))
    if not domains:
        raise ScenarioError(f"tenant {tenant_id} needs at least one domain")
    users = tuple(_user(user, tenant_id, domains) for user in item.get("users", []))
    return Tenant(tenant_id, item.get("name", domains[0]), domains, int(item.get("incident_count", 0)), users)


def _user(item: dict, tenant_id: str, domains: tuple) -> User:
    upn = str(item.get("upn", "")).lower()
    if upn.rpartition("@")[2] not in domains:
        raise ScenarioError(f"user {upn!r} of tenant {tenant_id} needs a UPN in one of its domains")
    state = item.get("state", "enabled")
    if state not in USER_STATES:
        raise ScenarioError(f"state of user {upn} must be one of {', '.join(USER_STATES)}")
    if not isinstance(item.get("password"), str) or not item["password"]:
        raise ScenarioError(f"user {upn} needs a password")
    user_id = _guid(item["id"], f"id of user {upn}") if "id" in item else str(uuid.uuid5(uuid.NAMESPACE_DNS, upn))
    return User(upn, user_id, item.get("display_name", upn.partition("@")[0]), item["password"], state,
                item.get("role", "Security Reader"), tenant_id)


def _app(item: dict, tenants: dict, now: datetime.datetime) -> App:
    name = item.get("name") or ""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ScenarioError(f"app name {name!r} must be usable as a file name")
    home = _guid(item.get("home_tenant"), f"home_tenant of {name}")
    audience = item.get("sign_in_audience", "AzureADMyOrg")
    if audience not in SIGN_IN_AUDIENCES:
        raise ScenarioError(f"sign_in_audience of {name} must be one of {', '.join(SIGN_IN_AUDIENCES)}")
    consents = _consents(item, name, home, audience, tenants)
    permissions = {tenant_id: {api: tuple(grants.get(api, ())) for api in API_NAMES}
                   for tenant_id, grants in consents.get("permissions", {}).items()}
    delegated = {tenant_id: _delegated_grant(grants, name, tenants[tenant_id])
                 for tenant_id, grants in consents.get("delegated_permissions", {}).items()}
    if home not in tenants or (home not in permissions and home not in delegated):
        raise ScenarioError(f"home tenant of {name} must be a scenario tenant listed in its permissions")
    secrets = tuple(Secret(_guid(secret.get("id"), f"secret id of {name}"), secret["value"], _expiry(secret, now))
                    for secret in item.get("secrets", []))
    certificate = item.get("certificate")
    certificate_expires = _expiry(certificate, now) if certificate is not None else None
    federated = tuple(_federated_credential(credential, name) for credential in item.get("federated_credentials", []))
    return App(name, _guid(item.get("client_id"), f"client_id of {name}"), home, audience, secrets,
               certificate_expires, permissions, bool(item.get("public_client", False)), delegated, federated)


def _consents(item: dict, name: str, home: str, audience: str, tenants: dict) -> dict:
    """``permissions`` and ``delegated_permissions`` keyed by canonical tenant id, checked against the audience."""
    consents = {}
    for key in ("permissions", "delegated_permissions"):
        consents[key] = {}
        for tenant_id, grants in item.get(key, {}).items():
            tenant_id = _guid(tenant_id, f"{key} tenant of {name}")
            if tenant_id not in tenants:
                raise ScenarioError(f"app {name} has {key} in unknown tenant {tenant_id}")
            if audience == "AzureADMyOrg" and tenant_id != home:
                raise ScenarioError(f"single-tenant app {name} cannot be consented in tenant {tenant_id}")
            consents[key][tenant_id] = grants
    return consents


def _delegated_grant(grants: dict, name: str, tenant: Tenant) -> DelegatedGrant:
    missing = frozenset(upn.lower() for upn in grants.get("users_without_consent", ()))
    unknown = sorted(upn for upn in missing if tenant.user(upn) is None)
    if unknown:
        raise ScenarioError(f"users_without_consent of {name} names unknown users of {tenant.name}: {', '.join(unknown)}")
    return DelegatedGrant({api: tuple(grants.get(api, ())) for api in API_NAMES}, missing)


def _federated_credential(item: dict, app_name: str) -> FederatedCredential:
    name = item.get("name") or f"{app_name}-federated"
    issuer, subject = item.get("issuer"), item.get("subject")
    if not isinstance(issuer, str) or not issuer or not isinstance(subject, str) or not subject:
        raise ScenarioError(f"federated credential {name} of {app_name} needs an issuer and a subject")
    audiences = tuple(item.get("audiences", [TOKEN_EXCHANGE_AUDIENCE]))
    return FederatedCredential(name, issuer, subject, audiences)


def _managed_identity(item: dict, tenants: dict) -> ManagedIdentity:
    name = item.get("name") or ""
    kind = item.get("type", USER_ASSIGNED)
    if kind not in (SYSTEM_ASSIGNED, USER_ASSIGNED):
        raise ScenarioError(f"type of managed identity {name!r} must be {SYSTEM_ASSIGNED} or {USER_ASSIGNED}")
    tenant_id = _guid(item.get("tenant"), f"tenant of managed identity {name}")
    if tenant_id not in tenants:
        raise ScenarioError(f"managed identity {name} is in unknown tenant {tenant_id}")
    client_id = _guid(item.get("client_id"), f"client_id of managed identity {name}")
    object_id = _guid(item.get("object_id"), f"object_id of managed identity {name}")
    resource_id = item.get("resource_id") or (
        f"/subscriptions/{uuid.uuid5(uuid.NAMESPACE_URL, tenant_id)}/resourceGroups/sandbox/providers/"
        f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}")
    permissions = {api: tuple(item.get("permissions", {}).get(api, ())) for api in API_NAMES}
    return ManagedIdentity(name, kind, client_id, object_id, resource_id, tenant_id, permissions)


def _device_code(item: dict) -> dict:
    settings = {**DEFAULT_DEVICE_CODE, **item}
    if set(settings) != set(DEFAULT_DEVICE_CODE):
        raise ScenarioError(f"device_code takes {', '.join(DEFAULT_DEVICE_CODE)} only")
    for key in DEFAULT_DEVICE_CODE:
        _positive(settings, key, 1)
    return settings


def _positive(data: dict, key: str, default: int) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ScenarioError(f"{key} must be a positive integer (seconds)")
    return value


def _expiry(item: dict, now: datetime.datetime) -> datetime.datetime:
    """A credential expires at ``expires`` (ISO-8601) or ``expires_in_days`` after start (default one year)."""
    if "expires" in item:
        return parse_datetime(item["expires"])
    return now + datetime.timedelta(days=item.get("expires_in_days", 365))


def _guid(value, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ScenarioError(f"{what} must be a GUID, got {value!r}") from None


def _check_unique(what: str, values: list) -> None:
    duplicates = sorted({value for value in values if values.count(value) > 1})
    if duplicates:
        raise ScenarioError(f"duplicate {what}: {', '.join(duplicates)}")
