"""Scenario files: the tenants, app registrations, credentials and consents the sandbox serves."""
from __future__ import annotations

import datetime
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Optional

from .timefmt import parse_datetime

API_NAMES = ("graph", "defender")
SIGN_IN_AUDIENCES = ("AzureADMyOrg", "AzureADMultipleOrgs")
DEFAULT_TOKEN_LIFETIME = 3599


class ScenarioError(ValueError):
    """The scenario file is not usable; the message says where and why."""


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    domains: tuple
    incident_count: int

    @property
    def primary_domain(self) -> str:
        return self.domains[0]


@dataclass(frozen=True)
class Secret:
    id: str
    value: str
    expires: datetime.datetime

    def expired(self, now: datetime.datetime) -> bool:
        return self.expires <= now


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

    def known_in(self, tenant_id: str) -> bool:
        """An app exists in a tenant when it has a service principal there: its home or a consenting tenant."""
        return tenant_id in self.permissions

    def roles(self, tenant_id: str, api: str) -> list:
        return list(self.permissions.get(tenant_id, {}).get(api, ()))


@dataclass(frozen=True)
class Scenario:
    tenants: tuple
    apps: tuple
    token_lifetime: int
    rate_limits: Optional[dict] = field(default=None, hash=False)  # checked by ratelimit.py; None: the defaults

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
    tenant_ids = {tenant.id for tenant in tenants}
    apps = tuple(_app(item, tenant_ids, now) for item in data.get("apps", []))
    _check_unique("tenant id", [tenant.id for tenant in tenants])
    _check_unique("domain", [domain for tenant in tenants for domain in tenant.domains])
    _check_unique("app name", [app.name for app in apps])
    _check_unique("client id", [app.client_id for app in apps])
    return Scenario(tenants, apps, int(data.get("token_lifetime", DEFAULT_TOKEN_LIFETIME)), data.get("rate_limits"))


def _tenant(item: dict) -> Tenant:
    tenant_id = _guid(item.get("id"), "tenant id")
    domains = tuple(domain.lower() for domain in item.get("domains", []))
    if not domains:
        raise ScenarioError(f"tenant {tenant_id} needs at least one domain")
    return Tenant(tenant_id, item.get("name", domains[0]), domains, int(item.get("incident_count", 0)))


def _app(item: dict, tenant_ids: set, now: datetime.datetime) -> App:
    name = item.get("name") or ""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ScenarioError(f"app name {name!r} must be usable as a file name")
    home = _guid(item.get("home_tenant"), f"home_tenant of {name}")
    audience = item.get("sign_in_audience", "AzureADMyOrg")
    if audience not in SIGN_IN_AUDIENCES:
        raise ScenarioError(f"sign_in_audience of {name} must be one of {', '.join(SIGN_IN_AUDIENCES)}")
    permissions = {}
    for tenant_id, grants in item.get("permissions", {}).items():
        tenant_id = _guid(tenant_id, f"permissions tenant of {name}")
        if tenant_id not in tenant_ids:
            raise ScenarioError(f"app {name} has permissions in unknown tenant {tenant_id}")
        if audience == "AzureADMyOrg" and tenant_id != home:
            raise ScenarioError(f"single-tenant app {name} cannot be consented in tenant {tenant_id}")
        permissions[tenant_id] = {api: tuple(grants.get(api, ())) for api in API_NAMES}
    if home not in tenant_ids or home not in permissions:
        raise ScenarioError(f"home tenant of {name} must be a scenario tenant listed in its permissions")
    secrets = tuple(Secret(_guid(secret.get("id"), f"secret id of {name}"), secret["value"], _expiry(secret, now))
                    for secret in item.get("secrets", []))
    certificate = item.get("certificate")
    certificate_expires = _expiry(certificate, now) if certificate is not None else None
    return App(name, _guid(item.get("client_id"), f"client_id of {name}"), home, audience, secrets,
               certificate_expires, permissions)


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
