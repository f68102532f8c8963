"""The incident store: one list of incidents per tenant, shared by both API views.

Alerts live inside their incidents; an index finds an alert's incident by the alert's id, and the tenant's alerts,
newest first, are listed from a snapshot that is made again after a change. Incidents added while the sandbox runs
(the admin API's live changes) go to the front: they are the newest.
"""
from __future__ import annotations

import dataclasses
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
        self._alert_incidents = {}  # tenant -> {alert id: incident id}; an alert never moves to another incident
        self._alerts = {}  # tenant -> ((alert, incident), ...) newest first; None until asked for after a change
        self._added = {}  # tenant -> how many incidents were added since start (or the last regeneration)
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
                self._replace(tenant_id, current, updated)
            return updated

    def alerts(self, tenant_id: str) -> tuple:
        """(alert, its incident) of every alert of a tenant, newest ``created`` first."""
        with self._lock:
            if self._alerts[tenant_id] is None:
                pairs = [(alert, incident) for incident in self._incidents[tenant_id] for alert in incident.alerts]
                pairs.sort(key=lambda pair: (pair[0].created, pair[0].id), reverse=True)
                self._alerts[tenant_id] = tuple(pairs)
            return self._alerts[tenant_id]

    def alert(self, tenant_id: str, alert_id: str) -> Optional[tuple]:
        """(alert, its incident), or None if the tenant has no such alert."""
        with self._lock:
            incident = self._incident_of(tenant_id, alert_id)
            return None if incident is None else (_alert_in(incident, alert_id), incident)

    def update_alert(self, tenant_id: str, alert_id: str, change: Callable) -> Optional[tuple]:
        """Replaces an alert with ``change(alert)`` inside its incident, atomically; (alert, incident) as they are
        then, or None if there is no such alert. ``change`` runs under the store's lock and may raise."""
        with self._lock:
            incident = self._incident_of(tenant_id, alert_id)
            if incident is None:
                return None
            current = _alert_in(incident, alert_id)
            updated = change(current)
            if updated is current:
                return current, incident
            replaced = dataclasses.replace(incident, alerts=tuple(updated if alert is current else alert
                                                                  for alert in incident.alerts))
            self._replace(tenant_id, incident, replaced)
            return updated, replaced

    def add(self, tenant_id: str, count: int, clock: Callable, severity: Optional[str] = None,
            status: Optional[str] = None) -> list:
        """Adds ``count`` new incidents (``datagen.new_incident``), each created at ``clock()``, with ids after the
        tenant's highest; returns them oldest first. The clock runs under the store's lock, so that ids and time
        stamps go up together."""
        tenant = self._scenario.tenant(tenant_id)
        profile = datagen.TenantProfile(tenant, self._start)
        with self._lock:
            current = self._incidents[tenant_id]
            next_id = max((incident.id for incident in current), default=datagen.first_incident_id(tenant) - 1) + 1
            sequence = self._added[tenant_id]
            taken = set(self._alert_incidents[tenant_id])
            added = []
            for number in range(count):
                incident = datagen.new_incident(profile, next_id + number, sequence + number, clock(), severity,
                                                status, frozenset(taken))
                taken.update(alert.id for alert in incident.alerts)
                added.append(incident)
            self._added[tenant_id] = sequence + count
            # newest created first: the new ones are the newest
            self._incidents[tenant_id] = tuple(reversed(added)) + current
            self._by_id[tenant_id].update((incident.id, incident) for incident in added)
            self._alert_incidents[tenant_id].update((alert.id, incident.id) for incident in added
                                                    for alert in incident.alerts)
            self._alerts[tenant_id] = None
        return added

    def regenerate(self, tenant_id: str, count: int) -> None:
        """Replaces a tenant's incidents with ``count`` freshly generated ones (timestamps still from start)."""
        incidents = datagen.generate(self._scenario.tenant(tenant_id), count, self._start)
        with self._lock:
            self._install(tenant_id, incidents)

    def _install(self, tenant_id: str, incidents: list) -> None:
        self._incidents[tenant_id] = tuple(incidents)
        self._by_id[tenant_id] = {incident.id: incident for incident in incidents}
        self._alert_incidents[tenant_id] = {alert.id: incident.id for incident in incidents
                                            for alert in incident.alerts}
        self._alerts[tenant_id] = None
        self._added[tenant_id] = 0

    def _replace(self, tenant_id: str, current, updated) -> None:
        """Puts ``updated`` in the place of the incident ``current``; the caller holds the lock."""
        self._incidents[tenant_id] = tuple(updated if item is current else item for item in self._incidents[tenant_id])
        self._by_id[tenant_id][updated.id] = updated
        self._alerts[tenant_id] = None

    def _incident_of(self, tenant_id: str, alert_id: str):
        incident_id = self._alert_incidents[tenant_id].get(alert_id)
        return None if incident_id is None else self._by_id[tenant_id][incident_id]


def _alert_in(incident, alert_id: str):
    return next(alert for alert in incident.alerts if alert.id == alert_id)
