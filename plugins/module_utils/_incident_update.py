# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incident updates: what the options ask for, what differs from the incident, and the requests that apply it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.secops.m365_defender.plugins.module_utils._api import (
    CLASSIFICATION,
    DETERMINATION,
    STATUS,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError

# Which determinations each classification allows (keys of the DETERMINATION enum). `unknown` (not yet
# determined) goes with every classification. Apt and securityPersonnel are deprecated but still accepted.
DETERMINATIONS_BY_CLASSIFICATION = {
    "truepositive": frozenset(["multistagedattack", "malicioususeractivity", "compromiseduser", "malware",
                               "phishing", "unwantedsoftware", "other", "apt", "securitypersonnel"]),
    "informationalexpectedactivity": frozenset(["securitytesting", "lineofbusinessapplication",
                                                "confirmeduseractivity", "other"]),
    "falsepositive": frozenset(["clean", "insufficientdata", "other"]),
    "unknown": frozenset(),
}

ENUM_OPTIONS = (("status", STATUS), ("classification", CLASSIFICATION), ("determination", DETERMINATION))


def check_pair(classification, determination):
    """Refuse a determination that the classification does not allow (both in any spelling, as given)."""
    classification_key = CLASSIFICATION.key(classification or "")
    determination_key = DETERMINATION.key(determination or "")
    if not determination_key or determination_key == "unknown" or not classification_key:
        return
    allowed = DETERMINATIONS_BY_CLASSIFICATION[classification_key]
    if determination_key not in allowed:
        names = sorted(DETERMINATION.spellings["graph"][key] for key in allowed) or ["unknown"]
        raise InputError(
            "Determination '%s' does not go with classification '%s'; it allows: %s." % (
                determination, classification, ", ".join(names)))


class Plan(object):
    """The update one incident needs: the fields to send, the comment to add, and before/after for diff."""

    def __init__(self):
        self.fields = {}
        self.comment = None
        self.before = {}
        self.after = {}

    @property
    def changed(self):
        return bool(self.fields or self.comment)


class IncidentUpdate(object):
    """The incident options, checked and spelled for one API before any request."""

    def __init__(self, flavour, params):
        self.flavour = flavour
        self.params = params
        for name, enum in ENUM_OPTIONS:
            if params.get(name) is not None:
                enum.to_api(flavour.name, params[name])
        if params.get("status") is not None and STATUS.key(params["status"]) == "redirected":
            raise InputError("Option 'status' cannot be 'redirected': Defender XDR sets it when it merges incidents.")
        if params.get("comment") is not None and not params["comment"].strip():
            raise InputError("Option 'comment' must not be empty.")
        check_pair(params.get("classification"), params.get("determination"))

    def plan(self, incident):
        """What must change on this incident (in the API's field names and spellings)."""
        plan = Plan()
        fields = self.flavour.fields
        for name, enum in ENUM_OPTIONS:
            wanted = self.params.get(name)
            current = incident.get(fields[name])
            if wanted is not None and enum.key(wanted) != enum.key(current or ""):
                self._change(plan, name, fields[name], current, enum.to_api(self.flavour.name, wanted))
        wanted = self.params.get("assigned_to")
        current = incident.get(fields["assigned_to"])
        if wanted is not None and wanted.lower() != (current or "").lower():
            self._change(plan, "assigned_to", fields["assigned_to"], current, wanted)
        self._plan_tags(plan, incident)
        self._plan_comment(plan, incident)
        self._check_result_pair(plan, incident)
        return plan

    def _change(self, plan, option, field, before, after):
        plan.fields[field] = after
        plan.before[option] = before
        plan.after[option] = after

    def _plan_tags(self, plan, incident):
        wanted = self.params.get("tags")
        if wanted is None:
            return
        current = list(incident.get(self.flavour.tags_field) or [])
        if self.params.get("purge_tags"):
            desired = list(dict.fromkeys(wanted))
            differs = set(desired) != set(current)
        else:
            desired = current + [tag for tag in dict.fromkeys(wanted) if tag not in current]
            differs = len(desired) != len(current)
        if differs:
            self._change(plan, "tags", self.flavour.tags_field, current, desired)

    def _plan_comment(self, plan, incident):
        text = self.params.get("comment")
        if text is None:
            return
        existing = [entry.get("comment") for entry in incident.get(self.flavour.comments_field) or []]
        if text not in existing:
            plan.comment = text
            plan.before["comments"] = existing
            plan.after["comments"] = existing + [text]

    def _check_result_pair(self, plan, incident):
        """With only one of classification and determination given, check it against the incident's other."""
        if "classification" not in plan.before and "determination" not in plan.before:
            return
        fields = self.flavour.fields
        classification = self.params.get("classification") or incident.get(fields["classification"])
        determination = self.params.get("determination") or incident.get(fields["determination"])
        check_pair(classification, determination)


def predicted(incident, plan, flavour):
    """The incident as it will be after the plan, for check mode."""
    after = copy.deepcopy(incident)
    after.update(plan.fields)
    if plan.comment is not None:
        comments = after.setdefault(flavour.comments_field, []) or []
        comments.append({"comment": plan.comment})
        after[flavour.comments_field] = comments
    return after


def apply_plan(client, incident_id, plan, current):
    """Send the plan: one PATCH (with the comment on the Defender API), and Graph's comment POST.

    Returns the incident as the API answered it (the current one when only a comment was added on Graph,
    with the comment list the API returned).
    """
    flavour = client.flavour
    path = flavour.incident_path(incident_id)
    comment_request = flavour.comment_request(incident_id, plan.comment) if plan.comment is not None else None
    body = dict(plan.fields)
    if plan.comment is not None and comment_request is None:
        body["comment"] = plan.comment
    # A PATCH that carries a comment adds it again if repeated, so it is not retried after a lost answer.
    incident = (client.call("PATCH", path, body=body, rate=flavour.update_rate, idempotent="comment" not in body)
                if body else copy.deepcopy(current))
    if comment_request is not None:
        method, comment_path, comment_body = comment_request
        comments = client.call(method, comment_path, body=comment_body, rate=flavour.update_rate)
        incident[flavour.comments_field] = comments.get("value", incident.get(flavour.comments_field))
    incident.pop("@odata.context", None)
    return incident
