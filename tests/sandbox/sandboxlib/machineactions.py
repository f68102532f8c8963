"""The Defender for Endpoint state of each tenant: machine tags, machine actions and outcomes forced by tests.

An action's status follows from sandbox time, never from a background thread: it is ``Pending`` for
``PENDING_SECONDS``, ``InProgress`` for ``RUNNING_SECONDS`` more, then has its outcome (``Succeeded`` unless the
admin API forced another). Sandbox seconds are real seconds times the time scale, as for the rate limits. A
machine is isolated (restricted) when its latest finished Isolate/Unisolate (Restrict/Unrestrict) action that
succeeded was an Isolate (a Restrict).
"""
from __future__ import annotations

import collections
import dataclasses
import datetime
import threading
import uuid
from dataclasses import dataclass
from typing import Optional

from . import machines as machines_module

PENDING_SECONDS = 60
RUNNING_SECONDS = 120
TYPES = ("Isolate", "Unisolate", "RunAntiVirusScan", "CollectInvestigationPackage", "RestrictCodeExecution",
         "UnrestrictCodeExecution", "StopAndQuarantineFile")
STATUSES = ("Pending", "InProgress", "Succeeded", "Failed", "TimeOut", "Cancelled")
# "InProgress": the action stays in progress until the tenant's machines are reset (for tests of open actions).
FORCIBLE_OUTCOMES = ("Failed", "TimeOut", "Cancelled", "InProgress")
_STUCK = datetime.timedelta(days=3650)
# HRESULT of a failed action (E_FAIL) and of a timed-out one (ERROR_TIMEOUT as an HRESULT)
_ERRORS = {"Failed": -2147467259, "TimeOut": -2147023436}


class ActionInProgress(Exception):
    """An action of the same type is pending or in progress on the machine."""


@dataclass(frozen=True)
class MachineAction:
    id: str
    tenant_id: str
    type: str
    scope: Optional[str]
    machine_id: str
    dns_name: str
    requestor: str
    comment: str
    created: datetime.datetime
    started: datetime.datetime  # when it turns InProgress (or, forced Cancelled, Cancelled)
    finished: datetime.datetime  # when it has its outcome
    outcome: str  # Succeeded or a forced outcome
    sha1: Optional[str] = None

    def status(self, now: datetime.datetime) -> str:
        if now < self.started:
            return "Pending"
        if self.outcome == "Cancelled":
            return "Cancelled"
        return "InProgress" if now < self.finished else self.outcome

    def last_update(self, now: datetime.datetime) -> datetime.datetime:
        if now < self.started:
            return self.created
        if self.outcome == "Cancelled" or now < self.finished:
            return self.started
        return self.finished

    def open(self, now: datetime.datetime) -> bool:
        return self.status(now) in ("Pending", "InProgress")

    def error_code(self, now: datetime.datetime) -> int:
        return _ERRORS.get(self.status(now), 0)


