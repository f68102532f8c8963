# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Updates of incidents and alerts: what the options ask for, what differs from the item, and the requests that apply
it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import errno
import hashlib
import os
import stat
import tempfile
import time

from ansible_collections.secops.m365_defender.plugins.module_utils._api import (
    ALERT_STATUS,
    CLASSIFICATION,
    DETERMINATION,
    STATUS,
    entity,
    objects,
    owner,
    require_items,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import (
    ApiError,
    InputError,
    M365DefenderError,
    TransportError,
)
from ansible_collections.secops.m365_defender.plugins.module_utils._http import NOT_CARRIED_OUT_STATUSES
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import get_item

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock to take
    fcntl = None

# After a write whose outcome is unknown, the item is read again for about as long as the request's own
# timeout (at most CONFIRM_READS reads, at least CONFIRM_INTERVAL seconds apart) to see whether it landed late.
CONFIRM_INTERVAL = 1.0
CONFIRM_READS = 10
# How long a task waits for another task on the same machine that is updating the same incident or alert.
LOCK_WAIT = 600.0
LOCK_POLL = 0.1

# Which determinations each classification allows (keys of the DETERMINATION enum). `unknown` (not yet
# determined) goes with every classification. Apt and securityPersonnel are deprecated but still accepted.
DETERMINATIONS_BY_CLASSIFICATION = {
    "truepositive": frozenset(["multistagedattack", "malicioususeractivity", "compromisedaccount", "malware",
                               "phishing", "unwantedsoftware", "other", "apt", "securitypersonnel"]),
    "informationalexpectedactivity": frozenset(["securitytesting", "lineofbusinessapplication",
                                                "confirmedactivity", "other"]),
    "falsepositive": frozenset(["notmalicious", "notenoughdatatovalidate", "other"]),
    "unknown": frozenset(),
}


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
    """The update one item needs: the fields to send, the comment to add, and before/after for diff."""

    def __init__(self, update=None):
        self.update = update
        self.fields = {}
        self.comment = None
        self.before = {}
        self.after = {}

    @property
    def changed(self):
        return bool(self.fields or self.comment)

    @property
    def options(self):
        """The options this plan changes, by the module's names (status, ..., tags, comment)."""
        return ["comment" if name == "comments" else name for name in self.before]

    def missing(self, item):
        """The options of this plan that the item does not show yet."""
        return self.update.plan(item).options


class Update(object):
    """An update's options, checked and spelled for one resource (incidents or alerts of one API) before any
    request. Subclasses name their enum options."""

    ENUM_OPTIONS = ()

    def __init__(self, resource, params):
        self.resource = require_items(resource)
        self.params = params
        for name, enum in self.ENUM_OPTIONS:
            if params.get(name) is not None:
                enum.to_api(resource.name, params[name], write=True)
        if params.get("comment") is not None and not params["comment"].strip():
            raise InputError("Option 'comment' must not be empty.")
        for index, tag in enumerate(params.get("tags") or [], 1):
            if not isinstance(tag, str) or not tag.strip():
                raise InputError("Option 'tags' must hold non-empty strings; item %d is %r." % (index, tag))
        check_pair(params.get("classification"), params.get("determination"))

    def plan(self, item):
        """What must change on this item (in the API's field names and spellings)."""
        plan = Plan(self)
        fields = self.resource.fields
        for name, enum in self.ENUM_OPTIONS:
            wanted = self.params.get(name)
            current = item.get(fields[name])
            if wanted is not None and enum.key(wanted) != enum.key(current or ""):
                self._change(plan, name, fields[name], current, enum.to_api(self.resource.name, wanted))
        wanted = self.params.get("assigned_to")
        current = owner(item.get(fields["assigned_to"]))
        if wanted is not None and wanted.lower() != (current or "").lower():
            self._change(plan, "assigned_to", fields["assigned_to"], current, wanted)
        self._plan_tags(plan, item)
        self._plan_comment(plan, item)
        self._check_result_pair(plan, item)
        return plan

    def _change(self, plan, option, field, before, after):
        plan.fields[field] = after
        plan.before[option] = before
        plan.after[option] = after

    def _plan_tags(self, plan, item):
        wanted = self.params.get("tags")
        if wanted is None:
            return
        current = list(item.get(self.resource.tags_field) or [])
        if self.params.get("purge_tags"):
            desired = list(dict.fromkeys(wanted))
            differs = set(desired) != set(current)
        else:
            desired = current + [tag for tag in dict.fromkeys(wanted) if tag not in current]
            differs = len(desired) != len(current)
        if differs:
            self._change(plan, "tags", self.resource.tags_field, current, desired)

    def _plan_comment(self, plan, item):
        text = self.params.get("comment")
        if text is None:
            return
        existing = [entry.get("comment") for entry in item.get(self.resource.comments_field) or []]
        if text not in existing:
            plan.comment = text
            plan.before["comments"] = existing
            plan.after["comments"] = existing + [text]

    def _check_result_pair(self, plan, item):
        """With only one of classification and determination given, check it against the item's other."""
        if "classification" not in plan.before and "determination" not in plan.before:
            return
        fields = self.resource.fields
        classification = self.params.get("classification") or item.get(fields["classification"])
        determination = self.params.get("determination") or item.get(fields["determination"])
        check_pair(classification, determination)


class IncidentUpdate(Update):
    """The incident module's options."""

    ENUM_OPTIONS = (("status", STATUS), ("classification", CLASSIFICATION), ("determination", DETERMINATION))


class AlertUpdate(Update):
    """The alert module's options (an alert has no tags)."""

    ENUM_OPTIONS = (("status", ALERT_STATUS), ("classification", CLASSIFICATION), ("determination", DETERMINATION))


def predicted(item, plan, resource):
    """The item as it will be after the plan, for check mode."""
    after = copy.deepcopy(item)
    after.update(plan.fields)
    if plan.comment is not None:
        comments = after.setdefault(resource.comments_field, []) or []
        comments.append({"comment": plan.comment})
        after[resource.comments_field] = comments
    return after


class Write(object):
    """One request of an update, and the options it carries out."""

    def __init__(self, method, path, body, options, idempotent):
        self.method = method
        self.path = path
        self.body = body
        self.options = options
        self.idempotent = idempotent


def writes(resource, item_id, plan):
    """The requests that carry a plan out: one PATCH (with the comment on the Defender API), Graph's comment POST."""
    comment_request = resource.comment_request(item_id, plan.comment) if plan.comment is not None else None
    body = dict(plan.fields)
    options = [option for option in plan.options if option != "comment"]
    if plan.comment is not None and comment_request is None:
        body["comment"] = plan.comment
        options.append("comment")
    steps = []
    if body:
        # A PATCH that carries a comment adds it again if repeated, so it is not retried after a lost answer.
        steps.append(Write("PATCH", resource.item_path(item_id), body, options, "comment" not in body))
    if comment_request is not None:
        method, path, comment_body = comment_request
        steps.append(Write(method, path, comment_body, ["comment"], False))
    return steps


class Outcome(object):
    """What an update did: the item after it, the options applied, and what the user should know."""

    def __init__(self, item, wrote=False):
        self.item = item
        self.wrote = wrote
        self.applied = []
        self.warnings = []


def outcome_unknown(exc):
    """Whether a failed write may have been carried out all the same.

    Yes after no answer (timeout, lost connection), a 5xx that does not say "not done" (503 does), or a success
    whose body cannot be used; no after a 4xx or 503 (the request was refused) or a failed sign-in.
    """
    if isinstance(exc, TransportError):
        return True
    if not isinstance(exc, ApiError):
        return False
    status = exc.status
    return status is None or status < 400 or (status >= 500 and status not in NOT_CARRIED_OUT_STATUSES)


def _merge(client, resource, write, answer, item):
    """The item after a write, from the write's answer (checked: an unusable answer is an unknown outcome)."""
    where = "%s %s" % (write.method, client.absolute(write.path))
    if write.method == "PATCH":
        item = entity(resource, answer, where, tenant=client.tenant)
    else:
        item[resource.comments_field] = objects(answer, "value", where, tenant=client.tenant)
    item.pop("@odata.context", None)
    return item


def confirm(client, item_id, plan, write):
    """After a write whose outcome is unknown: the item once it shows the write's options, else None.

    Reads the item at once (the answer may have been lost after the write was done), then every few
    seconds for about as long as the request's timeout, because the API may carry a write out after the
    client gave up waiting for it.
    """
    wait = float(client.http.timeout or 0)
    interval = max(CONFIRM_INTERVAL, wait / CONFIRM_READS)
    waited = 0.0
    while True:
        try:
            item = get_item(client, plan.update.resource, item_id)
            if item is not None and not set(write.options) & set(plan.missing(item)):
                return item
        except M365DefenderError:
            pass  # an unreadable item confirms nothing; try again until the wait is over
        if waited >= wait:
            return None
        client.http.sleep(interval)
        waited += interval


def _stopped(exc, kind, item_id, outcome, not_applied, unconfirmed, wait):
    """The error of a write, saying what of the update was applied, what was not, and what may have been."""
    parts = ["applied: %s" % (", ".join(outcome.applied) or "nothing")]
    if unconfirmed:
        note = ("not confirmed: %s (the request got no usable answer, and reading the %s again for %d s did "
                "not show it; it was not sent again" % (", ".join(unconfirmed), kind, wait))
        if "comment" in unconfirmed:
            note += (": if it lands even later, a re-run adds the comment a second time, so look at the %s first"
                     % kind)
        parts.append(note + ")")
    if not_applied:
        parts.append("not applied: %s" % ", ".join(not_applied))
    exc.message = "The update of %s %s stopped (%s). %s" % (kind, item_id, "; ".join(parts), exc.message)
    exc.details.update(changed=bool(outcome.applied or unconfirmed), applied=list(outcome.applied),
                       not_applied=list(not_applied), unconfirmed=list(unconfirmed))
    return exc


def apply_plan(client, item_id, plan, current):
    """Send the plan's requests in order; an Outcome with the item as the API answered it."""
    resource = plan.update.resource
    return apply_writes(client, resource, item_id, plan, current, writes(resource, item_id, plan), _merge)


def apply_writes(client, resource, item_id, plan, current, steps, merge):
    """Send the writes in order, each answer merged into the item by merge(client, resource, write, answer, item).

    A write whose outcome is unknown is never sent again: the item is read again to see whether it
    landed. The first write that fails stops the update; the error says what was applied and what was not.
    """
    outcome = Outcome(copy.deepcopy(current), wrote=True)
    for index, write in enumerate(steps):
        try:
            answer = client.call(write.method, write.path, body=write.body, rate=resource.update_rate,
                                 idempotent=write.idempotent)
            outcome.item = merge(client, resource, write, answer, outcome.item)
        except M365DefenderError as exc:
            later = [option for following in steps[index + 1:] for option in following.options]
            if not outcome_unknown(exc):
                raise _stopped(exc, resource.kind, item_id, outcome, write.options + later, [], 0)
            confirmed = confirm(client, item_id, plan, write)
            if confirmed is None:
                raise _stopped(exc, resource.kind, item_id, outcome, later, write.options, client.http.timeout)
            outcome.item = confirmed
            outcome.warnings.append(
                "%s %s got no usable answer (%s), but reading %s %s again shows it carried out (%s); it was "
                "not sent again." % (write.method, client.absolute(write.path), exc.message, resource.kind, item_id,
                                     ", ".join(write.options)))
        outcome.applied.extend(write.options)
    return outcome


def update_item(client, update, item_id, check_mode=False, lock_directory=None):
    """Read the item, plan what differs and, unless in check mode, write it: (plan, Outcome).

    Writes happen under a lock on this machine for the tenant and item, held from the read to the last
    write, so that parallel tasks (forks) do not both find a comment missing and both add it.
    """
    resource = update.resource
    if check_mode:
        current = _read(client, resource, item_id)
        plan = update.plan(current)
        return plan, Outcome(predicted(current, plan, resource) if plan.changed else current)
    with ItemLock(lock_key(client, resource, item_id), lock_directory):
        current = _read(client, resource, item_id)
        plan = update.plan(current)
        if not plan.changed:
            return plan, Outcome(current)
        return plan, apply_plan(client, item_id, plan, current)


def update_result(module, update, item_id):
    """A module's update of one item (the incident and alert modules): its result, keyed by the item's kind."""
    client = module.client
    item_id = update.resource.check_id(item_id)
    plan, outcome = update_item(client, update, item_id, check_mode=module.check_mode)
    for warning in outcome.warnings:
        module.warn(warning)
    result = {"changed": plan.changed, update.resource.kind: outcome.item, "api": update.resource.name}
    if outcome.wrote:
        result.update(applied=outcome.applied, not_applied=[], unconfirmed=[])
    if module._diff:
        result["diff"] = {"before": plan.before, "after": plan.after}
    return result


def _read(client, resource, item_id):
    current = get_item(client, resource, item_id)
    if current is None:
        raise ApiError("%s %s does not exist in tenant %s (%s API)." % (
            resource.kind.capitalize(), item_id, client.tenant, resource.name), status=404, tenant_id=client.tenant)
    return current


def lock_key(client, resource, item_id):
    """The tenant (its id from the token when there is one, as both APIs share incidents), the kind and the id."""
    tenant = client.authenticator.token().claims.get("tid") or client.tenant
    return "%s/%s/%s" % (str(tenant).lower(), resource.kind, item_id)


def default_lock_directory():
    return os.path.join(tempfile.gettempdir(), "secops.m365_defender-%d" % os.getuid())


class ItemLock(object):
    """An exclusive lock on one incident or alert among the processes of one user on this machine (flock on a file).

    It cannot reach other machines (another controller, another AWX job's container) or other users.
    """

    def __init__(self, key, directory=None, wait=LOCK_WAIT, sleep=time.sleep, clock=time.monotonic):
        self.key = key
        self.directory = directory or default_lock_directory()
        self.wait = wait
        self.sleep = sleep
        self.clock = clock
        self.handle = None

    def __enter__(self):
        if fcntl is None:
            return self
        path = os.path.join(_private_directory(self.directory),
                            hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:32] + ".lock")
        try:
            self.handle = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            raise M365DefenderError("Cannot open the lock file %s for %s: %s." % (
                path, self.key, exc.strerror or exc))
        deadline = self.clock() + self.wait
        while not self._try_lock():
            if self.clock() >= deadline:
                self._close()
                raise M365DefenderError(
                    "Another task on this machine has been updating %s for over %d s (lock file %s); "
                    "nothing was sent." % (self.key, self.wait, path))
            self.sleep(LOCK_POLL)
        return self

    def _try_lock(self):
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except (IOError, OSError) as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise

    def _close(self):
        if self.handle is not None:
            os.close(self.handle)  # closing the descriptor releases the lock
            self.handle = None

    def __exit__(self, exc_type, exc_value, traceback):
        self._close()


def _private_directory(path):
    """The lock directory: created 0700 if missing; refused unless it is a real directory of this user's only."""
    try:
        os.mkdir(path, 0o700)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise M365DefenderError("Cannot create the lock directory %s: %s." % (path, exc.strerror or exc))
    status = os.lstat(path)
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o077:
        raise M365DefenderError("The lock directory %s must be a directory (not a link) that only this user can "
                                "use (mode 0700); remove or fix it." % path)
    return path
