"""Incident and alert updates, shared by the API views: reading an update body, checking it, applying it to the store.

Each view describes its body with ``Field``s in its own spelling; ``parse_body`` turns a body into changes in
the store's model (Graph's camelCase values), and ``IncidentUpdater`` applies them. A change moves
``last_updated`` forward; a body that changes nothing leaves the incident (or alert) as it was.
"""
from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from typing import Optional

from .model import Alert, Comment, Incident

ENUM, TEXT, TAGS, COMMENT, OBJECT = "enum", "text", "tags", "comment", "object"

# Which determinations go with which classification, as Microsoft's classification pages group them; "unknown"
# goes with any. The deprecated apt and securityPersonnel are true positives there.
FITTING_DETERMINATIONS = {
    "unknown": ("unknown",),
    "truePositive": ("unknown", "multiStagedAttack", "maliciousUserActivity", "compromisedAccount", "malware",
                     "phishing", "unwantedSoftware", "other", "apt", "securityPersonnel"),
    "informationalExpectedActivity": ("unknown", "securityTesting", "lineOfBusinessApplication",
                                      "confirmedActivity", "other"),
    "falsePositive": ("unknown", "notMalicious", "notEnoughDataToValidate", "other"),
}
_TICK = datetime.timedelta(microseconds=1)


class UnknownField(ValueError):
    """The body names a field the API does not update."""


class InvalidValue(ValueError):
    """A field has a value the API does not accept."""


class Misfit(ValueError):
    """The determination does not go with the classification; the view words the message in its own spelling."""

    def __init__(self, classification: str, determination: str):
        super().__init__(f"{determination} does not fit {classification}")
        self.classification = classification
        self.determination = determination

    def message(self, classifications: Optional[dict] = None, determinations: Optional[dict] = None) -> str:
        """The error in an API's spelling: the dicts map model values to the API's (default: unchanged)."""
        classification = (classifications or {}).get(self.classification, self.classification)
        fitting = ", ".join((determinations or {}).get(value, value)
                            for value in FITTING_DETERMINATIONS[self.classification])
        determination = (determinations or {}).get(self.determination, self.determination)
        return (f"The determination '{determination}' does not fit the classification '{classification}'. With "
                f"'{classification}' use one of: {fitting}.")


@dataclass(frozen=True)
class Field:
    """A body field: the model attribute it sets, its kind, and for enums the accepted spellings -> model values.

    ``enum_type``: the OData enum type of a Graph field, whose deserializer refuses a value that is not one of its
    members before the service sees the request.
    """

    attribute: str
    kind: str
    values: Optional[dict] = None
    refused: tuple = ()  # valid spellings that cannot be set (e.g. the status "redirected")
    enum_type: Optional[str] = None


def parse_body(body, fields: dict) -> dict:
    """The changes a body asks for, as {model attribute: model value}; raises UnknownField or InvalidValue."""
    if not isinstance(body, dict):
        raise InvalidValue("The request body must be a JSON object.")
    changes = {}
    for name, value in body.items():
        if name.startswith("@odata."):
            continue
        if name not in fields:
            raise UnknownField(f"The property '{name}' cannot be updated. Updatable properties: {', '.join(fields)}.")
        field = fields[name]
        changes[field.attribute] = _value(name, value, field)
    return changes


