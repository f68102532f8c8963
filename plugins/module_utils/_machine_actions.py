# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Device response (machine actions of the Defender for Endpoint API): what an action asks for, whether the device
needs it, sending it once, waiting for it to end, and the investigation package."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time
from collections import namedtuple

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import (
    ApiError,
    InputError,
    M365DefenderError,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._files import write_private
from ansible_collections.secops.m365_defender.plugins.module_utils._http import Limit
from ansible_collections.secops.m365_defender.plugins.module_utils._machines import ENDPOINT_RATE, MACHINES
from ansible_collections.secops.m365_defender.plugins.module_utils._update import outcome_unknown

ACTIONS_PATH = "/machineactions"
# Microsoft documents 2 GetPackageUri calls a minute.
PACKAGE_RATE = ENDPOINT_RATE + (Limit("package-uri", 2, 60, "the Defender for Endpoint API",
                                      "investigation package links"),)
# After a request without a usable answer, an identical action created up to this long before it (clocks differ)
# is taken for the one sent.
CLOCK_SKEW = 300

# option value -> (path segment, machineAction type, the action that undoes it or None).
Action = namedtuple("Action", ["segment", "type", "opposite"])
ACTIONS = {
    "isolate": Action("isolate", "Isolate", "release"),
    "release": Action("unisolate", "Unisolate", "isolate"),
    "av_scan": Action("runAntiVirusScan", "RunAntiVirusScan", None),
    "collect_investigation_package": Action("collectInvestigationPackage", "CollectInvestigationPackage", None),
    "restrict_app_execution": Action("restrictCodeExecution", "RestrictCodeExecution", "remove_app_restriction"),
    "remove_app_restriction": Action("unrestrictCodeExecution", "UnrestrictCodeExecution", "restrict_app_execution"),
    "stop_and_quarantine_file": Action("StopAndQuarantineFile", "StopAndQuarantineFile", None),
}
ISOLATION_TYPES = {"full": "Full", "selective": "Selective", "unmanaged_device": "UnManagedDevice"}
SCAN_TYPES = {"quick": "Quick", "full": "Full"}
OPEN_STATUSES = ("Pending", "InProgress")
FAILED_STATUSES = ("Failed", "Cancelled", "TimeOut")
# How often a wait reads the action again: from the first interval, doubling up to the last.
POLL_FIRST, POLL_MOST = 1.0, 15.0


class ActionRequest(object):
    """machine_action's options, checked before any request: the call's path segment and body."""

    def __init__(self, params):
        self.name = params["action"]
        self.action = ACTIONS[self.name]
        self.comment = params.get("comment")
        if not self.comment or not self.comment.strip():
            raise InputError("Option 'comment' must not be empty: the Defender for Endpoint API records it with the "
                             "action, for the device's timeline and the action center.")
        self.body = {"Comment": self.comment}
        self.scope = None
        self._option("isolation_type", ISOLATION_TYPES, "full", "isolate", "IsolationType", params)
        self._option("scan_type", SCAN_TYPES, "quick", "av_scan", "ScanType", params)
        self.sha1 = self._sha1(params.get("sha1"))
        self.download_path = params.get("download_path")
        if self.download_path and self.name != "collect_investigation_package":
            raise InputError("Option 'download_path' is only for action 'collect_investigation_package'.")
        self.wait = bool(params.get("wait")) or bool(self.download_path)
        self.wait_timeout = params.get("wait_timeout")
        if self.wait_timeout is not None and not 1 <= self.wait_timeout <= 86400:
            raise InputError("Option 'wait_timeout' must be from 1 to 86400 seconds, got %d." % self.wait_timeout)

    def _option(self, option, choices, default, action, field, params):
        """An option of one action only (isolation_type, scan_type): its API spelling in the body, as the scope."""
        value = params.get(option)
        if self.name != action:
            if value is not None:
                raise InputError("Option '%s' is only for action '%s', not '%s'." % (option, action, self.name))
            return
        if (value or default) not in choices:
            raise InputError("Option '%s' got '%s'; allowed: %s." % (option, value, ", ".join(sorted(choices))))
        self.scope = choices[value or default]
        self.body[field] = self.scope

    def _sha1(self, value):
        if self.name != "stop_and_quarantine_file":
            if value:
                raise InputError("Option 'sha1' is only for action 'stop_and_quarantine_file'.")
            return None
        if not value or not re.match(r"^[0-9A-Fa-f]{40}\Z", value):
            raise InputError("Option 'sha1' must be the file's SHA-1, 40 hexadecimal digits, for action "
                             "'stop_and_quarantine_file'; got %r." % (value,))
        self.body["Sha1"] = value.lower()
        return value.lower()

    def same(self, machine_action):
        """Whether an action of the device is this one (type, and scope or file where the action has one)."""
        if machine_action.get("type") != self.action.type:
            return False
        if self.sha1:
            related = machine_action.get("relatedFileInfo") or {}
            return str(related.get("fileIdentifier") or "").lower() == self.sha1
        return self.scope is None or machine_action.get("scope") in (None, self.scope)


def device_actions(client, machine_id):
    """The device's machine actions, newest first."""
    params = {"$filter": "machineId eq '%s'" % machine_id}
    actions = list(client.iterate(ACTIONS_PATH, params, None, MACHINES))
    return sorted(actions, key=lambda action: str(action.get("creationDateTimeUtc") or ""), reverse=True)


def already(request, actions):
    """The action that makes sending this one needless, or None: an identical one still open, or, for isolation
    and app restriction, the device already in the state asked for (its last such action that succeeded)."""
    for action in actions:
        if action.get("status") in OPEN_STATUSES and request.same(action):
            return action
    if request.action.opposite is None:
        return None
    pair = (request.action.type, ACTIONS[request.action.opposite].type)
    latest = next((action for action in actions
                   if action.get("type") in pair and action.get("status") in OPEN_STATUSES + ("Succeeded",)), None)
    if latest is None:
        # Never isolated (or restricted): releasing (or lifting the restriction) has nothing to undo.
        return {} if request.name in ("release", "remove_app_restriction") else None
    if latest.get("status") == "Succeeded" and latest.get("type") == request.action.type:
        return latest
    return None


def send(client, request, machine_id, started):
    """POST the action once (never repeated: a second one would be a second action); after a lost answer, the
    device's actions are read again to find it."""
    path = "%s/%s" % (MACHINES.item_path(machine_id), request.action.segment)
    try:
        answer = client.call("POST", path, body=request.body, rate=ENDPOINT_RATE, idempotent=False)
    except M365DefenderError as exc:
        if not outcome_unknown(exc):
            raise
        found = [action for action in device_actions(client, machine_id)
                 if request.same(action) and (action.get("status") in OPEN_STATUSES
                                              or str(action.get("creationDateTimeUtc") or "") >= started)]
        if not found:
            exc.message = ("The %s request for device %s got no usable answer, and the device's actions do not show "
                           "it; it was not sent again. %s" % (request.name, machine_id, exc.message))
            raise
        warning = ("POST %s got no usable answer, but the device's actions show it (%s); it was not sent again."
                   % (client.absolute(path), found[0].get("id")))
        return found[0], warning
    return _action(answer, "POST %s" % client.absolute(path), client.tenant), None


def _action(body, where, tenant):
    if not isinstance(body, dict) or not body.get("id"):
        raise ApiError("%s answered a body that is not a machine action (no 'id')." % where, tenant_id=tenant)
    body.pop("@odata.context", None)
    return body


def wait_for(client, machine_action, timeout, clock=time.monotonic):
    """Read the action until it succeeds; M365DefenderError (the action in its details) when it ends otherwise or
    the wait runs out."""
    deadline = clock() + timeout
    interval = POLL_FIRST
    status = machine_action.get("status")
    while status != "Succeeded":
        if status in FAILED_STATUSES:
            raise M365DefenderError("Machine action %s (%s on device %s) ended %s." % (
                machine_action.get("id"), machine_action.get("type"), machine_action.get("machineId"), status),
                machine_action=machine_action)
        left = deadline - clock()
        if left <= 0:
            raise M365DefenderError(
                "Machine action %s (%s on device %s) is still %s after %d s (wait_timeout); it goes on in Defender "
                "for Endpoint: follow it there or wait again with this task." % (
                    machine_action.get("id"), machine_action.get("type"), machine_action.get("machineId"), status,
                    timeout), machine_action=machine_action)
        client.http.report("machine action %s: %s" % (machine_action.get("id"), status))
        client.http.sleep(min(interval, left))
        interval = min(interval * 2, POLL_MOST)
        path = "%s/%s" % (ACTIONS_PATH, machine_action["id"])
        machine_action = _action(client.get(path, rate=ENDPOINT_RATE), "GET %s" % client.absolute(path),
                                 client.tenant)
        status = machine_action.get("status")
    return machine_action


def download_package(client, machine_action, path):
    """Save the investigation package of a succeeded collection to `path` (mode 0600, written atomically)."""
    link_path = "%s/%s/GetPackageUri" % (ACTIONS_PATH, machine_action["id"])
    link = client.get(link_path, rate=PACKAGE_RATE).get("value")
    if not isinstance(link, str) or not link.lower().startswith("https://"):
        raise ApiError("GET %s answered no https download link ('value')." % client.absolute(link_path),
                       tenant_id=client.tenant)
    # A pre-signed link: no Authorization header goes with it.
    response = client.http.send("GET", link)
    if response.status_code >= 400:
        raise ApiError("Downloading the investigation package of machine action %s answered HTTP %s." % (
            machine_action["id"], response.status_code), status=response.status_code, tenant_id=client.tenant)
    try:
        write_private(path, lambda stream: stream.write(response.content), binary=True)
    except OSError as exc:
        raise InputError("Cannot write option 'download_path' '%s': %s." % (path, exc.strerror or exc))
    return len(response.content)


def respond(client, request, machine_id, check_mode=False, now=None):
    """Carry out the request on the device unless it needs none: (changed, machine action, warnings, package size)."""
    actions = device_actions(client, machine_id)
    done = already(request, actions)
    warnings = []
    if done is not None:
        machine_action = done or None
        changed = False
    elif check_mode:
        return True, None, warnings, None
    else:
        machine_action, warning = send(client, request, machine_id, now or _utc_now())
        warnings.extend([warning] if warning else [])
        changed = True
    if machine_action and request.wait and not check_mode:
        try:
            machine_action = wait_for(client, machine_action, request.wait_timeout or 600)
        except M365DefenderError as exc:
            exc.details["changed"] = changed  # the action was sent, whatever became of it
            raise
    size = None
    if machine_action and request.download_path and not check_mode:
        size = download_package(client, machine_action, request.download_path)
    return changed, machine_action, warnings, size


def _utc_now():
    """When the request goes out, in the API's spelling, less CLOCK_SKEW."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - CLOCK_SKEW))
