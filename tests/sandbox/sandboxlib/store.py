"""The incident store: one list of incidents per tenant, shared by both API views."""
from __future__ import annotations

import datetime
import threading
from typing import Callable, Optional

from . import datagen


class IncidentStore:
    """Thread-safe. Incidents are immutable values, so readers get consistent snapshots without holding the lock."""

    def __init__(self, scenario, start: datetime.datetime):
        self._scenario = scenario
        self._start = start
        self._lock = threading.Lock()
        self._incidents = {}
        self._by_id = {}
        for tenant in scenario.tenants:
            self._install(tenant.id, datagen.generate(tenant, tenant.incident_count, start))

    def incidents(self, tenant_id: str) -> tuple:
        """All incidents of a tenant, newest ``created`` first."""
        with self._lock:
            return self._incidents[tenant_id]

    def get(self, tenant_id: str, incident_id: int) -> Optional[object]:
        with self._lock:
            return self._by_id[tenant_id].get(incident_id)

    def update(self, tenant_id: str, incident_id: int, change: Callable) -> Optional[object]:
        """Replaces an incident with ``change(incident)`` atomically; None if there is no such incident.

        ``change`` runs under the store's lock and may raise to leave the incident as it was.
        """
        with self._lock:
            current = self._by_id[tenant_id].get(incident_id)
            if current is None:
                return None
            updated = change(current)
            if updated is not current:
                self._incidents[tenant_id] = tuple(updated if item is current else item
                                                   for item in self._incidents[tenant_id])
                self._by_id[tenant_id][incident_id] = updated
            return updated

    def regenerate(self, tenant_id: str, count: int) -> None:
        """Replaces a tenant's incidents with ``count`` freshly generated ones (timestamps still from start)."""
        incidents = datagen.generate(self._scenario.tenant(tenant_id), count, self._start)
        with self._lock:
            self._install(tenant_id, incidents)

    def _install(self, tenant_id: str, incidents: list) -> None:
        self._incidents[tenant_id] = tuple(incidents)
        self._by_id[tenant_id] = {incident.id: incident for incident in incidents}
