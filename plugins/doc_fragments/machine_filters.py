# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The device filters of machine_info and the machines inventory plugin (the API applies them all)."""

    DOCUMENTATION = r"""
options:
  health_status:
    description:
      - Only devices with one of these health states, V(Active), V(Inactive), V(ImpairedCommunication),
        V(NoSensorData), V(NoSensorDataImpairedCommunication), V(Unknown), in any spelling.
    type: list
    elements: str
  risk_score:
    description:
      - Only devices with one of these risk scores, V(None), V(Informational), V(Low), V(Medium), V(High), in any
        case.
    type: list
    elements: str
  exposure_level:
    description:
      - Only devices with one of these exposure levels, V(None), V(Low), V(Medium), V(High), in any case.
    type: list
    elements: str
  onboarding_status:
    description:
      - Only devices with one of these onboarding states, V(Onboarded), V(CanBeOnboarded), V(Unsupported),
        V(InsufficientInfo), in any spelling.
    type: list
    elements: str
  os_platform:
    description:
      - Only devices of this OS platform as the API names it, for example V(Windows11), V(WindowsServer2022),
        V(Linux), V(macOS).
    type: str
  tag:
    description:
      - Only devices that carry one of these tags (C(machineTags)).
    type: list
    elements: str
  last_seen_after:
    description:
      - Only devices last seen at or after this time.
      - ISO-8601 (V(2024-05-01T00:00:00Z)) or an age such as V(30m), V(24h), V(7d), V(2w), counted from the
        time the task or the inventory runs.
    type: str
"""
