"""The Defender for Endpoint machines of a tenant: one per distinct device of its incidents' alerts.

A machine's id is its device's MDE id (``mdatpDeviceId`` in the Defender API, ``mdeDeviceId`` in Graph evidence).
What the device does not say (health, exposure, tags, value, network interfaces, VM metadata) is drawn from a
random stream of its own, seeded by the tenant and the device id, so the incident generator is untouched and a
machine is the same whichever incidents name it. Times count back from the sandbox's start.
"""
from __future__ import annotations

import datetime
import random
import uuid
import zlib
from dataclasses import dataclass
from typing import Optional

from .model import Device

HEALTH_STATUSES = ("Active", "Inactive", "ImpairedCommunication", "NoSensorData", "NoSensorDataImpairedCommunication",
                   "Unknown")
RISK_SCORES = ("None", "Informational", "Low", "Medium", "High")
EXPOSURE_LEVELS = ("None", "Low", "Medium", "High")
DEVICE_VALUES = ("Normal", "Low", "High")
ONBOARDING_STATUSES = ("Onboarded", "CanBeOnboarded", "Unsupported", "InsufficientInfo")
MACHINE_TAGS = ("VIP", "Pilot ring", "Finance", "Legacy", "PCI", "Remote")

_HEALTH_WEIGHTS = {"Active": 64, "Inactive": 14, "ImpairedCommunication": 7, "NoSensorData": 6,
                   "NoSensorDataImpairedCommunication": 3, "Unknown": 6}
_EXPOSURE_WEIGHTS = {"None": 10, "Low": 35, "Medium": 40, "High": 15}
# How long ago a machine of each health status was last seen, in hours (low, high)
_LAST_SEEN_HOURS = {"Active": (0.02, 4), "Inactive": (8 * 24, 40 * 24), "ImpairedCommunication": (2, 48),
                    "NoSensorData": (1, 72), "NoSensorDataImpairedCommunication": (6, 96), "Unknown": (24, 240)}


@dataclass(frozen=True)
class Machine:
    device: Device
    tenant_id: str
    last_seen: datetime.datetime
    health_status: str
    exposure_level: str
    device_value: str
    tags: tuple
    os_version: str
    mac_address: str
    vm_id: Optional[str]

    @property
    def id(self) -> str:
        return self.device.device_id

    @property
    def dns_name(self) -> str:
        return self.device.dns_name

    @property
    def is_server(self) -> bool:
        return self.device.os_platform.startswith("WindowsServer")


def machines_of(tenant_id: str, incidents, start: datetime.datetime) -> list:
    """The tenant's machines, most recently seen first (then by id)."""
    devices = {}
    for incident in incidents:
        for alert in incident.alerts:
            for device in alert.devices:
                devices.setdefault(device.device_id, device)
    machines = [machine_for(tenant_id, device, start) for device in devices.values()]
    return sorted(machines, key=lambda machine: (machine.last_seen, machine.id), reverse=True)


def machine_for(tenant_id: str, device: Device, start: datetime.datetime) -> Machine:
    rng = random.Random(f"{tenant_id}/machine/{device.device_id}")
    health = _weighted(rng, _HEALTH_WEIGHTS)
    low, high = _LAST_SEEN_HOURS[health]
    last_seen = start - datetime.timedelta(hours=rng.uniform(low, high))
    exposure = _weighted(rng, _EXPOSURE_WEIGHTS)
    value = "High" if device.os_platform.startswith("WindowsServer") else _weighted(
        rng, {"Normal": 80, "Low": 10, "High": 10})
    tags = tuple(sorted(rng.sample(MACHINE_TAGS, rng.choices((0, 1, 2), weights=(55, 35, 10))[0])))
    os_version = f"10.0.{device.os_build}.{rng.randint(1000, 4500)}"
    mac = f"{rng.getrandbits(48):012X}"
    vm_id = str(uuid.UUID(int=rng.getrandbits(128), version=4)) if device.os_platform.startswith("WindowsServer") \
        else None
    return Machine(device, tenant_id, last_seen.replace(microsecond=last_seen.microsecond // 1000 * 1000), health,
                   exposure, value, tags, os_version, mac, vm_id)


def rbac_group_id(name: str) -> int:
    """A stable id per device group name."""
    return zlib.crc32(name.encode("utf-8")) % 9000 + 1000


def _weighted(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]