def _value(name: str, value, field: Field):
    if field.kind == ENUM:
        if value in field.refused:
            raise InvalidValue(f"The {name} '{value}' cannot be set. Allowed values: {', '.join(_settable(field))}.")
        if isinstance(value, str) and value not in field.values and field.enum_type:
            raise InvalidValue(f"Cannot convert the literal '{value}' to the expected type '{field.enum_type}' of "
                               f"property '{name}'. Allowed values: {', '.join(_settable(field))}.")
        if not isinstance(value, str) or value not in field.values:
            raise InvalidValue(f"Invalid value {value!r} for property '{name}'. Allowed values: "
                               f"{', '.join(_settable(field))}.")
        return field.values[value]
    if field.kind == TAGS:
        if not isinstance(value, list) or not all(isinstance(tag, str) and tag.strip() for tag in value):
            raise InvalidValue(f"Invalid value for property '{name}': a list of non-empty strings is expected.")
        return tuple(value)
    if field.kind == COMMENT:
        if not isinstance(value, str) or not value.strip():
            raise InvalidValue(f"Invalid value for property '{name}': a non-empty string is expected.")
        return value
    if field.kind == OBJECT:
        if value is not None and not isinstance(value, dict):
            raise InvalidValue(f"Invalid value for property '{name}': a JSON object or null is expected.")
        return dict(value) if value is not None else None
    if value is not None and not isinstance(value, str):
        raise InvalidValue(f"Invalid value for property '{name}': a string or null is expected.")
    return value or None


def _settable(field: Field) -> list:
    return [spelling for spelling in field.values if spelling not in field.refused]


def apply(incident: Incident, changes: dict, author: str, now: datetime.datetime) -> Incident:
    """The incident with ``changes`` applied (``comment`` is appended); the same object if nothing changes."""
    fields = _changed_fields(incident, changes, author, now)
    if not fields:
        return incident
    return dataclasses.replace(incident, last_updated=max(now, incident.last_updated + _TICK), last_modified_by=author,
                               **fields)


def apply_to_alert(alert: Alert, changes: dict, author: str, now: datetime.datetime) -> Alert:
    """The alert with ``changes`` applied, as ``apply`` does; a change of status to resolved sets ``resolved``, to
    another status clears it."""
    fields = _changed_fields(alert, changes, author, now)
    if not fields:
        return alert
    updated = max(now, alert.last_updated + _TICK)
    if "status" in fields:
        fields["resolved"] = updated if fields["status"] == "resolved" else None
    return dataclasses.replace(alert, last_updated=updated, **fields)


def _changed_fields(item, changes: dict, author: str, now: datetime.datetime) -> dict:
    """The attributes of an incident or alert that ``changes`` changes; raises Misfit."""
    if "classification" in changes or "determination" in changes:
        classification = changes.get("classification", item.classification)
        determination = changes.get("determination", item.determination)
        if determination not in FITTING_DETERMINATIONS[classification]:
            raise Misfit(classification, determination)
    fields = {name: value for name, value in changes.items()
              if name not in ("comment", "comments") and getattr(item, name) != value}
    added = ([changes["comment"]] if "comment" in changes else []) + list(changes.get("comments", ()))
    if added:
        fields["comments"] = item.comments + tuple(Comment(text, author, now) for text in added)
    return fields


class IncidentUpdater:
    """Applies changes to the store on behalf of the token's app or user, who is named as the author of comments."""

    def __init__(self, store, scenario, clock):
        self._store = store
        self._scenario = scenario
        self._clock = clock

    def update(self, claims: dict, incident_id: int, changes: dict) -> Optional[Incident]:
        """The updated incident, None if the tenant has no such incident; raises Misfit."""
        author = self.author(claims)
        now = self._clock()
        return self._store.update(claims["tid"], incident_id, lambda incident: apply(incident, changes, author, now))

    def update_alert(self, claims: dict, alert_id: str, changes: dict) -> Optional[tuple]:
        """(the updated alert, its incident), None if the tenant has no such alert; raises Misfit."""
        author = self.author(claims)
        now = self._clock()
        return self._store.update_alert(claims["tid"], alert_id,
                                        lambda alert: apply_to_alert(alert, changes, author, now))

    def author(self, claims: dict) -> str:
        """The signed-in user's UPN for delegated tokens, else the app's (or managed identity's) name."""
        if claims.get("upn"):
            return str(claims["upn"])
        client_id = str(claims.get("appid", ""))
        app = self._scenario.app(client_id) or self._scenario.managed_identity(client_id=client_id)
        return app.name if app else client_id