class EndpointStore:
    """Thread-safe. Machines come from the incident store; tags, actions and forced outcomes live here."""

    def __init__(self, store, start: datetime.datetime, time_scale: float, clock):
        self._store = store
        self._start = start
        self._time_scale = time_scale
        self._clock = clock
        self._lock = threading.Lock()
        self._machines = {}  # tenant -> (the incidents they were derived from, machines)
        self._tags = collections.defaultdict(dict)  # tenant -> {machine id: tags}, once changed
        self._actions = collections.defaultdict(list)  # tenant -> [action], oldest first
        self._forced = collections.defaultdict(collections.deque)  # (tenant, machine id) -> outcomes to come

    def now(self) -> datetime.datetime:
        return self._clock()

    def machines(self, tenant_id: str) -> list:
        """The tenant's machines with their current tags, most recently seen first."""
        incidents = self._store.incidents(tenant_id)
        with self._lock:
            cached = self._machines.get(tenant_id)
            if cached is None or cached[0] is not incidents:
                cached = (incidents, machines_module.machines_of(tenant_id, incidents, self._start))
                self._machines[tenant_id] = cached
            tags = self._tags[tenant_id]
            return [dataclasses.replace(machine, tags=tags[machine.id]) if machine.id in tags else machine
                    for machine in cached[1]]

    def machine(self, tenant_id: str, key: str):
        """The machine with that id, or that computer DNS name (case-insensitive); None if there is none."""
        wanted = key.lower()
        return next((machine for machine in self.machines(tenant_id)
                     if machine.id == wanted or machine.dns_name.lower() == wanted), None)

    def tag(self, tenant_id: str, machine, value: str, add: bool):
        """Adds or removes one tag of the machine (as ``machine()`` returned it); returns the machine now."""
        with self._lock:
            current = self._tags[tenant_id].get(machine.id, machine.tags)
            if add:
                updated = current if value in current else current + (value,)
            else:
                updated = tuple(tag for tag in current if tag != value)
            self._tags[tenant_id][machine.id] = updated
        return dataclasses.replace(machine, tags=updated)

    def act(self, tenant_id: str, machine, kind: str, requestor: str, comment: str, scope: Optional[str] = None,
            sha1: Optional[str] = None) -> MachineAction:
        """Starts an action; raises ActionInProgress if one of that type is still open on the machine."""
        now = self._clock()
        with self._lock:
            if any(action.machine_id == machine.id and action.type == kind and action.open(now)
                   for action in self._actions[tenant_id]):
                raise ActionInProgress(kind)
            forced = self._forced[tenant_id, machine.id]
            outcome = forced.popleft() if forced else "Succeeded"
            started = now + datetime.timedelta(seconds=PENDING_SECONDS * self._time_scale)
            finished = started + datetime.timedelta(seconds=RUNNING_SECONDS * self._time_scale)
            if outcome == "InProgress":
                outcome, finished = "Succeeded", started + _STUCK
            action = MachineAction(str(uuid.uuid4()), tenant_id, kind, scope, machine.id, machine.dns_name, requestor,
                                   comment, now, started, finished, outcome, sha1)
            self._actions[tenant_id].append(action)
            return action

    def actions(self, tenant_id: str) -> list:
        """The tenant's actions, newest first."""
        with self._lock:
            return list(reversed(self._actions[tenant_id]))

    def action(self, tenant_id: str, action_id: str) -> Optional[MachineAction]:
        wanted = action_id.lower()
        return next((action for action in self.actions(tenant_id) if action.id == wanted), None)

    def force(self, tenant_id: str, machine_id: str, outcomes: list) -> list:
        """Queues outcomes for the next actions on the machine; returns the whole queue."""
        with self._lock:
            queue = self._forced[tenant_id, machine_id]
            queue.extend(outcomes)
            return list(queue)

    def forced(self, tenant_id: str, machine_id: str) -> list:
        with self._lock:
            return list(self._forced[tenant_id, machine_id])

    def state(self, tenant_id: str, machine_id: str) -> dict:
        """Isolation and code execution restriction as the machine's succeeded actions left them."""
        now = self._clock()
        done = sorted((action for action in self.actions(tenant_id)
                       if action.machine_id == machine_id and action.status(now) == "Succeeded"),
                      key=lambda action: action.finished)
        isolation = [action for action in done if action.type in ("Isolate", "Unisolate")]
        restriction = [action for action in done if action.type in ("RestrictCodeExecution", "UnrestrictCodeExecution")]
        isolated = bool(isolation) and isolation[-1].type == "Isolate"
        return {"isolated": isolated, "isolationType": isolation[-1].scope if isolated else None,
                "restricted": bool(restriction) and restriction[-1].type == "RestrictCodeExecution"}

    def reset(self, tenant_id: str) -> dict:
        """Forgets the tenant's actions, tag changes and forced outcomes."""
        with self._lock:
            cleared = {"actions": len(self._actions.pop(tenant_id, [])), "tags": len(self._tags.pop(tenant_id, {})),
                       "forced": sum(len(self._forced.pop(key)) for key in list(self._forced) if key[0] == tenant_id)}
            return cleared
